"""Benchmark tasks with grouped splits, shared by the benchmark scripts.

- ``digits``: spoken digits (bundled), 10 classes, speakers held out (GroupKFold(3)).
- ``gm_family``: ``../shared/data/gm_notes`` instrument family (14 classes), pitches
  held out (groups ``pitch % 5``, GroupKFold(5)).
- ``gm_pitch``: the same notes' MIDI pitch (49 classes), instruments held out
  (groups are programs, GroupKFold(4)).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from skaudio.datasets import load_spoken_digits
from skaudio.io import check_audio

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TASKS = ("digits", "gm_family", "gm_pitch")


def load_task(name: str, n_splits: int | None = None):
    """(waveforms, labels, groups, sample_rate, n_splits) of a benchmark task.

    ``n_splits`` overrides the task's number of folds (fewer folds: cheaper runs).
    """
    X, y, groups, sample_rate, default_splits = _load(name)
    return X, y, groups, sample_rate, n_splits or default_splits


def load_folder(folder: Path, sample_rate: int, n_splits: int | None = None):
    """(waveforms, labels, groups, sample_rate, n_splits) of a user's folder.

    ``folder/metadata.csv`` has columns ``filename`` (relative to ``folder``), ``label``
    and ``group``; files are resampled to ``sample_rate``. Default: 5 folds (fewer if
    there are fewer groups).
    """
    folder = Path(folder)
    with open(folder / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    missing = {"filename", "label", "group"} - set(rows[0] if rows else ())
    if missing:
        raise ValueError(f"{folder / 'metadata.csv'} lacks the columns {sorted(missing)}")
    waves = check_audio([folder / r["filename"] for r in rows], sample_rate=sample_rate)
    labels = np.array([r["label"] for r in rows])
    groups = np.array([r["group"] for r in rows])
    return waves, labels, groups, sample_rate, n_splits or min(5, len(np.unique(groups)))


def _load(name: str):
    if name == "digits":
        d = load_spoken_digits()
        return d.data, d.target, d.groups, d.sample_rate, 3
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {TASKS}")
    root = SHARED / "gm_notes"
    with open(root / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    waves = check_audio([root / r["filename"] for r in rows], sample_rate=16000)
    if name == "gm_family":
        labels = np.array([r["family"] for r in rows])
        groups = np.array([int(r["pitch"]) % 5 for r in rows])
        return waves, labels, groups, 16000, 5
    labels = np.array([int(r["pitch"]) for r in rows])
    groups = np.array([int(r["program"]) for r in rows])
    return waves, labels, groups, 16000, 4
