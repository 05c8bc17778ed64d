"""Share of a training step spent in the log-mel frontend (what caching log-mels would save).

Caching each clip's log-mel once and cropping in the spectrogram domain only saves the
frontend's forward pass; this script measures that pass against a whole two-view
training step (augmentations, encoder forward and backward, optimiser) of
``ContrastiveAudioEmbedder`` at the benchmark settings (0.5 s views, batch 64, the CNN
with a 2-band readout).

Usage::

    python benchmarks/frontend_share.py            # torch's default threads
    OMP_NUM_THREADS=1 python benchmarks/frontend_share.py
"""

from __future__ import annotations

import time

import numpy as np
import torch

from skaudio import ContrastiveAudioEmbedder
from skaudio.losses import NTXentCriterion


def seconds(fn, repeats: int = 10) -> float:
    for _ in range(3):  # warm-up
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def measure(sr: int, policy: str, rng: np.random.Generator) -> tuple[float, float]:
    """Seconds of one training step and of the frontend pass of its two views."""
    clips = [rng.standard_normal(sr // 2).astype(np.float32) for _ in range(64)]
    embedder = ContrastiveAudioEmbedder(
        sample_rate=sr,
        segment_seconds=0.5,
        batch_size=64,
        readout_bands=2,
        augmentations=policy,
        max_epochs=0,
        random_state=0,
    ).fit(clips)
    model = embedder.net_.module_.train()
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    criterion = NTXentCriterion(0.2)
    a, b = torch.randn(64, sr // 2), torch.randn(64, sr // 2)

    def step():
        loss = criterion(model(a, b), None)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def frontend():
        with torch.no_grad():
            model.frontend(torch.cat([a, b]))

    return seconds(step), seconds(frontend)


def main() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for sr, policy in [(8000, "spectrogram"), (16000, "spectrogram"), (8000, "waveform")]:
        full, front = measure(sr, policy, rng)
        print(
            f"{sr} Hz, {policy} policy: training step {full * 1e3:.0f} ms, frontend of both "
            f"views {front * 1e3:.1f} ms ({100 * front / full:.1f}% of the step)"
        )


if __name__ == "__main__":
    main()
