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
    """Turn off alternate squares of a checkerboard of bins; square side from ``spacings``."""

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
    """Play the spectrogram backwards."""

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x.flip(-1)


@dataclass
class FrequencyFlip(_SpectrogramAugmentation):
    """Mirror the spectrogram along frequency (low bands become high)."""

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x.flip(-2)


@dataclass
class AmplitudeScaling(_SpectrogramAugmentation):
    """Add a random level in ``[-max_db, max_db]`` to the whole clip."""

    max_db: float = 10.0

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        db = uniform(-self.max_db, self.max_db, x.shape[0], generator, x.device)
        return x + db[:, None, None]


@dataclass
class BandStop(_SpectrogramAugmentation):
    """Turn off a random band of up to ``max_fraction`` of the mel bands, at all times."""

    max_fraction: float = 0.25

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        band = random_spans(x.shape[0], x.shape[1], self.max_fraction, generator, x.device)
        return torch.where(band[:, :, None], _floor(x), x)


@dataclass
class KeepPeaks(_SpectrogramAugmentation):
    """Keep only the spectral peaks (local maxima along frequency) of every frame."""

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        padded = F.pad(x, (0, 0, 1, 1), value=float("-inf"))
        peak = (x >= padded[:, :-2]) & (x >= padded[:, 2:])
        return torch.where(peak, x, _floor(x))


@dataclass
class KeepAboveThreshold(_SpectrogramAugmentation):
    """Keep only the bins within a random ``[min_db, max_db]`` of the clip's maximum."""

    min_db: float = 20.0
    max_db: float = 60.0

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        below = uniform(self.min_db, self.max_db, x.shape[0], generator, x.device)
        threshold = x.amax(dim=(1, 2)) - below
        return torch.where(x >= threshold[:, None, None], x, _floor(x))


@dataclass
class AdditiveNoise(_SpectrogramAugmentation):
    """Add Gaussian noise with a random standard deviation of up to ``max_std_db`` dB."""

    max_std_db: float = 5.0

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        std = uniform(0, self.max_std_db, x.shape[0], generator, x.device)
        return x + std[:, None, None] * torch.randn(x.shape, generator=generator, device=x.device)


@dataclass
class SpectralEnvelope(_SpectrogramAugmentation):
    """Replace each frame by its envelope: peaks removed by smoothing along frequency.

    A moving average over ``width`` mel bands (odd) keeps the coarse spectral shape and
    drops the harmonic detail.
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
    """SpecAugment time mask: turn off a random span of up to ``max_fraction`` of frames."""

    max_fraction: float = 0.2

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        span = random_spans(x.shape[0], x.shape[2], self.max_fraction, generator, x.device)
        return torch.where(span[:, None, :], _floor(x), x)


@dataclass
class FrequencyMasking(BandStop):
    """SpecAugment frequency mask: Verma & Smith's band-stop under SpecAugment's name."""

    max_fraction: float = 0.2


@dataclass
class RandomResizedCrop(_SpectrogramAugmentation):
    """Crop a random time-frequency region and stretch it back to full size.

    The crop keeps a share ``[min_scale, 1]`` of each axis (drawn independently);
    resizing is bilinear.
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
