"""Pretraining models: frontend + encoder + the heads of one self-supervised method."""

from ._base import EmbeddingModel
from .cola import COLAModel
from .contrastive import BYOLModel, ContrastiveModel
from .cpc import CPCModel
from .token_transformer import TokenTransformerModel

__all__ = [
    "BYOLModel",
    "COLAModel",
    "CPCModel",
    "ContrastiveModel",
    "EmbeddingModel",
    "TokenTransformerModel",
]
