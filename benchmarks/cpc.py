"""CPC probe accuracy and training throughput: raw vs log-mel encoder, GRU vs transformer.

Each embedder is pretrained on the training folds only, then probed with
StandardScaler + LogisticRegression on the held-out fold; MFCC statistics and each
variant's ``max_epochs=0`` (random-init) run in the same table.

Usage::

    python benchmarks/cpc.py digits gm_family gm_pitch --epochs 3
    python benchmarks/cpc.py digits --rows mfcc raw-gru raw-gru-random
    python benchmarks/cpc.py --throughput   # training clips/s of each variant only

Throughput printed next to probe results is the median epoch of the first fold (of
little use when other jobs share the CPU); ``--throughput`` measures it alone.
"""

from __future__ import annotations

import argparse

import numpy as np
from _tasks import TASKS, add_data_arguments, load_task
from _timing import steady_epoch_seconds
from sklearn.model_selection import GroupKFold

from skaudio import CPCEmbedder, MFCCStatistics
from skaudio.probing import cross_validate_probe

VARIANTS = {
    "raw-gru": {"input_representation": "waveform", "context": "gru"},
    "raw-transformer": {"input_representation": "waveform", "context": "transformer"},
    "mel-gru": {"input_representation": "logmel", "context": "gru"},
    "mel-transformer": {"input_representation": "logmel", "context": "transformer"},
}
ROWS = ["mfcc", *(f"{name}{suffix}" for name in VARIANTS for suffix in ("-random", ""))]


def make_row(row: str, sample_rate: int, args):
    if row == "mfcc":
        return MFCCStatistics(sample_rate=sample_rate)
    name = row.removesuffix("-random")
    return CPCEmbedder(
        sample_rate=sample_rate,
        segment_seconds=args.segment_seconds,
        encoder_width=args.encoder_width,
        z_dim=args.z_dim,
        c_dim=args.c_dim,
        batch_size=args.batch_size,
        max_epochs=0 if row.endswith("-random") else args.epochs,
        lr=args.lr,
        random_state=args.seed,
        **VARIANTS[name],
    )


def throughput(args) -> None:
    """Pretraining clips/s of each variant on 256 clips (median of epochs 2..3)."""
    rng = np.random.default_rng(0)
    for sr in (8000, 16000):
        clips = 0.1 * rng.standard_normal((256, sr)).astype(np.float32)
        for name in VARIANTS:
            embedder = make_row(name, sr, args).set_params(max_epochs=3).fit(clips)
            rate = len(clips) / steady_epoch_seconds(embedder.history_)
            print(
                f"throughput {name:<16} {sr} Hz, segment {args.segment_seconds} s, batch "
                f"{args.batch_size}: {rate:.0f} clips/s (device {embedder.device_})",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", choices=TASKS)
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--rows", nargs="+", default=ROWS)
    parser.add_argument("--epochs", type=int, default=6)
    # --window-seconds: the name before 0.2
    parser.add_argument("--segment-seconds", "--window-seconds", type=float, default=0.32)
    parser.add_argument("--encoder-width", type=int, default=128)
    parser.add_argument("--z-dim", type=int, default=256)
    parser.add_argument("--c-dim", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    add_data_arguments(parser)
    parser.add_argument("--splits", type=int, default=None, help="override the task's folds")
    args = parser.parse_args()

    if args.throughput:
        throughput(args)
    for task in args.tasks:
        X, y, groups, sr, n_splits = load_task(
            task,
            args.splits,
            data_dir=args.data_dir,
            max_clips=args.max_clips,
            random_state=args.seed,
        )
        print(
            f"\ntask={task}: {len(X)} clips, {len(np.unique(y))} classes, "
            f"GroupKFold({n_splits}); epochs={args.epochs}, segment={args.segment_seconds} s, "
            f"raw encoder width={args.encoder_width}, "
            f"z_dim={args.z_dim}, c_dim={args.c_dim}, batch={args.batch_size}, "
            f"lr={args.lr}, seed={args.seed}",
            flush=True,
        )
        for row in args.rows:
            result = cross_validate_probe(
                make_row(row, sr, args), X, y, groups, GroupKFold(n_splits=n_splits)
            )
            extra = ""
            history = getattr(result.embedders[0], "history_", None)
            if history is not None and len(history):
                n_train = len(X) * (n_splits - 1) / n_splits
                last = history[-1]
                steps = [
                    last[f"train_step{k}_acc"] for k in range(1, result.embedders[0].n_predict_ + 1)
                ]
                extra = (
                    f", {n_train / steady_epoch_seconds(history):.0f} clips/s, step accuracy "
                    f"k=1 {steps[0]:.2f} .. k={len(steps)} {steps[-1]:.2f}"
                )
            print(
                f"{row:<22} {result}  pretrain {np.mean(result.fit_seconds):.0f} s/fold{extra}",
                flush=True,
            )


if __name__ == "__main__":
    main()
