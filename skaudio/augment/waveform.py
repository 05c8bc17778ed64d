"""Waveform augmentations (CLAR, Al-Tahan & Mohsenzadeh 2021), batched in torch.

Each takes ``x`` of shape (batch, n_samples) and returns the same shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._base import Augmentation, random_spans, uniform

__all__ = [
    "Fade",
    "Gain",
    "NoiseInjection",
    "PitchShift",
    "TimeMask",
    "TimeShift",
    "TimeStretch",
]


@dataclass
class Gain(Augmentation):
    """Scale each clip by a random gain in ``[-max_db, max_db]`` decibels."""

    max_db: float = 10.0

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        db = uniform(-self.max_db, self.max_db, x.shape[0], generator, x.device)
        return x * (10.0 ** (db / 20.0))[:, None]


@dataclass
class Fade(Augmentation):
    """Fade in and out over random lengths of up to ``max_fraction`` of the clip each.

    ``shape`` is ``"linear"``, ``"logarithmic"`` or ``"exponential"``.
    """

    max_fraction: float = 0.5
    shape: str = "linear"

    def _curve(self, ramp: torch.Tensor) -> torch.Tensor:
        if self.shape == "linear":
            return ramp
        if self.shape == "logarithmic":
            return (torch.log10(0.1 + ramp) + 1.0) / math.log10(11.0)
        if self.shape == "exponential":
            return torch.pow(2.0, (ramp - 1.0) * 5.0) * ramp
        raise ValueError(f"unknown fade shape {self.shape!r}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, n = x.shape
        t = torch.arange(n, device=x.device, dtype=x.dtype)[None]
        fade_in = uniform(0, self.max_fraction * n, batch, generator, x.device)[:, None]
        fade_out = uniform(0, self.max_fraction * n, batch, generator, x.device)[:, None]
        ramp_in = (t / fade_in.clamp_min(1.0)).clamp(0.0, 1.0)
        ramp_out = ((n - 1 - t) / fade_out.clamp_min(1.0)).clamp(0.0, 1.0)
        return x * self._curve(ramp_in) * self._curve(ramp_out)


def coloured_noise(
    shape: tuple[int, int], colour: str, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Unit-variance noise whose power falls as ``1/f**k``: white k=0, pink k=1, brown k=2.

    Returns
    -------
    noise : Tensor of shape ``shape``
    """
    exponent = {"white": 0.0, "pink": 1.0, "brown": 2.0}[colour]
    white = torch.randn(shape, generator=generator, device=device)
    if exponent == 0.0:
        return white
    spectrum = torch.fft.rfft(white, dim=-1)
    freqs = torch.arange(spectrum.shape[-1], device=device).clamp_min(1).float()
    noise = torch.fft.irfft(spectrum / freqs ** (exponent / 2), n=shape[-1], dim=-1)
    return noise / noise.std(dim=-1, keepdim=True, correction=0).clamp_min(1e-12)


@dataclass
class NoiseInjection(Augmentation):
    """Add white, pink or brown noise at a random SNR in ``[min_snr_db, max_snr_db]``.

    ``colour`` is ``"white"``, ``"pink"``, ``"brown"``, or ``"random"`` (one per call).
    """

    min_snr_db: float = 5.0
    max_snr_db: float = 30.0
    colour: str = "random"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        colour = self.colour
        if colour == "random":
            colour = ("white", "pink", "brown")[
                int(torch.randint(3, (1,), generator=generator, device=x.device))
            ]
        noise = coloured_noise(tuple(x.shape), colour, generator, x.device)
        snr = uniform(self.min_snr_db, self.max_snr_db, x.shape[0], generator, x.device)
        signal_rms = x.square().mean(dim=-1).sqrt().clamp_min(1e-8)
        return x + noise * (signal_rms / 10.0 ** (snr / 20.0))[:, None]


@dataclass
class TimeMask(Augmentation):
    """Replace a random span of up to ``max_fraction`` of the clip by silence or noise.

    ``fill`` is ``"constant"`` (zeros) or ``"noise"`` (white noise at the clip's RMS).
    """

    max_fraction: float = 0.125
    fill: str = "constant"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        mask = random_spans(x.shape[0], x.shape[1], self.max_fraction, generator, x.device)
        if self.fill == "noise":
            rms = x.square().mean(dim=-1, keepdim=True).sqrt()
            filler = rms * torch.randn(x.shape, generator=generator, device=x.device)
        else:
            filler = torch.zeros_like(x)
        return torch.where(mask, filler, x)


@dataclass
class TimeShift(Augmentation):
    """Roll each clip in time by a random amount of up to ``max_fraction`` of its length."""

    max_fraction: float = 0.5

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, n = x.shape
        limit = self.max_fraction * n
        shift = uniform(-limit, limit, batch, generator, x.device).long()[:, None]
        index = (torch.arange(n, device=x.device)[None] - shift) % n
        return torch.gather(x, 1, index)


#: clips shorter than this are returned unchanged by the phase-vocoder augmentations
MIN_VOCODER_SAMPLES = 64


