"""skaudio: self-supervised audio representation learning with a scikit-learn API."""

from .baselines import LogMelStatistics, MFCCStatistics
from .estimators import COLAEmbedder, ContrastiveAudioEmbedder, CPCEmbedder
from .io import check_audio

__version__ = "0.1.0"

__all__ = [
    "COLAEmbedder",
    "CPCEmbedder",
    "ContrastiveAudioEmbedder",
    "LogMelStatistics",
    "MFCCStatistics",
    "__version__",
    "check_audio",
]
