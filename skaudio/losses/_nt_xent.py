"""NT-Xent, SimCLR's loss (Chen et al., 2020), with its skorch criterion."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._collectives import gather, gather_with_grad
from .._torch_utils import fp32_island
from ._supervised import _add_supervised

__all__ = ["NTXentCriterion", "nt_xent_accuracy", "nt_xent_loss"]


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


class NTXentCriterion(nn.Module):
    """skorch criterion of SimCLR/CLAR: NT-Xent plus an optional supervised term.

    The model's output is ``(z1, z2, class_logits)``, as returned by
    :class:`skaudio.models.ContrastiveModel`. The loss is :func:`nt_xent_loss` of
    ``z1`` and ``z2``; with ``class_logits`` given and ``supervised_weight > 0``, the
    cross-entropy of both views of the labelled clips (target ``>= 0``; ``-1`` marks
    unlabelled clips) is added with weight ``supervised_weight`` (the
    semi-supervised training of CLAR, Al-Tahan & Mohsenzadeh, 2021).

    With ``gather_distributed``, in multi-process training ``z1``, ``z2``, the class
    logits and the targets of all processes are gathered first
    (:func:`skaudio.distributed.gather_with_grad`), so the negatives and the supervised
    mean are those of the global batch and the loss is the same in every process; in
    a single process nothing changes.

    Parameters
    ----------
    temperature : float
        Temperature of the cosine similarity of :func:`nt_xent_loss`.
    supervised_weight : float, default=0.0
        Weight of the supervised cross-entropy; 0 trains without labels.
    gather_distributed : bool, default=True
        Whether to compute the loss over the batches of all processes of a
        distributed run (the estimators pass their ``distributed``); the identity in
        a single process.

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

    #: the default of criteria pickled before the flag existed (they gathered)
    gather_distributed = True

    def __init__(
        self, temperature: float, supervised_weight: float = 0.0, gather_distributed: bool = True
    ) -> None:
        super().__init__()
        self.temperature = temperature
        self.supervised_weight = supervised_weight
        self.gather_distributed = gather_distributed

    @fp32_island
    def forward(self, y_pred, target: torch.Tensor) -> torch.Tensor:
        z1, z2, class_logits = y_pred
        if self.gather_distributed:
            z1, z2 = gather_with_grad(z1), gather_with_grad(z2)
        loss = nt_xent_loss(z1, z2, self.temperature)
        return _add_supervised(
            loss, class_logits, target, self.supervised_weight, self.gather_distributed
        )

    @fp32_island
    def metrics(self, y_pred) -> dict[str, torch.Tensor]:
        """Batch metrics to log: how often a view's nearest other view is its pair.

        Detached 0-d tensors on the device of the batch, read back to the host once
        per epoch by :class:`skaudio.training.SelfSupervisedNet`.
        """
        z1, z2, _ = y_pred
        if self.gather_distributed:
            z1, z2 = gather(z1), gather(z2)
        return {"pretext_acc": nt_xent_accuracy(z1.detach(), z2.detach())}
