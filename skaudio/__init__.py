"""skaudio: self-supervised audio representation learning with a scikit-learn API."""

from .baselines import LogMelStatistics, MFCCStatistics
from .estimators import (
    COLAEmbedder,
    ContrastiveAudioEmbedder,
    CPCEmbedder,
    TokenTransformerEmbedder,
)
from .io import check_audio

__version__ = "0.1.0"

__all__ = [
    "COLAEmbedder",
    "CPCEmbedder",
    "ContrastiveAudioEmbedder",
    "LogMelStatistics",
    "MFCCStatistics",
    "TokenTransformerEmbedder",
    "__version__",
    "check_audio",
]
