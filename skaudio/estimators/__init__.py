"""Public scikit-learn estimators."""

from .cola import COLAEmbedder
from .contrastive import ContrastiveAudioEmbedder
from .cpc import CPCEmbedder
from .presets import make_byol_a
from .token_transformer import TokenTransformerEmbedder

__all__ = [
    "COLAEmbedder",
    "CPCEmbedder",
    "ContrastiveAudioEmbedder",
    "TokenTransformerEmbedder",
    "make_byol_a",
]
