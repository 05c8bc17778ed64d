"""Public scikit-learn estimators."""

from .cola import COLAEmbedder

__all__ = ["COLAEmbedder"]
