"""
Pretraining in several processes (multi-GPU, multi-node)
========================================================

A script to start with ``accelerate launch`` (or ``torchrun``): every process runs it,
``distributed=True`` makes the processes one data-parallel run (PyTorch DDP through
HuggingFace Accelerate), and the first process saves the model. ``batch_size`` is the
global batch: with 4 GPUs and ``batch_size=256`` each GPU takes 64 clips per step, the
contrastive negatives of every clip are the other 255, and batch norm uses the
statistics of all 256, so the run trains as one process on the same batches would.

.. code-block:: bash

    pip install "skaudio[distributed]"
    accelerate launch --num_processes 4 examples/train_distributed.py FOLDER -o model.joblib
    # on CPUs (two processes here), e.g. to try it out:
    accelerate launch --cpu --num_processes 2 examples/train_distributed.py --digits

Not run by the documentation build (it needs to be launched as several processes).
"""

import argparse
from pathlib import Path

import joblib
from accelerate import PartialState

from skaudio import COLAEmbedder
from skaudio.datasets import load_spoken_digits
from skaudio.folder import list_audio_files

parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
parser.add_argument("folder", nargs="?", type=Path, help="audio files to pretrain on")
parser.add_argument("--digits", action="store_true", help="use the bundled spoken digits")
parser.add_argument("-o", "--output", type=Path, default=Path("model.joblib"))
parser.add_argument("--epochs", type=int, default=2)
args = parser.parse_args()

if args.digits:
    digits = load_spoken_digits()
    X, sample_rate = digits.data, digits.sample_rate
else:
    X, sample_rate = list_audio_files(args.folder), 16000  # read on demand, resampled

embedder = COLAEmbedder(
    sample_rate=sample_rate,
    segment_seconds=0.5,
    batch_size=256,  # the global batch
    max_epochs=args.epochs,
    num_workers=2,  # per process: read and crop files while the model trains
    checkpoint_dir=args.output.with_suffix(".checkpoints"),  # resume if interrupted
    distributed=True,
    random_state=0,
    verbose=1,
)
embedder.fit(X)

state = PartialState()
if state.is_main_process:
    joblib.dump(embedder, args.output)  # a plain estimator: loads on a CPU-only machine
    print(f"saved {args.output}: {len(embedder.history_)} epochs")
