"""CPC encoders (van den Oord et al., 2018): strided 1-D convolutions over raw audio, and
a patch-wise 2-D convolutional encoder over log-mel spectrograms."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._base import FrameEncoder
from .cnn import _conv_bn_relu

__all__ = ["CPCLogMelEncoder", "CPCWaveformEncoder", "ChannelNorm"]

#: the normalisations of :class:`CPCWaveformEncoder`, by its ``norm`` name
_NORMS = ("batch", "channel")


def _spans(n_frames: int, max_frames: int) -> list[tuple[int, int]]:
    """``[start, end)`` of consecutive chunks of at most ``max_frames`` of ``n_frames``."""
    return [(start, min(start + max_frames, n_frames)) for start in range(0, n_frames, max_frames)]


class ChannelNorm(nn.Module):
    """Normalisation of each frame over its channels, with a learnt per-channel affine map.

    For every clip ``b`` and time step ``t``, the channels ``x[b, :, t]`` are centred
    and scaled by their own mean and standard deviation, then scaled and shifted per
    channel::

        mu[b, t] = mean_c x[b, c, t]
        var[b, t] = sum_c (x[b, c, t] - mu[b, t]) ** 2 / (C - 1)
        y[b, c, t] = (x[b, c, t] - mu[b, t]) / sqrt(var[b, t] + eps) * weight[c] + bias[c]

    (the unbiased variance, as CPC_audio's). Nothing is computed across clips or
    time steps and there are no running statistics: a clip's output does not depend
    on the rest of the batch, in training as in evaluation, and it needs no
    synchronisation across processes. CPC_audio's raw-waveform encoder uses it in
    place of batch norm, whose statistics mix the clips of the batch, which are also
    the negatives of the contrastive loss.

    Shapes: ``(batch, num_channels, time)`` to the same shape.

    Parameters
    ----------
    num_channels : int
        Channels ``C`` of the input (at least 2 for a finite variance).
    eps : float, default=1e-5
        Added to the variance.

    Attributes
    ----------
    weight : Parameter of shape (num_channels,)
        Per-channel scale, initialised to 1.
    bias : Parameter of shape (num_channels,)
        Per-channel shift, initialised to 0.

    References
    ----------
    M. Riviere, A. Joulin, P.-E. Mazare, E. Dupoux. "Unsupervised pretraining
    transfers well across languages." ICASSP 2020 (arXiv:2002.02848);
    ``ChannelNorm`` in ``cpc/model.py`` of facebookresearch/CPC_audio.

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import ChannelNorm
    >>> _ = torch.manual_seed(0)
    >>> norm = ChannelNorm(8)
    >>> y = norm(torch.randn(2, 8, 5) * 3 + 1)  # (batch, channels, time)
    >>> y.shape
    torch.Size([2, 8, 5])
    >>> bool(y.mean(dim=1).abs().max() < 1e-5), bool((y.std(dim=1) - 1).abs().max() < 1e-3)
    (True, True)
    """

    def __init__(self, num_channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_channels = int(num_channels)
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(self.num_channels))
        self.bias = nn.Parameter(torch.zeros(self.num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` of shape ``(batch, num_channels, time)`` over its channels."""
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, keepdim=True)
        x = (x - mean) * torch.rsqrt(var + self.eps)
        return x * self.weight[:, None] + self.bias[:, None]

    def extra_repr(self) -> str:
        return f"{self.num_channels}, eps={self.eps}"


