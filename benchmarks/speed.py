"""Speed and cost of every embedder: pretraining, embedding, memory, and our loop's overhead.

Prints, on this machine (spoken digits, 0.5 s segments):

- the log-mel frontend: torch module vs librosa, clips/s;
- per embedder: pretraining clips/s through skorch, the same model, criterion, data
  and batch size trained by a bare PyTorch loop, and their ratio (the overhead of our
  training loop; 1.0 means none); the share of the bare loop's time spent waiting for
  the next batch (input-bound if large); ``transform`` clips/s at the embedder's batch
  size and the peak resident memory of the process during ``transform``.

Usage::

    python benchmarks/speed.py [--clips 1000] [--epochs 3] [--device auto]
        [--rows cola simclr cpc tokens]
"""

from __future__ import annotations

import argparse
import platform
import time

import librosa
import numpy as np
import torch
from _timing import peak_rss_mb, reset_peak_rss, steady_epoch_seconds, transform_rate
from torch.utils.data import DataLoader

from skaudio import COLAEmbedder, ContrastiveAudioEmbedder, CPCEmbedder, TokenTransformerEmbedder
from skaudio._torch_utils import seeded
from skaudio.datasets import load_spoken_digits
from skaudio.features import LogMelSpectrogram

# the settings the recorded results were measured with: the estimators' defaults before 0.2
RECORDED_COLA = dict(augmentations="none", readout_bands=1)
RECORDED_SIMCLR = dict(augmentations="spectrogram", readout_bands=1)


def frontend_speed(waves: np.ndarray, sr: int, device: str) -> tuple[float, float]:
    """Clips/s of the torch frontend (batches of 256) and of librosa (one clip at a time)."""
    frontend = LogMelSpectrogram(sr).to(device)
    batch = torch.from_numpy(waves).to(device)
    with torch.inference_mode():
        frontend(batch[:256])  # warm-up
        start = time.perf_counter()
        for i in range(0, len(batch), 256):
            frontend(batch[i : i + 256])
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        torch_rate = len(batch) / (time.perf_counter() - start)
    n = min(300, len(waves))
    start = time.perf_counter()
    for w in waves[:n]:
        mel = librosa.feature.melspectrogram(
            y=w,
            sr=sr,
            n_fft=frontend.n_fft,
            hop_length=frontend.hop_length,
            win_length=frontend.win_length,
            n_mels=frontend.n_mels,
            pad_mode="constant",
        )
        librosa.power_to_db(mel, top_db=80.0)
    librosa_rate = n / (time.perf_counter() - start)
    return torch_rate, librosa_rate


def make_rows(sr: int, batch_size: int, epochs: int, device: str) -> dict:
    common = dict(sample_rate=sr, max_epochs=epochs, device=device, random_state=0)
    return {
        "cola": COLAEmbedder(**common, **RECORDED_COLA, segment_seconds=0.5, batch_size=batch_size),
        "cola-multi": COLAEmbedder(
            **common,
            **RECORDED_COLA,
            segment_seconds=0.5,
            batch_size=batch_size,
            frame_weight=1.0,
            pitch_weight=1.0,
        ),
        "simclr": ContrastiveAudioEmbedder(
            **common, **RECORDED_SIMCLR, segment_seconds=0.5, batch_size=batch_size
        ),
        "cpc": CPCEmbedder(
            **common,
            segment_seconds=0.32,
            encoder_width=128,
            z_dim=256,
            c_dim=256,
            batch_size=64,
        ),
        "tokens": TokenTransformerEmbedder(
            **common, n_tokens=64, autoencoder_width=256, batch_size=256
        ),
    }


def bare_loop(embedder, waveforms: list, epochs: int) -> tuple[float, float]:
    """Steady epoch seconds of the embedder's model trained by a plain PyTorch loop,
    and the share of that time spent waiting for batches.

    Same model, criterion, dataset, batch size, optimiser and device as ``fit``; the loop
    does what any training loop does (forward, loss, backward, step, read the loss) and
    nothing else.
    """
    device = embedder.device_
    with seeded(0, device):
        model = embedder._build_model().to(device)
        criterion = embedder._build_criterion()
    dataset = embedder._training_dataset(waveforms, None, np.random.default_rng(0))
    loader = DataLoader(dataset, batch_size=embedder.batch_size, shuffle=True)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=embedder.lr, weight_decay=embedder.weight_decay
    )
    model.train()
    durations, waits = [], []
    for _ in range(epochs):
        start = time.perf_counter()
        waited = 0.0
        batches = iter(loader)
        while True:
            fetch = time.perf_counter()
            try:
                X, y = next(batches)
            except StopIteration:
                break
            waited += time.perf_counter() - fetch
            X = {k: v.to(device) for k, v in X.items()} if isinstance(X, dict) else X.to(device)
            y_pred = model(**X) if isinstance(X, dict) else model(X)
            loss = criterion(y_pred, y.to(device))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            loss.item()
        durations.append(time.perf_counter() - start)
        waits.append(waited)
    steady = slice(1, None) if epochs > 1 else slice(None)
    return float(np.median(durations[steady])), float(
        np.sum(waits[steady]) / np.sum(durations[steady])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--rows", nargs="+", default=["cola", "cola-multi", "simclr", "cpc", "tokens"]
    )
    parser.add_argument("--skip-frontend", action="store_true")
    args = parser.parse_args()

    digits = load_spoken_digits()
    sr = digits.sample_rate
    clips = digits.data[: args.clips]
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    gpu = f", {torch.cuda.get_device_name()}" if device.startswith("cuda") else ""
    print(
        f"machine: {platform.processor() or platform.machine()}, device={device}{gpu}, "
        f"torch {torch.__version__}, threads={torch.get_num_threads()}; "
        f"{len(clips)} spoken digits at {sr} Hz, {args.epochs} epochs (first left out)",
        flush=True,
    )

    if not args.skip_frontend:
        one_second = np.stack([librosa.util.fix_length(w, size=sr) for w in clips])
        torch_rate, librosa_rate = frontend_speed(one_second, sr, device)
        print(
            f"log-mel frontend, 1 s clips: torch {torch_rate:.0f} clips/s, "
            f"librosa {librosa_rate:.0f} clips/s ({torch_rate / librosa_rate:.1f}x)",
            flush=True,
        )

    rows = make_rows(sr, args.batch_size, args.epochs, device)
    print(
        "| embedder | pretrain clips/s (skaudio) | bare PyTorch loop clips/s | ratio | "
        "waiting for data | transform clips/s | peak RSS in transform |\n"
        "| --- | --- | --- | --- | --- | --- | --- |",
        flush=True,
    )
    for name in args.rows:
        embedder = rows[name].fit(clips)
        ours = len(clips) / steady_epoch_seconds(embedder.history_)
        if name == "tokens":  # three stages (autoencoder, k-means, transformer): no single loop
            bare, ratio, waiting = "-", "-", "-"
        else:
            seconds, wait_share = bare_loop(embedder, list(clips), args.epochs)
            bare_rate = len(clips) / seconds
            bare, ratio, waiting = (
                f"{bare_rate:.0f}",
                f"{ours / bare_rate:.2f}",
                f"{wait_share:.0%}",
            )
        reset_peak_rss()
        before = peak_rss_mb()
        rate = transform_rate(embedder, clips)
        peak = peak_rss_mb()
        print(
            f"| {name} | {ours:.0f} | {bare} | {ratio} | {waiting} | {rate:.0f} | "
            f"{peak:.0f} MiB (+{peak - before:.0f}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
