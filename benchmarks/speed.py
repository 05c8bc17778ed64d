"""Speed of the foundation: log-mel frontend vs librosa, COLA pretraining and embedding.

Prints clips per second on this machine. Usage::

    python benchmarks/speed.py [--clips 1000] [--epochs 3] [--device auto]
"""

from __future__ import annotations

import argparse
import platform
import time

import librosa
import numpy as np
import torch
from _timing import steady_epoch_seconds, transform_rate

from skaudio import COLAEmbedder
from skaudio.datasets import load_spoken_digits
from skaudio.features import LogMelSpectrogram


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    digits = load_spoken_digits()
    sr = digits.sample_rate
    clips = digits.data[: args.clips]
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    print(
        f"machine: {platform.processor() or platform.machine()}, device={device}, "
        f"torch {torch.__version__}, threads={torch.get_num_threads()}"
    )

    one_second = np.stack([librosa.util.fix_length(w, size=sr) for w in clips])
    torch_rate, librosa_rate = frontend_speed(one_second, sr, device)
    print(
        f"log-mel frontend, 1 s clips at {sr} Hz: torch {torch_rate:.0f} clips/s, "
        f"librosa {librosa_rate:.0f} clips/s ({torch_rate / librosa_rate:.1f}x)"
    )

    for segment in (0.5, 1.0):
        embedder = COLAEmbedder(
            sample_rate=sr,
            segment_seconds=segment,
            batch_size=args.batch_size,
            max_epochs=args.epochs,
            device=device,
            random_state=0,
        ).fit(clips)
        durations = embedder.history_[:, "dur"]
        embed_rate = transform_rate(embedder, clips)
        train_rate = len(clips) / steady_epoch_seconds(embedder.history_)
        print(
            f"COLA, {segment} s segments, batch {args.batch_size}: pretraining "
            f"{train_rate:.0f} clips/s (2 segments per clip; epoch "
            f"times {', '.join(f'{d:.1f}' for d in durations)} s), "
            f"transform {embed_rate:.0f} clips/s"
        )


if __name__ == "__main__":
    main()
