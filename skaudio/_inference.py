"""Embedding with a trained model: window averages, frame sequences, token loops.

The one inference path of skaudio: the estimators' ``transform``, ``transform_frames``,
``tokenize`` and ``next_token_accuracy`` and the HEAR adapter's tensor path
(:mod:`skaudio.hear`) all run these loops. Each takes the model and the settings of
its batches (``segment_length`` samples per window, ``batch_size``); the model is put
in evaluation mode and run under ``torch.inference_mode`` for the loop.

- :func:`embed_windows` / :func:`embed_windows_tensor`: the mean of the embeddings of
  windows of ``segment_length`` covering each clip (a shorter clip centred in one
  zero-padded window);
- :func:`embed_frames` / :func:`embed_frames_tensor`: each clip's frame sequence,
  whole (clips batched with clips of the same padded length, :func:`clip_batches`),
  with the time stamps of the frames kept;
- :func:`next_token_counts`: the transformer's next-token hits over token windows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .clips import AudioClips, ClipWindows
from .segments import window_starts
from .training import batch_to_device

__all__: list[str] = []

#: ``sequence(waveforms)``: (batch, n_samples) -> (batch, n_frames, ...)
Sequence = Callable[[torch.Tensor], torch.Tensor]


def float32(frames: torch.Tensor) -> torch.Tensor:
    """Float frames as float32 (from bf16 or fp16 autocast, say); token ids unchanged."""
    return frames.float() if frames.is_floating_point() else frames


def frames_kept(n_samples: int, model: nn.Module, n_frames: int) -> int:
    """Frames of a clip of ``n_samples`` that start inside it (at least one)."""
    return min(max(-(-n_samples // model.frame_hop), 1), n_frames)  # ceil


@contextmanager
def evaluation_mode(model: nn.Module):
    """Put ``model`` in evaluation mode for the block, then restore its mode."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def clip_batches(
    lengths: np.ndarray, segment_length: int, batch_size: int
) -> Iterator[tuple[np.ndarray, int]]:
    """Batches of whole clips: ``(indices, padded_length)``, shortest clips first.

    Each clip is zero-padded at the end to at least ``segment_length`` samples and
    batched with clips of the same padded length (so no clip is padded for another
    one): at most ``batch_size`` clips and at most the samples of a training batch
    (``batch_size * segment_length``) per batch, or a single clip, whatever its
    length. The memory of embedding (the frontend's spectrograms, the encoder's
    activations) is then bounded by that of a training batch, not by ``batch_size``
    times the longest clip.

    Parameters
    ----------
    lengths : ndarray of shape (n_clips,)
        Samples of each clip.
    segment_length : int
    batch_size : int

    Yields
    ------
    indices : ndarray of shape (n_rows,), int64
        Clips of the batch, in their order among clips of that length.
    padded_length : int
    """
    lengths = np.maximum(lengths, segment_length)
    order = np.argsort(lengths, kind="stable")
    max_samples = batch_size * segment_length
    for length in np.unique(lengths):
        same = order[lengths[order] == length]
        n_rows = int(max(1, min(batch_size, max_samples // length)))
        for start in range(0, len(same), n_rows):
            yield same[start : start + n_rows], int(length)


def embed_frames(
    model: nn.Module,
    clips: AudioClips,
    sequence: Sequence,
    *,
    segment_length: int,
    batch_size: int,
    device,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frame sequences per clip (float outputs as float32) and their time stamps.

    Clips are read one batch of :func:`clip_batches` at a time, each whole (frames see
    their true neighbours), zero-padded at the end; the frames that start inside a
    clip are kept (at least one). A clip's frames do not depend on its batch.
    """
    embeddings: list[np.ndarray] = [np.empty(0)] * len(clips)
    timestamps: list[np.ndarray] = [np.empty(0)] * len(clips)
    with evaluation_mode(model), torch.inference_mode():
        for batch, length in clip_batches(clips.lengths, segment_length, batch_size):
            padded = np.zeros((len(batch), length), dtype=np.float32)
            for row, index in enumerate(batch):
                padded[row, : clips.lengths[index]] = clips[index]
            frames = float32(sequence(batch_to_device(torch.from_numpy(padded), device)))
            frames = frames.cpu().numpy()
            for row, index in enumerate(batch):
                n_kept = frames_kept(int(clips.lengths[index]), model, frames.shape[1])
                embeddings[index] = frames[row, :n_kept].copy()
                timestamps[index] = model.frame_times(n_kept)
    return embeddings, timestamps


def embed_frames_tensor(
    model: nn.Module,
    audio: torch.Tensor,
    sequence: Sequence,
    *,
    segment_length: int,
    batch_size: int,
) -> tuple[torch.Tensor, np.ndarray]:
    """:func:`embed_frames` of equal-length clips held in a tensor, where it is.

    ``audio`` (n_clips, n_samples), float32, on the model's device, stays there
    through the frontend and the encoder, batched as :func:`embed_frames` batches it:
    the frames equal its arrays. Returns the frames (n_clips, n_kept, ...) on that
    device and their time stamps (n_kept,), in seconds.
    """
    n_clips, n_samples = audio.shape
    pieces = []
    with evaluation_mode(model), torch.inference_mode():
        lengths = np.full(n_clips, n_samples)
        for batch, length in clip_batches(lengths, segment_length, batch_size):
            # one length: the batches are consecutive rows, in order
            waveforms = audio[int(batch[0]) : int(batch[-1]) + 1]
            waveforms = torch.nn.functional.pad(waveforms, (0, length - n_samples))
            pieces.append(float32(sequence(waveforms)))
    frames = torch.cat(pieces)
    n_kept = frames_kept(n_samples, model, frames.shape[1])
    return frames[:, :n_kept], model.frame_times(n_kept)


def embed_windows(
    model: nn.Module,
    clips: AudioClips,
    *,
    segment_length: int,
    batch_size: int,
    device,
    num_workers: int = 0,
) -> np.ndarray:
    """Mean of the window embeddings of each clip, (n_clips, dim), float32.

    Windows are read by a data loader over :class:`skaudio.data.ClipWindows`
    (``num_workers`` processes read files in parallel) and embedded in batches of
    ``batch_size``; a long file is streamed, so memory holds a batch of windows,
    never a whole file. Sums are accumulated in float64.
    """
    sums = np.zeros((len(clips), model.encoder.embedding_dim), dtype=np.float64)
    counts = np.zeros(len(clips), dtype=np.int64)
    loader = DataLoader(
        ClipWindows(clips, segment_length, batch_size),
        batch_size=None,  # the dataset yields whole batches
        num_workers=num_workers,
        pin_memory=torch.device(device).type == "cuda",  # asynchronous copies
    )
    with evaluation_mode(model), torch.inference_mode():
        for owners, windows in loader:
            windows = batch_to_device(windows, device)
            embeddings = model.embed(windows).float().cpu().numpy()
            owners = owners.numpy()
            np.add.at(sums, owners, embeddings)
            np.add.at(counts, owners, 1)
    return (sums / counts[:, None]).astype(np.float32)


def embed_windows_tensor(
    model: nn.Module, audio: torch.Tensor, *, segment_length: int, batch_size: int
) -> torch.Tensor:
    """:func:`embed_windows` of equal-length clips held in a tensor, where it is.

    The windows of :func:`skaudio.segments.sliding_windows`, cut by one gather on the
    tensor's device, are embedded in the batches of
    :class:`skaudio.data.ClipWindows` and averaged per clip in float64 in their
    order, as :func:`embed_windows` averages them: the embeddings (n_clips, dim),
    float32, equal its.
    """
    n_clips, n_samples = audio.shape
    length = segment_length
    if n_samples <= length:  # one window, the clip centred in it
        start = (length - n_samples) // 2
        windows = torch.nn.functional.pad(audio, (start, length - n_samples - start))[:, None]
    else:
        starts = torch.tensor(window_starts(n_samples, length), device=audio.device)
        offsets = starts[:, None] + torch.arange(length, device=audio.device)
        windows = audio[:, offsets]  # (n_clips, n_windows, length)
    n_windows = windows.shape[1]
    flat = windows.reshape(n_clips * n_windows, length)
    with evaluation_mode(model), torch.inference_mode():
        embeddings = torch.cat(
            [
                model.embed(flat[start : start + batch_size]).float()
                for start in range(0, len(flat), batch_size)
            ]
        ).reshape(n_clips, n_windows, -1)
        sums = torch.zeros(embeddings.shape[::2], dtype=torch.float64, device=audio.device)
        for window in range(n_windows):  # the order of np.add.at in embed_windows
            sums += embeddings[:, window]
    return (sums / n_windows).float()


def next_token_counts(
    model: nn.Module, windows: np.ndarray, *, batch_size: int, device
) -> tuple[int, int]:
    """Correct next-token predictions and real targets over token ``windows``.

    ``windows`` (n_windows, context + 1), int64, are scored in batches of
    ``batch_size``; padded targets (negative) are not counted.
    """
    correct = total = 0
    with evaluation_mode(model), torch.inference_mode():
        for start in range(0, len(windows), batch_size):
            batch = windows[start : start + batch_size]
            output = model(torch.from_numpy(batch).to(device))
            real = output.targets >= 0
            correct += int(((output.logits.argmax(dim=-1) == output.targets) & real).sum())
            total += int(real.sum())
    return correct, total
