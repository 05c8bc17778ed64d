"""Throughput of every augmentation, and whether pretraining is augmentation-bound.

Usage::

    python benchmarks/augment_speed.py [--device cpu] [--batch 128] [--seconds 0.5] [--sr 8000]
"""

from __future__ import annotations

import argparse
import time

import torch
from _timing import steady_epoch_seconds

from skaudio import ContrastiveAudioEmbedder
from skaudio import augment as A
from skaudio.datasets import load_spoken_digits
from skaudio.features import LogMelSpectrogram

# the readout the recorded results were measured with: the estimator's default before 0.2
# (each row sets its own augmentations)
RECORDED_DEFAULTS = dict(readout_bands=1)

WAVEFORM = [
    A.Gain(),
    A.Fade(),
    A.NoiseInjection(colour="white"),
    A.NoiseInjection(colour="pink"),
    A.TimeMask(),
    A.TimeShift(),
    A.TimeStretch(),
    A.PitchShift(),
]
SPECTROGRAM = [
    A.CheckerboardNoise(),
    A.TimeReversal(),
    A.FrequencyFlip(),
    A.SpecGain(),
    A.BandStop(),
    A.KeepPeaks(),
    A.KeepAboveThreshold(),
    A.SpecNoise(),
    A.SpectralEnvelope(),
    A.SpecTimeMask(),
    A.SpecFrequencyMask(),
    A.RandomResizedCrop(),
]


def clips_per_second(aug, x: torch.Tensor, repeats: int = 3) -> float:
    generator = torch.Generator(device=x.device).manual_seed(0)
    aug(x, generator)  # warm-up
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        aug(x, generator)
    if x.is_cuda:
        torch.cuda.synchronize()
    return repeats * x.shape[0] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--sr", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=2, help="for the training-time part")
    args = parser.parse_args()

    g = torch.Generator().manual_seed(0)
    waves = 0.1 * torch.randn(args.batch, int(args.seconds * args.sr), generator=g)
    waves = waves.to(args.device)
    specs = LogMelSpectrogram(args.sr).to(args.device)(waves)
    print(
        f"device={args.device}, batch of {args.batch} clips of {args.seconds} s at {args.sr} Hz "
        f"(threads={torch.get_num_threads()})"
    )
    print(f"{'augmentation':<62} clips/s")
    for aug in WAVEFORM:
        print(f"{aug!r:<62} {clips_per_second(aug, waves):9.0f}")
    for aug in SPECTROGRAM:
        print(f"{aug!r:<62} {clips_per_second(aug, specs):9.0f}")

    # Is pretraining augmentation-bound? Same model and data, different policies.
    digits = load_spoken_digits()
    clips = digits.data[:1000]
    print(f"\nContrastiveAudioEmbedder on {len(clips)} digits, batch {args.batch}:")
    base = None
    for policy in ("none", "spectrogram", "waveform", "clar"):
        est = ContrastiveAudioEmbedder(
            sample_rate=digits.sample_rate,
            segment_seconds=args.seconds,
            batch_size=args.batch,
            max_epochs=args.epochs,
            augmentations=policy,
            device=args.device,
            random_state=0,
            **RECORDED_DEFAULTS,
        ).fit(clips)
        epoch = steady_epoch_seconds(est.history_)
        base = base or epoch
        print(
            f"  policy={policy:<12} {len(clips) / epoch:6.0f} clips/s "
            f"(epoch {epoch:.1f} s, {100 * (epoch - base) / base:+.0f}% vs no augmentation)"
        )


if __name__ == "__main__":
    main()
