"""Patch autoencoder: fully connected encoder/decoder of log-mel patches (Verma & Smith)."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from ._base import FrameEncoder

__all__ = ["PatchAutoencoder"]


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class PatchAutoencoder(FrameEncoder):
    """Fully connected autoencoder of log-mel patches; its codes are the frames.

    The spectrogram is cut along time into non-overlapping patches of
    ``patch_frames`` frames (the last one padded with the spectrogram's minimum);
    each patch is flattened, standardised with the statistics set by
    :meth:`set_normalisation`, and encoded by ``n_layers`` ReLU layers of ``hidden``
    units into a ``bottleneck``-sized code. The decoder mirrors the encoder.

    Parameters
    ----------
    n_mels : int
    embedding_dim : int, default=32
        Twice the bottleneck (the clip embedding is the mean and max of the codes).
    patch_frames : int, default=4
    hidden : int, default=1024
    n_layers : int, default=3

    Attributes
    ----------
    patch_dim : int
        ``n_mels * patch_frames``.
    time_stride : int
        Log-mel frames per code (``patch_frames``).
    """

    def __init__(
        self,
        n_mels: int,
        embedding_dim: int = 32,
        patch_frames: int = 4,
        hidden: int = 1024,
        n_layers: int = 3,
    ) -> None:
        super().__init__(embedding_dim)
        self.patch_dim = n_mels * patch_frames
        self.time_stride = int(patch_frames)
        self.encoder = _mlp([self.patch_dim, *[hidden] * n_layers, self.frame_dim])
        self.decoder = _mlp([self.frame_dim, *[hidden] * n_layers, self.patch_dim])
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("scale", torch.ones(()))

    def set_normalisation(self, patches: torch.Tensor) -> None:
        """Standardise future patches with the mean and standard deviation of ``patches``."""
        self.mean.copy_(patches.mean())
        self.scale.copy_(patches.std().clamp_min(1e-6))

    def raw_patches(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, 1, n_mels, n_frames) -> unstandardised (batch, n_patches, patch_dim)."""
        batch, _, n_mels, n_frames = x.shape
        n_patches = -(-n_frames // self.time_stride)
        pad = n_patches * self.time_stride - n_frames
        if pad:  # each clip's own floor, so a clip's codes never depend on its batch
            floor = x.amin(dim=(2, 3), keepdim=True).expand(-1, -1, n_mels, pad)
            x = torch.cat([x, floor], dim=3)
        patches = x.reshape(batch, n_mels, n_patches, self.time_stride).transpose(1, 2)
        return patches.reshape(batch, n_patches, -1)

    def standardise(self, patches: torch.Tensor) -> torch.Tensor:
        """Apply the statistics of :meth:`set_normalisation` to raw patches (any device)."""
        return (patches - self.mean.to(patches.device)) / self.scale.to(patches.device)

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, 1, n_mels, n_frames) -> standardised (batch, n_patches, patch_dim)."""
        return self.standardise(self.raw_patches(x))

    def encode(self, patches: torch.Tensor) -> torch.Tensor:
        """(..., patch_dim) standardised patches -> (..., bottleneck) codes."""
        return self.encoder(patches)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """(..., bottleneck) codes -> (..., patch_dim) reconstructions."""
        return self.decoder(codes)

    def forward_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, 1, n_mels, n_frames) -> (batch, ceil(n_frames / patch_frames), bottleneck)."""
        return self.encode(self.patches(x))
