"""Spectrogram augmentations (Verma & Smith 2020; SpecAugment), batched in torch.

Each takes a log-mel batch ``x`` of shape (batch, n_mels, n_frames) in decibels and
returns the same shape. "Turning a bin off" sets it to the clip's minimum (its floor).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._base import Augmentation, random_spans, uniform

__all__ = [
    "AdditiveNoise",
    "AmplitudeScaling",
    "BandStop",
    "CheckerboardNoise",
    "FrequencyFlip",
    "FrequencyMasking",
    "KeepAboveThreshold",
    "KeepPeaks",
    "RandomResizedCrop",
    "SpectralEnvelope",
    "TimeMasking",
    "TimeReversal",
]


def _floor(x: torch.Tensor) -> torch.Tensor:
    """Per-clip minimum, shape (batch, 1, 1)."""
    return x.amin(dim=(1, 2), keepdim=True)


class _SpectrogramAugmentation(Augmentation):
    domain = "spectrogram"


@dataclass
class CheckerboardNoise(_SpectrogramAugmentation):
    """Turn off alternate squares of a checkerboard of bins; square side from ``spacings``.

    Each clip draws a square side from ``spacings`` and sets every other square of
    the time-frequency checkerboard to the clip's minimum (its floor). A spectrogram
    view after Verma & Smith (2020); the ``"spectrogram"`` policy applies it inside
    a ``OneOf`` with :class:`BandStop`, :class:`KeepAboveThreshold` and
    :class:`AdditiveNoise` (with probability 0.5). Call it as ``aug(x, generator)``
    with a log-mel batch ``x`` of shape ``(batch, n_mels, n_frames)`` in dB; the
    output has the same shape.

    Parameters
    ----------
    spacings : tuple of int, default=(2, 3, 4)
        Candidate square sides, in bins (mel bands and frames), drawn uniformly.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import CheckerboardNoise
    >>> x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = CheckerboardNoise(spacings=(2,))(x, torch.Generator().manual_seed(0))
    >>> floor = x.amin(dim=(1, 2), keepdim=True)
    >>> out.shape, (out == floor).float().mean().item()  # half of the bins are off
    (torch.Size([2, 16, 20]), 0.5)
    """

    spacings: tuple[int, ...] = (2, 3, 4)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, n_mels, n_frames = x.shape
        sizes = torch.tensor(self.spacings, device=x.device)
        side = sizes[torch.randint(len(sizes), (batch,), generator=generator, device=x.device)]
        f = torch.arange(n_mels, device=x.device)[None, :, None]
        t = torch.arange(n_frames, device=x.device)[None, None, :]
        side = side[:, None, None]
        off = (f // side + t // side) % 2 == 0
        return torch.where(off, _floor(x), x)


@dataclass
class TimeReversal(_SpectrogramAugmentation):
    """Play the spectrogram backwards.

    Reverses the frame axis of every clip; deterministic (``generator`` is not used).
    Not in any named policy. Call it as ``aug(x, generator)`` with a log-mel batch ``x`` of shape
    ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import TimeReversal
    >>> x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = TimeReversal()(x, torch.Generator().manual_seed(0))
    >>> out.shape, torch.equal(out[:, :, 0], x[:, :, -1])
    (torch.Size([2, 16, 20]), True)
    """

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x.flip(-1)


@dataclass
class FrequencyFlip(_SpectrogramAugmentation):
    """Mirror the spectrogram along frequency (low bands become high).

    Reverses the mel axis of every clip; deterministic (``generator`` is not used).
    Not in any named policy. Call it as ``aug(x, generator)`` with a log-mel batch ``x`` of shape
    ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import FrequencyFlip
    >>> x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = FrequencyFlip()(x, torch.Generator().manual_seed(0))
    >>> out.shape, torch.equal(out[:, 0], x[:, -1])
    (torch.Size([2, 16, 20]), True)
    """

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x.flip(-2)


@dataclass
class AmplitudeScaling(_SpectrogramAugmentation):
    """Add a random level in ``[-max_db, max_db]`` to the whole clip.

    The spectrogram counterpart of a gain: one offset in dB, drawn uniformly for each
    clip, is added to all its bins. A spectrogram view after Verma & Smith (2020); the
    ``"spectrogram"`` policy applies ``AmplitudeScaling(10.0)`` with probability 0.8.
    Call it as ``aug(x, generator)`` with a log-mel batch ``x`` of shape
    ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Parameters
    ----------
    max_db : float, default=10.0
        Largest level change either way, in decibels.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import AmplitudeScaling
    >>> x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = AmplitudeScaling(max_db=6.0)(x, torch.Generator().manual_seed(0))
    >>> out.shape, [round(float(d), 3) for d in (out - x).mean(dim=(1, 2))]
    (torch.Size([2, 16, 20]), [-0.045, 3.219])
    """

    max_db: float = 10.0

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        db = uniform(-self.max_db, self.max_db, x.shape[0], generator, x.device)
        return x + db[:, None, None]


@dataclass
class BandStop(_SpectrogramAugmentation):
    """Turn off a random band of up to ``max_fraction`` of the mel bands, at all times.

    For every clip, a band of contiguous mel bands (width uniform in
    ``[0, max_fraction * n_mels]``, random position) is set to the clip's minimum (its
    floor) in every frame. A spectrogram view after Verma & Smith (2020); the
    ``"spectrogram"`` policy applies it inside a ``OneOf`` with
    :class:`CheckerboardNoise`, :class:`KeepAboveThreshold` and :class:`AdditiveNoise`
    (with probability 0.5). Call it as ``aug(x, generator)`` with a log-mel batch ``x`` of shape
    ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Parameters
    ----------
    max_fraction : float, default=0.25
        Widest band, as a share of the mel bands.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import BandStop
    >>> x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = BandStop(max_fraction=0.25)(x, torch.Generator().manual_seed(0))
    >>> off = (out == x.amin(dim=(1, 2), keepdim=True)).all(dim=2)
    >>> out.shape, off.sum(dim=1).tolist()  # bands turned off per clip, at most 4
    (torch.Size([2, 16, 20]), [1, 3])
    """

    max_fraction: float = 0.25

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        band = random_spans(x.shape[0], x.shape[1], self.max_fraction, generator, x.device)
        return torch.where(band[:, :, None], _floor(x), x)


@dataclass
class KeepPeaks(_SpectrogramAugmentation):
    """Keep only the spectral peaks (local maxima along frequency) of every frame.

    Every bin that is not a local maximum along the mel axis is set to the clip's
    minimum (its floor); deterministic (``generator`` is not used). Not in any named
    policy. Call it as ``aug(x, generator)`` with a log-mel batch ``x`` of shape
    ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import KeepPeaks
    >>> x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = KeepPeaks()(x, torch.Generator().manual_seed(0))
    >>> kept = out != x.amin(dim=(1, 2), keepdim=True)
    >>> out.shape, torch.equal(out.amax(dim=1), x.amax(dim=1))  # every frame keeps its maximum
    (torch.Size([2, 16, 20]), True)
    >>> round(kept.float().mean().item(), 3)  # share of bins kept
    0.359
    """

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        padded = F.pad(x, (0, 0, 1, 1), value=float("-inf"))
        peak = (x >= padded[:, :-2]) & (x >= padded[:, 2:])
        return torch.where(peak, x, _floor(x))


@dataclass
class KeepAboveThreshold(_SpectrogramAugmentation):
    """Keep only the bins within a random ``[min_db, max_db]`` of the clip's maximum.

    For every clip a depth is drawn uniformly in ``[min_db, max_db]``; bins further
    than that below the clip's maximum are set to the clip's minimum (its floor). A
    spectrogram view after Verma & Smith (2020); the ``"spectrogram"`` policy applies
    it inside a ``OneOf`` with :class:`CheckerboardNoise`, :class:`BandStop` and
    :class:`AdditiveNoise` (with probability 0.5). Call it as ``aug(x, generator)``
    with a log-mel batch ``x`` of shape ``(batch, n_mels, n_frames)`` in dB; the
    output has the same shape.

    Parameters
    ----------
    min_db, max_db : float, default=20.0, 60.0
        Range of the depth kept below the maximum, in decibels.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import KeepAboveThreshold
    >>> x = 20 * torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = KeepAboveThreshold(min_db=20.0, max_db=60.0)(x, torch.Generator().manual_seed(0))
    >>> kept = out != x.amin(dim=(1, 2), keepdim=True)
    >>> out.shape, [round(float(k), 3) for k in kept.float().mean(dim=(1, 2))]  # share kept
    (torch.Size([2, 16, 20]), [0.062, 0.097])
    """

    min_db: float = 20.0
    max_db: float = 60.0

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        below = uniform(self.min_db, self.max_db, x.shape[0], generator, x.device)
        threshold = x.amax(dim=(1, 2)) - below
        return torch.where(x >= threshold[:, None, None], x, _floor(x))


@dataclass
class AdditiveNoise(_SpectrogramAugmentation):
    """Add Gaussian noise with a random standard deviation of up to ``max_std_db`` dB.

    The standard deviation is drawn uniformly in ``[0, max_std_db]`` for every clip
    and the noise is added to the dB values, bin by bin. A spectrogram view after
    Verma & Smith (2020); the ``"spectrogram"`` policy applies it inside a ``OneOf``
    with :class:`CheckerboardNoise`, :class:`BandStop` and :class:`KeepAboveThreshold`
    (with probability 0.5). Call it as ``aug(x, generator)`` with a log-mel batch ``x`` of shape
    ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Parameters
    ----------
    max_std_db : float, default=5.0
        Largest standard deviation of the noise, in decibels.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import AdditiveNoise
    >>> x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = AdditiveNoise(max_std_db=5.0)(x, torch.Generator().manual_seed(0))
    >>> out.shape, [round(float(s), 3) for s in (out - x).std(dim=(1, 2))]
    (torch.Size([2, 16, 20]), [2.305, 4.236])
    """

    max_std_db: float = 5.0

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        std = uniform(0, self.max_std_db, x.shape[0], generator, x.device)
        return x + std[:, None, None] * torch.randn(x.shape, generator=generator, device=x.device)


@dataclass
class SpectralEnvelope(_SpectrogramAugmentation):
    """Replace each frame by its envelope: peaks removed by smoothing along frequency.

    A moving average over ``width`` mel bands (odd) keeps the coarse spectral shape and
    drops the harmonic detail; the edges are padded by repeating the outer bands.
    Deterministic (``generator`` is not used). Not in any named policy. Call it as
    ``aug(x, generator)`` with a log-mel batch ``x`` of shape
    ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Parameters
    ----------
    width : int, default=9
        Length of the moving average, in mel bands; odd, so that the output keeps
        ``n_mels`` bands.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import SpectralEnvelope
    >>> x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = SpectralEnvelope(width=5)(x, torch.Generator().manual_seed(0))
    >>> out.shape, bool(out.std(dim=1).mean() < x.std(dim=1).mean())
    (torch.Size([2, 16, 20]), True)
    """

    width: int = 9

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, n_mels, n_frames = x.shape
        columns = x.transpose(1, 2).reshape(batch * n_frames, 1, n_mels)
        smooth = F.avg_pool1d(
            F.pad(columns, (self.width // 2, self.width // 2), mode="replicate"),
            self.width,
            stride=1,
        )
        return smooth.reshape(batch, n_frames, n_mels).transpose(1, 2)


@dataclass
class TimeMasking(_SpectrogramAugmentation):
    """SpecAugment time mask: turn off a random span of up to ``max_fraction`` of frames.

    For every clip, a span of contiguous frames (length uniform in
    ``[0, max_fraction * n_frames]``, random position) is set to the clip's minimum
    (its floor) in every mel band. The time mask of SpecAugment (Park et al. 2019); the
    ``"spectrogram"`` policy applies ``TimeMasking(0.2)`` with probability 0.5.
    Call it as ``aug(x, generator)`` with a log-mel batch ``x`` of shape
    ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Parameters
    ----------
    max_fraction : float, default=0.2
        Longest span, as a share of the frames.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import TimeMasking
    >>> x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = TimeMasking(max_fraction=0.2)(x, torch.Generator().manual_seed(0))
    >>> off = (out == x.amin(dim=(1, 2), keepdim=True)).all(dim=1)
    >>> out.shape, off.sum(dim=1).tolist()  # frames turned off per clip, at most 4
    (torch.Size([2, 16, 20]), [1, 3])
    """

    max_fraction: float = 0.2

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        span = random_spans(x.shape[0], x.shape[2], self.max_fraction, generator, x.device)
        return torch.where(span[:, None, :], _floor(x), x)


@dataclass
class FrequencyMasking(BandStop):
    """SpecAugment frequency mask: Verma & Smith's band-stop under SpecAugment's name.

    Exactly :class:`BandStop` with a narrower default band: a random band of up to
    ``max_fraction`` of the mel bands is set to the clip's minimum (its floor) in
    every frame. The frequency mask of SpecAugment (Park et al. 2019); the
    ``"spectrogram"`` policy applies ``FrequencyMasking(0.2)`` with probability 0.5.
    Call it as ``aug(x, generator)`` with a log-mel batch ``x`` of shape
    ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Parameters
    ----------
    max_fraction : float, default=0.2
        Widest band, as a share of the mel bands.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import FrequencyMasking
    >>> x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = FrequencyMasking(max_fraction=0.2)(x, torch.Generator().manual_seed(0))
    >>> off = (out == x.amin(dim=(1, 2), keepdim=True)).all(dim=2)
    >>> out.shape, off.sum(dim=1).tolist()  # bands turned off per clip, at most 3
    (torch.Size([2, 16, 20]), [1, 2])
    """

    max_fraction: float = 0.2


@dataclass
class RandomResizedCrop(_SpectrogramAugmentation):
    """Crop a random time-frequency region and stretch it back to full size.

    The crop keeps a share ``[min_scale, 1]`` of each axis (drawn independently for
    each axis and each clip) at a random position; resizing is bilinear. The
    ``"spectrogram"`` policy applies ``RandomResizedCrop(0.6)`` with probability 0.5.
    Call it as ``aug(x, generator)`` with a log-mel batch ``x`` of shape
    ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Parameters
    ----------
    min_scale : float, default=0.6
        Smallest share of the frames, and of the mel bands, that the crop keeps.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import RandomResizedCrop
    >>> x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = RandomResizedCrop(min_scale=0.6)(x, torch.Generator().manual_seed(0))
    >>> out.shape, out.dtype, torch.allclose(out, x)
    (torch.Size([2, 16, 20]), torch.float32, False)
    """

    min_scale: float = 0.6

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, n_mels, n_frames = x.shape
        scale = uniform(self.min_scale, 1.0, 2 * batch, generator, x.device).view(2, batch)
        offset = uniform(0, 1, 2 * batch, generator, x.device).view(2, batch) * (1 - scale)
        # affine grid in [-1, 1] coordinates: x' = scale * x + shift
        theta = torch.zeros(batch, 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0] = scale[0]  # time axis (grid x)
        theta[:, 1, 1] = scale[1]  # frequency axis (grid y)
        theta[:, 0, 2] = scale[0] - 1 + 2 * offset[0]
        theta[:, 1, 2] = scale[1] - 1 + 2 * offset[1]
        grid = F.affine_grid(theta, (batch, 1, n_mels, n_frames), align_corners=False)
        return F.grid_sample(x[:, None], grid, mode="bilinear", align_corners=False)[:, 0]
