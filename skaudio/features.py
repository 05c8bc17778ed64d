"""Spectrogram frontends (log-mel, log-frequency): torch modules, on the model's device."""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import torch
from torch import nn

from ._torch_utils import fp32_island

__all__ = [
    "LogFrequencySpectrogram",
    "LogMelSpectrogram",
    "log_frequency_filterbank",
    "make_frontend",
    "warp_frequency",
]


class LogMelSpectrogram(nn.Module):
    """Log-mel spectrogram of a batch of waveforms, in decibels.

    Matches ``librosa.power_to_db(librosa.feature.melspectrogram(...), top_db=top_db)``
    with a Hann window, ``center=True`` and constant (zero) padding, computed per clip.
    The mel filterbank comes from :func:`librosa.filters.mel` (Slaney scale and norm).
    Being a module, it moves to the model's device with the model. It always computes
    in float32 (STFT, mel matmul, log; half-precision input is cast), also under
    autocast: the power spectrum spans a dynamic range that bf16's 8-bit mantissa
    and fp16's range would round or overflow (``skaudio._torch_utils.fp32_island``).

    Shapes: ``forward`` maps waveforms ``(batch, n_samples)`` to log-mel spectrograms
    ``(batch, n_mels, n_frames)`` with ``n_frames = 1 + n_samples // hop_length``.

    Parameters
    ----------
    sample_rate : int
        Rate of the input waveforms, in Hz.
    n_mels : int, default=64
        Number of mel bands.
    window_seconds : float, default=0.025
        Analysis window length.
    hop_seconds : float, default=0.010
        Hop between frames.
    fmin : float, default=0.0
        Lowest band edge, in Hz.
    fmax : float or None, default=None
        Highest band edge, in Hz; ``None`` means ``sample_rate / 2``.
    top_db : float or None, default=80.0
        Floor of the output relative to each clip's maximum; ``None`` disables it.

    Attributes
    ----------
    n_fft : int
        FFT size: the window length rounded up to a power of two.
    win_length : int
        Window length in samples.
    hop_length : int
        Hop in samples.
    mel_basis : Tensor of shape (n_mels, n_fft // 2 + 1)
        The mel filterbank (a buffer).

    Raises
    ------
    ValueError
        If some mel bands would be empty (too many ``n_mels`` for the sample rate),
        which would give constant, useless features.

    Examples
    --------
    >>> import torch
    >>> from skaudio.features import LogMelSpectrogram
    >>> _ = torch.manual_seed(0)
    >>> frontend = LogMelSpectrogram(sample_rate=8000, n_mels=32)
    >>> frontend.n_fft, frontend.hop_length, frontend.n_frames(4000)
    (256, 80, 51)
    >>> log_mel = frontend(torch.randn(2, 4000))  # (batch, n_samples)
    >>> log_mel.shape, log_mel.dtype
    (torch.Size([2, 32, 51]), torch.float32)
    """

    def __init__(
        self,
        sample_rate: int,
        n_mels: int = 64,
        window_seconds: float = 0.025,
        hop_seconds: float = 0.010,
        fmin: float = 0.0,
        fmax: float | None = None,
        top_db: float | None = 80.0,
    ) -> None:
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.n_mels = int(n_mels)
        self.win_length = max(1, round(window_seconds * sample_rate))
        self.hop_length = max(1, round(hop_seconds * sample_rate))
        self.n_fft = 1 << (self.win_length - 1).bit_length()
        self.top_db = top_db
        mel_basis = self._filterbank(fmin, fmax)
        empty = np.flatnonzero(mel_basis.max(axis=1) <= 0)
        if empty.size:
            raise ValueError(
                f"n_mels={n_mels} is too many for sample_rate={sample_rate} with a "
                f"{self.n_fft}-point FFT: mel bands {empty.tolist()} are empty. Use fewer "
                "mel bands, a longer window or a higher sample rate."
            )
        self.register_buffer("mel_basis", torch.from_numpy(mel_basis.astype(np.float32)))
        self.register_buffer("window", torch.hann_window(self.win_length, periodic=True))

    def _filterbank(self, fmin: float, fmax: float | None) -> np.ndarray:
        """The ``(n_mels, n_fft // 2 + 1)`` filterbank: librosa's Slaney mel bands."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Empty filters", UserWarning)
            return librosa.filters.mel(
                sr=self.sample_rate, n_fft=self.n_fft, n_mels=self.n_mels, fmin=fmin, fmax=fmax
            )

    def n_frames(self, n_samples: int) -> int:
        """Number of output frames for a waveform of ``n_samples`` samples.

        Parameters
        ----------
        n_samples : int
            Length of the waveform.

        Returns
        -------
        n_frames : int
            ``1 + n_samples // hop_length``.
        """
        return 1 + n_samples // self.hop_length

    @fp32_island
    def power_spectrogram(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Power spectrogram, the first half of :meth:`forward`.

        Parameters
        ----------
        waveforms : Tensor of shape (batch, n_samples)

        Returns
        -------
        power : Tensor of shape (batch, n_fft // 2 + 1, n_frames)
        """
        spec = torch.stft(
            waveforms,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        return spec.real.square() + spec.imag.square()

    @fp32_island
    def log_mel(self, power: torch.Tensor) -> torch.Tensor:
        """Mel filterbank and decibels, the second half of :meth:`forward`.

        Parameters
        ----------
        power : Tensor of shape (batch, n_fft // 2 + 1, n_frames)

        Returns
        -------
        log_mel : Tensor of shape (batch, n_mels, n_frames)
        """
        mel = torch.matmul(self.mel_basis, power)
        log_mel = 10.0 * torch.log10(mel.clamp_min(1e-10))
        if self.top_db is not None:
            floor = log_mel.amax(dim=(-2, -1), keepdim=True) - self.top_db
            log_mel = torch.maximum(log_mel, floor)
        return log_mel

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Compute log-mel spectrograms.

        Parameters
        ----------
        waveforms : Tensor of shape (batch, n_samples)

        Returns
        -------
        log_mel : Tensor of shape (batch, n_mels, n_frames)
            ``n_frames = 1 + n_samples // hop_length``.
        """
        return self.log_mel(self.power_spectrogram(waveforms))


#: lowest band edge of the log-frequency frontend: C1, below the lowest note of most
#: instruments (a piano's A0 is 27.5 Hz)
LOG_FREQUENCY_FMIN = 32.70


def log_frequency_filterbank(
    sample_rate: int, n_fft: int, n_bands: int, fmin: float, fmax: float | None = None
) -> np.ndarray:
    r"""Triangular filters spaced evenly in log-frequency, of unit area.

    Band :math:`k` is centred at :math:`c_{k+1}` of the ``n_bands + 2`` geometrically
    spaced edges :math:`c_0 = f_{\min}, \dots, c_{n+1} = f_{\max}`, rising from
    :math:`c_k` and falling to :math:`c_{k+2}` (so a band spans two band spacings, as
    mel bands do). Where that is narrower than the STFT's bin spacing
    :math:`\Delta f = \text{sample\_rate} / \text{n\_fft}` (low frequencies), a band
    spans at least :math:`c_{k+1} \pm \Delta f`, so no band is empty: those bands
    interpolate between neighbouring bins, and neighbouring ones overlap. Each filter
    sums to 1, so a band is the average power near its centre. With :math:`b` bands
    per octave, a pitch shift by :math:`s` semitones moves the harmonics by
    :math:`b s / 12` bands: a translation along the frequency axis.

    Parameters
    ----------
    sample_rate : int
        Sample rate, in Hz.
    n_fft : int
        FFT size of the power spectrogram.
    n_bands : int
        Number of bands.
    fmin : float
        Lowest edge, in Hz, positive.
    fmax : float or None, default=None
        Highest edge, in Hz, at most ``sample_rate / 2``; None means ``sample_rate / 2``.

    Returns
    -------
    filterbank : ndarray of shape (n_bands, n_fft // 2 + 1), dtype float32

    Raises
    ------
    ValueError
        If ``fmin`` is not positive or not below ``fmax``, or ``fmax`` is above the
        Nyquist frequency.

    Examples
    --------
    >>> from skaudio.features import log_frequency_filterbank
    >>> bank = log_frequency_filterbank(16000, 1024, n_bands=64, fmin=32.7)
    >>> bank.shape, bool((bank.sum(axis=1).round(5) == 1).all())
    ((64, 513), True)
    """
    nyquist = sample_rate / 2
    fmax = nyquist if fmax is None else float(fmax)
    if not 0 < fmin < fmax:
        raise ValueError(
            f"need 0 < fmin < fmax for log-frequency bands, got fmin={fmin}, fmax={fmax}"
        )
    if fmax > nyquist:
        raise ValueError(
            f"fmax={fmax} Hz is above the Nyquist frequency {nyquist} Hz of "
            f"sample_rate={sample_rate}"
        )
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    spacing = sample_rate / n_fft
    edges = np.geomspace(fmin, fmax, n_bands + 2)
    centres = edges[1:-1, None]
    low = np.minimum(edges[:-2, None], centres - spacing)
    high = np.maximum(edges[2:, None], centres + spacing)
    rising = (freqs - low) / (centres - low)
    falling = (high - freqs) / (high - centres)
    bank = np.clip(np.minimum(rising, falling), 0.0, None)
    return (bank / bank.sum(axis=1, keepdims=True)).astype(np.float32)


class LogFrequencySpectrogram(LogMelSpectrogram):
    """Log-frequency spectrogram of a batch of waveforms, in decibels.

    :class:`LogMelSpectrogram` with bands spaced evenly in log-frequency
    (:func:`log_frequency_filterbank`) instead of mel bands, and a longer window: the
    mel scale is linear below 1 kHz, where most fundamentals lie (the notes C2-C6,
    65-1047 Hz, fall in the lowest 23 of 64 mel bands at 16 kHz, each band 46 Hz
    wide, wider than a semitone below about 800 Hz), so a pitch shift stretches a mel
    spectrogram but *translates* a log-frequency one, and the convolutions of a CNN
    follow a translation. The interface is the log-mel frontend's (``n_mels`` bands,
    :meth:`power_spectrogram` then :meth:`log_mel` applying this filterbank), so the
    models, pitch shifts included, take either.

    Shapes: ``forward`` maps waveforms ``(batch, n_samples)`` to ``(batch, n_mels,
    n_frames)`` with ``n_frames = 1 + n_samples // hop_length``.

    Parameters
    ----------
    sample_rate : int
        Rate of the input waveforms, in Hz.
    n_mels : int, default=64
        Number of log-frequency bands (64 from C1 to 8 kHz is 8 bands per octave).
    window_seconds : float, default=0.064
        Analysis window length; longer than the log-mel default so that the bins
        (15.6 Hz at 64 ms) separate the harmonics of low notes.
    hop_seconds : float, default=0.010
        Hop between frames.
    fmin : float, default=32.70
        Lowest band edge, in Hz (C1).
    fmax : float or None, default=None
        Highest band edge, in Hz; ``None`` means ``sample_rate / 2``.
    top_db : float or None, default=80.0
        Floor of the output relative to each clip's maximum; ``None`` disables it.

    Attributes
    ----------
    n_fft, win_length, hop_length : int
        As in :class:`LogMelSpectrogram`.
    mel_basis : Tensor of shape (n_mels, n_fft // 2 + 1)
        The log-frequency filterbank (a buffer; named as the log-mel frontend's).
    bands_per_octave : float
        Bands per octave: ``(n_mels + 1) / log2(fmax / fmin)``, the step between
        neighbouring band centres being ``1 / bands_per_octave`` octaves.

    See Also
    --------
    LogMelSpectrogram, log_frequency_filterbank

    Examples
    --------
    >>> import torch
    >>> from skaudio.features import LogFrequencySpectrogram
    >>> frontend = LogFrequencySpectrogram(sample_rate=16000, n_mels=64)
    >>> frontend.n_fft, round(frontend.bands_per_octave, 2)
    (1024, 8.19)
    >>> frontend(torch.randn(2, 8000)).shape  # (batch, n_samples) -> (batch, bands, frames)
    torch.Size([2, 64, 51])
    """

    def __init__(
        self,
        sample_rate: int,
        n_mels: int = 64,
        window_seconds: float = 0.064,
        hop_seconds: float = 0.010,
        fmin: float = LOG_FREQUENCY_FMIN,
        fmax: float | None = None,
        top_db: float | None = 80.0,
    ) -> None:
        super().__init__(sample_rate, n_mels, window_seconds, hop_seconds, fmin, fmax, top_db)
        top = sample_rate / 2 if fmax is None else fmax
        # the n_mels + 2 geometric edges span n_mels + 1 steps, one per band
        self.bands_per_octave = (self.n_mels + 1) / float(np.log2(top / fmin))

    def _filterbank(self, fmin: float, fmax: float | None) -> np.ndarray:
        return log_frequency_filterbank(self.sample_rate, self.n_fft, self.n_mels, fmin, fmax)


#: ``frequency_scale`` -> frontend class
FRONTENDS = {"mel": LogMelSpectrogram, "log": LogFrequencySpectrogram}


def make_frontend(
    sample_rate: int, n_mels: int = 64, frequency_scale: str = "mel"
) -> LogMelSpectrogram:
    """The embedders' frontend: ``n_mels`` bands on the ``frequency_scale``.

    Parameters
    ----------
    sample_rate : int
        Rate of the input waveforms, in Hz.
    n_mels : int, default=64
        Number of frequency bands.
    frequency_scale : {"mel", "log"}, default="mel"
        ``"mel"``: :class:`LogMelSpectrogram` (25 ms windows); ``"log"``:
        :class:`LogFrequencySpectrogram` (64 ms windows, bands from C1).

    Returns
    -------
    frontend : LogMelSpectrogram or LogFrequencySpectrogram

    Raises
    ------
    ValueError
        If ``frequency_scale`` is unknown.

    Examples
    --------
    >>> from skaudio.features import make_frontend
    >>> type(make_frontend(16000, 64, "log")).__name__
    'LogFrequencySpectrogram'
    """
    if frequency_scale not in FRONTENDS:
        raise ValueError(
            f"unknown frequency_scale {frequency_scale!r}; choose one of {sorted(FRONTENDS)}"
        )
    return FRONTENDS[frequency_scale](sample_rate=sample_rate, n_mels=n_mels)


def warp_frequency(power: torch.Tensor, ratios: torch.Tensor) -> torch.Tensor:
    """Shift the pitch of power spectrograms by scaling their frequency axis.

    Energy at frequency ``f`` moves to ``ratio * f`` (linear interpolation between
    bins; bins whose source lies above the Nyquist frequency become zero), while the
    time axis is untouched: the magnitude-domain equivalent of a pitch shift by
    ``ratio`` that keeps the duration. Being a gather, it runs on any device at the
    cost of a few tensor operations, unlike a phase-vocoder pitch shift.

    Parameters
    ----------
    power : Tensor of shape (batch, n_bins, n_frames)
        Linear-frequency power (or magnitude) spectrograms.
    ratios : Tensor of shape (batch,)
        Positive frequency ratios; ``2 ** (semitones / 12)``.

    Returns
    -------
    warped : Tensor of shape (batch, n_bins, n_frames)

    Examples
    --------
    >>> import torch
    >>> from skaudio.features import warp_frequency
    >>> power = torch.zeros(1, 8, 3)  # (batch, n_bins, n_frames)
    >>> power[0, 2] = 1.0  # all the energy in bin 2
    >>> warped = warp_frequency(power, torch.tensor([2.0]))  # one octave up
    >>> warped.shape, warped[0, :, 0].tolist()
    (torch.Size([1, 8, 3]), [0.0, 0.0, 0.0, 0.5, 1.0, 0.5, 0.0, 0.0])
    """
    n_bins = power.shape[1]
    source = torch.arange(n_bins, device=power.device, dtype=power.dtype) / ratios[:, None]
    low = source.floor().clamp(max=n_bins - 1)
    frac = (source - low)[..., None]
    low_index = low.long()[..., None].expand(-1, -1, power.shape[2])
    high_index = (low_index + 1).clamp(max=n_bins - 1)
    warped = power.gather(1, low_index) * (1 - frac) + power.gather(1, high_index) * frac
    return warped * (source <= n_bins - 1)[..., None]
