"""Time to fetch one training batch: per-item ``__getitem__`` + ``default_collate``, against
the datasets' ``__getitems__`` + :func:`skaudio.training.collate_batch` (one call each).

    python benchmarks/data_path.py [--batch-size 256] [--seconds 1.0] [--repeats 20]

Prints milliseconds per batch for each dataset of :mod:`skaudio.training` (clips of 1 to
3 segments, some shorter than a segment), and, on CUDA, the host time of moving the batch
to the GPU with a blocking copy and with :func:`skaudio.training.batch_to_device` from
pinned memory.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.data import default_collate

from skaudio.data import (
    SegmentDataset,
    SegmentPairDataset,
    TokenContextDataset,
    batch_to_device,
    collate_batch,
)


def _ms(function, repeats: int) -> float:
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return 1e3 * (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    length = round(args.seconds * args.sample_rate)
    n_clips = 4 * args.batch_size
    sizes = rng.integers(length // 2, 3 * length, n_clips)
    clips = [rng.standard_normal(int(n)).astype(np.float32) for n in sizes]
    tokens = [rng.integers(0, 256, int(n) // 320) for n in sizes]
    datasets = {
        "SegmentPairDataset": SegmentPairDataset(clips, length, np.random.default_rng(0)),
        "SegmentDataset": SegmentDataset(clips, length, np.random.default_rng(0)),
        "TokenContextDataset": TokenContextDataset(tokens, 64, 256),
    }
    print(f"batch {args.batch_size}, segments of {length} samples, torch {torch.__version__}")
    print(f"{'dataset':<20} {'per item (ms)':>14} {'__getitems__ (ms)':>18} {'speed-up':>9}")
    batch = None
    for name, dataset in datasets.items():
        indices = rng.permutation(len(dataset))[: args.batch_size].tolist()

        def per_item(dataset=dataset, indices=indices):
            return default_collate([dataset[i] for i in indices])

        def batched(dataset=dataset, indices=indices):
            return collate_batch(dataset.__getitems__(indices))

        before, after = _ms(per_item, args.repeats), _ms(batched, args.repeats)
        print(f"{name:<20} {before:>14.2f} {after:>18.2f} {before / after:>8.1f}x")
        if name == "SegmentPairDataset":
            batch = collate_batch(dataset.__getitems__(indices))
    if torch.cuda.is_available():
        pinned = [{k: v.pin_memory() for k, v in batch[0].items()}, batch[1].pin_memory()]

        def blocking():
            [{k: v.to("cuda") for k, v in pinned[0].items()}, pinned[1].to("cuda")]

        def asynchronous():
            batch_to_device(pinned, "cuda")

        for label, move in (("blocking .to", blocking), ("batch_to_device", asynchronous)):
            torch.cuda.synchronize()
            host = _ms(move, args.repeats)
            torch.cuda.synchronize()
            print(f"host time of the copy to the GPU, {label}: {host:.3f} ms")


if __name__ == "__main__":
    main()
