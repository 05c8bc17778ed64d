"""Compact CNN and VGG-style encoders for log-mel input."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._base import FrameEncoder

__all__ = ["CNNEncoder", "VGGEncoder"]


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class _ConvStack(FrameEncoder):
    """Blocks of ``convs_per_block`` 3x3 conv-BN-ReLU and a 2x2 max-pool (ceil mode).

    Frame embeddings are the last block's channels averaged over frequency, or over
    each of ``readout_bands`` frequency bands. Runs in ``channels_last`` memory
    format, markedly faster on CPUs.
    """

    convs_per_block = 1

    @staticmethod
    def frequency_rows(n_mels: int, channels: Sequence[int]) -> int:
        """Frequency rows left of ``n_mels`` by the ``len(channels) + 1`` ceil-mode poolings."""
        rows = n_mels
        for _ in range(len(channels) + 1):
            rows = -(-rows // 2)
        return rows

    def __init__(
        self, n_mels: int, embedding_dim: int, channels: Sequence[int], readout_bands: int = 1
    ) -> None:
        super().__init__(embedding_dim)
        if readout_bands < 1 or self.frame_dim % readout_bands:
            raise ValueError(
                f"readout_bands={readout_bands} must be a positive divisor of "
                f"embedding_dim / 2 = {self.frame_dim}: each frame holds the last block's "
                "channels for each band"
            )
        n_freq = self.frequency_rows(n_mels, channels)
        if readout_bands > n_freq:
            raise ValueError(
                f"readout_bands={readout_bands} is more than the {n_freq} frequency rows "
                f"left by {len(channels) + 1} poolings of n_mels={n_mels}; use at most "
                f"{n_freq} bands or more mel bands"
            )
        self.readout_bands = int(readout_bands)
        widths = [1, *channels, self.frame_dim // self.readout_bands]
        blocks = []
        for c_in, c_out in itertools.pairwise(widths):
            layers = _conv_bn_relu(c_in, c_out)
            for _ in range(self.convs_per_block - 1):
                layers += _conv_bn_relu(c_out, c_out)
            blocks.append(nn.Sequential(*layers, nn.MaxPool2d(2, ceil_mode=True)))
        self.blocks = nn.Sequential(*blocks)
        self.time_stride = 2 ** len(blocks)
        self.to(memory_format=torch.channels_last)

    def forward_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Frame embeddings: the last block's channels averaged over frequency.

        Parameters
        ----------
        x : Tensor of shape (batch, 1, n_mels, n_frames)
            Log-mel spectrograms.

        Returns
        -------
        frames : Tensor of shape (batch, ceil(n_frames / time_stride), frame_dim)
            With ``readout_bands`` B > 1, each frame is the last block's
            ``frame_dim / B`` channels averaged over each of B equal frequency bands
            (low to high), channel-major.
        """
        h = self.blocks(x.contiguous(memory_format=torch.channels_last))
        if self.readout_bands == 1:
            return h.mean(dim=2).transpose(1, 2)
        # (batch, channels, n_freq, n_frames) -> (batch, n_frames, channels * bands)
        bands = F.adaptive_avg_pool2d(h, (self.readout_bands, h.shape[3]))
        return bands.flatten(1, 2).transpose(1, 2)


