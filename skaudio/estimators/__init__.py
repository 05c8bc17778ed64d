"""Public scikit-learn estimators."""

from .cola import COLAEmbedder
from .contrastive import ContrastiveAudioEmbedder
from .cpc import CPCEmbedder

__all__ = ["COLAEmbedder", "CPCEmbedder", "ContrastiveAudioEmbedder"]
