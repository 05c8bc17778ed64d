"""Pretraining models: frontend + encoder + the heads of one self-supervised method,
and what each returns in pretraining (the input of its criterion in :mod:`skaudio.losses`)."""

from ._base import EmbeddingModel
from .cola import COLAModel, COLAOutput
from .contrastive import (
    BYOLModel,
    BYOLOutput,
    ContrastiveModel,
    PitchEquivarianceOutput,
    byol_momentum,
)
from .cpc import CPCModel, CPCOutput
from .token_transformer import NextTokenOutput, TokenTransformerModel

__all__ = [
    "BYOLModel",
    "BYOLOutput",
    "COLAModel",
    "COLAOutput",
    "CPCModel",
    "CPCOutput",
    "ContrastiveModel",
    "EmbeddingModel",
    "NextTokenOutput",
    "PitchEquivarianceOutput",
    "TokenTransformerModel",
    "byol_momentum",
]
