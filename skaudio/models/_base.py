"""The part every method shares: waveform -> log-mel -> encoder -> embeddings."""

from __future__ import annotations

import torch
from torch import nn

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
    """

    def __init__(self, frontend: LogMelSpectrogram, encoder: nn.Module) -> None:
        super().__init__()
        self.frontend = frontend
        self.encoder = encoder

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
