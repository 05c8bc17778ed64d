"""Heads placed on top of encoders during pretraining (discarded for embedding)."""

from __future__ import annotations

import torch
from torch import nn

from .losses import bilinear_logits, cosine_logits

__all__ = [
    "BilinearSimilarity",
    "CosineSimilarity",
    "MLPHead",
    "ProjectionHead",
    "make_similarity",
]


class ProjectionHead(nn.Sequential):
    """COLA projection head: Linear -> LayerNorm -> tanh.

    Parameters
    ----------
    in_dim : int
    out_dim : int
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim), nn.Tanh())


class MLPHead(nn.Sequential):
    """SimCLR projection head: ``n_layers`` linear layers of ``width``, ReLU between them.

    Parameters
    ----------
    in_dim : int
    width : int
        Width of every layer, output included.
    n_layers : int, default=2
    """

    def __init__(self, in_dim: int, width: int, n_layers: int = 2) -> None:
        layers: list[nn.Module] = []
        for i in range(n_layers):
            layers.append(nn.Linear(in_dim if i == 0 else width, width))
            if i < n_layers - 1:
                layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class BilinearSimilarity(nn.Module):
    """Learned bilinear similarity ``a^T W p``; ``W`` starts as the identity.

    Parameters
    ----------
    dim : int
        Size of the compared embeddings.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.eye(dim))

    def forward(self, anchors: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        """(..., n, dim), (..., m, dim) -> logits (..., n, m)."""
        return bilinear_logits(anchors, positives, self.weight)


class CosineSimilarity(nn.Module):
    """Cosine similarity over a fixed temperature.

    Parameters
    ----------
    temperature : float
    """

    def __init__(self, temperature: float) -> None:
        super().__init__()
        self.temperature = float(temperature)

    def forward(self, anchors: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        """(..., n, dim), (..., m, dim) -> logits (..., n, m)."""
        return cosine_logits(anchors, positives, self.temperature)


def make_similarity(name: str, dim: int, temperature: float) -> nn.Module:
    """Build the similarity named ``"bilinear"`` or ``"cosine"``."""
    if name == "bilinear":
        return BilinearSimilarity(dim)
    if name == "cosine":
        return CosineSimilarity(temperature)
    raise ValueError(f"unknown similarity {name!r}; choose 'bilinear' or 'cosine'")
