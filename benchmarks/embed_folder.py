"""Throughput and resume of ``skaudio.folder.embed_folder`` on a folder of generated WAV files.

Generates ``--n-files`` clips (tones plus noise, 16-bit WAV, in subfolders of 100; 1% are
corrupt: random bytes under a .wav name) in a temporary folder, fits and saves a small
COLAEmbedder (``--epochs``, untrained by default: the speed does not depend on it), then
prints, on this machine:

- files/s of ``embed_folder`` with ``n_jobs=1`` (one process, torch's own threads) and
  ``n_jobs=2`` (two loky processes of one thread each), cold (starting the workers,
  which import torch and load the model) and warm (the same workers again);
- resume: the same job run in a subprocess, killed with SIGKILL once some shards are
  written, then run again: shards found done after the kill, shards skipped and computed
  by the rerun, and whether the final index and embeddings equal the uninterrupted run's.

Usage::

    python benchmarks/embed_folder.py [--n-files 2000] [--shard-size 100] [--seconds 1.0]
        [--sample-rate 16000] [--epochs 0] [--kill-after 0.3]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import soundfile as sf
import torch

from skaudio import COLAEmbedder
from skaudio.folder import embed_folder, load_folder_embeddings

# the settings the recorded results were measured with: the estimators' defaults before 0.2
RECORDED_DEFAULTS = dict(augmentations="none", readout_bands=1)


def make_folder(root: Path, n_files: int, seconds: float, sr: int, seed: int = 0) -> int:
    """Write ``n_files`` clips under ``root``; returns how many are corrupt."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sr)
    t = np.arange(n) / sr
    n_corrupt = 0
    for i in range(n_files):
        path = root / f"part-{i // 100:03d}" / f"clip-{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        if rng.random() < 0.01:
            path.write_bytes(rng.bytes(2000))
            n_corrupt += 1
            continue
        tone = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t + rng.uniform(0, 2 * np.pi))
        sf.write(path, tone + 0.05 * rng.standard_normal(n), sr, subtype="PCM_16")
    return n_corrupt


def fit_model(path: Path, sr: int, epochs: int) -> None:
    rng = np.random.default_rng(1)
    clips = [0.1 * rng.standard_normal(sr).astype(np.float32) for _ in range(64)]
    embedder = COLAEmbedder(sample_rate=sr, max_epochs=epochs, random_state=0, **RECORDED_DEFAULTS)
    joblib.dump(embedder.fit(clips), path)


def timed(model: Path, folder: Path, out: Path, shard_size: int, n_jobs: int) -> str:
    result = embed_folder(model, folder, out, shard_size=shard_size, n_jobs=n_jobs)
    return (
        f"{result.n_files_computed / result.seconds:.0f} files/s "
        f"({result.n_embedded} embedded, {result.n_errors} errors, {result.seconds:.1f} s)"
    )


def done_shards(out: Path) -> list[Path]:
    shards = out / "shards"
    return [p for p in shards.glob("shard-*.csv") if not p.name.endswith(".errors.csv")]


def complete_after_kill(out: Path) -> tuple[int, int]:
    """(shards whose .npy holds as many rows as their .csv lists, temporary files left)."""
    good = 0
    for csv_file in done_shards(out):
        rows = len(csv_file.read_text().splitlines()) - 1
        good += len(np.load(csv_file.with_suffix(".npy"))) == rows
    return good, len(list((out / "shards").glob(".*.tmp")))


def resume_demo(model: Path, folder: Path, out: Path, args, reference: Path) -> None:
    n_shards = -(-args.n_files // args.shard_size)
    kill_at = max(1, round(args.kill_after * n_shards))
    command = [sys.executable, __file__, "--child", str(model), str(folder), str(out)]
    child = subprocess.Popen(
        [*command, "--shard-size", str(args.shard_size)],
        start_new_session=True,  # its own process group: the kill takes its workers too
    )
    while child.poll() is None and (
        not (out / "shards").is_dir() or len(done_shards(out)) < kill_at
    ):
        time.sleep(0.02)
    if child.poll() is not None:
        print(f"resume: the job finished before the kill; use more --n-files (rc={child.poll()})")
        return
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    found = len(done_shards(out))
    good, temporary = complete_after_kill(out)
    print(
        f"resume: killed (SIGKILL) with {found}/{n_shards} shards done "
        f"({good} complete and readable, {temporary} temporary files left), "
        f"index.csv written: {(out / 'index.csv').exists()}"
    )
    result = embed_folder(model, folder, out, shard_size=args.shard_size, n_jobs=2)
    paths, embeddings = load_folder_embeddings(out)
    ref_paths, ref_embeddings = load_folder_embeddings(reference)
    same_index = (out / "index.csv").read_text() == (reference / "index.csv").read_text()
    same_errors = (out / "errors.csv").read_text() == (reference / "errors.csv").read_text()
    difference = float(np.abs(embeddings - ref_embeddings).max()) if paths == ref_paths else None
    print(
        f"resume: rerun skipped {result.n_shards_skipped} shards, computed "
        f"{result.n_shards_computed} ({result.n_files_computed} files, {result.seconds:.1f} s); "
        f"{result.n_embedded} embedded + {result.n_errors} errors = {result.n_files} files; "
        f"index equal to the uninterrupted run: {same_index}, errors equal: {same_errors}, "
        f"max |embedding difference|: {difference}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-files", type=int, default=2000)
    parser.add_argument("--shard-size", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=1.0, help="length of each clip")
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--epochs", type=int, default=0, help="pretraining epochs of the model")
    parser.add_argument(
        "--kill-after", type=float, default=0.3, help="share of the shards done at the kill"
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("MODEL", "FOLDER", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:  # the job that the resume demonstration kills
        model, folder, out = args.child
        embed_folder(model, folder, out, shard_size=args.shard_size, n_jobs=2)
        return

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads; "
        f"{args.n_files} files of {args.seconds} s at {args.sample_rate} Hz, "
        f"shards of {args.shard_size}, COLAEmbedder (cnn, 512-d, {args.epochs} epochs)",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        n_corrupt = make_folder(tmp / "audio", args.n_files, args.seconds, args.sample_rate)
        fit_model(tmp / "model.joblib", args.sample_rate, args.epochs)
        print(
            f"generated {args.n_files} files ({n_corrupt} corrupt) and the model in "
            f"{time.perf_counter() - start:.1f} s",
            flush=True,
        )
        common = (tmp / "model.joblib", tmp / "audio")
        print(f"n_jobs=1: {timed(*common, tmp / 'one', args.shard_size, 1)}", flush=True)
        print(f"n_jobs=2, cold: {timed(*common, tmp / 'cold', args.shard_size, 2)}", flush=True)
        print(f"n_jobs=2, warm: {timed(*common, tmp / 'warm', args.shard_size, 2)}", flush=True)
        resume_demo(*common, tmp / "killed", args, reference=tmp / "one")


if __name__ == "__main__":
    main()
