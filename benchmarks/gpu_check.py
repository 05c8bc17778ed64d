"""GPU check: skaudio's training against a bare PyTorch loop, busy share, syncs, devices.

For COLA, COLA + frame + pitch, SimCLR (``clar`` policy), CPC and the token
transformer, on synthetic 1 s clips at 16 kHz, in fp32 and bf16, prints:

- one epoch's throughput (clips/s; token windows/s for the token transformer) of
  ``fit`` and of a bare PyTorch loop training the same model with the same criterion,
  data, batch size, optimiser (fused AdamW) and precision in the same process, and
  their ratio (1.0: skaudio costs nothing over the bare loop);
- the GPU's busy share during skaudio's timed epochs, sampled every 0.05 s with
  ``torch.cuda.utilization()`` (NVML) or ``nvidia-smi``;
- the host synchronisations of one training step, skaudio's and the bare loop's (the
  warnings of ``torch.cuda.set_sync_debug_mode("warn")``, by source line; the bare loop
  reads its loss, one sync, as every loop does);
- ``transform`` on CUDA against the same model on the CPU: the largest absolute
  difference, with the default flags and in strict fp32 (no TF32);
- a model saved (joblib) on CUDA, loaded and embedded in a process that sees no GPU:
  whether it embeds as the CUDA-trained model does on a CPU in this process.

About 4 minutes on one H200 at the defaults. Without CUDA it says so and exits 0.

Usage::

    python benchmarks/gpu_check.py [--clips 1024] [--epochs 3] [--batch-size 128]
        [--rows cola cola+frame+pitch simclr-clar cpc tokens] [--precisions fp32 bf16]
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from functools import partial
from pathlib import Path

import numpy as np
import torch

ROWS = ("cola", "cola+frame+pitch", "simclr-clar", "cpc", "tokens")
SR = 16000


# -- helpers (tested on the CPU in tests/test_precision.py) ---------------------------------
def gpu_reader(index: int = 0):
    """A function returning the GPU's utilisation in percent, or None when none can be read."""
    try:
        torch.cuda.utilization(index)
        return lambda: float(torch.cuda.utilization(index))
    except Exception:  # no pynvml / NVML: try nvidia-smi
        pass
    if shutil.which("nvidia-smi") is None:
        return None
    command = [
        "nvidia-smi",
        "--query-gpu=utilization.gpu",
        "--format=csv,noheader,nounits",
        f"--id={index}",
    ]

    def read():
        try:
            return float(subprocess.run(command, capture_output=True, text=True).stdout.strip())
        except (OSError, ValueError):
            return None

    return read


class BusySampler:
    """Sample ``read()`` every ``period`` seconds in a thread while the block runs.

    ``samples`` holds ``(time, percent)`` pairs; ``read`` returning None is skipped and
    raising ``StopIteration`` ends the sampling.
    """

    def __init__(self, read, period: float = 0.05) -> None:
        self.read = read
        self.period = period
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                value = self.read()
            except StopIteration:
                return
            if value is not None:
                self.samples.append((time.perf_counter(), value))
            self._stop.wait(self.period)

    def __enter__(self):
        if self.read is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def since(self, start: float) -> list[float]:
        """The percentages sampled from ``start`` (a ``time.perf_counter()``) on."""
        return [value for t, value in self.samples if t >= start]

    @staticmethod
    def share(samples: list[float]) -> float | None:
        """Mean busy share (0 to 1) of percentage samples; None without samples."""
        return float(np.mean(samples)) / 100 if samples else None


