"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import resource
import time
from pathlib import Path

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


def reset_peak_rss() -> None:
    """Restart the process's peak-RSS counter (Linux); elsewhere the peak is since start."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB since start or the last reset (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
