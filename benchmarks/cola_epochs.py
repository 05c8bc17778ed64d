"""COLA probe accuracy on the spoken digits as pretraining goes on.

Pretrains once on all 3000 clips (no labels; the audio of test speakers is seen
unlabelled, a transductive protocol that favours pretraining) and scores a
leave-one-speaker-out linear probe (GroupKFold(6)) every ``--every`` epochs, next to
the same encoder at epoch 0.

Usage::

    python benchmarks/cola_epochs.py --segment-seconds 0.5 --epochs 8 --every 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.model_selection import GroupKFold, cross_val_score

from skaudio import COLAEmbedder
from skaudio.datasets import load_spoken_digits
from skaudio.probing import make_probe
from skaudio.training import SegmentPairDataset

# the settings the recorded results were measured with: the estimators' defaults before 0.2
RECORDED_DEFAULTS = dict(augmentations="none", readout_bands=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segment-seconds", type=float, default=0.5)
    parser.add_argument("--similarity", default="bilinear")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--every", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    digits = load_spoken_digits()
    X, y, groups = digits.data, digits.target, digits.groups

    def probe(embedder) -> str:
        scores = cross_val_score(
            make_probe(), embedder.transform(X), y, groups=groups, cv=GroupKFold(6)
        )
        return f"{scores.mean():.3f} +- {scores.std():.3f}"

    embedder = COLAEmbedder(
        sample_rate=digits.sample_rate,
        segment_seconds=args.segment_seconds,
        similarity=args.similarity,
        batch_size=args.batch_size,
        max_epochs=0,
        random_state=args.seed,
        **RECORDED_DEFAULTS,
    ).fit(X)
    print(
        f"segment {args.segment_seconds} s, {args.similarity}: epoch 0: {probe(embedder)}",
        flush=True,
    )
    # continue training the same net, a few epochs at a time, through skorch
    dataset = SegmentPairDataset(X, embedder.segment_length_, np.random.default_rng(args.seed))
    embedder.net_.set_params(max_epochs=args.every)
    for epoch in range(args.every, args.epochs + 1, args.every):
        start = time.perf_counter()
        embedder.net_.partial_fit(dataset)
        pretext = embedder.history_[-1, "train_pretext_acc"]
        seconds = time.perf_counter() - start
        print(f"epoch {epoch}: {probe(embedder)}, pretext acc {pretext:.3f} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
