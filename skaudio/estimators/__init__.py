"""Public scikit-learn estimators."""

from ._base import BaseAudioEmbedder
from .cola import COLAEmbedder
from .contrastive import ContrastiveAudioEmbedder
from .cpc import CPCEmbedder
from .presets import make_byol_a
from .token_transformer import TokenTransformerEmbedder

__all__ = [
    "BaseAudioEmbedder",
    "COLAEmbedder",
    "CPCEmbedder",
    "ContrastiveAudioEmbedder",
    "TokenTransformerEmbedder",
    "make_byol_a",
]
