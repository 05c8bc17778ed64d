"""Peak memory of fitting and embedding from files, as the number of files grows.

Generates folders of short WAV files (1 s, 16 kHz, tones in noise) and one long file,
then measures, each in a fresh process (peak RSS = the process's high-water mark):

- ``fit paths``: ``COLAEmbedder.fit(paths)``, one epoch: files read on demand;
- ``fit arrays``: ``fit(check_audio(paths))``: every file loaded first (the in-memory
  way, for comparison);
- ``transform paths``: ``transform(paths)`` with an untrained model;
- ``long file``: ``transform([path])`` of one long file (streamed window by window).

Usage::

    python benchmarks/streaming.py [--sizes 1000 10000] [--long-minutes 1 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from _timing import peak_rss_mb

RATE = 16000
# the settings the recorded results were measured with: the estimators' defaults before 0.2
RECORDED_DEFAULTS = dict(augmentations="none", readout_bands=1)
SETTINGS = dict(
    sample_rate=RATE,
    segment_seconds=0.5,
    n_mels=32,
    embedding_dim=64,
    projection_dim=64,
    batch_size=128,
    max_epochs=1,
    random_state=0,
    **RECORDED_DEFAULTS,
)


def write_folder(folder: Path, n_files: int, seconds: float = 1.0) -> list[Path]:
    """``n_files`` WAV files of tones in noise (16-bit, mono)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * RATE)) / RATE
    paths = []
    for index in range(n_files):
        path = folder / f"clip_{index:05d}.wav"
        if not path.exists():
            tone = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t)
            sf.write(path, tone + 0.05 * rng.standard_normal(t.size), RATE, subtype="PCM_16")
        paths.append(path)
    return paths


def write_long_file(path: Path, minutes: float) -> Path:
    """One long file, written block by block."""
    if not path.exists():
        rng = np.random.default_rng(1)
        with sf.SoundFile(path, "w", RATE, 1, subtype="PCM_16") as file:
            for _ in range(int(minutes * 60)):
                file.write(0.1 * rng.standard_normal(RATE))
    return path


def measure(mode: str, folder: str) -> dict:
    """Run one measurement in this (fresh) process."""
    import torch

    from skaudio import COLAEmbedder
    from skaudio.io import check_audio

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    paths = sorted(Path(folder).glob("*.wav"))
    baseline = peak_rss_mb()  # python, torch and skaudio imported
    start = time.perf_counter()
    if mode == "fit-paths":
        COLAEmbedder(**SETTINGS).fit(paths)
    elif mode == "fit-arrays":
        COLAEmbedder(**SETTINGS).fit(check_audio(paths, sample_rate=RATE))
    else:  # transform-paths, long-file
        embedder = COLAEmbedder(**{**SETTINGS, "max_epochs": 0}).fit(np.zeros((2, RATE)))
        baseline = peak_rss_mb()
        start = time.perf_counter()
        embeddings = embedder.transform(paths)
        assert embeddings.shape == (len(paths), SETTINGS["embedding_dim"])
    seconds = time.perf_counter() - start
    return {"peak_mb": peak_rss_mb(), "baseline_mb": baseline, "seconds": seconds}


def run(mode: str, folder: Path) -> dict:
    command = [sys.executable, __file__, "--measure", mode, str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--long-minutes", type=float, nargs="+", default=[1, 20])
    parser.add_argument("--workdir", type=Path, default=None, help="keep the files here")
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="skaudio-streaming-"))
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"# COLAEmbedder {SETTINGS}; files: 1 s, 16 kHz, 16-bit WAV; in {workdir}")
    print(f"# {'what':<17} {'files':>6} {'audio MB':>9} {'peak RSS MB':>12} "
          f"{'(at start)':>10} {'seconds':>8}")  # fmt: skip
    for size in args.sizes:
        folder = workdir / f"files_{size}"
        write_folder(folder, size)
        audio_mb = size * RATE * 4 / 2**20  # as float32 in memory
        for mode in ("fit-paths", "fit-arrays", "transform-paths"):
            result = run(mode, folder)
            print(
                f"  {mode.replace('-', ' '):<17} {size:>6} {audio_mb:>9.0f} "
                f"{result['peak_mb']:>12.0f} {result['baseline_mb']:>10.0f} "
                f"{result['seconds']:>8.1f}",
                flush=True,
            )
    for minutes in args.long_minutes:
        folder = workdir / f"long_{minutes:g}min"
        folder.mkdir(exist_ok=True)
        write_long_file(folder / "long.wav", minutes)
        result = run("long-file", folder)
        audio_mb = minutes * 60 * RATE * 4 / 2**20
        print(
            f"  {'long file':<17} {f'{minutes:g} min':>6} {audio_mb:>9.0f} "
            f"{result['peak_mb']:>12.0f} {result['baseline_mb']:>10.0f} "
            f"{result['seconds']:>8.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
