"""Log-mel frontend: a torch module, so it runs on the model's device."""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import torch
from torch import nn

from ._torch_utils import fp32_island

__all__ = ["LogMelSpectrogram", "warp_frequency"]


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
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Empty filters", UserWarning)
            mel_basis = librosa.filters.mel(
                sr=sample_rate, n_fft=self.n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax
            )
        empty = np.flatnonzero(mel_basis.max(axis=1) <= 0)
        if empty.size:
            raise ValueError(
                f"n_mels={n_mels} is too many for sample_rate={sample_rate} with a "
                f"{self.n_fft}-point FFT: mel bands {empty.tolist()} are empty. Use fewer "
                "mel bands, a longer window or a higher sample rate."
            )
        self.register_buffer("mel_basis", torch.from_numpy(mel_basis.astype(np.float32)))
        self.register_buffer("window", torch.hann_window(self.win_length, periodic=True))

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
