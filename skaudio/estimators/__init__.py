"""Public scikit-learn estimators."""

from .cola import COLAEmbedder
from .contrastive import ContrastiveAudioEmbedder

__all__ = ["COLAEmbedder", "ContrastiveAudioEmbedder"]
