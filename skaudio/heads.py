"""Heads placed on top of encoders during pretraining (discarded for embedding)."""

from __future__ import annotations

import torch
from torch import nn

from .similarity import bilinear_logits, cosine_logits

__all__ = [
    "BilinearSimilarity",
    "CosineSimilarity",
    "MLPHead",
    "PitchHead",
    "ProjectionHead",
    "make_similarity",
]


class ProjectionHead(nn.Sequential):
    """COLA projection head: Linear -> LayerNorm -> tanh.

    Maps embeddings ``(..., in_dim)`` to projections ``(..., out_dim)``, each value in
    ``[-1, 1]``.

    Parameters
    ----------
    in_dim : int
        Size of the input embeddings.
    out_dim : int
        Size of the projections.

    Examples
    --------
    >>> import torch
    >>> from skaudio.heads import ProjectionHead
    >>> _ = torch.manual_seed(0)
    >>> head = ProjectionHead(in_dim=16, out_dim=8)
    >>> out = head(torch.randn(4, 16))
    >>> out.shape, bool(out.abs().max() <= 1)
    (torch.Size([4, 8]), True)
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim), nn.Tanh())


class MLPHead(nn.Sequential):
    """SimCLR projection head: ``n_layers`` linear layers of ``width``, ReLU between them.

    Maps embeddings ``(..., in_dim)`` to projections ``(..., width)``; there is no
    activation after the last layer.

    Parameters
    ----------
    in_dim : int
        Size of the input embeddings.
    width : int
        Width of every layer, output included.
    n_layers : int, default=2
        Number of linear layers.

    Examples
    --------
    >>> import torch
    >>> from skaudio.heads import MLPHead
    >>> _ = torch.manual_seed(0)
    >>> head = MLPHead(in_dim=16, width=8, n_layers=2)
    >>> [type(layer).__name__ for layer in head]
    ['Linear', 'ReLU', 'Linear']
    >>> head(torch.randn(4, 16)).shape
    torch.Size([4, 8])
    """

    def __init__(self, in_dim: int, width: int, n_layers: int = 2) -> None:
        layers: list[nn.Module] = []
        for i in range(n_layers):
            layers.append(nn.Linear(in_dim if i == 0 else width, width))
            if i < n_layers - 1:
                layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class PitchHead(nn.Sequential):
    """Pitch head: a two-layer MLP scoring each frame with one scalar, its pitch.

    Linear(in_dim, in_dim) -> ReLU -> Linear(in_dim, 1), applied to every frame
    ``(..., in_dim)`` and giving scores ``(...)``: the last axis is squeezed. Its
    scores are trained by their differences only (relative pitch, as in SPICE and
    multi-strategy COLA: :func:`skaudio.losses.pitch_shift_loss`), so they are
    defined up to a constant. The layers are those of multi-strategy COLA's pitch
    head.

    Parameters
    ----------
    in_dim : int
        Size of the input frames (the encoder's ``frame_dim``).

    Examples
    --------
    >>> import torch
    >>> from skaudio.heads import PitchHead
    >>> _ = torch.manual_seed(0)
    >>> head = PitchHead(in_dim=16)
    >>> [type(layer).__name__ for layer in head]
    ['Linear', 'ReLU', 'Linear']
    >>> head(torch.randn(4, 10, 16)).shape  # (batch, n_frames, frame_dim) -> (batch, n_frames)
    torch.Size([4, 10])
    """

    def __init__(self, in_dim: int) -> None:
        super().__init__(nn.Linear(in_dim, in_dim), nn.ReLU(inplace=True), nn.Linear(in_dim, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Pitch scores of frames.

        Parameters
        ----------
        frames : Tensor of shape (..., in_dim)

        Returns
        -------
        scores : Tensor of shape (...)
        """
        return super().forward(frames).squeeze(-1)


class BilinearSimilarity(nn.Module):
    """Learned bilinear similarity ``a^T W p``; ``W`` starts as the identity.

    ``forward(anchors, positives)`` compares every anchor ``(..., n, dim)`` with every
    positive ``(..., m, dim)`` and returns logits ``(..., n, m)``; at initialisation
    they are plain dot products.

    Parameters
    ----------
    dim : int
        Size of the compared embeddings.

    Attributes
    ----------
    weight : torch.nn.Parameter of shape (dim, dim)
        The learned matrix ``W``.

    Examples
    --------
    >>> import torch
    >>> from skaudio.heads import BilinearSimilarity
    >>> _ = torch.manual_seed(0)
    >>> similarity = BilinearSimilarity(dim=8)
    >>> anchors, positives = torch.randn(4, 8), torch.randn(5, 8)
    >>> logits = similarity(anchors, positives)
    >>> logits.shape, torch.allclose(logits, anchors @ positives.T)
    (torch.Size([4, 5]), True)
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.eye(dim))

    def forward(self, anchors: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        """Bilinear similarity between every anchor and every positive.

        Parameters
        ----------
        anchors : Tensor of shape (..., n, dim)
        positives : Tensor of shape (..., m, dim)
            Leading (batch) dimensions, if any, are matched with those of ``anchors``.

        Returns
        -------
        logits : Tensor of shape (..., n, m)
        """
        return bilinear_logits(anchors, positives, self.weight)


class CosineSimilarity(nn.Module):
    """Cosine similarity over a fixed temperature.

    ``forward(anchors, positives)`` compares every anchor ``(..., n, dim)`` with every
    positive ``(..., m, dim)`` and returns logits ``(..., n, m)`` in
    ``[-1 / temperature, 1 / temperature]``. It has no learnable parameters.

    Parameters
    ----------
    temperature : float
        Positive divisor of the cosine similarities; smaller values sharpen the
        softmax over the logits.

    Examples
    --------
    >>> import torch
    >>> from skaudio.heads import CosineSimilarity
    >>> _ = torch.manual_seed(0)
    >>> similarity = CosineSimilarity(temperature=0.1)
    >>> x = torch.randn(3, 8)
    >>> logits = similarity(x, x)
    >>> logits.shape, logits.diagonal().round(decimals=3).tolist()
    (torch.Size([3, 3]), [10.0, 10.0, 10.0])
    """

    def __init__(self, temperature: float) -> None:
        super().__init__()
        self.temperature = float(temperature)

    def forward(self, anchors: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        """Cosine similarity over the temperature, between every anchor and positive.

        Parameters
        ----------
        anchors : Tensor of shape (..., n, dim)
        positives : Tensor of shape (..., m, dim)
            Leading (batch) dimensions, if any, are matched with those of ``anchors``.

        Returns
        -------
        logits : Tensor of shape (..., n, m)
        """
        return cosine_logits(anchors, positives, self.temperature)


def make_similarity(name: str, dim: int, temperature: float) -> nn.Module:
    """Build the similarity named ``"bilinear"`` or ``"cosine"``.

    Parameters
    ----------
    name : {"bilinear", "cosine"}
        :class:`BilinearSimilarity` or :class:`CosineSimilarity`.
    dim : int
        Size of the compared embeddings (used by ``"bilinear"`` only).
    temperature : float
        Temperature of the cosine similarity (used by ``"cosine"`` only).

    Returns
    -------
    similarity : torch.nn.Module
        Maps anchors ``(..., n, dim)`` and positives ``(..., m, dim)`` to logits
        ``(..., n, m)``.

    Raises
    ------
    ValueError
        If ``name`` is neither ``"bilinear"`` nor ``"cosine"``.

    Examples
    --------
    >>> from skaudio.heads import make_similarity
    >>> make_similarity("bilinear", dim=8, temperature=0.1).weight.shape
    torch.Size([8, 8])
    >>> make_similarity("cosine", dim=8, temperature=0.1).temperature
    0.1
    """
    if name == "bilinear":
        return BilinearSimilarity(dim)
    if name == "cosine":
        return CosineSimilarity(temperature)
    raise ValueError(f"unknown similarity {name!r}; choose 'bilinear' or 'cosine'")
