"""Benchmark tasks with grouped splits, shared by the benchmark scripts.

Every task holds whole groups out of the training folds (``GroupKFold``), so no speaker,
pitch fold or instrument is seen both in pretraining and in testing. "Chance" is the
uniform guess 1/k; "majority" the share of the largest class (what a constant
prediction scores).

===========  =======  =======================  ==========================  ============
task         classes  groups (held out)        folds                       chance / maj.
===========  =======  =======================  ==========================  ============
digits       10       6 speakers               GroupKFold(3)               0.100 / 0.100
gm_family    14       5 pitch folds            GroupKFold(5)               0.071 / 0.071
gm_pitch     49       28 instruments           GroupKFold(4)               0.020 / 0.020
emodb        7        10 speakers              GroupKFold(5)               0.143 / 0.237
nonverbal    16       410 speakers             GroupKFold(5)               0.062 / 0.074
===========  =======  =======================  ==========================  ============

- ``digits``: the spoken digits bundled with the package (FSDD, 3000 clips, 8 kHz;
  :func:`skaudio.datasets.load_spoken_digits`), the digit with speakers held out. Needs
  no data folder. (``fsdd/`` in the data folder is the same 3000 clips, so it is not a
  task of its own.)
- ``gm_family``: ``gm_notes/``, 1372 rendered General MIDI notes (1.5 s, 16 kHz), the
  instrument family with pitches held out (groups ``pitch % 5``).
- ``gm_pitch``: the same notes' MIDI pitch (36-84), instruments held out (groups are
  the 28 programs).
- ``emodb``: ``emodb/``, 535 German utterances (2.0 s, 16 kHz) by 10 actors, the
  emotion (anger, boredom, disgust, fear, happiness, sadness, neutral) with speakers
  held out (column ``group``).
- ``nonverbal``: ``nonverbal/``, 727 phone recordings of 16 nonverbal vocal sounds
  (coughing, crying, laughing, ...; 1.9-6.0 s, 16 kHz) by 410 speakers held out
  (column ``group``).

Every task but ``digits`` reads a data folder, given as ``data_dir`` (``--data-dir`` of
the scripts) or by the environment variable ``SKAUDIO_DATA``: it holds ``gm_notes/``,
``emodb/`` and ``nonverbal/``, each with a ``metadata.csv`` and its audio (as in the
project's ``shared/data``).

``max_clips`` draws a seeded subsample for quick runs, stratified by (group, class):
every stratum keeps about its share of the clips, so the groups and classes keep their
proportions and the grouped folds still exist.
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import numpy as np

from skaudio.datasets import load_spoken_digits
from skaudio.io import check_audio

#: the environment variable naming the data folder when ``--data-dir`` is not given
DATA_ENV = "SKAUDIO_DATA"
TASKS = ("digits", "gm_family", "gm_pitch", "emodb", "nonverbal")
#: task -> (sub-folder of the data folder, label column, default number of folds)
_EXTERNAL = {
    "gm_family": ("gm_notes", "family", 5),
    "gm_pitch": ("gm_notes", "pitch", 4),
    "emodb": ("emodb", "label", 5),
    "nonverbal": ("nonverbal", "label", 5),
}


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--data-dir`` and ``--max-clips`` to a benchmark script's parser."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"folder holding gm_notes/, emodb/, nonverbal/ (default: ${DATA_ENV}); "
        "not needed for digits",
    )
    parser.add_argument(
        "--max-clips",
        type=int,
        default=None,
        help="seeded subsample of at most N clips, stratified by (group, class)",
    )


def data_root(data_dir=None, task: str | None = None) -> Path:
    """The data folder: ``data_dir``, else ``$SKAUDIO_DATA``; a clear error if neither."""
    if data_dir is None:
        data_dir = os.environ.get(DATA_ENV) or None
    if data_dir is None:
        what = f"task {task!r}" if task else "this task"
        raise ValueError(
            f"{what} reads a data folder: pass --data-dir DIR or set the environment "
            f"variable {DATA_ENV}=DIR (DIR holds gm_notes/, emodb/, nonverbal/)"
        )
    return Path(data_dir).expanduser()


def load_task(
    name: str,
    n_splits: int | None = None,
    *,
    data_dir=None,
    max_clips: int | None = None,
    random_state=0,
):
    """(waveforms, labels, groups, sample_rate, n_splits) of a benchmark task.

    ``n_splits`` overrides the task's number of folds (fewer folds: cheaper runs);
    ``data_dir`` is the data folder (default ``$SKAUDIO_DATA``; not read for
    ``digits``); ``max_clips`` keeps a subsample drawn with ``random_state``.
    """
    if name == "digits":
        d = load_spoken_digits(return_paths=True)
        paths, labels, groups, sample_rate, default_splits = (
            np.asarray(d.data),
            d.target,
            d.groups,
            d.sample_rate,
            3,
        )
    elif name in _EXTERNAL:
        folder, label_column, default_splits = _EXTERNAL[name]
        root = data_root(data_dir, name) / folder
        rows = _read_metadata(root)
        paths = np.array([str(root / r["filename"]) for r in rows])
        if name == "gm_family":
            groups = np.array([int(r["pitch"]) % 5 for r in rows])
        elif name == "gm_pitch":
            groups = np.array([int(r["program"]) for r in rows])
        else:
            groups = np.array([r["group"] for r in rows])
        labels = np.array([r[label_column] for r in rows])
        if name == "gm_pitch":
            labels = labels.astype(int)
        sample_rate = 16000
    else:
        raise ValueError(f"unknown task {name!r}; choose one of {TASKS}")
    keep = subsample(labels, groups, max_clips, random_state)
    waves = check_audio(list(paths[keep]), sample_rate=sample_rate)
    return waves, labels[keep], groups[keep], sample_rate, n_splits or default_splits


def load_folder(
    folder: Path,
    sample_rate: int,
    n_splits: int | None = None,
    *,
    max_clips: int | None = None,
    random_state=0,
):
    """(waveforms, labels, groups, sample_rate, n_splits) of a user's folder.

    ``folder/metadata.csv`` has columns ``filename`` (relative to ``folder``), ``label``
    and ``group``; files are resampled to ``sample_rate``. Default: 5 folds (fewer if
    there are fewer groups).
    """
    folder = Path(folder)
    rows = _read_metadata(folder)
    missing = {"filename", "label", "group"} - set(rows[0] if rows else ())
    if missing:
        raise ValueError(f"{folder / 'metadata.csv'} lacks the columns {sorted(missing)}")
    labels = np.array([r["label"] for r in rows])
    groups = np.array([r["group"] for r in rows])
    keep = subsample(labels, groups, max_clips, random_state)
    waves = check_audio([folder / rows[i]["filename"] for i in keep], sample_rate=sample_rate)
    groups = groups[keep]
    return waves, labels[keep], groups, sample_rate, n_splits or min(5, len(np.unique(groups)))


def subsample(labels, groups, max_clips: int | None, random_state=0) -> np.ndarray:
    """Sorted indices of at most ``max_clips`` clips, stratified by (group, class).

    Each stratum's clips are shuffled and ranked; a clip of rank r in a stratum of n
    clips gets the key (r + 1/2) / n, and the ``max_clips`` smallest keys are kept (ties
    broken at random): every stratum keeps about ``max_clips / len(labels)`` of its
    clips. ``None`` (or at least ``len(labels)``) keeps every clip.

    >>> keep = subsample(np.repeat([0, 1], 6), np.tile(np.repeat([0, 1, 2], 2), 2), 6)
    >>> keep.tolist() == sorted(keep.tolist()), len(keep)
    (True, 6)
    """
    n = len(labels)
    if max_clips is None or max_clips >= n:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    strata = np.unique(
        np.char.add(
            np.char.add(np.asarray(groups).astype(str), "\x00"), np.asarray(labels).astype(str)
        ),
        return_inverse=True,
    )[1]
    key = np.empty(n)
    for s in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == s))
        key[members] = (np.arange(members.size) + 0.5) / members.size
    order = np.lexsort((rng.random(n), key))
    return np.sort(order[:max_clips])


def _read_metadata(root: Path) -> list[dict]:
    path = root / "metadata.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: the data folder (--data-dir or ${DATA_ENV}) must hold "
            f"{root.name}/metadata.csv and its audio"
        )
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
