"""Probe accuracy of ContrastiveAudioEmbedder variants against baselines, grouped CV.

Each embedder is pretrained on the training folds only, then probed with
StandardScaler + LogisticRegression on the test fold.

Usage::

    python benchmarks/contrastive.py digits --epochs 4 --rows mfcc random none spectrogram
    python benchmarks/contrastive.py gm_family --epochs 4 --rows random spectrogram waveform
    python benchmarks/contrastive.py digits --label-fraction 0.1 --rows mfcc spectrogram semi

Rows: mfcc, logmel (statistics baselines), random (max_epochs=0), a policy name
(none, spectrogram, waveform, clar, waveform+spectrogram) with the CNN on log-mel,
raw / raw-random (1-D ResNet18 on waveforms, waveform policy / untrained), semi
(spectrogram policy, semi-supervised: the embedder also gets the kept labels).
``--label-fraction f`` keeps the labels of a share f of each training fold (stratified)
for every row: the probe trains on those clips only.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupKFold

from skaudio import ContrastiveAudioEmbedder, LogMelStatistics, MFCCStatistics
from skaudio.datasets import load_spoken_digits
from skaudio.io import check_audio
from skaudio.probing import cross_validate_probe

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def load(name: str):
    """(waveforms, labels, groups, sample_rate, n_splits) of a benchmark task."""
    if name == "digits":
        d = load_spoken_digits()
        return d.data, d.target, d.groups, d.sample_rate, 3
    root = SHARED / "gm_notes"
    with open(root / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    paths = [root / r["filename"] for r in rows]
    waves = check_audio(paths, sample_rate=16000)
    if name == "gm_family":  # hold out pitches: groups are pitch folds
        return (
            waves,
            np.array([r["family"] for r in rows]),
            np.array([int(r["pitch"]) % 5 for r in rows]),
            16000,
            5,
        )
    raise ValueError(f"unknown task {name!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["digits", "gm_family"])
    parser.add_argument("--rows", nargs="+", default=["mfcc", "random", "spectrogram"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--segment-seconds", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label-fraction", type=float, default=None)
    args = parser.parse_args()

    X, y, groups, sr, n_splits = load(args.task)
    cv = GroupKFold(n_splits=n_splits)
    print(
        f"task={args.task}: {len(X)} clips, {len(np.unique(y))} classes, "
        f"GroupKFold({n_splits}); epochs={args.epochs}, segment={args.segment_seconds} s, "
        f"batch={args.batch_size}, temperature={args.temperature}, seed={args.seed}, "
        f"label fraction={args.label_fraction or 1.0}",
        flush=True,
    )

    def contrastive(**kw):
        return ContrastiveAudioEmbedder(
            sample_rate=sr,
            segment_seconds=args.segment_seconds,
            batch_size=args.batch_size,
            temperature=args.temperature,
            max_epochs=args.epochs,
            random_state=args.seed,
            **kw,
        )

    for row in args.rows:
        kwargs = {"label_fraction": args.label_fraction}
        if row == "mfcc":
            embedder = MFCCStatistics(sample_rate=sr)
        elif row == "logmel":
            embedder = LogMelStatistics(sample_rate=sr)
        elif row == "random":
            embedder = contrastive().set_params(max_epochs=0)
        elif row == "raw":  # 1-D ResNet18 on waveforms; only waveform augmentations apply
            embedder = contrastive(
                encoder="resnet18", input_representation="waveform", augmentations="waveform"
            )
        elif row == "raw-random":
            embedder = contrastive(encoder="resnet18", input_representation="waveform")
            embedder.set_params(max_epochs=0, augmentations="none")
        elif row == "semi":
            embedder = contrastive(supervised_weight=1.0)
            kwargs["labels_to_embedder"] = True
        else:
            embedder = contrastive(augmentations=row)
        result = cross_validate_probe(embedder, X, y, groups, cv, **kwargs)
        pretext = ""
        history = getattr(result.embedders[0], "history_", None)
        if history is not None and len(history):
            pretext = f", pretext acc {history[-1, 'train_pretext_acc']:.2f}"
        print(
            f"{row:<22} {result}  pretrain {np.mean(result.fit_seconds):.0f} s/fold{pretext}",
            flush=True,
        )


if __name__ == "__main__":
    main()
