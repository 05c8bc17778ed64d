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

    Shapes: ``forward`` maps log-mel spectrograms ``(batch, 1, n_mels, n_frames)`` to
    clip embeddings ``(batch, embedding_dim)``; ``forward_frames`` maps them to codes
    ``(batch, ceil(n_frames / patch_frames), bottleneck)``, and :meth:`decode` maps
    codes back to patches ``(..., patch_dim)``.

    Parameters
    ----------
    n_mels : int
        Number of mel bands of the input.
    embedding_dim : int, default=32
        Twice the bottleneck (the clip embedding is the mean and max of the codes).
    patch_frames : int, default=4
        Log-mel frames per patch.
    hidden : int, default=1024
        Units of each hidden layer of the encoder and of the decoder.
    n_layers : int, default=3
        Hidden layers of the encoder (and of the decoder).

    Attributes
    ----------
    patch_dim : int
        ``n_mels * patch_frames``.
    frame_dim : int
        Size of each code, the ``bottleneck`` (``embedding_dim / 2``).
    time_stride : int
        Log-mel frames per code (``patch_frames``).

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import PatchAutoencoder
    >>> _ = torch.manual_seed(0)
    >>> model = PatchAutoencoder(n_mels=16, embedding_dim=8, hidden=32)
    >>> x = torch.randn(2, 1, 16, 10)  # (batch, 1, n_mels, n_frames)
    >>> model.set_normalisation(model.raw_patches(x))
    >>> codes = model.forward_frames(x)
    >>> codes.shape, model.decode(codes).shape, model(x).shape
    (torch.Size([2, 3, 4]), torch.Size([2, 3, 64]), torch.Size([2, 8]))
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
        """Standardise future patches with the mean and standard deviation of ``patches``.

        Parameters
        ----------
        patches : Tensor of shape (..., patch_dim)
            Raw patches, as from :meth:`raw_patches`; one scalar mean and standard
            deviation (at least ``1e-6``) are taken over all their values.
        """
        self.mean.copy_(patches.mean())
        self.scale.copy_(patches.std().clamp_min(1e-6))

    def raw_patches(self, x: torch.Tensor) -> torch.Tensor:
        """Cut spectrograms into flattened, unstandardised patches.

        Parameters
        ----------
        x : Tensor of shape (batch, 1, n_mels, n_frames)
            Log-mel spectrograms; the last patch is padded with each clip's minimum.

        Returns
        -------
        patches : Tensor of shape (batch, n_patches, patch_dim)
            ``n_patches = ceil(n_frames / patch_frames)``.
        """
        batch, _, n_mels, n_frames = x.shape
        n_patches = -(-n_frames // self.time_stride)
        pad = n_patches * self.time_stride - n_frames
        if pad:  # each clip's own floor, so a clip's codes never depend on its batch
            floor = x.amin(dim=(2, 3), keepdim=True).expand(-1, -1, n_mels, pad)
            x = torch.cat([x, floor], dim=3)
        patches = x.reshape(batch, n_mels, n_patches, self.time_stride).transpose(1, 2)
        return patches.reshape(batch, n_patches, -1)

    def standardise(self, patches: torch.Tensor) -> torch.Tensor:
        """Apply the statistics of :meth:`set_normalisation` to raw patches (any device).

        Patches on the module's device are standardised there, with no copy; patches
        elsewhere get a copy of both statistics at once (one transfer, not two).

        Parameters
        ----------
        patches : Tensor of shape (..., patch_dim)

        Returns
        -------
        standardised : Tensor of shape (..., patch_dim)
            On ``patches``' device.
        """
        mean, scale = self.mean, self.scale
        if mean.device != patches.device:
            mean, scale = torch.stack([mean, scale]).to(patches.device).unbind()
        return (patches - mean) / scale

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised patches: :meth:`raw_patches`, then :meth:`standardise`.

        Parameters
        ----------
        x : Tensor of shape (batch, 1, n_mels, n_frames)

        Returns
        -------
        patches : Tensor of shape (batch, n_patches, patch_dim)
        """
        return self.standardise(self.raw_patches(x))

    def encode(self, patches: torch.Tensor) -> torch.Tensor:
        """Encode standardised patches into codes.

        Parameters
        ----------
        patches : Tensor of shape (..., patch_dim)

        Returns
        -------
        codes : Tensor of shape (..., bottleneck)
        """
        return self.encoder(patches)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Decode codes into (standardised) patch reconstructions.

        Parameters
        ----------
        codes : Tensor of shape (..., bottleneck)

        Returns
        -------
        reconstructions : Tensor of shape (..., patch_dim)
        """
        return self.decoder(codes)

    def forward_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Codes of the standardised patches: the frame embeddings.

        Parameters
        ----------
        x : Tensor of shape (batch, 1, n_mels, n_frames)
            Log-mel spectrograms.

        Returns
        -------
        codes : Tensor of shape (batch, ceil(n_frames / patch_frames), bottleneck)
        """
        return self.encode(self.patches(x))
