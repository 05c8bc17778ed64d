"""Pretraining models: frontend + encoder + the heads of one self-supervised method."""

from ._base import EmbeddingModel
from .cola import COLAModel
from .contrastive import ContrastiveModel

__all__ = ["COLAModel", "ContrastiveModel", "EmbeddingModel"]
