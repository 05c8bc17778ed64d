"""Cross-validated linear-probe quality of every embedder against its baselines, with plots.

Every row is fitted on the training folds only (embedder and probe) and scored on the
held-out fold of a grouped split, so no speaker / pitch fold / instrument leaks into
testing. Baselines run in the same table: MFCC and log-mel statistics, each
architecture with ``max_epochs=0`` (random-init: every trained row names its
random-init twin, the same encoder and readout untrained), and a supervised CNN (the
same encoder and head trained on the training folds' labels: the upper reference).

Usage (from ``benchmarks/``)::

    python quality.py digits                    # every row, spoken digits
    python quality.py digits --seeds 3 --rows mfcc cnn-random simclr simclr-byol-a
    python quality.py --data-dir ../../shared/data emodb nonverbal --rows mfcc barlow-b4
    SKAUDIO_DATA=~/data python quality.py gm_family --splits 3 --rows mfcc cola simclr
    python quality.py digits --curve simclr --curve-epochs 1 2 4 8 --seeds 2
    python quality.py my_data --folder DIR --sample-rate 16000

Tasks (see ``_tasks.py``): ``digits`` (bundled), and ``gm_family``, ``gm_pitch``,
``emodb``, ``nonverbal``, read from ``--data-dir DIR`` or ``$SKAUDIO_DATA``.
``--folder DIR`` runs on any folder holding a ``metadata.csv`` with columns
``filename`` (relative to DIR), ``label`` and ``group`` (clips of one group, e.g. one
speaker, never span train and test).

Seeds: ``--seeds N`` (seeds ``--seed`` ... ``--seed + N - 1``) or ``--seed-list 0 1 2``;
each row runs every seed (the seed is the embedder's ``random_state`` and seeds the
probe's choice of labelled clips). The table gives, per row, the mean +- std over seeds
of the fold means, the per-seed means, the mean over seeds of the std over folds, the
difference to the random-init twin (paired by seed) and the measured pretraining
seconds per fold; the JSON keeps every seed's folds. ``--batch-size`` and
``--segment-seconds`` override the rows' (a smaller batch: more optimiser steps per
epoch). ``--max-clips N`` keeps a seeded subsample, stratified by (group, class).

Writes ``results/quality_<task>.md`` (the table, the command and the machine) and
``.json`` (``--output NAME`` renames them), and with ``--plots`` PNGs under
``results/plots/``: t-SNE maps and probe confusion matrices of the best self-supervised
row and of the random-init encoder (first seed, last fold's test clips), and the
pretraining loss curves (first seed, first fold).

``--curve ROW --curve-epochs 1 2 4 8`` measures instead the probe accuracy of one row
against its pretraining epochs (one separate fit from scratch per epoch count, seeds as
above) into ``results/quality_<task>_curve.md`` and ``.json`` (+ a PNG with
``--plots``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from _report import format_row, format_summary, run_row, summarise_seeds
from _supervised import SupervisedCNN
from _tasks import TASKS, add_data_arguments, load_folder, load_task
from sklearn.base import clone
from sklearn.model_selection import GroupKFold

from skaudio import (
    COLAEmbedder,
    ContrastiveAudioEmbedder,
    CPCEmbedder,
    LogMelStatistics,
    MFCCStatistics,
    TokenTransformerEmbedder,
    make_byol_a,
)

RESULTS = Path(__file__).resolve().parent / "results"
#: what one seed's spread is, in accuracy points, on these tasks at these budgets
ONE_SEED_NOTE = (
    "One seed: differences under ~5 points (0.05) between rows are inside one seed's "
    "spread; run `--seeds 3` or more to tell them apart."
)


@dataclass
class Row:
    """One row of the table: an embedder (unseeded), what it is, how it is probed.

    ``twin`` names the random-init row with the same encoder and readout (``None``:
    no such row); ``kind`` is ``"ssl"`` (self-supervised), ``"baseline"`` or
    ``"reference"`` (sees labels); ``probe`` holds extra
    :func:`~skaudio.probing.cross_validate_probe` arguments; ``fit_groups`` passes the
    training fold's groups to the embedder's ``fit`` (``groups=``).
    """

    embedder: object
    what: str
    twin: str | None = None
    kind: str = "ssl"
    probe: dict = field(default_factory=dict)
    fit_groups: bool = False


def make_rows(
    sr: int, epochs: int, *, batch_size: int | None = None, segment_seconds: float | None = None
) -> dict[str, Row]:
    """Row name -> :class:`Row`; ``batch_size`` / ``segment_seconds`` override the rows'.

    The embedders carry no ``random_state``: :func:`seeded` sets it per seed. A new row
    is one line: ``"name": Row(contrastive(objective=...), "what, readout 1 band",
    twin="cnn-random")``.
    """
    cnn = dict(sample_rate=sr, segment_seconds=segment_seconds or 0.5, batch_size=batch_size or 128)
    cpc = dict(
        sample_rate=sr,
        segment_seconds=0.32,
        encoder_width=128,
        z_dim=256,
        c_dim=256,
        batch_size=batch_size or 64,
        lr=1e-3,
    )
    tokens = dict(sample_rate=sr, autoencoder_width=256, batch_size=batch_size or 256)

    # every row names its readout and policy: the estimators' defaults (readout_bands
    # "auto", augmentations "waveform") are not the ones the recorded rows ran with
    def cola(**kw):
        return COLAEmbedder(
            **cnn, **{"max_epochs": epochs, "readout_bands": 1, "augmentations": "none", **kw}
        )

    def contrastive(**kw):
        return ContrastiveAudioEmbedder(
            **cnn,
            **{"max_epochs": epochs, "readout_bands": 1, "augmentations": "spectrogram", **kw},
        )

    def cpc_(representation, **kw):
        return CPCEmbedder(
            **cpc, input_representation=representation, **{"max_epochs": epochs, **kw}
        )

    def token(n_tokens, **kw):
        return TokenTransformerEmbedder(**tokens, n_tokens=n_tokens, **{"max_epochs": epochs, **kw})

    b1, b2, b4 = "readout 1 band", "readout 2 bands", "readout 4 bands"
    barlow = dict(objective="barlow_twins", augmentations="byol-a")
    byol_a = make_byol_a().get_params()
    byol_a = {k: v for k, v in byol_a.items() if k not in {*cnn, "max_epochs", "random_state"}}
    labels = {"labels_to_embedder": True}
    base, ref = "baseline", "reference"
    return {
        "mfcc": Row(MFCCStatistics(sample_rate=sr), "MFCC(20) mean+std", kind=base),
        "logmel": Row(LogMelStatistics(sample_rate=sr), "log-mel mean+std", kind=base),
        "cnn-random": Row(cola(max_epochs=0), f"CNN, random init, {b1}", kind=base),
        "cnn-random-b2": Row(
            cola(max_epochs=0, readout_bands=2), f"CNN, random init, {b2}", kind=base
        ),
        "cnn-random-b4": Row(
            cola(max_epochs=0, readout_bands=4), f"CNN, random init, {b4}", kind=base
        ),
        "cnn-random-log-b4": Row(
            cola(max_epochs=0, readout_bands=4, frequency_scale="log"),
            f"CNN on log-frequency bands, random init, {b4}",
            kind=base,
        ),
        "cola": Row(cola(), f"COLA, bilinear, {b1}", "cnn-random"),
        "cola-waveform-b2": Row(
            cola(augmentations="waveform", readout_bands=2),
            f"COLA, segments augmented (waveform policy), {b2}",
            "cnn-random-b2",
        ),
        "cola-speech-b2": Row(
            cola(augmentations="speech", readout_bands=2),
            f"COLA, segments augmented (speech policy), {b2}",
            "cnn-random-b2",
        ),
        "cola-multi": Row(
            cola(frame_weight=1.0, pitch_weight=1.0),
            f"COLA + frame + pitch-shift losses, {b1}",
            "cnn-random",
        ),
        "simclr": Row(
            contrastive(augmentations="spectrogram"),
            f"SimCLR, spectrogram policy, {b1}",
            "cnn-random",
        ),
        "simclr-b2": Row(
            contrastive(augmentations="spectrogram", readout_bands=2),
            f"SimCLR, spectrogram policy, {b2}",
            "cnn-random-b2",
        ),
        "simclr-b4": Row(
            contrastive(augmentations="spectrogram", readout_bands=4),
            f"SimCLR, spectrogram policy, {b4}",
            "cnn-random-b4",
        ),
        "simclr-waveform": Row(
            contrastive(augmentations="waveform"), f"SimCLR, waveform policy, {b1}", "cnn-random"
        ),
        "simclr-waveform-b2": Row(
            contrastive(augmentations="waveform", readout_bands=2),
            f"SimCLR, waveform policy, {b2}",
            "cnn-random-b2",
        ),
        "simclr-speech-b2": Row(
            contrastive(augmentations="speech", readout_bands=2),
            f"SimCLR, speech policy, {b2}",
            "cnn-random-b2",
        ),
        "simclr-pitch-b2": Row(
            contrastive(augmentations="pitch", readout_bands=2),
            f"SimCLR, pitch policy (waveform + random EQ), {b2}",
            "cnn-random-b2",
        ),
        "simclr-pitch-b4": Row(
            contrastive(augmentations="pitch", readout_bands=4),
            f"SimCLR, pitch policy (waveform + random EQ), {b4}",
            "cnn-random-b4",
        ),
        "cola-pitch-b2": Row(
            cola(augmentations="pitch", readout_bands=2),
            f"COLA, segments augmented (pitch policy), {b2}",
            "cnn-random-b2",
        ),
        "simclr-pitch-log-b4": Row(
            contrastive(augmentations="pitch", readout_bands=4, frequency_scale="log"),
            f"SimCLR, pitch policy, log-frequency bands, {b4}",
            "cnn-random-log-b4",
        ),
        "simclr-waveform-log-b4": Row(
            contrastive(augmentations="waveform", readout_bands=4, frequency_scale="log"),
            f"SimCLR, waveform policy, log-frequency bands, {b4}",
            "cnn-random-log-b4",
        ),
        "simclr-pitch-log-equivariance-b4": Row(
            contrastive(
                augmentations="pitch", readout_bands=4, frequency_scale="log", pitch_weight=1.0
            ),
            f"SimCLR, pitch policy + pitch-equivariance term, log-frequency bands, {b4}",
            "cnn-random-log-b4",
        ),
        "cola-pitch-log-b4": Row(
            cola(augmentations="pitch", readout_bands=4, frequency_scale="log"),
            f"COLA, segments augmented (pitch policy), log-frequency bands, {b4}",
            "cnn-random-log-b4",
        ),
        "simclr-waveform-pitch-b2": Row(
            contrastive(augmentations="waveform", readout_bands=2, pitch_weight=1.0),
            f"SimCLR, waveform policy + pitch-equivariance term, {b2}",
            "cnn-random-b2",
        ),
        "byol-a": Row(
            contrastive(**byol_a),
            f"BYOL-A (make_byol_a: BYOL, byol-a policy, dataset normalisation), {b4}",
            "cnn-random-b4",
        ),
        "byol-a-b2": Row(
            contrastive(**{**byol_a, "readout_bands": 2}),
            f"BYOL-A (make_byol_a), {b2}",
            "cnn-random-b2",
        ),
        "byol-waveform-b2": Row(
            contrastive(objective="byol", augmentations="waveform", readout_bands=2),
            f"BYOL, waveform policy, {b2}",
            "cnn-random-b2",
        ),
        "simclr-byol-a": Row(
            contrastive(augmentations="byol-a"), f"SimCLR, byol-a policy, {b1}", "cnn-random"
        ),
        "simclr-byol-a-pitch": Row(
            contrastive(augmentations="byol-a-pitch"),
            f"SimCLR, byol-a-pitch policy (no frequency scaling), {b1}",
            "cnn-random",
        ),
        "barlow": Row(contrastive(**barlow), f"Barlow Twins, byol-a policy, {b1}", "cnn-random"),
        "barlow-b4": Row(
            contrastive(**barlow, readout_bands=4),
            f"Barlow Twins, byol-a policy, {b4}",
            "cnn-random-b4",
        ),
        "vicreg-b4": Row(
            contrastive(objective="vicreg", augmentations="byol-a", readout_bands=4),
            f"VICReg, byol-a policy, {b4}",
            "cnn-random-b4",
        ),
        "cpc-raw-random": Row(
            cpc_("waveform", max_epochs=0), "CPC encoder on waveforms, random init", kind=base
        ),
        "cpc-raw": Row(cpc_("waveform"), "CPC on waveforms, GRU context", "cpc-raw-random"),
        "cpc-raw-group": Row(
            cpc_("waveform", negatives="group"),
            "CPC on waveforms, negatives from the same group (speaker)",
            "cpc-raw-random",
            fit_groups=True,
        ),
        "cpc-raw-channel-random": Row(
            cpc_("waveform", encoder_norm="channel", max_epochs=0),
            "CPC encoder on waveforms, channel norm, random init",
            kind=base,
        ),
        "cpc-raw-channel": Row(
            cpc_("waveform", encoder_norm="channel"),
            "CPC on waveforms, channel norm (CPC_audio's), GRU context",
            "cpc-raw-channel-random",
        ),
        "cpc-raw-group-channel": Row(
            cpc_("waveform", negatives="group", encoder_norm="channel"),
            "CPC on waveforms, channel norm, negatives from the same group (speaker)",
            "cpc-raw-channel-random",
            fit_groups=True,
        ),
        "cpc-mel-random": Row(
            cpc_("logmel", max_epochs=0), "CPC encoder on log-mel, random init", kind=base
        ),
        "cpc-mel": Row(cpc_("logmel"), "CPC on log-mel, GRU context", "cpc-mel-random"),
        "tokens-random": Row(
            token(16, max_epochs=0), "token transformer, 16 tokens, random init", kind=base
        ),
        "tokens-16": Row(token(16), "token transformer, 16 tokens", "tokens-random"),
        "tokens-64-random": Row(
            token(64, max_epochs=0), "token transformer, 64 tokens, random init", kind=base
        ),
        "tokens-64": Row(token(64), "token transformer, 64 tokens", "tokens-64-random"),
        "clar-10%": Row(
            contrastive(supervised_weight=1.0),
            f"CLAR semi-supervised; embedder and probe see 10% of labels, {b1}",
            "cnn-random",
            kind=ref,
            probe={**labels, "label_fraction": 0.1},
        ),
        "supervised-b2": Row(
            SupervisedCNN(
                **cnn,
                max_epochs=epochs,
                supervised_weight=1.0,
                augmentations="waveform",
                readout_bands=2,
            ),
            f"supervised CNN (upper reference), waveform policy, {b2}",
            "cnn-random-b2",
            kind=ref,
            probe=labels,
        ),
        "supervised-log-b4": Row(
            SupervisedCNN(
                **cnn,
                max_epochs=epochs,
                supervised_weight=1.0,
                augmentations="pitch",
                readout_bands=4,
                frequency_scale="log",
            ),
            f"supervised CNN (upper reference), pitch policy, log-frequency bands, {b4}",
            "cnn-random-log-b4",
            kind=ref,
            probe=labels,
        ),
        "supervised": Row(
            SupervisedCNN(
                **cnn,
                max_epochs=epochs,
                supervised_weight=1.0,
                augmentations="spectrogram",
                readout_bands=1,
            ),
            f"supervised CNN (upper reference), {b1}",
            "cnn-random",
            kind=ref,
            probe=labels,
        ),
    }


def seeded(embedder, seed: int):
    """A clone of ``embedder`` with ``random_state=seed`` (if it has one)."""
    embedder = clone(embedder)
    if "random_state" in embedder.get_params():
        embedder.set_params(random_state=seed)
    return embedder


def run_seeds(name: str, row: Row, X, y, groups, cv, seeds: list[int], embedder=None) -> dict:
    """:func:`~_report.summarise_seeds` of ``row`` (or of ``embedder``) over ``seeds``."""
    embedder = embedder or row.embedder
    # no seed reaches a row whose embedder has no random_state and whose probe keeps
    # every label (the probe's random_state only draws the labelled share): run it once
    seedless = "random_state" not in embedder.get_params() and not row.probe.get("label_fraction")
    runs, first = [], None
    for seed in seeds:
        if seedless and first is not None:
            record = {**first}
        else:
            probe = {"random_state": seed, **row.probe}
            if row.fit_groups:
                probe["groups_to_embedder"] = True
            record = run_row(name, seeded(embedder, seed), X, y, groups, cv, **probe)
            first = record
        record["seed"] = seed
        runs.append(record)
        if len(seeds) > 1:
            print(f"  seed {seed}: {format_row(record)}", flush=True)
    return summarise_seeds(name, runs)


def twin_difference(summary: dict, by_name: dict, rows: dict) -> tuple[float, float] | None:
    """Mean and std (over seeds, paired) of the row's accuracy minus its twin's."""
    twin = by_name.get(rows[summary["row"]].twin)
    if twin is None or len(twin["runs"]) != len(summary["runs"]):
        return None
    diff = np.subtract(summary["seed_means"], twin["seed_means"])
    return float(diff.mean()), float(diff.std(ddof=1)) if diff.size > 1 else float("nan")


def machine() -> str:
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, {device}"
    )


def _pm(mean: float, std: float, sign: str = "") -> str:
    return f"{mean:{sign}.3f}" + ("" if math.isnan(std) else f" +- {std:.3f}")


def _serialisable(summary: dict) -> dict:
    """``summary`` without the fitted embedders; ``nan`` (one seed's std) as ``None``."""
    runs = [{k: v for k, v in r.items() if k != "result"} for r in summary["runs"]]
    top = {k: v for k, v in summary.items() if k != "runs"}
    top = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in top.items()}
    return {**top, "runs": runs}


