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
    encoder : nn.Module
        Maps ``(batch, 1, n_mels, n_frames)`` to ``(batch, embedding_dim)`` and offers
        ``forward_frames`` (see :mod:`skaudio.encoders`).
    """

    def __init__(self, frontend: LogMelSpectrogram, encoder: nn.Module) -> None:
        super().__init__()
        self.frontend = frontend
        self.encoder = encoder

    def spectrogram(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, n_samples) -> (batch, 1, n_mels, n_frames) log-mel input of the encoder."""
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
