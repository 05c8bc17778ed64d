"""Clip-level contrastive losses: COLA's and SimCLR's, with their skorch criteria."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._torch_utils import fp32_island
from ..distributed import gather, gather_with_grad

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


@fp32_island
def bilinear_logits(
    anchors: torch.Tensor, positives: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    r"""Bilinear similarity between every anchor and every positive.

    The score of an anchor :math:`a` and a positive :math:`p` is

    .. math::

        s(a, p) = a^\top W p,

    the learned similarity of COLA (Saeed, Grangier & Zeghidour, 2021).

    Parameters
    ----------
    anchors : Tensor of shape (..., n, dim)
        Anchor embeddings.
    positives : Tensor of shape (..., m, dim)
        Candidate embeddings. Leading (batch) dimensions, if any, are matched with
        those of ``anchors``.
    weight : Tensor of shape (dim, dim)
        The bilinear matrix :math:`W`.

    Returns
    -------
    logits : Tensor of shape (..., n, m)
        ``logits[..., i, j]`` is the similarity of anchor ``i`` and positive ``j``.

    See Also
    --------
    cosine_logits : Cosine similarity over a temperature instead.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import bilinear_logits
    >>> _ = torch.manual_seed(0)
    >>> anchors, positives = torch.randn(3, 4), torch.randn(5, 4)
    >>> logits = bilinear_logits(anchors, positives, torch.eye(4))  # W = I: dot products
    >>> logits.shape, torch.allclose(logits, anchors @ positives.T)
    (torch.Size([3, 5]), True)
    """
    return anchors @ weight @ positives.transpose(-1, -2)


@fp32_island
def cosine_logits(
    anchors: torch.Tensor, positives: torch.Tensor, temperature: float
) -> torch.Tensor:
    r"""Cosine similarity over a temperature, between every anchor and every positive.

    .. math::

        s(a, p) = \frac{a^\top p}{\tau \, \lVert a \rVert \, \lVert p \rVert},

    with :math:`\tau` the ``temperature``.

    Parameters
    ----------
    anchors : Tensor of shape (..., n, dim)
        Anchor embeddings.
    positives : Tensor of shape (..., m, dim)
        Candidate embeddings. Leading (batch) dimensions, if any, are matched with
        those of ``anchors``.
    temperature : float
        Positive scale :math:`\tau`; smaller values sharpen the softmax.

    Returns
    -------
    logits : Tensor of shape (..., n, m)
        ``logits[..., i, j]`` is the similarity of anchor ``i`` and positive ``j``,
        between ``-1 / temperature`` and ``1 / temperature``.

    See Also
    --------
    bilinear_logits : Learned bilinear similarity instead.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import cosine_logits
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(3, 4)
    >>> logits = cosine_logits(x, x, temperature=0.5)
    >>> logits.shape, round(float(logits[0, 0]), 3)  # a vector against itself: 1 / 0.5
    (torch.Size([3, 3]), 2.0)
    """
    normalised = F.normalize(positives, dim=-1).transpose(-1, -2)
    return F.normalize(anchors, dim=-1) @ normalised / temperature


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


def _nt_xent_logits(z1: torch.Tensor, z2: torch.Tensor, temperature: float):
    """(2n, 2n) logits with the self-similarities masked, and each view's target index."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))  # a view is never its own candidate
    targets = torch.arange(2 * n, device=z.device).roll(n)  # n..2n-1, then 0..n-1
    return logits, targets


@fp32_island
def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    r"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR.

    The ``2 * batch`` views are compared by cosine similarity over ``temperature``.
    View ``i`` of ``z1`` must pick view ``i`` of ``z2`` among the other
    ``2 * batch - 1`` views, and the other way round (Chen et al., 2020). With
    :math:`z` the concatenation of ``z1`` and ``z2`` (:math:`2n` views for a batch of
    :math:`n` clips), :math:`j(i)` the index of view :math:`i`'s pair and
    :math:`\tau` the temperature,

    .. math::

        L = -\frac{1}{2n} \sum_{i=1}^{2n}
            \log \frac{\exp(\cos(z_i, z_{j(i)}) / \tau)}
                      {\sum_{k \neq i} \exp(\cos(z_i, z_k) / \tau)}.

    Parameters
    ----------
    z1 : Tensor of shape (batch, dim)
        Projections of the first view of each clip.
    z2 : Tensor of shape (batch, dim)
        Projections of the second view, row for row.
    temperature : float, default=0.5
        Temperature :math:`\tau` of the cosine similarity.

    Returns
    -------
    loss : Tensor of shape ()
        Mean over both directions and all ``2 * batch`` views.

    Examples
    --------
    >>> import math, torch
    >>> from skaudio.losses import nt_xent_loss
    >>> _ = torch.manual_seed(0)
    >>> z1 = torch.randn(8, 16)
    >>> z2 = z1 + 0.1 * torch.randn(8, 16)  # aligned pairs
    >>> float(nt_xent_loss(z1, z2)) < math.log(2 * 8 - 1)  # below chance level
    True
    """
    logits, targets = _nt_xent_logits(z1, z2, temperature)
    return F.cross_entropy(logits, targets)


@fp32_island
def nt_xent_accuracy(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Share of the ``2 * batch`` views whose most similar other view is their pair.

    Parameters
    ----------
    z1 : Tensor of shape (batch, dim)
        Projections of the first view of each clip.
    z2 : Tensor of shape (batch, dim)
        Projections of the second view, row for row.

    Returns
    -------
    accuracy : Tensor of shape ()
        Between 0 and 1, by cosine similarity.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import nt_xent_accuracy
    >>> _ = torch.manual_seed(0)
    >>> z1 = torch.randn(8, 16)
    >>> round(float(nt_xent_accuracy(z1, z1 + 0.1 * torch.randn(8, 16))), 3)
    1.0
    """
    logits, targets = _nt_xent_logits(z1, z2, 1.0)
    return (logits.argmax(dim=1) == targets).float().mean()


