"""Demo: pretrain COLA and SimCLR on the bundled spoken digits, compare with baselines.

Both use the waveform augmentation policy (COLA augments each of its two segments) and
the CNN with a frequency-keeping readout of 2 bands; the random-init row is the same
network untrained, with the same readout.

Every method is scored by the same leave-speakers-out linear probe
(``GroupKFold`` on speaker, ``StandardScaler + LogisticRegression``). The embedders are
pretrained inside each fold on the training speakers only (through the pipeline), so
no audio of a test speaker is ever seen before testing. The last fold's fitted
pipeline of the best self-supervised embedder is saved with joblib.

Run ``python examples/demo.py --help`` for the settings. The defaults are small so the
demo finishes in a few minutes on a 2-core CPU; they are far from the published
recipe (hundreds of epochs on a GPU), and the printout says so.
"""

from __future__ import annotations

import argparse
import platform
import time

import joblib
import numpy as np
import torch
from sklearn.model_selection import GroupKFold, cross_validate

from skaudio import COLAEmbedder, ContrastiveAudioEmbedder, LogMelStatistics, MFCCStatistics
from skaudio.datasets import load_spoken_digits
from skaudio.probing import make_probe


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="COLA pretraining epochs")
    parser.add_argument("--folds", type=int, default=3, help="GroupKFold splits over 6 speakers")
    parser.add_argument("--segment-seconds", type=float, default=0.5)
    parser.add_argument(
        "--batch-size", type=int, default=64, help="smaller batches: more optimiser steps"
    )
    parser.add_argument(
        "--readout-bands",
        type=int,
        default=2,
        help="frequency bands kept by the CNN readout (the random-init row uses the same)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="demo_pipeline.joblib")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    digits = load_spoken_digits()
    X, y, groups, sr = digits.data, digits.target, digits.groups, digits.sample_rate
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(
        f"skaudio demo: {len(X)} spoken digits, {len(set(groups))} speakers, {sr} Hz\n"
        f"machine: {platform.processor() or platform.machine()}, device={device}, "
        f"torch threads={torch.get_num_threads()}\n"
        f"protocol: GroupKFold({args.folds}) by speaker; probe = StandardScaler + "
        "LogisticRegression\n"
        f"COLA and SimCLR: {args.epochs} epochs, {args.segment_seconds} s segments, batch "
        f"{args.batch_size}, readout_bands={args.readout_bands}, pretrained per fold on "
        "training speakers only "
        "(small CPU settings; the papers train for hundreds of epochs)\n"
    )
    common = dict(
        sample_rate=sr,
        segment_seconds=args.segment_seconds,
        batch_size=args.batch_size,
        readout_bands=args.readout_bands,
        random_state=args.seed,
    )
    methods = {
        "MFCC(20) mean+std": MFCCStatistics(sample_rate=sr),
        "log-mel mean+std": LogMelStatistics(sample_rate=sr),
        "random-init encoder (same readout)": COLAEmbedder(**common, max_epochs=0),
        f"COLA, augmented segments ({args.epochs} epochs)": COLAEmbedder(
            **common, augmentations="waveform", max_epochs=args.epochs
        ),
        f"SimCLR, waveform policy ({args.epochs} epochs)": ContrastiveAudioEmbedder(
            **common, augmentations="waveform", temperature=0.2, max_epochs=args.epochs
        ),
    }
    cv = GroupKFold(n_splits=args.folds)
    rows = []
    best, best_score = None, -1.0
    for name, features in methods.items():
        start = time.perf_counter()
        result = cross_validate(
            make_probe(features), X, y, groups=groups, cv=cv, return_estimator=True
        )
        seconds = time.perf_counter() - start
        scores = result["test_score"]
        rows.append((name, scores, seconds))
        print(f"  done: {name:<38} {scores.mean():.3f} in {seconds:.0f} s", flush=True)
        if hasattr(features, "max_epochs") and features.max_epochs and scores.mean() > best_score:
            best, best_score = (name, result["estimator"][-1]), scores.mean()

    width = max(len(name) for name, _, _ in rows)
    print(f"\n{'method':<{width}}  accuracy (mean +- std)  per fold{'':<14}  time")
    for name, scores, seconds in rows:
        folds = " ".join(f"{s:.2f}" for s in scores)
        accuracy = f"{scores.mean():.3f} +- {scores.std():.3f}"
        print(f"{name:<{width}}  {accuracy:<23} {folds:<22}  {seconds:4.0f} s")
    print(f"chance: {1 / len(np.unique(y)):.3f}")

    name, fitted = best
    joblib.dump(fitted, args.output)
    print(f"\nsaved the last fold's pipeline of {name} to {args.output}")
    reloaded = joblib.load(args.output)
    same = np.array_equal(reloaded.predict(X[:50]), fitted.predict(X[:50]))
    print(f"reloaded it: predictions identical = {same}")


if __name__ == "__main__":
    main()
