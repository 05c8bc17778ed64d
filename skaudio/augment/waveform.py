"""Waveform augmentations (CLAR, Al-Tahan & Mohsenzadeh 2021), batched in torch.

Each takes ``x`` of shape (batch, n_samples) and returns the same shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._base import Augmentation, random_spans, uniform, uses_static_shapes

__all__ = [
    "Fade",
    "Gain",
    "NoiseInjection",
    "PitchShift",
    "SpeedPerturbation",
    "TimeMask",
    "TimeShift",
    "TimeStretch",
]


@dataclass
class Gain(Augmentation):
    """Scale each clip by a random gain in ``[-max_db, max_db]`` decibels.

    Each clip gets its own gain, drawn uniformly in dB: its level changes, its shape
    does not. A CLAR waveform augmentation (Al-Tahan & Mohsenzadeh 2021); the
    ``"waveform"`` policy (and those built on it) applies ``Gain(10.0)`` with
    probability 0.8; :class:`~skaudio.augment.SpecGain` is its spectrogram
    counterpart. Call it as ``aug(x, generator)`` with ``x`` of shape
    ``(batch, n_samples)``; the output has the same shape.

    Parameters
    ----------
    max_db : float, default=10.0
        Largest amplification or attenuation, in decibels.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import Gain
    >>> x = torch.randn(4, 800, generator=torch.Generator().manual_seed(0))
    >>> out = Gain(max_db=6.0)(x, torch.Generator().manual_seed(0))
    >>> gain_db = 20 * torch.log10(out.norm(dim=1) / x.norm(dim=1))
    >>> out.shape, [round(float(g), 3) for g in gain_db]  # one gain per clip, within 6 dB
    (torch.Size([4, 800]), [-0.045, 3.219, -4.938, -4.416])
    """

    max_db: float = 10.0

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        db = uniform(-self.max_db, self.max_db, x.shape[0], generator, x.device)
        return x * (10.0 ** (db / 20.0))[:, None]


@dataclass
class Fade(Augmentation):
    """Fade in and out over random lengths of up to ``max_fraction`` of the clip each.

    The fade-in and fade-out lengths are drawn uniformly and independently for every
    clip; the gain ramps from 0 at the clip's ends to 1 along the chosen curve. A CLAR
    waveform augmentation (Al-Tahan & Mohsenzadeh 2021); the ``"waveform"`` policy
    (and those built on it) applies ``Fade(0.5)`` with probability 0.5. Call it as
    ``aug(x, generator)`` with ``x`` of shape ``(batch, n_samples)``; the output has
    the same shape.

    Parameters
    ----------
    max_fraction : float, default=0.5
        Longest fade-in, and longest fade-out, as a share of the clip length.
    shape : {"linear", "logarithmic", "exponential"}, default="linear"
        Curve of the fades. Another value raises ``ValueError`` when called.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import Fade
    >>> x = torch.ones(4, 800)
    >>> out = Fade(max_fraction=0.25, shape="logarithmic")(x, torch.Generator().manual_seed(0))
    >>> out.shape, out[:, [0, -1]].abs().max().item(), bool((out <= x).all())
    (torch.Size([4, 800]), 0.0, True)
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


