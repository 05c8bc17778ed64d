"""InfoNCE over a similarity matrix: COLA's clip loss, with its skorch criterion.

Each anchor must pick its own positive (the diagonal) among the positives of the
batch (van den Oord, Li & Vinyals, 2018; Saeed, Grangier & Zeghidour, 2021).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._torch_utils import fp32_island
from ..similarity import bilinear_logits, cosine_logits

__all__ = [
    "ContrastiveCrossEntropy",
    "cola_loss",
    "contrastive_accuracy",
    "contrastive_cross_entropy",
]


@fp32_island
def contrastive_cross_entropy(logits: torch.Tensor) -> torch.Tensor:
    r"""Cross-entropy where anchor ``i``'s positive is column ``i`` and the others negatives.

    Each of the :math:`n` anchors of the batch must pick its own positive among the
    positives of the whole batch (InfoNCE, van den Oord, Li & Vinyals, 2018, as used
    by COLA):

    .. math::

        L = -\frac{1}{n} \sum_{i=1}^{n}
            \log \frac{\exp s_{ii}}{\sum_{j=1}^{n} \exp s_{ij}}.

    Parameters
    ----------
    logits : Tensor of shape (batch, batch)
        Similarities :math:`s_{ij}` of every anchor (rows) to every positive
        (columns); the positives are on the diagonal.

    Returns
    -------
    loss : Tensor of shape ()
        Mean over anchors of ``-log softmax(logits[i])[i]``; ``log(batch)`` for
        uninformative (constant) logits.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import contrastive_cross_entropy
    >>> round(float(contrastive_cross_entropy(torch.zeros(4, 4))), 3)  # log(4)
    1.386
    >>> bool(contrastive_cross_entropy(10 * torch.eye(4)) < 0.01)
    True
    """
    targets = torch.arange(logits.shape[0], device=logits.device)
    return F.cross_entropy(logits, targets)


@fp32_island
def contrastive_accuracy(logits: torch.Tensor) -> torch.Tensor:
    """Share of anchors whose most similar candidate is their own positive.

    Parameters
    ----------
    logits : Tensor of shape (batch, batch)
        Similarities of every anchor (rows) to every positive (columns); the
        positives are on the diagonal.

    Returns
    -------
    accuracy : Tensor of shape ()
        Between 0 and 1; ``1 / batch`` is chance level.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import contrastive_accuracy
    >>> logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0], [0.0, 0.0, 1.0]])
    >>> round(float(contrastive_accuracy(logits)), 3)  # anchor 1 prefers positive 2
    0.667
    """
    targets = torch.arange(logits.shape[0], device=logits.device)
    return (logits.argmax(dim=1) == targets).float().mean()


@fp32_island
def cola_loss(
    anchors: torch.Tensor,
    positives: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    temperature: float = 0.1,
) -> torch.Tensor:
    r"""COLA objective: pick each anchor's positive among the batch.

    COLA (Saeed, Grangier & Zeghidour, 2021) takes two segments of each clip; the
    segments of the other clips of the batch are the negatives. For a batch of
    :math:`n` anchors :math:`a_i` and positives :math:`p_i`, with similarity
    :math:`s` (bilinear, :func:`bilinear_logits`, or cosine, :func:`cosine_logits`),

    .. math::

        L = -\frac{1}{n} \sum_{i=1}^{n}
            \log \frac{\exp s(a_i, p_i)}{\sum_{j=1}^{n} \exp s(a_i, p_j)}.

    Parameters
    ----------
    anchors : Tensor of shape (batch, dim)
        Projected embeddings of one segment per clip.
    positives : Tensor of shape (batch, dim)
        Projected embeddings of another segment of the same clips, in the same order.
    weight : Tensor of shape (dim, dim) or None, default=None
        Bilinear similarity matrix; ``None`` uses cosine similarity with ``temperature``.
    temperature : float, default=0.1
        Used only with cosine similarity.

    Returns
    -------
    loss : Tensor of shape ()

    See Also
    --------
    contrastive_cross_entropy : The same loss, from precomputed logits.

    Examples
    --------
    >>> import math, torch
    >>> from skaudio.losses import cola_loss
    >>> _ = torch.manual_seed(0)
    >>> anchors = torch.randn(8, 16)
    >>> positives = anchors + 0.1 * torch.randn(8, 16)  # aligned pairs
    >>> float(cola_loss(anchors, positives)) < math.log(8)  # below chance level
    True
    >>> cola_loss(anchors, positives, weight=torch.eye(16)).shape
    torch.Size([])
    """
    if weight is None:
        logits = cosine_logits(anchors, positives, temperature)
    else:
        logits = bilinear_logits(anchors, positives, weight)
    return contrastive_cross_entropy(logits)


class ContrastiveCrossEntropy(nn.Module):
    """skorch criterion over a similarity matrix: :func:`contrastive_cross_entropy`.

    The model's output is the ``(batch, batch)`` matrix of anchor-positive
    similarities, positives on the diagonal. The target passed by skorch is ignored.
    :meth:`metrics` gives the retrieval accuracy of the positives, logged as
    ``train_pretext_acc`` by :class:`skaudio.training.SelfSupervisedNet`.

    Attributes
    ----------
    metric_names : tuple of str
        ``("pretext_acc",)``, the names of the batch metrics of :meth:`metrics`.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import ContrastiveCrossEntropy
    >>> criterion = ContrastiveCrossEntropy()
    >>> logits = 10 * torch.eye(4)  # every anchor most similar to its positive
    >>> bool(criterion(logits) < 0.01), criterion.metrics(logits)
    (True, {'pretext_acc': tensor(1.)})
    """

    metric_names = ("pretext_acc",)

    @fp32_island
    def forward(self, logits: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        return contrastive_cross_entropy(logits)

    @fp32_island
    def metrics(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """Batch metrics to log: retrieval accuracy of the positive among the batch.

        Detached 0-d tensors on the device of the batch, read back to the host once
        per epoch by :class:`skaudio.training.SelfSupervisedNet`.
        """
        return {"pretext_acc": contrastive_accuracy(logits.detach())}