def _write(name: str, lines: list[str], payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    payload = {"command": sys.argv, "machine": machine(), **payload}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2))
    return path


def _preamble(title: str, header: str, seeds: list[int]) -> list[str]:
    return [
        f"# {title}",
        "",
        f"Command (from `benchmarks/`): `python {' '.join(sys.argv)}`  ",
        f"Machine: {machine()}  ",
        header + "  ",
        ONE_SEED_NOTE
        if len(seeds) == 1
        else f"{len(seeds)} seeds ({' '.join(map(str, seeds))}); std over seeds with ddof=1.",
        "",
    ]


def write_table(name: str, header: str, summaries: list[dict], rows: dict, seeds) -> Path:
    """``results/quality_<name>.md`` and ``.json``: one line per row, every seed in JSON."""
    lines = _preamble(f"Linear-probe quality: {name}", header, seeds)
    lines += [
        "| row | what | random-init twin | accuracy (mean +- std over seeds) | per-seed means "
        "| std over folds (mean) | minus twin | pretrain s/fold | dim |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    by_name = {s["row"]: s for s in summaries}
    for s in summaries:
        diff = twin_difference(s, by_name, rows)
        lines.append(
            f"| {s['row']} | {rows[s['row']].what} | {rows[s['row']].twin or ''} | "
            f"{_pm(s['seeds_mean'], s['seeds_std'])} | "
            f"{' '.join(f'{m:.3f}' for m in s['seed_means'])} | {s['fold_std_mean']:.3f} | "
            f"{_pm(*diff, sign='+') if diff else ''} | "
            f"{s['pretrain_seconds_per_fold']:.1f} | {s['embedding_dim']} |"
        )
    payload = {
        "setting": header,
        "seeds": seeds,
        "rows": [
            {
                **_serialisable(s),
                "what": rows[s["row"]].what,
                "twin": rows[s["row"]].twin,
                "kind": rows[s["row"]].kind,
            }
            for s in summaries
        ],
    }
    return _write(f"quality_{name}", lines, payload)


def run_curve(name, row_name, row, X, y, groups, cv, epochs_list, seeds, header, plots) -> None:
    """Probe accuracy of one row against its pretraining epochs, one fit per epoch count."""
    note = (
        f"Curve of `{row_name}` ({row.what}): every epoch count is a separate fit from "
        "scratch (no warm start), so each point is exactly a fit of that many epochs; "
        "0 epochs is the untrained encoder."
    )
    print(note, flush=True)
    points = []
    for epochs in epochs_list:
        embedder = clone(row.embedder).set_params(max_epochs=epochs)
        summary = run_seeds(row_name, row, X, y, groups, cv, seeds, embedder=embedder)
        summary["epochs"] = epochs
        points.append(summary)
        print(f"{epochs:>3} epochs: {format_summary(summary)}", flush=True)
    lines = _preamble(f"Probe accuracy against pretraining epochs: {name}", header, seeds)
    lines += [
        note,
        "",
        "| epochs | accuracy (mean +- std over seeds) | per-seed means | std over folds (mean) "
        "| pretrain s/fold |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p in points:
        lines.append(
            f"| {p['epochs']} | {_pm(p['seeds_mean'], p['seeds_std'])} | "
            f"{' '.join(f'{m:.3f}' for m in p['seed_means'])} | {p['fold_std_mean']:.3f} | "
            f"{p['pretrain_seconds_per_fold']:.1f} |"
        )
    payload = {
        "setting": header,
        "row": row_name,
        "what": row.what,
        "seeds": seeds,
        "note": note,
        "points": [_serialisable(p) for p in points],
    }
    path = _write(f"quality_{name}_curve", lines, payload)
    print(f"wrote {path.relative_to(RESULTS.parent)}", flush=True)
    if plots:
        print(f"wrote {save_curve_plot(name, row_name, points).relative_to(RESULTS.parent)}")


def save_curve_plot(name: str, row_name: str, points: list[dict]) -> Path:
    """Accuracy against epochs; error bars: std over seeds (over folds with one seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [p["epochs"] for p in points]
    means = [p["seeds_mean"] for p in points]
    one_seed = len(points[0]["runs"]) == 1
    errors = [p["fold_std_mean"] if one_seed else p["seeds_std"] for p in points]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(epochs, means, yerr=errors, marker="o", capsize=3)
    ax.set_xlabel("pretraining epochs (separate fits)")
    ax.set_ylabel("probe accuracy")
    ax.set_title(f"{row_name} on {name}; bars: std over {'folds' if one_seed else 'seeds'}")
    fig.tight_layout()
    folder = RESULTS / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"quality_{name}_curve.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def save_plots(name: str, X, y, groups, cv, summaries: list[dict], rows: dict) -> list[Path]:
    """t-SNE and confusion matrix of the best self-supervised row and of the random CNN."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skaudio.plotting import plot_confusion_matrix, plot_embedding, plot_training_curves

    folder = RESULTS / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    by_name = {s["row"]: s for s in summaries}
    ssl = [s for s in summaries if rows[s["row"]].kind == "ssl"]
    shown = [max(ssl, key=lambda s: s["seeds_mean"])] if ssl else []
    shown += [by_name[n] for n in ("cnn-random", "mfcc") if n in by_name]
    _, test = list(cv.split(X, y, groups))[-1]
    paths = []
    if shown:
        fig, axes = plt.subplots(2, len(shown), figsize=(5 * len(shown), 9), squeeze=False)
        for column, summary in enumerate(shown):
            result = summary["runs"][0]["result"]
            embeddings = result.embedders[-1].transform([X[i] for i in test])
            label = f"{summary['row']} ({summary['seeds_mean']:.2f})"
            plot_embedding(embeddings, y[test], ax=axes[0, column], title=f"t-SNE: {label}")
            plot_confusion_matrix(
                y, result.predictions, ax=axes[1, column], title=f"probe, all folds: {label}"
            )
        fig.tight_layout()
        paths.append(folder / f"quality_{name}_tsne_confusion.png")
        fig.savefig(paths[-1], dpi=80)
    trained = {
        s["row"]: s["runs"][0]["result"].embedders[0]
        for s in summaries
        if len(getattr(s["runs"][0]["result"].embedders[0], "history_", ()) or ())
    }
    if trained:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        plot_training_curves(trained, ax=ax, title=f"pretraining loss, first fold ({name})")
        ax.set_yscale("log")
        fig.tight_layout()
        paths.append(folder / f"quality_{name}_loss_curves.png")
        fig.savefig(paths[-1], dpi=80)
    plt.close("all")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="+", help=f"{', '.join(TASKS)} or a name for --folder")
    parser.add_argument("--folder", type=Path, help="a folder with metadata.csv (own data)")
    parser.add_argument("--sample-rate", type=int, default=16000, help="for --folder")
    add_data_arguments(parser)
    parser.add_argument("--rows", nargs="+", default=None, help="default: every row")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=None, help="override the rows'")
    parser.add_argument(
        "--segment-seconds", type=float, default=None, help="override the CNN rows' (0.5 s)"
    )
    parser.add_argument("--splits", type=int, default=None, help="override the task's folds")
    parser.add_argument("--seed", type=int, default=0, help="first seed; seeds --max-clips")
    parser.add_argument("--seeds", type=int, default=1, help="run seeds seed ... seed+N-1")
    parser.add_argument("--seed-list", type=int, nargs="+", default=None, help="these seeds")
    parser.add_argument(
        "--curve",
        metavar="ROW",
        help="accuracy against epochs of one row (instead of the table; --rows is ignored)",
    )
    parser.add_argument("--curve-epochs", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--plots", action="store_true")
    parser.add_argument("--output", help="name of the result files (default: the task's)")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    seeds = args.seed_list or list(range(args.seed, args.seed + args.seeds))

    for task in args.tasks:
        try:
            if args.folder is not None:
                X, y, groups, sr, n_splits = load_folder(
                    args.folder,
                    args.sample_rate,
                    args.splits,
                    max_clips=args.max_clips,
                    random_state=args.seed,
                )
            else:
                X, y, groups, sr, n_splits = load_task(
                    task,
                    args.splits,
                    data_dir=args.data_dir,
                    max_clips=args.max_clips,
                    random_state=args.seed,
                )
        except (ValueError, FileNotFoundError) as error:
            parser.error(str(error))
        rows = make_rows(
            sr, args.epochs, batch_size=args.batch_size, segment_seconds=args.segment_seconds
        )
        chosen = [args.curve] if args.curve else args.rows or list(rows)
        unknown = set(chosen) - set(rows)
        if unknown:
            parser.error(f"unknown rows {sorted(unknown)}; choose from {list(rows)}")
        cv = GroupKFold(n_splits=n_splits)
        overrides = "".join(
            f", {flag} {value}"
            for flag, value in (
                ("batch size", args.batch_size),
                ("segment seconds", args.segment_seconds),
                ("subsample of at most", args.max_clips),
            )
            if value is not None
        )
        header = (
            f"Task {task}: {len(X)} clips, {len(np.unique(y))} classes, "
            f"{len(np.unique(groups))} groups, GroupKFold({n_splits}); probe = StandardScaler + "
            f"LogisticRegression; seeds {' '.join(map(str, seeds))}{overrides}"
            + ("." if args.curve else f"; {args.epochs} pretraining epochs.")
        )
        print(header, flush=True)
        if len(seeds) == 1:
            print(ONE_SEED_NOTE, flush=True)
        name, start = args.output or task, time.perf_counter()
        if args.curve:
            if "max_epochs" not in rows[args.curve].embedder.get_params():
                parser.error(f"row {args.curve!r} is not pretrained: it has no epochs")
            run_curve(
                name,
                args.curve,
                rows[args.curve],
                X,
                y,
                groups,
                cv,
                args.curve_epochs,
                seeds,
                header,
                args.plots,
            )
            print(f"total {time.perf_counter() - start:.0f} s", flush=True)
            continue
        summaries = []
        for row_name in chosen:
            summaries.append(run_seeds(row_name, rows[row_name], X, y, groups, cv, seeds))
            print(format_summary(summaries[-1]), flush=True)
            path = write_table(name, header, summaries, rows, seeds)
        print(f"wrote {path.relative_to(RESULTS.parent)}", flush=True)
        print(f"total {time.perf_counter() - start:.0f} s", flush=True)
        if args.plots:
            for path in save_plots(name, X, y, groups, cv, summaries, rows):
                print(f"wrote {path.relative_to(RESULTS.parent)}", flush=True)


if __name__ == "__main__":
    main()
