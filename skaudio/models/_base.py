"""The part every method shares: waveform -> log-mel -> encoder -> embeddings."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._torch_utils import DeviceGenerator
from ..features import LogMelSpectrogram

__all__ = ["EmbeddingModel"]


class EmbeddingModel(nn.Module):
    """Waveforms to clip (or frame) embeddings through a log-mel frontend and an encoder.

    Methods subclass it and add their pretraining heads and ``forward``; embedding
    always goes through :meth:`embed` / :meth:`embed_frames`, so every method embeds
    the same way.

    Parameters
    ----------
    frontend : LogMelSpectrogram
        Log-mel frontend; also defines the model's sample rate. Encoders of raw
        waveforms (``encoder.input_representation == "waveform"``) bypass it.
    encoder : FrameEncoder
        See :mod:`skaudio.encoders`.
    seed : int, default=0
        Seed of the generator that pretraining-time randomness (augmentations, pitch
        shifts) draws from, on the model's device; see :meth:`random_generator`.

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import CNNEncoder
    >>> from skaudio.features import LogMelSpectrogram
    >>> from skaudio.models import EmbeddingModel
    >>> _ = torch.manual_seed(0)
    >>> encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    >>> model = EmbeddingModel(LogMelSpectrogram(8000, n_mels=16), encoder).eval()
    >>> waveforms = torch.randn(2, 4000)  # two clips of 0.5 s at 8 kHz
    >>> model.embed(waveforms).shape, model.embed_frames(waveforms).shape
    (torch.Size([2, 8]), torch.Size([2, 13, 4]))
    """

    def __init__(self, frontend: LogMelSpectrogram, encoder: nn.Module, seed: int = 0) -> None:
        super().__init__()
        self.frontend = frontend
        self.encoder = encoder
        self.seed = seed
        self._generator = DeviceGenerator(seed)

    def random_generator(self, device: torch.device) -> torch.Generator:
        """The model's generator on ``device``, seeded with ``seed`` on first use."""
        return self._generator.on(device)

    @property
    def sample_rate(self) -> int:
        """Rate of the waveforms the model takes, in Hz."""
        return self.frontend.sample_rate

    @property
    def uses_spectrogram(self) -> bool:
        """Whether the encoder reads log-mel spectrograms (else raw waveforms)."""
        return getattr(self.encoder, "input_representation", "logmel") == "logmel"

    def spectrogram(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Encoder input: (batch, 1, n_mels, n_frames) log-mel, or (batch, 1, n_samples)."""
        if not self.uses_spectrogram:
            return waveforms.unsqueeze(1)
        return self.frontend(waveforms).unsqueeze(1)

    def embed(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Clip embeddings.

        Parameters
        ----------
        waveforms : Tensor of shape (batch, n_samples)

        Returns
        -------
        embedding : Tensor of shape (batch, embedding_dim)
        """
        return self.encoder(self.spectrogram(waveforms))

    def embed_frames(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Frame embeddings.

        Parameters
        ----------
        waveforms : Tensor of shape (batch, n_samples)

        Returns
        -------
        frames : Tensor of shape (batch, n_frames_out, frame_dim)
        """
        return self.encoder.forward_frames(self.spectrogram(waveforms))

    @property
    def frame_dim(self) -> int:
        """Size of each frame embedding of :meth:`embed_frames`."""
        return self.encoder.frame_dim

    @property
    def frame_hop(self) -> int:
        """Waveform samples per frame of :meth:`embed_frames`."""
        step = self.frontend.hop_length if self.uses_spectrogram else 1
        return self.encoder.time_stride * step

    def frame_times(self, n_frames: int) -> np.ndarray:
        """Centre, in seconds, of each of the first ``n_frames`` frames of :meth:`embed_frames`.

        Frame ``j`` pools the encoder inputs ``j * s`` to ``(j + 1) * s - 1`` (``s`` =
        ``encoder.time_stride``); a log-mel frame is centred on its hop position
        (``center=True``), a waveform sample on itself.

        Parameters
        ----------
        n_frames : int
            Number of frames.

        Returns
        -------
        times : ndarray of shape (n_frames,), dtype float64
        """
        stride = self.encoder.time_stride
        step = self.frame_hop / stride
        return (np.arange(n_frames) * stride + (stride - 1) / 2) * step / self.sample_rate