class CNNEncoder(_ConvStack):
    """Compact convolutional encoder: fast on a CPU, a good default.

    Conv blocks (3x3 conv, batch norm, ReLU, 2x2 max-pool in ceil mode) halve
    frequency and time at each block (rounding up); the last block has
    ``embedding_dim / 2`` channels, averaged over frequency to give the frame
    embeddings.

    Shapes: ``forward`` maps log-mel spectrograms ``(batch, 1, n_mels, n_frames)`` to
    clip embeddings ``(batch, embedding_dim)``; ``forward_frames`` maps them to frame
    embeddings ``(batch, ceil(n_frames / time_stride), frame_dim)``.

    Parameters
    ----------
    n_mels : int
        Number of mel bands of the input (any number: frequency is averaged out).
    embedding_dim : int, default=512
        Size of the clip embedding; must be even.
    channels : sequence of int, default=(32, 64, 128)
        Output channels of the conv blocks before the last one.
    readout_bands : int, default=1
        Frequency bands kept in each frame embedding. ``1`` averages frequency out;
        ``B > 1`` gives the last block ``embedding_dim / (2 B)`` channels and keeps
        their averages over B bands (frequency-keeping readout, as BYOL-A's CNN keeps
        channels x frequency per frame), so that pitch and spectral shape survive.

    Attributes
    ----------
    frame_dim : int
        Size of each frame embedding (``embedding_dim / 2``).
    time_stride : int
        Input frames per output frame (``2 ** (len(channels) + 1)``).

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import CNNEncoder
    >>> _ = torch.manual_seed(0)
    >>> encoder = CNNEncoder(n_mels=16, embedding_dim=64)
    >>> x = torch.randn(2, 1, 16, 40)  # (batch, 1, n_mels, n_frames)
    >>> encoder.time_stride, encoder.forward_frames(x).shape, encoder(x).shape
    (16, torch.Size([2, 3, 32]), torch.Size([2, 64]))
    """

    def __init__(
        self,
        n_mels: int,
        embedding_dim: int = 512,
        channels: Sequence[int] = (32, 64, 128),
        readout_bands: int = 1,
    ) -> None:
        super().__init__(n_mels, embedding_dim, channels, readout_bands)


class VGGEncoder(_ConvStack):
    """VGG-style encoder (as compared by Verma & Smith): two 3x3 convs per block.

    Like :class:`CNNEncoder`, but each block stacks two 3x3 conv-batch norm-ReLU
    layers before its 2x2 max-pool (ceil mode), and the default blocks are wider.
    The last block has ``embedding_dim / 2`` channels, averaged over frequency to
    give the frame embeddings.

    Shapes: ``forward`` maps log-mel spectrograms ``(batch, 1, n_mels, n_frames)`` to
    clip embeddings ``(batch, embedding_dim)``; ``forward_frames`` maps them to frame
    embeddings ``(batch, ceil(n_frames / time_stride), frame_dim)``.

    Parameters
    ----------
    n_mels : int
        Number of mel bands of the input (any number: frequency is averaged out).
    embedding_dim : int, default=512
        Size of the clip embedding; must be even.
    channels : sequence of int, default=(64, 128, 256)
        Output channels of the blocks before the last one.
    readout_bands : int, default=1
        Frequency bands kept in each frame embedding. ``1`` averages frequency out;
        ``B > 1`` gives the last block ``embedding_dim / (2 B)`` channels and keeps
        their averages over B bands (frequency-keeping readout, as BYOL-A's CNN keeps
        channels x frequency per frame), so that pitch and spectral shape survive.

    Attributes
    ----------
    frame_dim : int
        Size of each frame embedding (``embedding_dim / 2``).
    time_stride : int
        Input frames per output frame (``2 ** (len(channels) + 1)``).

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import VGGEncoder
    >>> _ = torch.manual_seed(0)
    >>> encoder = VGGEncoder(n_mels=16, embedding_dim=32, channels=(8, 16))
    >>> x = torch.randn(2, 1, 16, 40)  # (batch, 1, n_mels, n_frames)
    >>> encoder.time_stride, encoder.forward_frames(x).shape, encoder(x).shape
    (8, torch.Size([2, 5, 16]), torch.Size([2, 32]))
    """

    convs_per_block = 2

    def __init__(
        self,
        n_mels: int,
        embedding_dim: int = 512,
        channels: Sequence[int] = (64, 128, 256),
        readout_bands: int = 1,
    ) -> None:
        super().__init__(n_mels, embedding_dim, channels, readout_bands)
