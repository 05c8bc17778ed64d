"""The semi-supervised term of the two-view criteria (CLAR, Al-Tahan & Mohsenzadeh, 2021)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._collectives import gather, gather_with_grad


def _add_supervised(
    loss: torch.Tensor,
    class_logits: torch.Tensor | None,
    target: torch.Tensor | None,
    supervised_weight: float,
    gather_distributed: bool = True,
) -> torch.Tensor:
    """``loss`` plus ``supervised_weight`` times the cross-entropy of the labelled views.

    ``class_logits`` holds both views, ``[view 1; view 2]``, of shape (2 * batch,
    n_classes); ``target`` the label of each clip, ``-1`` when unlabelled. With
    ``gather_distributed``, logits and labels are gathered over the processes first,
    so the mean is over the global batch. Without logits or targets or with
    ``supervised_weight == 0``, ``loss`` is returned unchanged; without a labelled
    clip, the term is 0 (a masked mean over the labelled rows, so that nothing is
    read back to the host: the classifier then gets zero gradients). Shared by the
    criteria of the two-view estimator (:class:`~skaudio.losses.NTXentCriterion` and
    the non-contrastive ones).
    """
    if class_logits is not None and target is not None and supervised_weight > 0:
        labels = torch.cat([target, target]).to(class_logits.device).long()
        if gather_distributed:
            class_logits, labels = gather_with_grad(class_logits), gather(labels)
        labelled = labels >= 0
        # the mean over the labelled rows (ignore_index skips the others), 0 without any
        supervised = F.cross_entropy(class_logits, labels.masked_fill(~labelled, -100))
        supervised = torch.where(labelled.any(), supervised, 0.0)
        loss = loss + supervised_weight * supervised
    return loss
