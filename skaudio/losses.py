"""Contrastive losses as pure functions of tensors, with thin skorch criterion wrappers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ContrastiveCrossEntropy",
    "bilinear_logits",
    "cola_loss",
    "contrastive_accuracy",
    "contrastive_cross_entropy",
    "cosine_logits",
]


def bilinear_logits(
    anchors: torch.Tensor, positives: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Bilinear similarity ``s(a, p) = a^T W p`` between every anchor and positive.

    Parameters
    ----------
    anchors : Tensor of shape (n, dim)
    positives : Tensor of shape (m, dim)
    weight : Tensor of shape (dim, dim)

    Returns
    -------
    logits : Tensor of shape (n, m)
    """
    return anchors @ weight @ positives.T


def cosine_logits(
    anchors: torch.Tensor, positives: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Cosine similarity divided by a temperature, between every anchor and positive.

    Parameters
    ----------
    anchors : Tensor of shape (n, dim)
    positives : Tensor of shape (m, dim)
    temperature : float
        Positive scale; smaller values sharpen the softmax.

    Returns
    -------
    logits : Tensor of shape (n, m)
    """
    return F.normalize(anchors, dim=1) @ F.normalize(positives, dim=1).T / temperature


def contrastive_cross_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy where anchor ``i``'s positive is column ``i`` and the others negatives.

    Parameters
    ----------
    logits : Tensor of shape (n, n)

    Returns
    -------
    loss : Tensor of shape ()
        Mean over anchors of ``-log softmax(logits[i])[i]``.
    """
    targets = torch.arange(logits.shape[0], device=logits.device)
    return F.cross_entropy(logits, targets)


def contrastive_accuracy(logits: torch.Tensor) -> torch.Tensor:
    """Share of anchors whose most similar candidate is their own positive.

    Parameters
    ----------
    logits : Tensor of shape (n, n)

    Returns
    -------
    accuracy : Tensor of shape ()
    """
    targets = torch.arange(logits.shape[0], device=logits.device)
    return (logits.argmax(dim=1) == targets).float().mean()


def cola_loss(
    anchors: torch.Tensor,
    positives: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    temperature: float = 0.1,
) -> torch.Tensor:
    """COLA objective (Saeed et al., 2021): pick each anchor's positive among the batch.

    Parameters
    ----------
    anchors : Tensor of shape (n, dim)
        Projected embeddings of one segment per clip.
    positives : Tensor of shape (n, dim)
        Projected embeddings of another segment of the same clips, in the same order.
    weight : Tensor of shape (dim, dim) or None, default=None
        Bilinear similarity matrix; ``None`` uses cosine similarity with ``temperature``.
    temperature : float, default=0.1
        Used only with cosine similarity.

    Returns
    -------
    loss : Tensor of shape ()
    """
    if weight is None:
        logits = cosine_logits(anchors, positives, temperature)
    else:
        logits = bilinear_logits(anchors, positives, weight)
    return contrastive_cross_entropy(logits)


class ContrastiveCrossEntropy(nn.Module):
    """skorch criterion over a similarity matrix: :func:`contrastive_cross_entropy`.

    The target passed by skorch is ignored (the positives are on the diagonal).
    """

    metric_names = ("pretext_acc",)

    def forward(self, logits: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        return contrastive_cross_entropy(logits)

    def metrics(self, logits: torch.Tensor) -> dict[str, float]:
        """Batch metrics to log: retrieval accuracy of the positive among the batch."""
        return {"pretext_acc": contrastive_accuracy(logits).item()}
