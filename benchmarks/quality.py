"""Cross-validated linear-probe quality of every embedder against its baselines, with plots.

Every row is fitted on the training folds only (embedder and probe) and scored on the
held-out fold of a grouped split, so no speaker / pitch fold / instrument leaks into
testing. Baselines run in the same table: MFCC and log-mel statistics, each
architecture with ``max_epochs=0`` (random-init), and a supervised CNN (the same
encoder and head trained on the training folds' labels: the upper reference).

Usage::

    python benchmarks/quality.py digits                    # every row, spoken digits
    python benchmarks/quality.py gm_family --splits 3 --rows mfcc cnn-random cola simclr
    python benchmarks/quality.py my_data --folder DIR --sample-rate 16000

``--folder DIR`` runs on any folder holding a ``metadata.csv`` with columns
``filename`` (relative to DIR), ``label`` and ``group`` (clips of one group, e.g. one
speaker, never span train and test). Writes ``results/quality_<task>.md`` (the table,
the command and the machine) and ``.json``, and with ``--plots`` PNGs under
``results/plots/``: t-SNE maps and probe confusion matrices of the best self-supervised
row and of the random-init encoder (last fold's test clips), and the pretraining loss
curves (first fold).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _report import format_row, run_row
from _supervised import SupervisedCNN
from _tasks import TASKS, load_folder, load_task
from sklearn.model_selection import GroupKFold

from skaudio import (
    COLAEmbedder,
    ContrastiveAudioEmbedder,
    CPCEmbedder,
    LogMelStatistics,
    MFCCStatistics,
    TokenTransformerEmbedder,
)

RESULTS = Path(__file__).resolve().parent / "results"


def make_rows(sr: int, epochs: int, seed: int) -> dict:
    """Row name -> (embedder, extra probe arguments, what the row is)."""
    cnn = dict(sample_rate=sr, segment_seconds=0.5, batch_size=128, random_state=seed)
    cpc = dict(
        sample_rate=sr,
        window_seconds=0.32,
        encoder_width=128,
        z_dim=256,
        c_dim=256,
        batch_size=64,
        lr=1e-3,
        random_state=seed,
    )
    tokens = dict(sample_rate=sr, autoencoder_width=256, batch_size=256, random_state=seed)
    labels = {"labels_to_embedder": True}
    return {
        "mfcc": (MFCCStatistics(sample_rate=sr), {}, "MFCC(20) mean+std"),
        "logmel": (LogMelStatistics(sample_rate=sr), {}, "log-mel mean+std"),
        "cnn-random": (COLAEmbedder(**cnn, max_epochs=0), {}, "CNN, random init"),
        "cola": (COLAEmbedder(**cnn, max_epochs=epochs), {}, "COLA, bilinear"),
        "cola-multi": (
            COLAEmbedder(**cnn, max_epochs=epochs, frame_weight=1.0, pitch_weight=1.0),
            {},
            "COLA + frame + pitch-shift losses",
        ),
        "simclr": (
            ContrastiveAudioEmbedder(**cnn, max_epochs=epochs, augmentations="spectrogram"),
            {},
            "SimCLR, spectrogram policy",
        ),
        "simclr-waveform": (
            ContrastiveAudioEmbedder(**cnn, max_epochs=epochs, augmentations="waveform"),
            {},
            "SimCLR, waveform policy",
        ),
        "cpc-raw-random": (
            CPCEmbedder(**cpc, input_representation="waveform", max_epochs=0),
            {},
            "CPC encoder on waveforms, random init",
        ),
        "cpc-raw": (
            CPCEmbedder(**cpc, input_representation="waveform", max_epochs=epochs),
            {},
            "CPC on waveforms, GRU context",
        ),
        "cpc-mel-random": (
            CPCEmbedder(**cpc, input_representation="logmel", max_epochs=0),
            {},
            "CPC encoder on log-mel, random init",
        ),
        "cpc-mel": (
            CPCEmbedder(**cpc, input_representation="logmel", max_epochs=epochs),
            {},
            "CPC on log-mel, GRU context",
        ),
        "tokens-random": (
            TokenTransformerEmbedder(**tokens, n_tokens=16, max_epochs=0),
            {},
            "token transformer, 16 tokens, random init",
        ),
        "tokens-16": (
            TokenTransformerEmbedder(**tokens, n_tokens=16, max_epochs=epochs),
            {},
            "token transformer, 16 tokens",
        ),
        "tokens-64": (
            TokenTransformerEmbedder(**tokens, n_tokens=64, max_epochs=epochs),
            {},
            "token transformer, 64 tokens",
        ),
        "clar-10%": (
            ContrastiveAudioEmbedder(**cnn, max_epochs=epochs, supervised_weight=1.0),
            {**labels, "label_fraction": 0.1},
            "CLAR semi-supervised; embedder and probe see 10% of labels",
        ),
        "supervised": (
            SupervisedCNN(**cnn, max_epochs=epochs, supervised_weight=1.0),
            labels,
            "supervised CNN (upper reference)",
        ),
    }


#: rows that are baselines, not self-supervised methods
BASELINES = {"mfcc", "logmel", "cnn-random", "cpc-raw-random", "cpc-mel-random", "tokens-random"}
REFERENCES = {"supervised", "clar-10%"}


def machine() -> str:
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, {device}"
    )


def write_table(task: str, header: str, records: list[dict], descriptions: dict) -> None:
    lines = [
        f"# Linear-probe quality: {task}",
        "",
        f"Command (from `benchmarks/`): `python {' '.join(sys.argv)}`  ",
        f"Machine: {machine()}  ",
        header,
        "",
        "| row | what | accuracy (mean +- std over folds) | folds | pretrain s/fold | dim |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in records:
        folds = " ".join(f"{s:.2f}" for s in r["accuracy_folds"])
        lines.append(
            f"| {r['row']} | {descriptions[r['row']]} | {r['accuracy_mean']:.3f} +- "
            f"{r['accuracy_std']:.3f} | {folds} | {r['pretrain_seconds_per_fold']:.0f} | "
            f"{r['embedding_dim']} |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"quality_{task}.md").write_text("\n".join(lines) + "\n")
    serialisable = [{k: v for k, v in r.items() if k != "result"} for r in records]
    (RESULTS / f"quality_{task}.json").write_text(
        json.dumps(
            {"command": sys.argv, "machine": machine(), "setting": header, "rows": serialisable},
            indent=2,
        )
    )


def save_plots(task: str, X, y, groups, cv, records: list[dict]) -> list[Path]:
    """t-SNE and confusion matrix of the best self-supervised row and of the random CNN."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skaudio.plotting import plot_confusion_matrix, plot_embedding, plot_training_curves

    folder = RESULTS / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    by_name = {r["row"]: r for r in records}
    ssl = [r for r in records if r["row"] not in BASELINES | REFERENCES]
    shown = [max(ssl, key=lambda r: r["accuracy_mean"])] if ssl else []
    shown += [by_name[n] for n in ("cnn-random", "mfcc") if n in by_name]
    _, test = list(cv.split(X, y, groups))[-1]
    paths = []
    if shown:
        fig, axes = plt.subplots(2, len(shown), figsize=(5 * len(shown), 9), squeeze=False)
        for column, record in enumerate(shown):
            result = record["result"]
            embeddings = result.embedders[-1].transform([X[i] for i in test])
            name = f"{record['row']} ({record['accuracy_mean']:.2f})"
            plot_embedding(embeddings, y[test], ax=axes[0, column], title=f"t-SNE: {name}")
            plot_confusion_matrix(
                y, result.predictions, ax=axes[1, column], title=f"probe, all folds: {name}"
            )
        fig.tight_layout()
        paths.append(folder / f"quality_{task}_tsne_confusion.png")
        fig.savefig(paths[-1], dpi=80)
    trained = {
        r["row"]: r["result"].embedders[0]
        for r in records
        if len(getattr(r["result"].embedders[0], "history_", ()) or ())
    }
    if trained:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        plot_training_curves(trained, ax=ax, title=f"pretraining loss, first fold ({task})")
        ax.set_yscale("log")
        fig.tight_layout()
        paths.append(folder / f"quality_{task}_loss_curves.png")
        fig.savefig(paths[-1], dpi=80)
    plt.close("all")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="+", help=f"{', '.join(TASKS)} or a name for --folder")
    parser.add_argument("--folder", type=Path, help="a folder with metadata.csv (own data)")
    parser.add_argument("--sample-rate", type=int, default=16000, help="for --folder")
    parser.add_argument("--rows", nargs="+", default=None, help="default: every row")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--splits", type=int, default=None, help="override the task's folds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plots", action="store_true")
    parser.add_argument("--output", help="name of the result files (default: the task's)")
    args = parser.parse_args()

    for task in args.tasks:
        if args.folder is not None:
            X, y, groups, sr, n_splits = load_folder(args.folder, args.sample_rate, args.splits)
        else:
            X, y, groups, sr, n_splits = load_task(task, args.splits)
        rows = make_rows(sr, args.epochs, args.seed)
        chosen = args.rows or list(rows)
        unknown = set(chosen) - set(rows)
        if unknown:
            parser.error(f"unknown rows {sorted(unknown)}; choose from {list(rows)}")
        cv = GroupKFold(n_splits=n_splits)
        header = (
            f"Task {task}: {len(X)} clips, {len(np.unique(y))} classes, "
            f"{len(np.unique(groups))} groups, GroupKFold({n_splits}); probe = StandardScaler + "
            f"LogisticRegression; {args.epochs} pretraining epochs, seed {args.seed}."
        )
        print(header, flush=True)
        records, start = [], time.perf_counter()
        for name in chosen:
            embedder, probe_kwargs, _ = rows[name]
            records.append(run_row(name, embedder, X, y, groups, cv, **probe_kwargs))
            print(format_row(records[-1]), flush=True)
            descriptions = {n: d for n, (_, _, d) in rows.items()}
            write_table(args.output or task, header, records, descriptions)
        print(f"total {time.perf_counter() - start:.0f} s", flush=True)
        if args.plots:
            for path in save_plots(args.output or task, X, y, groups, cv, records):
                print(f"wrote {path.relative_to(RESULTS.parent)}", flush=True)


if __name__ == "__main__":
    main()
