"""skaudio: self-supervised audio representation learning with a scikit-learn API."""

from .baselines import LogMelStatistics, MFCCStatistics
from .estimators import (
    COLAEmbedder,
    ContrastiveAudioEmbedder,
    CPCEmbedder,
    TokenTransformerEmbedder,
    make_byol_a,
)
from .exceptions import SkaudioWarning
from .io import check_audio

__version__ = "0.1.0"

__all__ = [
    "COLAEmbedder",
    "CPCEmbedder",
    "ContrastiveAudioEmbedder",
    "LogMelStatistics",
    "MFCCStatistics",
    "SkaudioWarning",
    "TokenTransformerEmbedder",
    "__version__",
    "check_audio",
    "make_byol_a",
]