class CPCWaveformEncoder(FrameEncoder):
    """Strided 1-D convolutions from raw audio to one ``z_t`` per ``prod(strides)`` samples.

    Each layer is a convolution without padding, a normalisation (``norm``) and leaky
    ReLU; a last 1x1 convolution maps the ``hidden`` channels to ``z_dim``. With the defaults (the
    CPC paper's strides 5, 4, 2, 2, 2 and kernels 10, 8, 4, 4, 4) one frame covers a
    receptive field of 465 samples and frames are 160 samples apart: 10 ms at
    16 kHz, 20 ms at 8 kHz (strides are in samples, whatever the rate).

    Frame arithmetic, explicit: unpadded, a chain of convolutions gives
    ``floor((n - receptive_field) / hop) + 1`` frames, none at all for inputs shorter
    than the receptive field (the paper's stride/kernel description does not add up
    for short windows). The input is therefore zero-padded by
    ``left = (receptive_field - hop) // 2`` and ``right = receptive_field - 1 - left``
    samples, which gives exactly ``ceil(n / hop)`` frames for any ``n >= 1``, frame ``j``
    centred on sample ``j * hop + (hop - 1) / 2`` like the other encoders' frames.

    Shapes: ``forward`` maps waveforms ``(batch, 1, n_samples)`` to clip embeddings
    ``(batch, embedding_dim)``; ``forward_frames`` maps them to frames
    ``(batch, ceil(n_samples / time_stride), z_dim)``.

    Parameters
    ----------
    n_mels : None
        Unused (waveform input); accepted for a uniform constructor.
    embedding_dim : int, default=512
        Size of the pooled clip embedding (mean and max of the frames), so
        ``z_dim = embedding_dim / 2``.
    strides : sequence of int, default=(5, 4, 2, 2, 2)
        Stride of each convolution, in samples.
    kernels : sequence of int, default=(10, 8, 4, 4, 4)
        Kernel size of each convolution; as many as ``strides``.
    hidden : int, default=512
        Channels of the strided convolutions.
    norm : {"batch", "channel"}, default="batch"
        Normalisation after each strided convolution: ``"batch"`` is
        :class:`torch.nn.BatchNorm1d` (statistics over the clips and frames of the
        batch, running averages in evaluation); ``"channel"`` is :class:`ChannelNorm`
        (each frame over its own channels, CPC_audio's): a clip's frames then do not
        depend on the other clips of the batch. Both have a per-channel ``weight``
        and ``bias`` under the same names.

    Attributes
    ----------
    time_stride : int
        Samples between frames (``prod(strides)``).
    receptive_field : int
        Samples seen by one frame.
    padding : tuple of (int, int)
        Zeros added before and after the input.

    Raises
    ------
    ValueError
        If ``strides`` and ``kernels`` are empty or of different lengths, or ``norm``
        is unknown.

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import CPCWaveformEncoder
    >>> _ = torch.manual_seed(0)
    >>> encoder = CPCWaveformEncoder(embedding_dim=16, hidden=32)
    >>> encoder.time_stride, encoder.receptive_field, encoder.n_frames(1000)
    (160, 465, 7)
    >>> x = torch.randn(2, 1, 1000)  # (batch, 1, n_samples)
    >>> encoder.forward_frames(x).shape, encoder(x).shape
    (torch.Size([2, 7, 8]), torch.Size([2, 16]))
    >>> CPCWaveformEncoder(embedding_dim=16, hidden=32, norm="channel").body[1]
    ChannelNorm(32, eps=1e-05)
    """

    input_representation = "waveform"

    def __init__(
        self,
        n_mels: int | None = None,
        embedding_dim: int = 512,
        strides: Sequence[int] = (5, 4, 2, 2, 2),
        kernels: Sequence[int] = (10, 8, 4, 4, 4),
        hidden: int = 512,
        norm: str = "batch",
    ) -> None:
        super().__init__(embedding_dim)
        if len(strides) != len(kernels) or not strides:
            raise ValueError("strides and kernels must be non-empty and of equal length")
        if norm not in _NORMS:
            raise ValueError(f"unknown norm {norm!r}; choose one of {list(_NORMS)}")
        self.norm = norm
        normalisation = nn.BatchNorm1d if norm == "batch" else ChannelNorm
        layers: list[nn.Module] = []
        channels = 1
        for stride, kernel in zip(strides, kernels, strict=True):
            layers += [
                nn.Conv1d(channels, hidden, kernel, stride=stride, bias=False),
                normalisation(hidden),
                nn.LeakyReLU(inplace=True),
            ]
            channels = hidden
        layers.append(nn.Conv1d(hidden, self.frame_dim, 1))
        self.body = nn.Sequential(*layers)
        self.time_stride = 1
        self.receptive_field = 1
        for stride, kernel in zip(strides, kernels, strict=True):
            self.receptive_field += (kernel - 1) * self.time_stride
            self.time_stride *= stride
        self.padding = (
            (self.receptive_field - self.time_stride) // 2,
            self.receptive_field - 1 - (self.receptive_field - self.time_stride) // 2,
        )

    def n_frames(self, n_samples: int) -> int:
        """Frames for ``n_samples`` of input: ``ceil(n_samples / time_stride)``.

        Parameters
        ----------
        n_samples : int
            Length of the input waveform, at least 1.

        Returns
        -------
        n_frames : int
        """
        padded = n_samples + sum(self.padding)
        return (padded - self.receptive_field) // self.time_stride + 1

    def forward_frames(self, x: torch.Tensor, max_frames: int | None = None) -> torch.Tensor:
        """Frame embeddings ``z_t``, one per ``time_stride`` samples.

        Parameters
        ----------
        x : Tensor of shape (batch, 1, n_samples)
            Waveforms.
        max_frames : int or None, default=None
            Compute at most this many frames at a time: a long input is cut into
            chunks of ``max_frames`` frames, each read with its whole receptive field,
            so memory is bounded and the frames are those of one pass (up to float
            rounding). ``None``, or an input of at most ``max_frames`` frames, is one
            pass.

        Returns
        -------
        frames : Tensor of shape (batch, ceil(n_samples / time_stride), z_dim)
        """
        padded = F.pad(x, self.padding)
        n_frames = self.n_frames(x.shape[-1])
        if max_frames is None or n_frames <= max_frames:
            return self.body(padded).transpose(1, 2)
        hop, field = self.time_stride, self.receptive_field
        pieces = [
            self.body(padded[..., start * hop : (end - 1) * hop + field]).transpose(1, 2)
            for start, end in _spans(n_frames, max_frames)
        ]
        return torch.cat(pieces, dim=1)


