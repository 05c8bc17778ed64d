"""ResNet18 encoders: 2-D over log-mel spectrograms and 1-D over raw waveforms (CLAR)."""

from __future__ import annotations

import torch
from torch import nn

from ._base import FrameEncoder

__all__ = ["ResNet18Encoder", "ResNet18WaveformEncoder"]

_LAYERS = {
    1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d),
    2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d),
}


class _BasicBlock(nn.Module):
    """Two 3-wide convolutions with batch norm and an identity (or 1-wide) shortcut."""

    def __init__(self, dim: int, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        conv, norm, _ = _LAYERS[dim]
        self.body = nn.Sequential(
            conv(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            norm(out_channels),
            nn.ReLU(inplace=True),
            conv(out_channels, out_channels, 3, padding=1, bias=False),
            norm(out_channels),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and in_channels == out_channels
            else nn.Sequential(
                conv(in_channels, out_channels, 1, stride=stride, bias=False), norm(out_channels)
            )
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def _resnet18_body(dim: int, stem: nn.Module, widths: tuple[int, ...]) -> nn.Sequential:
    """Stem, then 4 stages of 2 basic blocks; stages 2-4 halve the resolution."""
    layers: list[nn.Module] = [stem]
    in_channels = widths[0]
    for stage, width in enumerate(widths):
        stride = 1 if stage == 0 else 2
        layers += [_BasicBlock(dim, in_channels, width, stride), _BasicBlock(dim, width, width, 1)]
        in_channels = width
    return nn.Sequential(*layers)


class ResNet18Encoder(FrameEncoder):
    """ResNet18 over log-mel spectrograms (2-D convolutions).

    The ResNet18 layout (7x7 stride-2 stem, 3x3 stride-2 max-pool, 4 stages of 2 basic
    blocks, stages 2-4 halving the resolution; total stride 32 in frequency and time);
    the last stage has ``embedding_dim / 2`` channels (ResNet18's 512 for
    ``embedding_dim=1024``). Frames are averaged over frequency.

    Shapes: ``forward`` maps log-mel spectrograms ``(batch, 1, n_mels, n_frames)`` to
    clip embeddings ``(batch, embedding_dim)``; ``forward_frames`` maps them to frame
    embeddings ``(batch, ceil(n_frames / 32), frame_dim)``.

    Parameters
    ----------
    n_mels : int
        Number of mel bands of the input (any number: frequency is averaged out).
    embedding_dim : int, default=512
        Size of the clip embedding; must be even.

    Attributes
    ----------
    frame_dim : int
        Size of each frame embedding (``embedding_dim / 2``).
    time_stride : int
        Input frames per output frame (32).
    frame_offset : float
        Centre of frame 0, in input frames (0: every layer is centred, its padding
        half its kernel, so frame ``i`` is centred on input frame ``32 i``).

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import ResNet18Encoder
    >>> _ = torch.manual_seed(0)
    >>> encoder = ResNet18Encoder(n_mels=16, embedding_dim=16)
    >>> x = torch.randn(2, 1, 16, 64)  # (batch, 1, n_mels, n_frames)
    >>> encoder.forward_frames(x).shape, encoder(x).shape
    (torch.Size([2, 2, 8]), torch.Size([2, 16]))
    """

    time_stride = 32
    frame_offset = 0.0

    def __init__(self, n_mels: int, embedding_dim: int = 512) -> None:
        super().__init__(embedding_dim)
        stem = nn.Sequential(
            nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        self.body = _resnet18_body(2, stem, (64, 128, 256, self.frame_dim))
        self.to(memory_format=torch.channels_last)

    def forward_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Frame embeddings: the last stage's channels averaged over frequency.

        Parameters
        ----------
        x : Tensor of shape (batch, 1, n_mels, n_frames)
            Log-mel spectrograms.

        Returns
        -------
        frames : Tensor of shape (batch, ceil(n_frames / 32), frame_dim)
        """
        h = self.body(x.contiguous(memory_format=torch.channels_last))
        return h.mean(dim=2).transpose(1, 2)


class ResNet18WaveformEncoder(FrameEncoder):
    """ResNet18 over raw waveforms (1-D convolutions), as in CLAR.

    Stem: a stride-4 convolution of width 80 (10 ms at 8 kHz), batch norm, ReLU and a
    stride-4 max-pool; then 4 stages of 2 basic blocks of 3-wide convolutions (stages
    2-4 halve the rate), so frames are 128 samples apart (16 ms at 8 kHz, 8 ms at
    16 kHz). The last stage has ``embedding_dim / 2`` channels.

    Shapes: ``forward`` maps waveforms ``(batch, 1, n_samples)`` to clip embeddings
    ``(batch, embedding_dim)``; ``forward_frames`` maps them to frame embeddings
    ``(batch, n_frames_out, frame_dim)`` with ``n_frames_out = ceil((n_samples // 4) / 32)``
    (about ``n_samples / 128``), at least 1.

    Parameters
    ----------
    n_mels : None
        Unused (waveform input); accepted for a uniform constructor.
    embedding_dim : int, default=512
        Size of the clip embedding; must be even.

    Attributes
    ----------
    frame_dim : int
        Size of each frame embedding (``embedding_dim / 2``).
    time_stride : int
        Samples between frames (128).
    frame_offset : float
        Centre of frame 0, in samples: 7.5. Output ``t`` of the stem convolution is
        centred on sample ``4 t + 1.5``, output ``t`` of its max-pool on stem outputs
        ``4 t`` to ``4 t + 3`` (sample ``16 t + 7.5``), and the stages are centred, so
        frame ``i`` is centred on sample ``128 i + 7.5``.

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import ResNet18WaveformEncoder
    >>> _ = torch.manual_seed(0)
    >>> encoder = ResNet18WaveformEncoder(embedding_dim=16)
    >>> x = torch.randn(2, 1, 512)  # (batch, 1, n_samples)
    >>> encoder.forward_frames(x).shape, encoder(x).shape
    (torch.Size([2, 4, 8]), torch.Size([2, 16]))
    """

    input_representation = "waveform"
    time_stride = 128
    frame_offset = 7.5

    def __init__(self, n_mels: int | None = None, embedding_dim: int = 512) -> None:
        super().__init__(embedding_dim)
        stem = nn.Sequential(
            nn.Conv1d(1, 64, 80, stride=4, padding=38, bias=False),
            nn.BatchNorm1d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(4, stride=4, ceil_mode=True),
        )
        self.body = _resnet18_body(1, stem, (64, 128, 256, self.frame_dim))

    def forward_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Frame embeddings, about one per 128 samples.

        Inputs shorter than the stem's kernel (80 samples) are zero-padded to one
        kernel width.

        Parameters
        ----------
        x : Tensor of shape (batch, 1, n_samples)
            Waveforms.

        Returns
        -------
        frames : Tensor of shape (batch, n_frames_out, frame_dim)
            ``n_frames_out = ceil((n_samples // 4) / 32)``, at least 1.
        """
        kernel = self.body[0][0].kernel_size[0]
        if x.shape[-1] < kernel:
            x = nn.functional.pad(x, (0, kernel - x.shape[-1]))
        return self.body(x).transpose(1, 2)
