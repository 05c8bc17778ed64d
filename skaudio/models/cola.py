"""COLA pretraining model (Saeed, Grangier & Zeghidour, ICASSP 2021)."""

from __future__ import annotations

import torch
from torch import nn

from ..features import LogMelSpectrogram
from ..heads import ProjectionHead
from ._base import EmbeddingModel

__all__ = ["COLAModel"]


class COLAModel(EmbeddingModel):
    """Encoder + projection head + similarity, scoring every anchor against every positive.

    Anchors and positives go through the encoder as one batch, so batch-norm
    statistics are shared by both views.

    Parameters
    ----------
    frontend : LogMelSpectrogram
    encoder : nn.Module
    projection_dim : int
        Output size of the projection head.
    similarity : nn.Module
        Maps projected ``(n, dim)`` anchors and positives to ``(n, n)`` logits.
    """

    def __init__(
        self,
        frontend: LogMelSpectrogram,
        encoder: nn.Module,
        projection_dim: int,
        similarity: nn.Module,
    ) -> None:
        super().__init__(frontend, encoder)
        self.head = ProjectionHead(encoder.embedding_dim, projection_dim)
        self.similarity = similarity

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
        """Similarity logits of every anchor segment against every positive segment.

        Parameters
        ----------
        anchor : Tensor of shape (batch, n_samples)
        positive : Tensor of shape (batch, n_samples)
            Another segment of the same clip as ``anchor``, row for row.

        Returns
        -------
        logits : Tensor of shape (batch, batch)
            Positives on the diagonal.
        """
        projected = self.head(self.embed(torch.cat([anchor, positive])))
        anchors, positives = projected.chunk(2)
        return self.similarity(anchors, positives)
