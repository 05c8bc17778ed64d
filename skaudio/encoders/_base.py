"""What every encoder shares: frame embeddings in, mean||max pooled clip embedding out."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FrameEncoder"]


class FrameEncoder(nn.Module):
    """Base class of the encoders.

    Subclasses implement ``forward_frames(x) -> (batch, n_frames_out, frame_dim)`` and
    set ``time_stride`` (input steps per output frame). The clip embedding concatenates
    the mean and the maximum of the frames over time, so ``frame_dim`` is
    ``embedding_dim / 2``. There is deliberately no linear layer after the pooling: a
    random one would mix features of very different scales and handicap the
    untrained-encoder baseline under a standardised linear probe.

    Parameters
    ----------
    embedding_dim : int
        Size of the clip embedding; must be even.
    """

    #: ``"logmel"``: input (batch, 1, n_mels, n_frames); ``"waveform"``: (batch, 1, n_samples)
    input_representation = "logmel"
    time_stride = 1

    def __init__(self, embedding_dim: int) -> None:
        super().__init__()
        if embedding_dim % 2:
            raise ValueError(
                f"embedding_dim={embedding_dim} must be even: the clip embedding is the "
                "mean and the max over time of embedding_dim / 2 channels"
            )
        self.embedding_dim = int(embedding_dim)
        self.frame_dim = self.embedding_dim // 2

    def forward_frames(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clip embeddings.

        Parameters
        ----------
        x : Tensor of shape (batch, 1, n_mels, n_frames) or (batch, 1, n_samples)

        Returns
        -------
        embedding : Tensor of shape (batch, embedding_dim)
        """
        return self.pool(self.forward_frames(x))

    @staticmethod
    def pool(frames: torch.Tensor) -> torch.Tensor:
        """Clip embeddings from frame embeddings: mean and max over time, concatenated.

        Parameters
        ----------
        frames : Tensor of shape (batch, n_frames, frame_dim)

        Returns
        -------
        embedding : Tensor of shape (batch, 2 * frame_dim)
        """
        return torch.cat([frames.mean(dim=1), frames.amax(dim=1)], dim=1)