def _random_coloured_noise(
    shape: tuple[int, int], generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """:func:`coloured_noise` of a colour drawn on the device, one for the whole batch.

    The draws of ``coloured_noise(shape, ("white", "pink", "brown")[k], ...)`` after
    ``k`` drawn from ``randint(3)``, in the same order, but the colour never leaves the
    device: every colour's filter is one ``1/f**(k/2)`` with ``k`` a tensor, and white
    noise (``k = 0``) is selected unfiltered, as :func:`coloured_noise` returns it.

    Returns
    -------
    noise : Tensor of shape ``shape``
    """
    exponent = torch.randint(3, (1,), generator=generator, device=device).float()
    white = torch.randn(shape, generator=generator, device=device)
    spectrum = torch.fft.rfft(white, dim=-1)
    freqs = torch.arange(spectrum.shape[-1], device=device).clamp_min(1).float()
    noise = torch.fft.irfft(spectrum / freqs ** (exponent / 2), n=shape[-1], dim=-1)
    noise = noise / noise.std(dim=-1, keepdim=True, correction=0).clamp_min(1e-12)
    return torch.where(exponent == 0, white, noise)


@dataclass
class NoiseInjection(Augmentation):
    """Add white, pink or brown noise at a random SNR in ``[min_snr_db, max_snr_db]``.

    The signal-to-noise ratio is drawn uniformly for every clip and set relative to the
    clip's RMS. Pink and brown noise have power falling as ``1/f`` and ``1/f**2``. A
    CLAR waveform augmentation (Al-Tahan & Mohsenzadeh 2021); the ``"waveform"``
    policy (and those built on it) applies ``NoiseInjection(5.0, 30.0)`` with
    probability 0.5; :class:`~skaudio.augment.SpecNoise` is its spectrogram
    counterpart. Call it as ``aug(x, generator)`` with ``x`` of shape
    ``(batch, n_samples)``; the output has the same shape.

    Parameters
    ----------
    min_snr_db, max_snr_db : float, default=5.0, 30.0
        Range of the signal-to-noise ratio, in decibels.
    colour : {"white", "pink", "brown", "random"}, default="random"
        Colour of the noise; ``"random"`` draws one colour per call (shared by the
        whole batch), on the device of ``x`` with static shapes (see
        :func:`~skaudio.augment.static_shapes`: no host read, at the cost of one
        filtering even for white noise).

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import NoiseInjection
    >>> x = torch.randn(4, 800, generator=torch.Generator().manual_seed(0))
    >>> out = NoiseInjection(10.0, 20.0, colour="white")(x, torch.Generator().manual_seed(0))
    >>> snr_db = 10 * torch.log10(x.square().mean(dim=1) / (out - x).square().mean(dim=1))
    >>> out.shape, [round(float(s), 3) for s in snr_db]
    (torch.Size([4, 800]), [12.893, 12.936, 13.995, 10.765])
    """

    min_snr_db: float = 5.0
    max_snr_db: float = 30.0
    colour: str = "random"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.colour == "random" and uses_static_shapes(x):  # the colour stays on the device
            noise = _random_coloured_noise(tuple(x.shape), generator, x.device)
        else:
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

    The span's length (uniform in ``[0, max_fraction * n_samples]``) and position are
    drawn for every clip. A CLAR waveform augmentation (Al-Tahan & Mohsenzadeh 2021);
    the ``"waveform"`` policy (and those built on it) applies ``TimeMask(0.125)``
    with probability 0.5; :class:`~skaudio.augment.SpecTimeMask` is its spectrogram
    counterpart. Call it as ``aug(x, generator)`` with ``x`` of shape
    ``(batch, n_samples)``; the output has the same shape.

    Parameters
    ----------
    max_fraction : float, default=0.125
        Longest span, as a share of the clip length.
    fill : {"constant", "noise"}, default="constant"
        ``"constant"`` fills the span with zeros, ``"noise"`` with white noise at the
        clip's RMS.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import TimeMask
    >>> x = torch.ones(4, 800)
    >>> out = TimeMask(max_fraction=0.25)(x, torch.Generator().manual_seed(0))
    >>> out.shape, (out == 0).sum(dim=1).tolist()  # masked samples per clip, at most 200
    (torch.Size([4, 800]), [99, 153, 17, 26])
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
    """Roll each clip in time by a random amount of up to ``max_fraction`` of its length.

    The shift is drawn uniformly in ``[-max_fraction, max_fraction]`` times the clip
    length for every clip, and is circular: what leaves one end comes back at the
    other. A CLAR waveform augmentation (Al-Tahan & Mohsenzadeh 2021); the
    ``"waveform"`` policy (and those built on it) applies ``TimeShift(0.5)`` with
    probability 0.5. Call it as ``aug(x, generator)`` with ``x`` of shape
    ``(batch, n_samples)``; the output has the same shape.

    Parameters
    ----------
    max_fraction : float, default=0.5
        Largest shift, either way, as a share of the clip length.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import TimeShift
    >>> x = torch.randn(4, 800, generator=torch.Generator().manual_seed(0))
    >>> out = TimeShift(max_fraction=0.5)(x, torch.Generator().manual_seed(0))
    >>> same_samples = torch.equal(out.sort(dim=1).values, x.sort(dim=1).values)
    >>> out.shape, same_samples, torch.equal(out, x)
    (torch.Size([4, 800]), True, False)
    """

    max_fraction: float = 0.5

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, n = x.shape
        limit = self.max_fraction * n
        shift = uniform(-limit, limit, batch, generator, x.device).long()[:, None]
        index = (torch.arange(n, device=x.device)[None] - shift) % n
        return torch.gather(x, 1, index)


#: clips shorter than this are returned unchanged by the phase-vocoder augmentations
MIN_VOCODER_SAMPLES = 64


def _overlap_add(
    spec: torch.Tensor,
    n_fft: int,
    hop: int,
    window: torch.Tensor,
    length: int,
    n_used: torch.Tensor | None = None,
) -> torch.Tensor:
    """``torch.istft(spec[..., :n_used], n_fft, hop, window=window, length=length)``.

    The same inverse (centred, one-sided, unnormalised), without host reads: inverse
    FFT of every frame, windowed, overlap-added with :func:`torch.nn.functional.fold`
    and divided by the overlap-added squared window of the frames used. The frames
    from ``n_used`` on (a device tensor, never read on the host) must be silent: they
    are left out of that envelope, as if the signal had ``n_used`` frames, and
    ``length`` may reach past them (zeros, as :func:`torch.istft` pads). Samples
    where the envelope vanishes (past the frames used) are divided by 1: where
    :func:`torch.istft` checks the envelope on the host instead (a device sync on
    every call) and raises.

    Returns
    -------
    signal : Tensor of shape (batch, length)
    """
    n_frames = spec.shape[-1]
    total = n_fft + hop * (n_frames - 1)

    def fold(columns: torch.Tensor) -> torch.Tensor:
        return F.fold(columns, (1, total), (1, n_fft), stride=(1, hop))[:, 0, 0]

    frames = torch.fft.irfft(spec, n=n_fft, dim=1) * window[None, :, None]
    used = window.square()[None, :, None].expand(1, n_fft, n_frames)
    if n_used is not None:
        used = used * (torch.arange(n_frames, device=spec.device) < n_used)
    envelope = fold(used)
    start = n_fft // 2
    signal = fold(frames)[:, start : start + length]
    envelope = envelope[:, start : start + length]
    signal = signal / torch.where(envelope > 1e-11, envelope, torch.ones_like(envelope))
    return F.pad(signal, (0, length - signal.shape[1]))


def _phase_vocoder(
    x: torch.Tensor, rates: torch.Tensor, n_fft: int, min_rate: float | None = None
) -> torch.Tensor:
    """Time-stretch every clip of a batch by its own ``rate`` (>1 faster), keeping pitch.

    Parameters
    ----------
    x : Tensor of shape (batch, n_samples)
    rates : Tensor of shape (batch,)
    n_fft : int
    min_rate : float or None, default=None
        A lower bound of ``rates`` known without reading them (from the range they
        are drawn in): the output is then sized from it, static shapes and no host
        read. ``None`` sizes it from ``rates.min()``, read on the host (free on the
        CPU, a device sync elsewhere).

    Returns
    -------
    stretched : Tensor of shape (batch, length)
        Clip ``i`` occupies its first ``round(n_samples / rates[i])`` samples.
        ``length`` is ``round(n_samples / rates.min())``, or with
        ``min_rate`` a bound on it, ``ceil(n_samples / min_rate)`` (give or take
        float rounding).
    """
    batch, n = x.shape
    hop = n_fft // 4
    window = torch.hann_window(n_fft, device=x.device)
    spec = torch.stft(x, n_fft, hop, window=window, return_complex=True)  # (B, F, T)
    n_bins, n_frames = spec.shape[1:]
    if min_rate is None:
        n_steps = int(torch.ceil(n_frames / rates.min()))
    else:  # slightly below the bound, which float32 draws may undershoot by an ulp
        min_rate = min_rate * (1.0 - 1e-5)
        n_steps = math.ceil(n_frames / min_rate)
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
    if min_rate is not None:
        # the envelope of the frames the gather path computes: as many as the slowest
        # clip needs (the others are silent), counted on the device
        n_used = torch.ceil(n_frames / rates.min())
        length = math.ceil(n / min_rate)
        return _overlap_add(torch.polar(magnitude, phase), n_fft, hop, window, length, n_used)
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

    A phase vocoder, batched over clips, with a rate drawn uniformly for every clip
    (above 1 is faster). The result is cropped around its centre when longer than the
    input, or padded with zeros at the end when shorter, so the output keeps the input
    length. Clips shorter than ``MIN_VOCODER_SAMPLES`` (64) are returned unchanged.
    With static shapes (on a GPU; see :func:`~skaudio.augment.static_shapes`) the
    stretched clips are sized from ``min_rate`` rather than from the drawn rates,
    which the host never reads. A CLAR waveform augmentation (Al-Tahan & Mohsenzadeh
    2021); the ``"clar"`` policy applies ``TimeStretch(0.8, 1.25)`` with probability
    0.5. Call it as ``aug(x, generator)`` with ``x`` of shape ``(batch, n_samples)``;
    the output has the same shape.

    Parameters
    ----------
    min_rate, max_rate : float, default=0.5, 1.5
        Range of the speed-up factor.
    n_fft : int, default=512
        Analysis window of the phase vocoder, in samples (the largest power of two
        within the clip if the clip is shorter).

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import TimeStretch
    >>> x = torch.sin(2 * torch.pi * 440.0 * torch.arange(1600) / 8000).repeat(2, 1)
    >>> out = TimeStretch(0.8, 1.25, n_fft=256)(x, torch.Generator().manual_seed(0))
    >>> out.shape, bool(torch.isfinite(out).all()), torch.allclose(out, x)
    (torch.Size([2, 1600]), True, False)
    """

    min_rate: float = 0.5
    max_rate: float = 1.5
    n_fft: int = 512

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        rates = uniform(self.min_rate, self.max_rate, x.shape[0], generator, x.device)
        n = x.shape[1]
        if n < MIN_VOCODER_SAMPLES:
            return x.clone()
        bound = min(self.min_rate, self.max_rate) if uses_static_shapes(x) else None
        stretched = _phase_vocoder(x, rates, _vocoder_fft_size(n, self.n_fft), bound)
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
    resampling back to the original duration, batched over clips, with a shift drawn
    uniformly for every clip; the duration is kept. Linear interpolation does not
    low-pass before decimating: upward shifts alias a little, which is harmless for
    augmentation. Clips shorter than ``MIN_VOCODER_SAMPLES`` (64) are returned
    unchanged. With static shapes (on a GPU; see
    :func:`~skaudio.augment.static_shapes`) the stretched clips are sized from
    ``max_semitones`` rather than from the drawn shifts. A CLAR waveform
    augmentation (Al-Tahan & Mohsenzadeh 2021); the ``"clar"`` policy applies
    ``PitchShift(4.0)`` with probability 0.5. Call it as ``aug(x, generator)`` with
    ``x`` of shape ``(batch, n_samples)``; the output has the same shape.

    Parameters
    ----------
    max_semitones : float, default=15.0
        Largest shift up or down, in semitones.
    n_fft : int, default=512
        Analysis window of the phase vocoder, in samples (the largest power of two
        within the clip if the clip is shorter).

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import PitchShift
    >>> x = torch.sin(2 * torch.pi * 440.0 * torch.arange(1600) / 8000).repeat(2, 1)
    >>> out = PitchShift(max_semitones=4.0, n_fft=256)(x, torch.Generator().manual_seed(0))
    >>> out.shape, bool(torch.isfinite(out).all()), torch.allclose(out, x)
    (torch.Size([2, 1600]), True, False)
    """

    max_semitones: float = 15.0
    n_fft: int = 512

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = x.shape[1]
        steps = uniform(-self.max_semitones, self.max_semitones, x.shape[0], generator, x.device)
        if n < MIN_VOCODER_SAMPLES:
            return x.clone()
        ratios = 2.0 ** (steps / 12.0)
        # the lowest rate, 2 ** (-max_semitones / 12), bounds the lengths without a read
        bound = 2.0 ** (-abs(self.max_semitones) / 12.0) if uses_static_shapes(x) else None
        stretched = _phase_vocoder(x, 1.0 / ratios, _vocoder_fft_size(n, self.n_fft), bound)
        lengths = torch.round(n * ratios)  # each clip is `ratio` times longer now
        # resample clip i from lengths[i] samples back to n (align_corners=False grid)
        grid = (torch.arange(n, device=x.device)[None] + 0.5) * (lengths[:, None] / n) - 0.5
        grid = torch.minimum(grid.clamp(min=0), lengths[:, None] - 1)
        return _interpolate(stretched, grid)


@dataclass
class SpeedPerturbation(Augmentation):
    """Play each clip faster or slower by a random rate: pitch and tempo change together.

    Speed perturbation (Ko et al. 2015): clip ``i`` is resampled by a rate ``r_i``
    drawn uniformly in ``[min_rate, max_rate]`` (above 1 is faster and higher), as a
    tape played at another speed: ``out[t] = x[r_i * t]``, with linear interpolation
    between samples, so a tone of frequency ``f`` comes out at ``r_i * f`` and formants
    move with it. The output keeps the input length and its start: a faster clip ends
    early and is padded with zeros at the end, a slower one is cropped at the end.
    ``r = 1`` is the identity. Unlike :class:`PitchShift` and :class:`TimeStretch`
    (phase vocoder), it needs no STFT: one gather, batched over clips on their device.
    Linear interpolation does not low-pass before decimating: a faster clip aliases
    what lies above ``nyquist / r`` (little for speech), and it slightly softens the
    highest frequencies. The ``"speech"`` policy applies ``SpeedPerturbation(0.9,
    1.1)`` with probability 0.5. Call it as ``aug(x, generator)`` with ``x`` of shape
    ``(batch, n_samples)``; the output has the same shape and dtype.

    Parameters
    ----------
    min_rate, max_rate : float, default=0.9, 1.1
        Range of the speed-up factor; positive, ``min_rate <= max_rate``.

    Raises
    ------
    ValueError
        If the range is empty or not positive.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import SpeedPerturbation
    >>> x = torch.sin(2 * torch.pi * 400.0 * torch.arange(8000) / 8000).repeat(2, 1)
    >>> out = SpeedPerturbation(1.1, 1.1)(x, torch.Generator().manual_seed(0))
    >>> peak_hz = torch.fft.rfft(out[0]).abs().argmax().item()  # 1 Hz per bin
    >>> out.shape, peak_hz, out[0, -700:].abs().max().item()  # 10% higher, ends early
    (torch.Size([2, 8000]), 440, 0.0)
    """

    min_rate: float = 0.9
    max_rate: float = 1.1

    def __post_init__(self) -> None:
        if not 0 < self.min_rate <= self.max_rate:
            raise ValueError(f"need 0 < min_rate <= max_rate, got {self.min_rate}, {self.max_rate}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, n = x.shape
        rates = uniform(self.min_rate, self.max_rate, batch, generator, x.device)
        positions = torch.arange(n, device=x.device, dtype=torch.float32)[None] * rates[:, None]
        inside = positions <= n - 1  # beyond the clip's end: zeros
        return (_interpolate(x, positions) * inside).to(x.dtype)
