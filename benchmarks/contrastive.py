"""Probe accuracy of ContrastiveAudioEmbedder variants against baselines, grouped CV.

Each embedder is pretrained on the training folds only, then probed with
StandardScaler + LogisticRegression on the test fold.

Usage::

    python benchmarks/contrastive.py digits --epochs 4 --rows mfcc random none spectrogram
    python benchmarks/contrastive.py gm_family --epochs 4 --rows random spectrogram waveform
    python benchmarks/contrastive.py digits --label-fraction 0.1 --rows mfcc spectrogram semi
    python benchmarks/contrastive.py digits --objective vicreg --rows waveform byol-a
    python benchmarks/contrastive.py digits --readout-bands 4 --rows random waveform

Rows: mfcc, logmel (statistics baselines), random (max_epochs=0), a policy name
(none, spectrogram, waveform, clar, waveform+spectrogram, byol-a, byol-a-pitch, speech) with
the CNN on log-mel,
raw / raw-random (1-D ResNet18 on waveforms, waveform policy / untrained), semi
(spectrogram policy, semi-supervised: the embedder also gets the kept labels).
``--label-fraction f`` keeps the labels of a share f of each training fold (stratified)
for every row: the probe trains on those clips only.
"""

from __future__ import annotations

import argparse

import numpy as np
from _report import format_row, run_row
from _tasks import TASKS, add_data_arguments, load_task
from sklearn.model_selection import GroupKFold

from skaudio import ContrastiveAudioEmbedder, LogMelStatistics, MFCCStatistics

# the settings the recorded results were measured with: the estimator's defaults before 0.2
# (readout_bands comes from --readout-bands, whose default 1 is the old default too)
RECORDED_DEFAULTS = dict(augmentations="spectrogram")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=TASKS)
    parser.add_argument("--rows", nargs="+", default=["mfcc", "random", "spectrogram"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--segment-seconds", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.2)
    parser.add_argument("--readout-bands", type=int, default=1)
    parser.add_argument(
        "--objective", choices=["nt_xent", "barlow_twins", "vicreg"], default="nt_xent"
    )
    parser.add_argument("--seed", type=int, default=0)
    add_data_arguments(parser)
    parser.add_argument("--label-fraction", type=float, default=None)
    args = parser.parse_args()

    X, y, groups, sr, n_splits = load_task(
        args.task, data_dir=args.data_dir, max_clips=args.max_clips, random_state=args.seed
    )
    cv = GroupKFold(n_splits=n_splits)
    print(
        f"task={args.task}: {len(X)} clips, {len(np.unique(y))} classes, "
        f"GroupKFold({n_splits}); epochs={args.epochs}, segment={args.segment_seconds} s, "
        f"batch={args.batch_size}, objective={args.objective}, "
        f"readout_bands={args.readout_bands}, "
        f"temperature={args.temperature}, seed={args.seed}, "
        f"label fraction={args.label_fraction or 1.0}",
        flush=True,
    )

    def contrastive(**kw):
        return ContrastiveAudioEmbedder(
            sample_rate=sr,
            segment_seconds=args.segment_seconds,
            batch_size=args.batch_size,
            temperature=args.temperature,
            objective=args.objective,
            readout_bands=args.readout_bands,
            max_epochs=args.epochs,
            random_state=args.seed,
            **{**RECORDED_DEFAULTS, **kw},
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
        print(format_row(run_row(row, embedder, X, y, groups, cv, **kwargs)), flush=True)


if __name__ == "__main__":
    main()
