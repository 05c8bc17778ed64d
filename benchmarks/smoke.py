"""Public-API smoke run: every public estimator, defaults but a small budget, on the digits.

A seeded subsample of the bundled spoken digits (``--clips``, stratified by speaker and
digit; :func:`skaudio.datasets.load_spoken_digits`), one speaker held out
(``--speaker``, or every speaker in turn with ``--all-speakers``: LeaveOneGroupOut).
Each public estimator keeps its defaults except ``batch_size`` (``--batch-size``),
``max_epochs`` (``--epochs``), the digits' ``sample_rate`` and ``random_state``; it
is pretrained on the training speakers' clips inside a scikit-learn ``Pipeline``
(embedder, ``StandardScaler``, ``LogisticRegression``) and scored on the held-out
speaker. Prints the accuracy of each, against chance (0.1), and its seconds. MFCC and
log-mel statistics (no training) are the reference rows.

This is the issue's check that the public API, as a user meets it, gives every
estimator clearly above chance: 600 clips, 2 epochs, batch 32::

    python benchmarks/smoke.py
    python benchmarks/smoke.py --estimators tokens cpc --epochs 4
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneGroupOut, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skaudio import (
    COLAEmbedder,
    ContrastiveAudioEmbedder,
    CPCEmbedder,
    LogMelStatistics,
    MFCCStatistics,
    TokenTransformerEmbedder,
    make_byol_a,
)
from skaudio.datasets import load_spoken_digits

#: name -> the public estimator it builds; ``True`` for the ones that pretrain
ESTIMATORS = {
    "mfcc": (MFCCStatistics, False),
    "logmel": (LogMelStatistics, False),
    "cola": (COLAEmbedder, True),
    "simclr": (ContrastiveAudioEmbedder, True),
    "byol-a": (make_byol_a, True),
    "cpc": (CPCEmbedder, True),
    "tokens": (TokenTransformerEmbedder, True),
}
CHANCE = 0.1


def subsample(groups: np.ndarray, labels: np.ndarray, n_clips: int, seed: int) -> np.ndarray:
    """Indices of ``n_clips`` clips, about the same share of every (speaker, digit)."""
    rng = np.random.default_rng(seed)
    if n_clips >= len(labels):
        return np.arange(len(labels))
    keep = []
    for group in np.unique(groups):
        for label in np.unique(labels):
            members = np.flatnonzero((groups == group) & (labels == label))
            if len(members):
                share = max(1, round(n_clips * len(members) / len(labels)))
                keep.append(rng.choice(members, min(len(members), share), replace=False))
    return np.sort(np.concatenate(keep))


def build(name: str, *, sample_rate: int, epochs: int, batch_size: int, seed: int):
    make, neural = ESTIMATORS[name]
    if not neural:
        return make(sample_rate=sample_rate)
    return make(
        sample_rate=sample_rate, max_epochs=epochs, batch_size=batch_size, random_state=seed
    )


def main(argv: list[str] | None = None) -> list[tuple[str, float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--estimators", nargs="+", choices=list(ESTIMATORS), default=list(ESTIMATORS)
    )
    parser.add_argument("--speaker", default=None, help="held-out speaker (default: the first)")
    parser.add_argument(
        "--all-speakers", action="store_true", help="hold out every speaker in turn"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    digits = load_spoken_digits()
    groups, labels = np.asarray(digits.groups), np.asarray(digits.target)
    keep = subsample(groups, labels, args.clips, args.seed)
    X = [digits.data[i] for i in keep]
    y, groups = labels[keep], groups[keep]
    if args.all_speakers:
        cv, held_out = LeaveOneGroupOut(), "every speaker in turn"
    else:
        speaker = sorted(set(groups.tolist()))[0] if args.speaker is None else args.speaker
        if speaker not in set(groups.tolist()):
            parser.error(f"--speaker {speaker!r} is not one of {sorted(set(groups.tolist()))}")
        test = groups == speaker
        cv, held_out = [(np.flatnonzero(~test), np.flatnonzero(test))], f"speaker {speaker}"
    print(
        f"digits: {len(X)} clips, {held_out} held out; epochs={args.epochs}, "
        f"batch_size={args.batch_size}, seed={args.seed}, other parameters at their "
        f"defaults; chance {CHANCE:.2f}",
        flush=True,
    )
    rows = []
    for name in args.estimators:
        embedder = build(
            name,
            sample_rate=digits.sample_rate,
            epochs=args.epochs,
            batch_size=args.batch_size,
            seed=args.seed,
        )
        pipeline = make_pipeline(embedder, StandardScaler(), LogisticRegression(max_iter=1000))
        start = time.perf_counter()
        scores = cross_val_score(pipeline, X, y, groups=groups, cv=cv, error_score="raise")
        seconds = time.perf_counter() - start
        accuracy = float(np.mean(scores))
        verdict = "above chance" if accuracy > 1.5 * CHANCE else "NOT clearly above chance"
        print(
            f"{name:<8} accuracy {accuracy:.3f} (chance {CHANCE:.2f}: {verdict})  {seconds:6.1f} s",
            flush=True,
        )
        rows.append((name, accuracy, seconds))
    return rows


if __name__ == "__main__":
    main()
