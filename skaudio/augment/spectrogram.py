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
    "BatchStandardize",
    "CheckerboardNoise",
    "FrequencyFlip",
    "FrequencyMasking",
    "KeepAboveThreshold",
    "KeepPeaks",
    "LinearFader",
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

    By default the crop keeps a share ``[min_scale, 1]`` of each axis (drawn
    independently for each axis and each clip) at a random position; resizing is
    bilinear. The ``"spectrogram"`` policy applies ``RandomResizedCrop(0.6)`` with
    probability 0.5.

    ``time_scale`` and ``freq_scale`` give each axis its own range instead, as BYOL-A's
    random resize crop (Niizumi et al., 2021; 0.6-1.5 on both axes): a scale above 1
    takes a window larger than the clip (the clip lies inside it, the rest is the
    clip's floor, its minimum), which shrinks the content. ``freq_scale=(1, 1)`` keeps
    the frequency axis, and so pitch, untouched: the setting for pitch-sensitive data.
    Call it as ``aug(x, generator)`` with a log-mel batch ``x`` of shape
    ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Parameters
    ----------
    min_scale : float, default=0.6
        Smallest share of the frames, and of the mel bands, that the crop keeps (used
        for an axis whose own range is not given).
    time_scale : (float, float) or None, default=None
        Range of the window's length as a share of the frames; ``None`` is
        ``(min_scale, 1)``.
    freq_scale : (float, float) or None, default=None
        The same for the mel bands.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import RandomResizedCrop
    >>> x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = RandomResizedCrop(min_scale=0.6)(x, torch.Generator().manual_seed(0))
    >>> out.shape, out.dtype, torch.allclose(out, x)
    (torch.Size([2, 16, 20]), torch.float32, False)
    >>> time_only = RandomResizedCrop(time_scale=(0.6, 1.5), freq_scale=(1.0, 1.0))
    >>> time_only(x, torch.Generator().manual_seed(0)).shape
    torch.Size([2, 16, 20])
    """

    min_scale: float = 0.6
    time_scale: tuple[float, float] | None = None
    freq_scale: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        for name in ("time_scale", "freq_scale"):
            scale = getattr(self, name)
            if scale is None:
                continue
            if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
                raise ValueError(f"{name} must be (low, high) with 0 < low <= high, got {scale}")
            setattr(self, name, (float(scale[0]), float(scale[1])))

    def _ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        default = (self.min_scale, 1.0)
        return self.time_scale or default, self.freq_scale or default

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, n_mels, n_frames = x.shape
        (time_low, time_high), (freq_low, freq_high) = self._ranges()
        if self.time_scale is None and self.freq_scale is None:
            scale = uniform(self.min_scale, 1.0, 2 * batch, generator, x.device).view(2, batch)
        else:
            draw = torch.rand(2, batch, generator=generator, device=x.device)
            low = torch.tensor([[time_low], [freq_low]], device=x.device)
            high = torch.tensor([[time_high], [freq_high]], device=x.device)
            scale = low + (high - low) * draw
        # the window's start in [0, 1] units: inside the clip for a scale below 1, and
        # with the clip inside the window for a scale above 1
        offset = uniform(0, 1, 2 * batch, generator, x.device).view(2, batch) * (1 - scale)
        # affine grid in [-1, 1] coordinates: x' = scale * x + shift
        theta = torch.zeros(batch, 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0] = scale[0]  # time axis (grid x)
        theta[:, 1, 1] = scale[1]  # frequency axis (grid y)
        theta[:, 0, 2] = scale[0] - 1 + 2 * offset[0]
        theta[:, 1, 2] = scale[1] - 1 + 2 * offset[1]
        grid = F.affine_grid(theta, (batch, 1, n_mels, n_frames), align_corners=False)
        if max(time_high, freq_high) <= 1.0:  # the window stays inside the clip
            return F.grid_sample(x[:, None], grid, mode="bilinear", align_corners=False)[:, 0]
        floor = _floor(x)  # outside the clip: its floor (grid_sample pads with zeros)
        shifted = (x - floor)[:, None]
        return F.grid_sample(shifted, grid, mode="bilinear", align_corners=False)[:, 0] + floor


@dataclass
class LinearFader(_SpectrogramAugmentation):
    """Add a linear ramp in level over time, from a random start gain to a random end gain.

    BYOL-A v2's random linear fader (Niizumi et al., 2023): a fade in or out of up to
    ``max_db`` at either end, drawn independently for each clip's start and end, added
    to every band (a level ramp in dB is a gain envelope). The default, 4.34 dB, is
    BYOL-A's gain of 1 in natural-log units of power. Call it as ``aug(x, generator)``
    with a log-mel batch ``x`` of shape ``(batch, n_mels, n_frames)`` in dB; the output
    has the same shape.

    Parameters
    ----------
    max_db : float, default=4.34
        Largest gain, either way, at the start and at the end.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import LinearFader
    >>> out = LinearFader(max_db=6.0)(torch.zeros(1, 2, 5), torch.Generator().manual_seed(0))
    >>> ramp = out[0, 0]
    >>> bool(torch.allclose(ramp.diff(), ramp.diff()[0].expand(4))), bool(ramp.abs().max() <= 6)
    (True, True)
    """

    max_db: float = 4.34

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, _, n_frames = x.shape
        ends = uniform(-self.max_db, self.max_db, 2 * batch, generator, x.device).view(2, batch)
        position = torch.linspace(0.0, 1.0, n_frames, device=x.device)
        ramp = ends[0, :, None] + (ends[1] - ends[0])[:, None] * position
        return x + ramp[:, None, :].to(x.dtype)


@dataclass
class BatchStandardize(_SpectrogramAugmentation):
    """Standardise the batch by its own mean and standard deviation (BYOL-A's post-norm).

    Every value of the batch becomes ``(x - mean) / std``, the mean and the (unbiased)
    standard deviation being those of all the values of the batch, so the output has
    mean 0 and standard deviation 1. BYOL-A (Niizumi et al., 2021) standardises each
    training batch so after its augmentations, which shift the statistics the
    dataset pre-normalisation set; :class:`skaudio.models.ContrastiveModel` passes
    both views of a batch together, ``[view 1; view 2]``, which is BYOL-A's batch
    too. Stateless and deterministic (``generator`` is not used); ``std`` is floored
    at ``eps``, so a constant batch becomes zeros. The ``"byol-a"`` and
    ``"byol-a-pitch"`` policies end with it.

    It is a training-time transform, like every augmentation: embeddings see
    inputs standardised by the dataset statistics instead
    (``input_normalization="dataset"``), which is what it approximates. Its
    ``standardizes`` attribute (True) tells the model to apply the dataset
    standardisation before it, not after. Call it as ``aug(x, generator)`` with a
    log-mel batch ``x`` of shape ``(batch, n_mels, n_frames)``; the output has the
    same shape.

    Parameters
    ----------
    eps : float, default=1e-5
        Smallest standard deviation divided by.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import BatchStandardize
    >>> x = -40 + 20 * torch.randn(4, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = BatchStandardize()(x, torch.Generator().manual_seed(0))
    >>> out.shape, abs(round(out.mean().item(), 4)), round(out.std().item(), 4)
    (torch.Size([4, 16, 20]), 0.0, 1.0)
    """

    eps: float = 1e-5
    standardizes = True

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        values = x.float()
        mean, std = values.mean(), values.std()
        return ((values - mean) / std.clamp_min(self.eps)).to(x.dtype)
