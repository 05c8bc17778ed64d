"""EfficientNet-B0 over log-mel spectrograms (the encoder of COLA), from MBConv blocks."""

from __future__ import annotations

import torch
from torch import nn

from ._base import FrameEncoder

__all__ = ["EfficientNetB0Encoder"]

#: EfficientNet-B0 stages (Tan & Le, 2019, table 1):
#: (expansion ratio, kernel size, stride, output channels, repeats)
B0_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
B0_STEM_CHANNELS = 32
B0_HEAD_CHANNELS = 1280


def _conv_bn_silu(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
        nn.SiLU(inplace=True),
    )


class SqueezeExcitation(nn.Module):
    """Channel gates from globally pooled features (Hu et al., 2018).

    Parameters
    ----------
    channels : int
        Channels of the gated tensor.
    squeezed : int
        Width of the bottleneck.
    """

    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, squeezed, 1),
            nn.SiLU(inplace=True),
            nn.Conv2d(squeezed, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class MBConv(nn.Module):
    """Mobile inverted bottleneck: 1x1 expansion, depthwise kxk, squeeze-excitation,
    1x1 projection; an identity shortcut when shape is kept.

    Parameters
    ----------
    in_channels, out_channels : int
    expansion : int
        Expansion ratio of the hidden width (1 skips the expansion convolution).
    kernel_size : int
        Depthwise kernel size (3 or 5 in B0).
    stride : int
        Depthwise stride; 2 halves frequency and time (rounding up).
    se_ratio : float, default=0.25
        Squeeze-excitation width relative to ``in_channels``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expansion: int,
        kernel_size: int,
        stride: int,
        se_ratio: float = 0.25,
    ) -> None:
        super().__init__()
        hidden = in_channels * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(_conv_bn_silu(in_channels, hidden, 1))
        layers += [
            _conv_bn_silu(hidden, hidden, kernel_size, stride=stride, groups=hidden),
            SqueezeExcitation(hidden, max(1, int(in_channels * se_ratio))),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out + x if self.residual else out


class EfficientNetB0Encoder(FrameEncoder):
    """EfficientNet-B0 (Tan & Le, 2019) on log-mel spectrograms, as in COLA.

    The B0 trunk (stem, 16 MBConv blocks, 1x1 conv to 1280 channels; total stride 32
    in frequency and time) followed by the head of COLA and of its multi-strategy
    re-implementation, applied to each time step: the feature map is averaged over
    frequency, then a linear layer to ``embedding_dim / 2`` units, LayerNorm and tanh
    give the frame embeddings (``embedding_dim=1024`` gives the papers' 512-unit
    layer). The clip embedding is their mean and max over time. No stochastic depth
    or dropout: the small pretraining sets here do not need them.

    Shapes: ``forward`` maps log-mel spectrograms ``(batch, 1, n_mels, n_frames)`` to
    clip embeddings ``(batch, embedding_dim)``; ``forward_frames`` maps them to frame
    embeddings ``(batch, ceil(n_frames / 32), frame_dim)``, each in ``[-1, 1]``.

    Parameters
    ----------
    n_mels : int
        Mel bands of the input (any number; frequency is reduced 32-fold, rounding up).
    embedding_dim : int, default=1024
        Size of the clip embedding; must be even.

    Attributes
    ----------
    frame_dim : int
        Size of each frame embedding (``embedding_dim / 2``).
    time_stride : int
        Input frames per output frame (32).
    frame_offset : float
        Centre of frame 0, in input frames (0: every convolution is centred, its
        padding half its kernel, so frame ``i`` is centred on input frame ``32 i``).

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import EfficientNetB0Encoder
    >>> _ = torch.manual_seed(0)
    >>> encoder = EfficientNetB0Encoder(n_mels=16, embedding_dim=8)
    >>> x = torch.randn(2, 1, 16, 64)  # (batch, 1, n_mels, n_frames)
    >>> encoder.forward_frames(x).shape, encoder(x).shape
    (torch.Size([2, 2, 4]), torch.Size([2, 8]))
    """

    time_stride = 32
    frame_offset = 0.0

    def __init__(self, n_mels: int, embedding_dim: int = 1024) -> None:
        super().__init__(embedding_dim)
        layers: list[nn.Module] = [_conv_bn_silu(1, B0_STEM_CHANNELS, 3, stride=2)]
        channels = B0_STEM_CHANNELS
        for expansion, kernel_size, stride, out_channels, repeats in B0_STAGES:
            for repeat in range(repeats):
                layers.append(
                    MBConv(
                        channels,
                        out_channels,
                        expansion,
                        kernel_size,
                        stride if repeat == 0 else 1,
                    )
                )
                channels = out_channels
        layers.append(_conv_bn_silu(channels, B0_HEAD_CHANNELS, 1))
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Linear(B0_HEAD_CHANNELS, self.frame_dim), nn.LayerNorm(self.frame_dim), nn.Tanh()
        )
        self.to(memory_format=torch.channels_last)

    def forward_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Frame embeddings: the trunk's features averaged over frequency, then the head.

        Parameters
        ----------
        x : Tensor of shape (batch, 1, n_mels, n_frames)
            Log-mel spectrograms.

        Returns
        -------
        frames : Tensor of shape (batch, ceil(n_frames / 32), frame_dim)
        """
        h = self.trunk(x.contiguous(memory_format=torch.channels_last))
        return self.head(h.mean(dim=2).transpose(1, 2))
