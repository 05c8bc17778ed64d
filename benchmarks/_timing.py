"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import time

import numpy as np


def steady_epoch_seconds(history) -> float:
    """Median epoch duration of a skorch history, leaving out the first (warm-up) epoch
    when there are more."""
    durations = list(history[:, "dur"])
    return float(np.median(durations[1:] or durations))


def transform_rate(embedder, clips) -> float:
    """Clips per second of ``embedder.transform(clips)``."""
    start = time.perf_counter()
    embedder.transform(clips)
    return len(clips) / (time.perf_counter() - start)
