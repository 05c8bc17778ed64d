"""Encoders: plain ``nn.Module``s from log-mel spectrograms to frame and clip embeddings.

Every encoder takes ``(batch, 1, n_mels, n_frames)`` and offers

- ``forward_frames(x) -> (batch, n_frames_out, frame_dim)``: a sequence of frame
  embeddings (time is downsampled by ``time_stride``),
- ``forward(x) -> (batch, embedding_dim)``: one pooled embedding per input,

so every method can use any encoder. New encoders join :data:`ENCODERS`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ENCODERS", "CNNEncoder", "make_encoder"]


class _ConvBlock(nn.Sequential):
    """3x3 convolution, batch norm, ReLU, 2x2 max-pool (ceil mode: size 1 stays 1)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, ceil_mode=True),
        )


class CNNEncoder(nn.Module):
    """Compact convolutional encoder: fast on a CPU, a good default.

    Conv blocks (3x3 conv, batch norm, ReLU, 2x2 max-pool) halve frequency and time
    at each block; the last block has ``embedding_dim / 2`` channels. Frame embeddings
    are the last block's channels averaged over frequency; the clip embedding
    concatenates their mean and their maximum over time. There is deliberately no
    linear layer after the pooling: a random one would mix features of very different
    scales and handicap the untrained-encoder baseline under a standardised probe.

    Runs in ``channels_last`` memory format, which is markedly faster on CPUs.

    Parameters
    ----------
    n_mels : int
        Number of mel bands of the input.
    embedding_dim : int, default=512
        Size of the clip embedding; must be even.
    channels : sequence of int, default=(32, 64, 128)
        Output channels of the conv blocks before the last one.

    Attributes
    ----------
    frame_dim : int
        Size of each frame embedding (``embedding_dim / 2``).
    time_stride : int
        Input frames per output frame (``2 ** (len(channels) + 1)``).
    """

    def __init__(
        self,
        n_mels: int,
        embedding_dim: int = 512,
        channels: Sequence[int] = (32, 64, 128),
    ) -> None:
        super().__init__()
        if embedding_dim % 2:
            raise ValueError(
                f"embedding_dim={embedding_dim} must be even for the cnn encoder: the clip "
                "embedding is the mean and the max over time of embedding_dim / 2 channels"
            )
        widths = [1, *channels, embedding_dim // 2]
        self.blocks = nn.Sequential(
            *(_ConvBlock(c_in, c_out) for c_in, c_out in itertools.pairwise(widths))
        )
        self.frame_dim = embedding_dim // 2
        self.time_stride = 2 ** (len(widths) - 1)
        self.embedding_dim = int(embedding_dim)
        self.to(memory_format=torch.channels_last)

    def forward_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Frame embeddings.

        Parameters
        ----------
        x : Tensor of shape (batch, 1, n_mels, n_frames)

        Returns
        -------
        frames : Tensor of shape (batch, ceil(n_frames / time_stride), frame_dim)
        """
        h = self.blocks(x.contiguous(memory_format=torch.channels_last))
        return h.mean(dim=2).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clip embeddings.

        Parameters
        ----------
        x : Tensor of shape (batch, 1, n_mels, n_frames)

        Returns
        -------
        embedding : Tensor of shape (batch, embedding_dim)
        """
        frames = self.forward_frames(x)
        return torch.cat([frames.mean(dim=1), frames.amax(dim=1)], dim=1)


ENCODERS: dict[str, type[nn.Module]] = {"cnn": CNNEncoder}


def make_encoder(name: str, *, n_mels: int, embedding_dim: int) -> nn.Module:
    """Build a registered encoder by name.

    Parameters
    ----------
    name : str
        A key of :data:`ENCODERS`.
    n_mels : int
        Mel bands of the input spectrogram.
    embedding_dim : int
        Size of the clip embedding.

    Returns
    -------
    encoder : nn.Module
    """
    try:
        cls = ENCODERS[name]
    except KeyError:
        raise ValueError(f"unknown encoder {name!r}; choose one of {sorted(ENCODERS)}") from None
    return cls(n_mels=n_mels, embedding_dim=embedding_dim)
