"""Self-supervised training through skorch: the net, its datasets and its callbacks."""

from __future__ import annotations

import numpy as np
from skorch import NeuralNet
from skorch.callbacks import PassthroughScoring, ProgressBar
from torch.utils.data import Dataset

from .segments import random_segment

__all__ = [
    "SegmentPairDataset",
    "SelfSupervisedNet",
    "TokenWindowDataset",
    "WindowDataset",
    "training_callbacks",
]


class SelfSupervisedNet(NeuralNet):
    """A skorch ``NeuralNet`` that also logs the criterion's batch metrics.

    The criterion may define ``metric_names`` and ``metrics(y_pred)`` (for example the
    pretext-task accuracy); each metric is recorded per batch as ``train_<name>`` and
    averaged per epoch by the callbacks of :func:`training_callbacks`.
    """

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        metrics = getattr(self.criterion_, "metrics", None)
        if training and metrics is not None:
            for name, value in metrics(y_pred).items():
                self.history.record_batch(f"train_{name}", value)
        return loss


def training_callbacks(metric_names: tuple[str, ...], verbose: int) -> list:
    """Callbacks of a pretraining run: per-epoch metrics, and a progress bar if verbose."""
    callbacks: list = [
        (f"train_{name}", PassthroughScoring(name=f"train_{name}", on_train=True))
        for name in metric_names
    ]
    if verbose:
        callbacks.append(("progress", ProgressBar()))
    return callbacks


class SegmentPairDataset(Dataset):
    """Two random segments of each clip: the positive pairs of COLA and SimCLR.

    Each access draws new offsets, so every epoch sees new pairs.

    Parameters
    ----------
    waveforms : list of ndarray of shape (n_samples_i,)
    segment_length : int
        Segment length in samples; shorter clips are zero-padded at a random offset.
    rng : numpy.random.Generator
        Source of the offsets.
    targets : ndarray of shape (n_clips,) or None, default=None
        Integer label per clip (``-1`` for unlabelled); ``None`` gives ``-1`` for all.

    Returns (per item)
    ------------------
    ``({"anchor": (segment_length,), "positive": (segment_length,)}, target)``
    """

    def __init__(
        self,
        waveforms: list[np.ndarray],
        segment_length: int,
        rng: np.random.Generator,
        targets: np.ndarray | None = None,
    ) -> None:
        self.waveforms = waveforms
        self.segment_length = segment_length
        self.rng = rng
        self.targets = np.full(len(waveforms), -1) if targets is None else targets

    def __len__(self) -> int:
        return len(self.waveforms)

    def __getitem__(self, index: int):
        waveform = self.waveforms[index]
        anchor = random_segment(waveform, self.segment_length, self.rng)
        positive = random_segment(waveform, self.segment_length, self.rng)
        return {"anchor": anchor, "positive": positive}, self.targets[index]


class WindowDataset(Dataset):
    """One random crop of each clip, with how many of its samples are audio (CPC).

    A clip longer than ``window_length`` gives a crop at a uniformly random offset; a
    shorter one is zero-padded at the end, and ``n_valid`` tells the model where the
    audio stops so that padding is never predicted nor used as a negative.

    Parameters
    ----------
    waveforms : list of ndarray of shape (n_samples_i,)
    window_length : int
        Crop length in samples.
    rng : numpy.random.Generator
        Source of the offsets.

    Returns (per item)
    ------------------
    ``({"window": (window_length,), "n_valid": int}, -1)``
    """

    def __init__(
        self, waveforms: list[np.ndarray], window_length: int, rng: np.random.Generator
    ) -> None:
        self.waveforms = waveforms
        self.window_length = window_length
        self.rng = rng

    def __len__(self) -> int:
        return len(self.waveforms)

    def __getitem__(self, index: int):
        waveform = self.waveforms[index]
        n = waveform.shape[0]
        if n >= self.window_length:
            start = int(self.rng.integers(0, n - self.window_length + 1))
            return {
                "window": waveform[start : start + self.window_length],
                "n_valid": self.window_length,
            }, -1
        window = np.zeros(self.window_length, dtype=waveform.dtype)
        window[:n] = waveform
        return {"window": window, "n_valid": n}, -1


class TokenWindowDataset(Dataset):
    """Windows of ``length`` tokens starting at every position of every token sequence.

    A sequence of ``n`` tokens gives ``max(1, n - 1)`` windows (every start that leaves
    at least one token to predict), so one epoch shows the transformer every
    transition of every clip, at every position of its context. Windows running past
    a sequence's end are padded with ``pad_id``.

    Parameters
    ----------
    sequences : list of ndarray of shape (n_tokens_i,), integer
    length : int
    pad_id : int

    Returns (per item)
    ------------------
    ``({"tokens": (length,) int64}, -1)``
    """

    def __init__(self, sequences: list[np.ndarray], length: int, pad_id: int) -> None:
        self.sequences = sequences
        self.length = length
        self.pad_id = pad_id
        self.starts = [
            (clip, start)
            for clip, sequence in enumerate(sequences)
            for start in range(max(1, len(sequence) - 1))
        ]

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int):
        clip, start = self.starts[index]
        piece = self.sequences[clip][start : start + self.length]
        window = np.full(self.length, self.pad_id, dtype=np.int64)
        window[: len(piece)] = piece
        return {"tokens": window}, -1