def summarize_syncs(records) -> list[tuple[str, int]]:
    """``(file, line, message)`` records -> ``(file:line, count)``, most frequent first."""
    counts = Counter(f"{file}:{line}" for file, line, _ in records)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def count_syncs(step) -> list[tuple[str, int, str]]:
    """Run ``step()`` under ``torch.cuda.set_sync_debug_mode("warn")``; the syncs it made."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            step()
        finally:
            torch.cuda.set_sync_debug_mode(0)
    return [
        (Path(w.filename).name, w.lineno, str(w.message).splitlines()[0])
        for w in caught
        if "synchroniz" in str(w.message)
    ]


def training_data(embedder, clips):
    """What one more epoch of ``embedder`` iterates over (the tokens' windows for tokens)."""
    from skaudio.clips import as_clips

    clips = as_clips(clips, sample_rate=embedder.sample_rate)
    return embedder._continue_dataset(clips, None, np.random.default_rng(0))


def bare_step(model, criterion, optimizer, batch, device: str, precision: str) -> float:
    """One step of a plain PyTorch loop: copy, forward, loss, backward, step, read the loss."""
    from skaudio._torch_utils import autocast

    X, y = batch
    X = {key: value.to(device, non_blocking=True) for key, value in X.items()}
    y = y.to(device, non_blocking=True) if isinstance(y, torch.Tensor) else y
    with autocast(device, precision):
        output = model(**X)
    loss = criterion(output, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def bare_setup(embedder, clips, device: str):
    """A copy of the fitted model and criterion, a fused AdamW, the loader of the same data."""
    from torch.utils.data import DataLoader

    model = copy.deepcopy(embedder.net_.module_).to(device).train()
    criterion = copy.deepcopy(embedder.net_.criterion_).to(device)
    cuda = device.startswith("cuda")
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=embedder.lr,
        weight_decay=embedder.weight_decay,
        **({"fused": True} if cuda else {}),
    )
    dataset = training_data(embedder, clips)
    loader = DataLoader(dataset, batch_size=embedder.batch_size, shuffle=True, pin_memory=cuda)
    return model, criterion, optimizer, loader


def bare_epoch(embedder, clips, device: str, precision: str, epochs: int = 1):
    """Median seconds of ``epochs`` bare-loop epochs (the first left out when more), items."""
    model, criterion, optimizer, loader = bare_setup(embedder, clips, device)
    durations = []
    for _ in range(epochs):
        start = time.perf_counter()
        for batch in loader:
            bare_step(model, criterion, optimizer, batch, device, precision)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        durations.append(time.perf_counter() - start)
    steady = durations[1:] or durations
    return float(np.median(steady)), len(loader.dataset)


# -- the check ------------------------------------------------------------------------------
#: much smaller models for a dry run of the script on the CPU (``--device cpu --tiny``)
TINY = {
    "common": dict(n_mels=16),
    "two-view": dict(embedding_dim=16, projection_dim=16, segment_seconds=0.25),
    "cpc": dict(encoder_width=16, z_dim=16, c_dim=16, n_predict=2, segment_seconds=0.25),
    "tokens": dict(autoencoder_width=16, autoencoder_layers=1, n_tokens=8, d_model=16),
}


def make_embedder(
    name: str, batch_size: int, epochs: int, precision: str, device: str = "cuda", tiny=False
):
    """The row's embedder: small but realistic settings (or tiny ones for a dry run)."""
    from skaudio import (
        COLAEmbedder,
        ContrastiveAudioEmbedder,
        CPCEmbedder,
        TokenTransformerEmbedder,
    )

    common = dict(
        sample_rate=SR,
        batch_size=batch_size,
        max_epochs=epochs,
        device=device,
        precision=precision,
        random_state=0,
        **(TINY["common"] if tiny else {}),
    )
    two_view = TINY["two-view"] if tiny else {}
    if name == "cola":
        return COLAEmbedder(**common, **two_view)
    if name == "cola+frame+pitch":
        return COLAEmbedder(**common, **two_view, frame_weight=1.0, pitch_weight=1.0)
    if name == "simclr-clar":
        return ContrastiveAudioEmbedder(**common, **two_view, augmentations="clar")
    if name == "cpc":
        # full size: the paper's encoder and context (the estimator's defaults are sized for a CPU)
        paper = {"segment_seconds": 0.96, "encoder_width": 512, "c_dim": 512, "lr": 2e-4}
        return CPCEmbedder(**common, **(TINY["cpc"] if tiny else paper))
    if name == "tokens":
        tokens = TINY["tokens"] if tiny else {"n_tokens": 64}
        return TokenTransformerEmbedder(**{**common, "batch_size": 256}, **tokens)
    raise ValueError(f"unknown row {name!r}; choose from {ROWS}")


def skaudio_step(embedder, clips):
    """One training step of the fitted net, as skorch runs it (and reads its loss)."""
    net = embedder.net_
    batch = next(iter(net.get_iterator(training_data(embedder, clips), training=True)))

    def step():
        net.train_step(batch)["loss"].item()

    return step


def check_row(name: str, precision: str, clips, args, reader, saved: Path) -> dict:
    """Fit one row at one precision and measure it; its model is saved under ``saved``."""
    device = args.device
    embedder = make_embedder(
        name, args.batch_size, 1 + args.epochs, precision, device=device, tiny=args.tiny
    )
    with BusySampler(reader) as sampler:
        embedder.fit(clips)
        end = time.perf_counter()
    durations = list(embedder.history_[:, "dur"])[1:]
    seconds, items = bare_epoch(embedder, clips, device, embedder.precision_, 1 + args.epochs)
    ours, bare_rate = items / float(np.median(durations)), items / seconds
    busy = BusySampler.share(sampler.since(end - sum(durations)))

    step = skaudio_step(embedder, clips)
    step()  # warm
    model, criterion, optimizer, loader = bare_setup(embedder, clips, device)
    batch = next(iter(loader))
    bare = partial(bare_step, model, criterion, optimizer, batch, device, embedder.precision_)
    bare()  # warm
    ours_syncs = bare_syncs = None  # counted on CUDA only
    if device.startswith("cuda"):
        ours_syncs = summarize_syncs(count_syncs(step))
        bare_syncs = summarize_syncs(count_syncs(bare))

    probe = clips[: args.probe]
    on_gpu = embedder.transform(probe)
    flags = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        strict = embedder.transform(probe)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags
    import joblib

    path = saved / f"{name}-{precision}.joblib"
    joblib.dump(embedder, path)
    on_cpu = copy.deepcopy(embedder)
    on_cpu.net_.module_.cpu()
    on_cpu.net_.device = "cpu"
    here = on_cpu.transform(probe)
    np.save(path.with_suffix(".here.npy"), here)
    return {
        "name": name,
        "precision": embedder.precision_,
        "ours": ours,
        "bare": bare_rate,
        "busy": busy,
        "ours_syncs": ours_syncs,
        "bare_syncs": bare_syncs,
        "diff_default": float(np.abs(on_gpu - here).max()),
        "diff_strict": float(np.abs(strict - here).max()),
        "scale": float(np.abs(here).max()),
        "path": path,
    }


def embed_on_cpu(folder: Path, n_probe: int, n_clips: int) -> None:
    """In a process without a GPU: load every saved model, embed, save the embeddings."""
    import joblib

    assert not torch.cuda.is_available()
    probe = synthetic_clips(n_clips)[:n_probe]
    for path in sorted(folder.glob("*.joblib")):
        embedder = joblib.load(path)
        devices = {str(p.device) for p in embedder.net_.module_.parameters()}
        assert devices == {"cpu"}, devices
        np.save(path.with_suffix(".loaded.npy"), embedder.transform(probe))


def synthetic_clips(n_clips: int) -> list[np.ndarray]:
    from skaudio.datasets import make_tones

    clips, _ = make_tones(n_clips=n_clips, sample_rate=SR, duration=(1.0, 1.0), random_state=0)
    return clips


def _syncs(syncs) -> str:
    if syncs is None:
        return "n/a"
    total = sum(count for _, count in syncs)
    where = ", ".join(f"{place} x{count}" for place, count in syncs[:6])
    return f"{total}" + (f" ({where}{', ...' if len(syncs) > 6 else ''})" if syncs else "")


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs, after one warm-up")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--probe", type=int, default=64, help="clips embedded on both devices")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--embed-on-cpu", type=Path, help=argparse.SUPPRESS)
    # a dry run on the CPU (no syncs, no busy share), for the tests of this script
    parser.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    if args.embed_on_cpu is not None:
        embed_on_cpu(args.embed_on_cpu, args.probe, args.clips)
        return 0
    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        print(
            f"gpu_check: CUDA is not available (torch {torch.__version__}, "
            f"CUDA build: {torch.version.cuda or 'none'}): nothing to check here. Run it on "
            "a machine with an NVIDIA GPU and a CUDA build of torch."
        )
        return 0
    start = time.perf_counter()
    reader = gpu_reader(torch.cuda.current_device()) if cuda else None
    clips = synthetic_clips(args.clips)
    where = torch.cuda.get_device_name() if cuda else f"{args.device} (dry run)"
    print(
        f"gpu_check: {where}, torch {torch.__version__} (CUDA "
        f"{torch.version.cuda}), {len(clips)} synthetic 1 s clips at {SR} Hz, batch "
        f"{args.batch_size}, {args.epochs} timed epochs after 1 warm-up; busy share from "
        f"{'NVML/nvidia-smi' if reader else 'nothing (no NVML, no nvidia-smi)'}",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder)
        print(
            "| row | precision | skaudio items/s | bare loop items/s | ratio | GPU busy | "
            "syncs per step: skaudio | bare loop |\n| --- | --- | --- | --- | --- | --- | "
            "--- | --- |",
            flush=True,
        )
        for name in args.rows:
            for precision in args.precisions:
                row = check_row(name, precision, clips, args, reader, saved)
                results.append(row)
                busy = "n/a" if row["busy"] is None else f"{row['busy']:.0%}"
                print(
                    f"| {name} | {row['precision']} | {row['ours']:.0f} | {row['bare']:.0f} | "
                    f"{row['ours'] / row['bare']:.2f} | {busy} | {_syncs(row['ours_syncs'])} | "
                    f"{_syncs(row['bare_syncs'])} |",
                    flush=True,
                )
        command = [
            sys.executable,
            __file__,
            "--embed-on-cpu",
            folder,
            "--probe",
            str(args.probe),
            "--clips",
            str(args.clips),
        ]
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
        loaded = subprocess.run(command, env=env, capture_output=True, text=True)
        if loaded.returncode:
            print(f"loading on a CPU-only process failed:\n{loaded.stderr[-3000:]}")
        print(
            "\n| row | precision | max abs diff CUDA vs CPU (default flags) | (strict fp32) "
            "| max abs embedding | saved on CUDA, loaded in a CPU-only process: equal |\n"
            "| --- | --- | --- | --- | --- | --- |"
        )
        for row in results:
            path = row["path"]
            here = np.load(path.with_suffix(".here.npy"))
            other = path.with_suffix(".loaded.npy")
            if other.exists():
                cpu = np.load(other)
                equal = f"{np.array_equal(cpu, here)} (max diff {np.abs(cpu - here).max():.2g})"
            else:
                equal = "not run"
            print(
                f"| {row['name']} | {row['precision']} | {row['diff_default']:.2g} | "
                f"{row['diff_strict']:.2g} | {row['scale']:.3g} | {equal} |"
            )
    print(f"\ngpu_check: done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