class CPCLogMelEncoder(FrameEncoder):
    """One ``z_t`` per patch of ``patch_frames`` log-mel frames, each patch encoded alone.

    The spectrogram is cut along time into non-overlapping patches (the last one
    zero-padded to full width); 2-D conv blocks (3x3 conv, batch norm, ReLU, 2x2
    max-pool) encode every patch, its feature map is averaged and a linear layer
    gives ``z_t``. No frame sees another patch, so predicting a future ``z`` cannot
    lean on shared input.

    Shapes: ``forward`` maps log-mel spectrograms ``(batch, 1, n_mels, n_frames)`` to
    clip embeddings ``(batch, embedding_dim)``; ``forward_frames`` maps them to frames
    ``(batch, ceil(n_frames / patch_frames), z_dim)``.

    Parameters
    ----------
    n_mels : int
        Number of mel bands of the input (any number: frequency is averaged out).
    embedding_dim : int, default=512
        Size of the pooled clip embedding, so ``z_dim = embedding_dim / 2``.
    patch_frames : int, default=8
        Log-mel frames per patch (80 ms with the default 10 ms hop).
    channels : sequence of int, default=(32, 64, 128)
        Output channels of the conv blocks.

    Attributes
    ----------
    time_stride : int
        Log-mel frames per ``z_t`` (``patch_frames``).

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import CPCLogMelEncoder
    >>> _ = torch.manual_seed(0)
    >>> encoder = CPCLogMelEncoder(n_mels=16, embedding_dim=16, channels=(8, 16))
    >>> x = torch.randn(2, 1, 16, 20)  # (batch, 1, n_mels, n_frames)
    >>> encoder.forward_frames(x).shape, encoder(x).shape
    (torch.Size([2, 3, 8]), torch.Size([2, 16]))
    """

    def __init__(
        self,
        n_mels: int,
        embedding_dim: int = 512,
        patch_frames: int = 8,
        channels: Sequence[int] = (32, 64, 128),
    ) -> None:
        super().__init__(embedding_dim)
        widths = [1, *channels]
        blocks = [
            nn.Sequential(*_conv_bn_relu(c_in, c_out), nn.MaxPool2d(2, ceil_mode=True))
            for c_in, c_out in itertools.pairwise(widths)
        ]
        self.blocks = nn.Sequential(*blocks)
        self.project = nn.Linear(widths[-1], self.frame_dim)
        self.time_stride = int(patch_frames)

    def forward_frames(self, x: torch.Tensor, max_frames: int | None = None) -> torch.Tensor:
        """Frame embeddings ``z_t``, one per patch of ``patch_frames`` log-mel frames.

        Parameters
        ----------
        x : Tensor of shape (batch, 1, n_mels, n_frames)
            Log-mel spectrograms.
        max_frames : int or None, default=None
            Encode at most this many patches at a time (patches are encoded alone, so
            the frames are those of one pass, up to float rounding). ``None``, or an
            input of at most ``max_frames`` patches, is one pass.

        Returns
        -------
        frames : Tensor of shape (batch, ceil(n_frames / patch_frames), z_dim)
        """
        n_patches = -(-x.shape[-1] // self.time_stride)
        if max_frames is not None and n_patches > max_frames:
            stride = self.time_stride
            pieces = [
                self._encode_patches(x[..., start * stride : end * stride])
                for start, end in _spans(n_patches, max_frames)
            ]
            return torch.cat(pieces, dim=1)
        return self._encode_patches(x)

    def _encode_patches(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, n_mels, n_frames = x.shape
        n_patches = -(-n_frames // self.time_stride)
        x = F.pad(x, (0, n_patches * self.time_stride - n_frames))
        patches = x.reshape(batch, n_mels, n_patches, self.time_stride).transpose(1, 2)
        h = self.blocks(patches.reshape(batch * n_patches, 1, n_mels, self.time_stride))
        return self.project(h.mean(dim=(2, 3))).reshape(batch, n_patches, -1)
