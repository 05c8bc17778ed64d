"""Public scikit-learn estimators."""

from .cola import COLAEmbedder
from .contrastive import ContrastiveAudioEmbedder
from .cpc import CPCEmbedder
from .token_transformer import TokenTransformerEmbedder

__all__ = [
    "COLAEmbedder",
    "CPCEmbedder",
    "ContrastiveAudioEmbedder",
    "TokenTransformerEmbedder",
]