def _add_supervised(
    loss: torch.Tensor,
    class_logits: torch.Tensor | None,
    target: torch.Tensor | None,
    supervised_weight: float,
) -> torch.Tensor:
    """``loss`` plus ``supervised_weight`` times the cross-entropy of the labelled views.

    ``class_logits`` holds both views, ``[view 1; view 2]``, of shape (2 * batch,
    n_classes); ``target`` the label of each clip, ``-1`` when unlabelled. Logits and
    labels are gathered over the processes first, so the mean is over the global
    batch. Without logits or targets or with ``supervised_weight == 0``, ``loss`` is
    returned unchanged; without a labelled clip, the term is 0 (a masked mean over the
    labelled rows, so that nothing is read back to the host: the classifier then gets
    zero gradients). Shared by the criteria of the two-view estimator
    (:class:`NTXentCriterion` and the non-contrastive ones).
    """
    if class_logits is not None and target is not None and supervised_weight > 0:
        labels = torch.cat([target, target]).to(class_logits.device).long()
        class_logits, labels = gather_with_grad(class_logits), gather(labels)
        labelled = labels >= 0
        # the mean over the labelled rows (ignore_index skips the others), 0 without any
        supervised = F.cross_entropy(class_logits, labels.masked_fill(~labelled, -100))
        supervised = torch.where(labelled.any(), supervised, 0.0)
        loss = loss + supervised_weight * supervised
    return loss


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


class NTXentCriterion(nn.Module):
    """skorch criterion of SimCLR/CLAR: NT-Xent plus an optional supervised term.

    The model's output is ``(z1, z2, class_logits)``, as returned by
    :class:`skaudio.models.ContrastiveModel`. The loss is :func:`nt_xent_loss` of
    ``z1`` and ``z2``; with ``class_logits`` given and ``supervised_weight > 0``, the
    cross-entropy of both views of the labelled clips (target ``>= 0``; ``-1`` marks
    unlabelled clips) is added with weight ``supervised_weight`` (the
    semi-supervised training of CLAR, Al-Tahan & Mohsenzadeh, 2021).

    In multi-process training, ``z1``, ``z2``, the class logits and the targets of
    all processes are gathered first (:func:`skaudio.distributed.gather_with_grad`),
    so the negatives and the supervised mean are those of the global batch and the
    loss is the same in every process; in a single process nothing changes.

    Parameters
    ----------
    temperature : float
        Temperature of the cosine similarity of :func:`nt_xent_loss`.
    supervised_weight : float, default=0.0
        Weight of the supervised cross-entropy; 0 trains without labels.

    Attributes
    ----------
    metric_names : tuple of str
        ``("pretext_acc",)``, the names of the batch metrics of :meth:`metrics`.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import NTXentCriterion
    >>> _ = torch.manual_seed(0)
    >>> z1 = torch.randn(4, 8)
    >>> z2, class_logits = z1 + 0.1 * torch.randn(4, 8), torch.randn(8, 3)
    >>> criterion = NTXentCriterion(temperature=0.5, supervised_weight=1.0)
    >>> loss = criterion((z1, z2, class_logits), torch.tensor([0, 2, -1, 1]))
    >>> loss.shape, criterion.metrics((z1, z2, class_logits))
    (torch.Size([]), {'pretext_acc': tensor(1.)})
    """

    metric_names = ("pretext_acc",)

    def __init__(self, temperature: float, supervised_weight: float = 0.0) -> None:
        super().__init__()
        self.temperature = temperature
        self.supervised_weight = supervised_weight

    @fp32_island
    def forward(self, y_pred, target: torch.Tensor) -> torch.Tensor:
        z1, z2, class_logits = y_pred
        loss = nt_xent_loss(gather_with_grad(z1), gather_with_grad(z2), self.temperature)
        return _add_supervised(loss, class_logits, target, self.supervised_weight)

    @fp32_island
    def metrics(self, y_pred) -> dict[str, torch.Tensor]:
        """Batch metrics to log: how often a view's nearest other view is its pair.

        Detached 0-d tensors on the device of the batch, read back to the host once
        per epoch by :class:`skaudio.training.SelfSupervisedNet`.
        """
        z1, z2, _ = y_pred
        return {"pretext_acc": nt_xent_accuracy(gather(z1), gather(z2))}
