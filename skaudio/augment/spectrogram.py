"""Spectrogram augmentations (Verma & Smith 2020; SpecAugment), batched in torch.

Each takes a log-mel batch ``x`` of shape (batch, n_mels, n_frames) in decibels and
returns the same shape. "Turning a bin off" sets it to the clip's minimum (its floor).
The spectrogram twins of waveform augmentations carry the prefix ``Spec``
(:class:`SpecGain`, :class:`SpecNoise`, :class:`SpecTimeMask`, and
:class:`SpecFrequencyMask` with it), as in audiomentations; their names before 0.2
(``AmplitudeScaling``, ``AdditiveNoise``, ``TimeMasking``, ``FrequencyMasking``)
still work, with a ``FutureWarning``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..features import warp_frequency
from ._base import Augmentation, random_spans, renamed_augmentation, uniform

__all__ = [
    "BandStop",
    "BatchStandardize",
    "CheckerboardNoise",
    "FrequencyFlip",
    "KeepAboveThreshold",
    "KeepPeaks",
    "LinearFader",
    "MelWarp",
    "RandomEQ",
    "RandomResizedCrop",
    "SpecFrequencyMask",
    "SpecGain",
    "SpecNoise",
    "SpecTimeMask",
    "SpectralEnvelope",
    "TimeReversal",
    "UtteranceNormalization",
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
    :class:`SpecNoise` (with probability 0.5). Call it as ``aug(x, generator)``
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
        index = torch.randint(len(self.spacings), (batch,), generator=generator, device=x.device)
        # spacings[index], selected on the device: no host list copied to it per call
        side = torch.full_like(index, self.spacings[0])
        for k, size in enumerate(self.spacings[1:], start=1):
            side = torch.where(index == k, size, side)
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
class SpecGain(_SpectrogramAugmentation):
    """Add a random level in ``[-max_db, max_db]`` to the whole clip.

    The spectrogram counterpart of :class:`~skaudio.augment.Gain` (called
    ``AmplitudeScaling`` before 0.2): one offset in dB, drawn uniformly for each
    clip, is added to all its bins. A spectrogram view after Verma & Smith (2020); the
    ``"spectrogram"`` policy applies ``SpecGain(10.0)`` with probability 0.8.
    Call it as ``aug(x, generator)`` with a log-mel batch ``x`` of shape
    ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Parameters
    ----------
    max_db : float, default=10.0
        Largest level change either way, in decibels.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import SpecGain
    >>> x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = SpecGain(max_db=6.0)(x, torch.Generator().manual_seed(0))
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
    :class:`CheckerboardNoise`, :class:`KeepAboveThreshold` and :class:`SpecNoise`
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
    :class:`SpecNoise` (with probability 0.5). Call it as ``aug(x, generator)``
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
class SpecNoise(_SpectrogramAugmentation):
    """Add Gaussian noise with a random standard deviation of up to ``max_std_db`` dB.

    The spectrogram counterpart of :class:`~skaudio.augment.NoiseInjection` (called
    ``AdditiveNoise`` before 0.2).
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
    >>> from skaudio.augment import SpecNoise
    >>> x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = SpecNoise(max_std_db=5.0)(x, torch.Generator().manual_seed(0))
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
class SpecTimeMask(_SpectrogramAugmentation):
    """SpecAugment time mask: turn off a random span of up to ``max_fraction`` of frames.

    For every clip, a span of contiguous frames (length uniform in
    ``[0, max_fraction * n_frames]``, random position) is set to the clip's minimum
    (its floor) in every mel band. The time mask of SpecAugment (Park et al. 2019),
    the spectrogram counterpart of :class:`~skaudio.augment.TimeMask` (called
    ``TimeMasking`` before 0.2); the ``"spectrogram"`` policy applies
    ``SpecTimeMask(0.2)`` with probability 0.5.
    Call it as ``aug(x, generator)`` with a log-mel batch ``x`` of shape
    ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Parameters
    ----------
    max_fraction : float, default=0.2
        Longest span, as a share of the frames.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import SpecTimeMask
    >>> x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = SpecTimeMask(max_fraction=0.2)(x, torch.Generator().manual_seed(0))
    >>> off = (out == x.amin(dim=(1, 2), keepdim=True)).all(dim=1)
    >>> out.shape, off.sum(dim=1).tolist()  # frames turned off per clip, at most 4
    (torch.Size([2, 16, 20]), [1, 3])
    """

    max_fraction: float = 0.2

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        span = random_spans(x.shape[0], x.shape[2], self.max_fraction, generator, x.device)
        return torch.where(span[:, None, :], _floor(x), x)


@dataclass
class SpecFrequencyMask(BandStop):
    """SpecAugment frequency mask: Verma & Smith's band-stop under SpecAugment's name.

    Exactly :class:`BandStop` with a narrower default band: a random band of up to
    ``max_fraction`` of the mel bands is set to the clip's minimum (its floor) in
    every frame. The frequency mask of SpecAugment (Park et al. 2019), called
    ``FrequencyMasking`` before 0.2; the ``"spectrogram"`` policy applies
    ``SpecFrequencyMask(0.2)`` with probability 0.5.
    Call it as ``aug(x, generator)`` with a log-mel batch ``x`` of shape
    ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Parameters
    ----------
    max_fraction : float, default=0.2
        Widest band, as a share of the mel bands.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import SpecFrequencyMask
    >>> x = torch.randn(2, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = SpecFrequencyMask(max_fraction=0.2)(x, torch.Generator().manual_seed(0))
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
            # filled on the device: no host list copied to it per call
            low = torch.full((2, 1), time_low, device=x.device)
            low[1] = freq_low
            high = torch.full((2, 1), time_high, device=x.device)
            high[1] = freq_high
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


# -- speaker-invariance views for speech ----------------------------------------------


@dataclass
class MelWarp(_SpectrogramAugmentation):
    """Scale the mel axis by a random ratio in ``[min_ratio, max_ratio]`` (VTLP-like).

    Vocal tract length perturbation (VTLP, Jaitly & Hinton 2013) on the log-mel: for
    every clip a ratio ``r`` is drawn uniformly and the content of mel band ``k`` moves
    to band ``r * k`` (above 1: up, as a shorter vocal tract raises the formants),
    anchored at the lowest band. The rows are linearly interpolated by
    :func:`skaudio.features.warp_frequency` applied to the clip above its floor (its
    minimum), so bands whose source lies above the top band (``r < 1``) are turned off
    to the floor, and ``r = 1`` is the identity. The time axis is untouched.

    The warp is linear in the mel-band index, not in Hz: on the Slaney mel scale
    (linear below 1 kHz, logarithmic above) it scales frequencies below 1 kHz by ``r``
    and higher ones further (with 64 bands up to 8 kHz, ``r = 1.2`` moves 2 kHz by
    1.32 and 3 kHz by 1.41; ``r = 0.85`` by 0.74 and 0.70: NANSY's formant range,
    1/1.4 to 1.4). Unlike the frequency scale of
    :class:`RandomResizedCrop`, which crops at a random position, it keeps the lowest
    band in place. The ``"speech"`` policy applies ``MelWarp(0.85, 1.2)`` with
    probability 0.8. Call it as ``aug(x, generator)`` with a log-mel batch ``x`` of
    shape ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Parameters
    ----------
    min_ratio, max_ratio : float, default=0.85, 1.2
        Range of the warp ratio; positive, ``min_ratio <= max_ratio``.

    Raises
    ------
    ValueError
        If the range is empty or not positive.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import MelWarp
    >>> x = torch.full((1, 16, 3), -80.0)
    >>> x[0, 4] = 0.0  # one bright band
    >>> out = MelWarp(1.5, 1.5)(x, torch.Generator().manual_seed(0))
    >>> out.shape, out[0, :, 0].argmax().item()  # band 4 moved to band 6
    (torch.Size([1, 16, 3]), 6)
    """

    min_ratio: float = 0.85
    max_ratio: float = 1.2

    def __post_init__(self) -> None:
        if not 0 < self.min_ratio <= self.max_ratio:
            raise ValueError(
                f"need 0 < min_ratio <= max_ratio, got {self.min_ratio}, {self.max_ratio}"
            )

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        ratios = uniform(self.min_ratio, self.max_ratio, x.shape[0], generator, x.device)
        floor = _floor(x)
        return warp_frequency(x - floor, ratios.to(x.dtype)) + floor


def _eq_band_weights(n_bands: int, n_mels: int, device: torch.device | None = None) -> torch.Tensor:
    """Raised-cosine bands over the mel axis that sum to one in every band.

    Band ``j`` is centred at ``c_j = j * s`` with ``s = (n_mels - 1) / (n_bands - 1)``
    (the first at the lowest mel band, the last at the highest) and weighs
    ``cos(pi / 2 * |k - c_j| / s) ** 2`` within ``s`` of its centre, 0 beyond: two
    neighbours overlap by half and sum to 1, so a gain curve ``sum_j g_j w_j`` is a
    smooth (continuously differentiable) interpolation of the gains ``g_j``, within
    their range. One band (or one mel band) weighs 1 everywhere.

    Returns
    -------
    weights : Tensor of shape (n_bands, n_mels)
    """
    if n_bands < 1:
        raise ValueError(f"need at least one band, got n_bands={n_bands}")
    if n_bands == 1 or n_mels == 1:
        weights = torch.zeros(n_bands, n_mels, device=device)
        weights[0] = 1.0
        return weights
    spacing = (n_mels - 1) / (n_bands - 1)
    k = torch.arange(n_mels, device=device, dtype=torch.float32)
    centres = torch.arange(n_bands, device=device, dtype=torch.float32)[:, None] * spacing
    distance = ((k - centres).abs() / spacing).clamp(max=1.0)
    return torch.cos(0.5 * math.pi * distance).square()


@dataclass
class RandomEQ(_SpectrogramAugmentation):
    """Add a smooth random equaliser curve of ``n_bands`` bands within ``max_gain_db``.

    The random parametric EQ of NANSY / Spin (Choi et al. 2021; Chang et al. 2023):
    a channel and voice-timbre change that keeps the content. For every clip a gain
    is drawn uniformly in ``[-max_gain_db, max_gain_db]`` dB for each of ``n_bands``
    bands spread evenly over the mel axis (the mel scale spaces them roughly
    logarithmically in Hz, like NANSY's log-spaced centres), and the curve
    ``sum_j gain_j * w_j`` (raised-cosine bands ``w_j``, each reaching the centres of
    its neighbours, that sum to one in every mel band) is added to every frame in dB.
    The curve is smooth and lies within the range of its gains, so within
    ``max_gain_db``; ``max_gain_db=0`` is the identity. The ``"speech"`` policy
    applies ``RandomEQ(10, 12.0)`` with probability 0.8. Call it as
    ``aug(x, generator)`` with a log-mel batch ``x`` of shape
    ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Parameters
    ----------
    n_bands : int, default=10
        Number of bands; 1 adds one random level to the whole clip.
    max_gain_db : float, default=12.0
        Largest gain of a band, either way, in decibels.

    Raises
    ------
    ValueError
        If ``n_bands < 1`` or ``max_gain_db < 0``.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import RandomEQ
    >>> x = torch.randn(2, 32, 20, generator=torch.Generator().manual_seed(0))
    >>> out = RandomEQ(n_bands=4, max_gain_db=6.0)(x, torch.Generator().manual_seed(0))
    >>> curve = (out - x)[:, :, 0]  # the same in every frame
    >>> out.shape, torch.allclose(out - x, curve[:, :, None].expand_as(x), atol=1e-5)
    (torch.Size([2, 32, 20]), True)
    >>> bool(curve.abs().max() <= 6.0), bool(curve.diff(dim=1).abs().max() < 2.0)
    (True, True)
    """

    n_bands: int = 10
    max_gain_db: float = 12.0

    def __post_init__(self) -> None:
        if self.n_bands < 1 or self.max_gain_db < 0:
            raise ValueError(
                f"need n_bands >= 1 and max_gain_db >= 0, got {self.n_bands}, {self.max_gain_db}"
            )

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, n_mels, _ = x.shape
        gains = uniform(
            -self.max_gain_db, self.max_gain_db, batch * self.n_bands, generator, x.device
        )
        curve = gains.view(batch, self.n_bands) @ _eq_band_weights(self.n_bands, n_mels, x.device)
        return x + curve[:, :, None].to(x.dtype)


@dataclass
class UtteranceNormalization(_SpectrogramAugmentation):
    """Standardise each clip by its own statistics: per mel band over time (CMVN), or whole.

    With ``per_band`` (cepstral mean and variance normalisation applied to log-mel):
    every mel band of every clip gets mean 0 and standard deviation 1 over the frames,
    which removes the clip's long-term average spectrum, the first-order trace of the
    speaker and the channel (a vocal tract's average formants, a microphone's colour,
    a :class:`RandomEQ` curve, the level) and keeps how each band changes over time.
    Standardising features per utterance removes most speaker information (van
    Niekerk et al.). On clips of a single word the average spectrum also carries some
    of the content (its vowels), which ``per_band=False`` keeps: it standardises the
    whole clip by one mean and standard deviation (level and dynamic range only).

    Deterministic (``generator`` is not used), so both views of a clip get the same
    treatment: it is an input normalisation rather than a view, and only helps if
    embeddings see it too. Like every augmentation it runs in training only, so it is
    in no named policy. The statistics are the population ones (``correction=0``),
    computed from values shifted by the clip's first one, so that a constant band
    (a floor) becomes exactly 0; the standard deviation is floored at ``eps``. Call
    it as ``aug(x, generator)`` with a log-mel batch ``x`` of shape
    ``(batch, n_mels, n_frames)``; the output has the same shape.

    Parameters
    ----------
    per_band : bool, default=True
        Standardise each mel band over time; ``False``: each clip over time and
        frequency together.
    eps : float, default=1e-5
        Smallest standard deviation divided by.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import UtteranceNormalization
    >>> x = -40 + 20 * torch.randn(2, 16, 50, generator=torch.Generator().manual_seed(0))
    >>> out = UtteranceNormalization()(x, torch.Generator().manual_seed(0))
    >>> std, mean = torch.std_mean(out, dim=2, correction=0)
    >>> out.shape, bool(mean.abs().max() < 1e-5), bool((std - 1).abs().max() < 1e-5)
    (torch.Size([2, 16, 50]), True, True)
    """

    per_band: bool = True
    eps: float = 1e-5

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        values = x.float()
        dims = (2,) if self.per_band else (1, 2)
        shifted = values - (values[:, :, :1] if self.per_band else values[:, :1, :1])
        centred = shifted - shifted.mean(dim=dims, keepdim=True)
        std = centred.square().mean(dim=dims, keepdim=True).sqrt()
        return (centred / std.clamp_min(self.eps)).to(x.dtype)


# the names before 0.2: they warn, build the classes above and unpickle as them
AmplitudeScaling = renamed_augmentation("AmplitudeScaling", SpecGain, __name__)
AdditiveNoise = renamed_augmentation("AdditiveNoise", SpecNoise, __name__)
TimeMasking = renamed_augmentation("TimeMasking", SpecTimeMask, __name__)
FrequencyMasking = renamed_augmentation("FrequencyMasking", SpecFrequencyMask, __name__)
