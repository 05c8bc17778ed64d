"""One row of a probe table: cross-validate an embedder and summarise it (shared by the scripts)."""

from __future__ import annotations

import numpy as np

from skaudio.probing import ProbeResult, cross_validate_probe

#: per-epoch history keys worth printing next to a row (last epoch of the first fold)
PRETEXT_KEYS = (
    "train_loss",
    "train_pretext_acc",
    "train_frame_acc",
    "train_pitch_loss",
    "train_step1_acc",
)


def run_row(name: str, embedder, X, y, groups, cv, **probe_kwargs) -> dict:
    """Cross-validate ``embedder`` with the linear probe; the row's numbers as a dict.

    The dict holds the row's name, probe accuracy (mean, std, per fold), pretraining
    seconds (mean per fold, and per fold), the embedding size, the last epoch's pretext metrics
    of the first fold, and the :class:`~skaudio.probing.ProbeResult` itself under
    ``"result"`` (not serialisable: drop it before writing JSON).
    """
    result: ProbeResult = cross_validate_probe(embedder, X, y, groups, cv, **probe_kwargs)
    first = result.embedders[0]
    history = getattr(first, "history_", None)
    last = history[-1] if history is not None and len(history) else {}
    return {
        "row": name,
        "accuracy_mean": result.mean,
        "accuracy_std": result.std,
        "accuracy_folds": [round(float(s), 4) for s in result.scores],
        "pretrain_seconds_per_fold": float(np.mean(result.fit_seconds)),
        "pretrain_seconds_folds": [round(float(t), 3) for t in result.fit_seconds],
        "embedding_dim": len(first.get_feature_names_out()),
        "pretext": {k: round(float(last[k]), 4) for k in PRETEXT_KEYS if k in last},
        "result": result,
    }


def format_row(record: dict, width: int = 24) -> str:
    """``name  mean +- std (folds ...)  pretrain N s/fold, dim D, pretext metrics``."""
    folds = " ".join(f"{s:.2f}" for s in record["accuracy_folds"])
    pretext = "".join(f", {k[6:]} {v:.2f}" for k, v in record["pretext"].items())
    return (
        f"{record['row']:<{width}} {record['accuracy_mean']:.3f} +- "
        f"{record['accuracy_std']:.3f} (folds {folds})  pretrain "
        f"{record['pretrain_seconds_per_fold']:.0f} s/fold, dim {record['embedding_dim']}{pretext}"
    )


def summarise_seeds(name: str, runs: list[dict]) -> dict:
    """One row over several seeds: ``runs`` are :func:`run_row` dicts, one per seed.

    Returns the row's name, the mean and the standard deviation over seeds of the fold
    means (``ddof=1``; ``nan`` with one seed), the per-seed means, the mean over seeds
    of the standard deviation over folds, the mean pretraining seconds per fold, the
    embedding size, and the runs themselves under ``"runs"``.
    """
    means = np.array([r["accuracy_mean"] for r in runs])
    return {
        "row": name,
        "seeds_mean": float(means.mean()),
        "seeds_std": float(means.std(ddof=1)) if len(means) > 1 else float("nan"),
        "seed_means": [round(float(m), 4) for m in means],
        "fold_std_mean": float(np.mean([r["accuracy_std"] for r in runs])),
        "pretrain_seconds_per_fold": float(np.mean([r["pretrain_seconds_per_fold"] for r in runs])),
        "embedding_dim": runs[0]["embedding_dim"],
        "runs": runs,
    }


def format_summary(summary: dict, width: int = 24) -> str:
    """``name  mean +- std over seeds (seeds ...), fold std S, pretrain N s/fold, dim D``."""
    seeds = " ".join(f"{m:.3f}" for m in summary["seed_means"])
    spread = "" if np.isnan(summary["seeds_std"]) else f" +- {summary['seeds_std']:.3f}"
    return (
        f"{summary['row']:<{width}} {summary['seeds_mean']:.3f}{spread} "
        f"over seeds (seeds {seeds}), fold std {summary['fold_std_mean']:.3f}, pretrain "
        f"{summary['pretrain_seconds_per_fold']:.0f} s/fold, dim {summary['embedding_dim']}"
    )
