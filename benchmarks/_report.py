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

    The dict holds the row's name, probe accuracy (mean, std, per fold), mean
    pretraining seconds per fold, the embedding size, the last epoch's pretext metrics
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
