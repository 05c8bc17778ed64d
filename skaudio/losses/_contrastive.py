"""Clip-level contrastive losses: COLA's and SimCLR's, with their skorch criteria."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ContrastiveCrossEntropy",
    "NTXentCriterion",
    "bilinear_logits",
    "cola_loss",
    "contrastive_accuracy",
    "contrastive_cross_entropy",
    "cosine_logits",
    "nt_xent_accuracy",
    "nt_xent_loss",
]


def bilinear_logits(
    anchors: torch.Tensor, positives: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Bilinear similarity ``s(a, p) = a^T W p`` between every anchor and positive.

    Parameters
    ----------
    anchors : Tensor of shape (..., n, dim)
    positives : Tensor of shape (..., m, dim)
        Leading (batch) dimensions, if any, are matched with those of ``anchors``.
    weight : Tensor of shape (dim, dim)

    Returns
    -------
    logits : Tensor of shape (..., n, m)
    """
    return anchors @ weight @ positives.transpose(-1, -2)


def cosine_logits(
    anchors: torch.Tensor, positives: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Cosine similarity divided by a temperature, between every anchor and positive.

    Parameters
    ----------
    anchors : Tensor of shape (..., n, dim)
    positives : Tensor of shape (..., m, dim)
        Leading (batch) dimensions, if any, are matched with those of ``anchors``.
    temperature : float
        Positive scale; smaller values sharpen the softmax.

    Returns
    -------
    logits : Tensor of shape (..., n, m)
    """
    normalised = F.normalize(positives, dim=-1).transpose(-1, -2)
    return F.normalize(anchors, dim=-1) @ normalised / temperature


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


def _nt_xent_logits(z1: torch.Tensor, z2: torch.Tensor, temperature: float):
    """(2n, 2n) logits with the self-similarities masked, and each view's target index."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))  # a view is never its own candidate
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return logits, targets


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al., 2020).

    The ``2n`` views are compared by cosine similarity over ``temperature``. View ``i``
    of ``z1`` must pick view ``i`` of ``z2`` among the other ``2n - 1`` views, and the
    other way round; the loss averages both directions over all ``2n`` views.

    Parameters
    ----------
    z1 : Tensor of shape (n, dim)
        Projections of the first view of each clip.
    z2 : Tensor of shape (n, dim)
        Projections of the second view, row for row.
    temperature : float, default=0.5

    Returns
    -------
    loss : Tensor of shape ()
    """
    logits, targets = _nt_xent_logits(z1, z2, temperature)
    return F.cross_entropy(logits, targets)


def nt_xent_accuracy(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Share of the ``2n`` views whose most similar other view is their pair.

    Parameters
    ----------
    z1, z2 : Tensor of shape (n, dim)

    Returns
    -------
    accuracy : Tensor of shape ()
    """
    logits, targets = _nt_xent_logits(z1, z2, 1.0)
    return (logits.argmax(dim=1) == targets).float().mean()


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


class NTXentCriterion(nn.Module):
    """skorch criterion of SimCLR/CLAR: NT-Xent plus an optional supervised term.

    The model's output is ``(z1, z2, class_logits)``. With ``class_logits`` given, the
    cross-entropy of both views of the labelled clips (target ``>= 0``; ``-1`` marks
    unlabelled clips) is added with weight ``supervised_weight``.

    Parameters
    ----------
    temperature : float
    supervised_weight : float, default=0.0
    """

    metric_names = ("pretext_acc",)

    def __init__(self, temperature: float, supervised_weight: float = 0.0) -> None:
        super().__init__()
        self.temperature = temperature
        self.supervised_weight = supervised_weight

    def forward(self, y_pred, target: torch.Tensor) -> torch.Tensor:
        z1, z2, class_logits = y_pred
        loss = nt_xent_loss(z1, z2, self.temperature)
        if class_logits is not None and self.supervised_weight > 0:
            labels = torch.cat([target, target]).to(class_logits.device).long()
            labelled = labels >= 0
            if labelled.any():
                supervised = F.cross_entropy(class_logits[labelled], labels[labelled])
                loss = loss + self.supervised_weight * supervised
        return loss

    def metrics(self, y_pred) -> dict[str, float]:
        """Batch metrics to log: how often a view's nearest other view is its pair."""
        z1, z2, _ = y_pred
        return {"pretext_acc": nt_xent_accuracy(z1, z2).item()}
