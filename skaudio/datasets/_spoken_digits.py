"""The Free Spoken Digit Dataset, shipped with the package."""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np
import soundfile as sf
from sklearn.utils import Bunch

__all__ = ["load_spoken_digits"]

_DESCR = """\
Free Spoken Digit Dataset (FSDD)
--------------------------------
3000 recordings of the digits 0-9 spoken in English by 6 speakers (george, jackson,
lucas, nicolas, theo, yweweler), 50 takes per digit and speaker; 0.14-2.28 s
(mean 0.44 s), 8 kHz mono.

Evaluate with whole speakers held out (``GroupKFold`` on ``groups``): the upstream
"official" split shares speakers between train and test and overstates accuracy.

Source: Zohar Jackson et al., github.com/Jakobovski/free-spoken-digit-dataset
(snapshot 26eb9aa, folder ``recordings/``), converted losslessly to FLAC.
Licence: Creative Commons Attribution-ShareAlike 4.0 International (CC BY-SA 4.0).
"""


def load_spoken_digits(*, return_paths: bool = False) -> Bunch:
    """Load the bundled spoken digits (FSDD): 3000 clips, 10 classes, 6 speakers.

    Parameters
    ----------
    return_paths : bool, default=False
        If True, ``data`` holds the paths of the FLAC files instead of waveforms
        (every skaudio estimator accepts paths as input).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        - ``data``: list of 3000 float32 waveforms of shape (n_samples_i,), or paths;
        - ``target``: ndarray of shape (3000,), the digit;
        - ``groups``: ndarray of shape (3000,), the speaker (for ``GroupKFold``);
        - ``sample_rate``: 8000;
        - ``filenames``: ndarray of shape (3000,), absolute paths;
        - ``target_names``: the digits as strings;
        - ``DESCR``: description, source and licence.

    Examples
    --------
    >>> from skaudio.datasets import load_spoken_digits
    >>> digits = load_spoken_digits()
    >>> len(digits.data), digits.sample_rate, sorted(set(digits.groups.tolist()))[:2]
    (3000, 8000, ['george', 'jackson'])
    """
    root = resources.files("skaudio.datasets") / "data" / "fsdd"
    with (root / "metadata.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    filenames = np.array([str(root / row["filename"]) for row in rows])
    if return_paths:
        data = list(filenames)
    else:
        data = [sf.read(path, dtype="float32")[0] for path in filenames]
    return Bunch(
        data=data,
        target=np.array([int(row["label"]) for row in rows]),
        groups=np.array([row["speaker"] for row in rows]),
        sample_rate=8000,
        filenames=filenames,
        target_names=[str(d) for d in range(10)],
        DESCR=_DESCR,
    )
