"""The supervised upper reference: the SimCLR encoder and head trained on labels alone."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from skaudio import ContrastiveAudioEmbedder


class ClassificationCriterion(nn.Module):
    """Cross-entropy of both augmented views of the labelled clips (``-1``: unlabelled)."""

    def forward(self, y_pred, target: torch.Tensor) -> torch.Tensor:
        _, _, class_logits = y_pred
        labels = torch.cat([target, target]).to(class_logits.device).long()
        labelled = labels >= 0
        if not labelled.any():  # no label in this batch: nothing to learn from it
            return class_logits.sum() * 0.0
        return F.cross_entropy(class_logits[labelled], labels[labelled])


class SupervisedCNN(ContrastiveAudioEmbedder):
    """``ContrastiveAudioEmbedder`` whose loss is the classifier's cross-entropy only.

    Same frontend, encoder, augmentations, projection and linear classifier as the
    semi-supervised CLAR setting, without the contrastive term: fit it with
    ``supervised_weight > 0`` and labels (``cross_validate_probe(...,
    labels_to_embedder=True)``); ``transform`` returns the encoder's embeddings, which
    the linear probe then reads like any other row's.
    """

    def _build_criterion(self) -> nn.Module:
        if self.supervised_weight <= 0:
            raise ValueError("SupervisedCNN trains on labels: set supervised_weight > 0")
        return ClassificationCriterion()
