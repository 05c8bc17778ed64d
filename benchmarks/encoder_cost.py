"""Pretraining and embedding cost of COLA per encoder and per multi-strategy variant.

COLA's setting: 16 kHz audio, 0.96 s segments, 64 mel bands. The audio is noise
(cost does not depend on content). Prints parameters, pretraining clips/s (median
epoch after the first) and transform clips/s. Usage::

    python benchmarks/encoder_cost.py [--clips 256] [--epochs 3] [--device auto]
"""

from __future__ import annotations

import argparse
import platform

import numpy as np
import torch
from _timing import steady_epoch_seconds, transform_rate

from skaudio import COLAEmbedder

# the settings the recorded results were measured with: the estimators' defaults before 0.2
RECORDED_DEFAULTS = dict(augmentations="none", readout_bands=1)

VARIANTS = [
    ("cnn", {}),
    ("cnn", {"frame_weight": 1.0}),
    ("cnn", {"frame_weight": 1.0, "pitch_weight": 1.0}),
    ("efficientnet_b0", {}),
    ("efficientnet_b0", {"frame_weight": 1.0, "pitch_weight": 1.0}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    sr = 16000
    rng = np.random.default_rng(0)
    clips = 0.1 * rng.standard_normal((args.clips, int(1.5 * sr))).astype(np.float32)
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"threads={torch.get_num_threads()}; {args.clips} clips of 1.5 s at {sr} Hz, "
        f"0.96 s segments, batch {args.batch_size}, {args.epochs} epochs"
    )
    for encoder, weights in VARIANTS:
        embedder = COLAEmbedder(
            sample_rate=sr,
            encoder=encoder,
            batch_size=args.batch_size,
            max_epochs=args.epochs,
            device=args.device,
            random_state=0,
            **RECORDED_DEFAULTS,
            **weights,
        ).fit(clips)
        embed_rate = transform_rate(embedder, clips)
        n_params = sum(p.numel() for p in embedder.net_.module_.encoder.parameters())
        losses = "+".join(["clip"] + [k.split("_")[0] for k in weights])
        print(
            f"{encoder:<16} {losses:<17} encoder {n_params / 1e6:5.2f} M params  "
            f"pretraining {len(clips) / steady_epoch_seconds(embedder.history_):6.1f} clips/s  "
            f"transform {embed_rate:6.1f} clips/s  (device {embedder.device_})",
            flush=True,
        )


if __name__ == "__main__":
    main()
