"""The warnings skaudio emits (errors are plain ``ValueError`` / ``TypeError``).

Every warning of the project is a :class:`SkaudioWarning`, so a user can silence or
escalate them together::

    import warnings
    from skaudio.exceptions import SkaudioWarning
    warnings.simplefilter("error", SkaudioWarning)   # treat every one as an error
"""

from __future__ import annotations

__all__ = ["AudioInputWarning", "DegenerateTrainingWarning", "SkaudioWarning"]


class SkaudioWarning(UserWarning):
    """Base class of the warnings skaudio emits."""


class AudioInputWarning(SkaudioWarning):
    """Input that is legal but probably not what was meant.

    For example a 2-D array of a few samples per row (a stereo recording passed as
    ``(n_samples, 2)`` reads as ``n_samples`` clips of 2 samples), or float audio far
    outside [-1, 1] (integer PCM values stored as floats).
    """


class DegenerateTrainingWarning(SkaudioWarning):
    """Pretraining that runs but cannot learn anything, e.g. no negatives for a
    contrastive loss (a single clip) or nothing to predict."""