def _phase_vocoder(x: torch.Tensor, rates: torch.Tensor, n_fft: int) -> torch.Tensor:
    """Time-stretch every clip of a batch by its own ``rate`` (>1 faster), keeping pitch.

    Parameters
    ----------
    x : Tensor of shape (batch, n_samples)
    rates : Tensor of shape (batch,)
    n_fft : int

    Returns
    -------
    stretched : Tensor of shape (batch, max_i round(n_samples / rates[i]))
        Clip ``i`` occupies its first ``round(n_samples / rates[i])`` samples.
    """
    batch, n = x.shape
    hop = n_fft // 4
    window = torch.hann_window(n_fft, device=x.device)
    spec = torch.stft(x, n_fft, hop, window=window, return_complex=True)  # (B, F, T)
    n_bins, n_frames = spec.shape[1:]
    n_steps = int(torch.ceil(n_frames / rates.min()))
    steps = torch.arange(n_steps, device=x.device)[None] * rates[:, None]  # (B, S)
    valid = (steps < n_frames)[:, None]
    steps = steps.clamp(max=n_frames - 1)
    index = steps.long()
    alpha = (steps - index)[:, None]
    spec = F.pad(spec, (0, 2))
    s0 = torch.gather(spec, 2, index[:, None].expand(batch, n_bins, n_steps))
    s1 = torch.gather(spec, 2, (index + 1)[:, None].expand(batch, n_bins, n_steps))
    magnitude = ((1 - alpha) * s0.abs() + alpha * s1.abs()) * valid
    expected = torch.linspace(0, math.pi * hop, n_bins, device=x.device)[None, :, None]
    delta = s1.angle() - s0.angle() - expected
    delta = delta - 2 * math.pi * torch.round(delta / (2 * math.pi))
    phase = torch.cat([spec[:, :, :1].angle(), delta[:, :, :-1] + expected], dim=2).cumsum(dim=2)
    length = round(n / float(rates.min()))
    return torch.istft(torch.polar(magnitude, phase), n_fft, hop, window=window, length=length)


def _interpolate(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of each row of ``x`` (batch, n) at ``positions`` (batch, m)."""
    left = positions.floor().long().clamp(0, x.shape[1] - 1)
    right = (left + 1).clamp(max=x.shape[1] - 1)
    weight = positions - left
    return (1 - weight) * torch.gather(x, 1, left) + weight * torch.gather(x, 1, right)


def _vocoder_fft_size(n_samples: int, n_fft: int) -> int:
    """The analysis window: ``n_fft``, or the largest power of two within the clip."""
    return min(n_fft, 1 << (n_samples.bit_length() - 1))


@dataclass
class TimeStretch(Augmentation):
    """Change speed by a random rate in ``[min_rate, max_rate]`` keeping the pitch.

    Phase vocoder, batched over clips; the output is cropped or padded to the input
    length. ``n_fft`` sets the analysis window. Clips shorter than
    ``MIN_VOCODER_SAMPLES`` (64) are returned unchanged.
    """

    min_rate: float = 0.5
    max_rate: float = 1.5
    n_fft: int = 512

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        rates = uniform(self.min_rate, self.max_rate, x.shape[0], generator, x.device)
        n = x.shape[1]
        if n < MIN_VOCODER_SAMPLES:
            return x.clone()
        stretched = _phase_vocoder(x, rates, _vocoder_fft_size(n, self.n_fft))
        lengths = torch.round(n / rates)
        # longer results are cropped around their centre, shorter ones padded at the end
        start = ((lengths - n) // 2).clamp_min(0)
        positions = start[:, None] + torch.arange(n, device=x.device)[None]
        inside = positions < lengths[:, None]
        return _interpolate(stretched, positions.float()) * inside


@dataclass
class PitchShift(Augmentation):
    """Shift the pitch by a random number of semitones in ``[-max_semitones, max_semitones]``.

    A phase-vocoder time stretch by the pitch ratio followed by linear-interpolation
    resampling back to the original duration, batched over clips. Linear
    interpolation does not low-pass before decimating: upward shifts alias a little,
    which is harmless for augmentation. Clips shorter than ``MIN_VOCODER_SAMPLES`` (64)
    are returned unchanged.
    """

    max_semitones: float = 15.0
    n_fft: int = 512

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = x.shape[1]
        steps = uniform(-self.max_semitones, self.max_semitones, x.shape[0], generator, x.device)
        if n < MIN_VOCODER_SAMPLES:
            return x.clone()
        ratios = 2.0 ** (steps / 12.0)
        stretched = _phase_vocoder(x, 1.0 / ratios, _vocoder_fft_size(n, self.n_fft))
        lengths = torch.round(n * ratios)  # each clip is `ratio` times longer now
        # resample clip i from lengths[i] samples back to n (align_corners=False grid)
        grid = (torch.arange(n, device=x.device)[None] + 0.5) * (lengths[:, None] / n) - 0.5
        grid = torch.minimum(grid.clamp(min=0), lengths[:, None] - 1)
        return _interpolate(stretched, grid)
