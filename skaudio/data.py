"""The torch datasets of skaudio and the loader plumbing around them.

Training datasets cut fixed-length inputs from :class:`skaudio.clips.AudioClips`
through :meth:`~skaudio.clips.AudioClips.crop` (the one crop-or-pad,
:func:`skaudio.segments.crop_or_pad`), an item at a time (``__getitem__``) or a batch
at a time (``__getitems__``, the same draws); :class:`ClipWindows` streams the
embedding windows that ``transform`` reads. :func:`seed_worker` gives each data-loader
worker its own random stream, :func:`collate_batch` passes batches cut at once through,
and :func:`batch_to_device` moves them to the device.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, Sampler, default_collate, get_worker_info

from ._random import worker_generator
from .clips import AudioClips, clips_of
from .segments import random_offset

__all__ = [
    "GroupSampler",
    "SegmentDataset",
    "SegmentPairDataset",
    "TokenContextDataset",
]


def seed_worker(worker_id: int, process: int = 0) -> None:
    """``worker_init_fn`` of the training data loaders: a new random stream per worker.

    A worker process starts with a copy of the dataset, random generator included, so
    without this every worker would draw the same crops. Each worker's dataset gets a
    generator seeded with the worker's torch seed, which the data loader derives from
    the main process's torch generator: distinct per worker and per epoch, and
    reproducible under a fixed ``random_state``.

    Parameters
    ----------
    worker_id : int
        Index of the worker (unused: the seed already depends on it).
    process : int, default=0
        Index of the training process in a distributed run, mixed into the seed
        (:func:`skaudio._random.worker_generator`): every process's loader derives
        the same worker seeds.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from torch.utils.data import DataLoader
    >>> from skaudio.data import SegmentDataset, seed_worker
    >>> _ = torch.manual_seed(0)
    >>> clips = [np.arange(100, dtype=np.float32)] * 4
    >>> dataset = SegmentDataset(clips, 10, np.random.default_rng(0))
    >>> loader = DataLoader(dataset, batch_size=1, num_workers=2, worker_init_fn=seed_worker)
    >>> starts = [int(X["window"][0, 0]) for X, _ in loader]
    >>> starts[0] != starts[1]  # workers 0 and 1 drew different crops
    True
    """
    worker = get_worker_info()
    if worker is not None and isinstance(getattr(worker.dataset, "rng", None), np.random.Generator):
        worker.dataset.rng = worker_generator(worker.seed, process)


def _non_blocking(device: torch.device | str | None) -> bool:
    """Whether host-to-device copies to ``device`` are asynchronous: on CUDA only."""
    return device is not None and torch.device(device).type == "cuda"


def batch_to_device(batch, device: torch.device | str | None):
    """A batch (arrays and tensors, nested in dicts, lists and tuples) on ``device``.

    Arrays become tensors (``torch.as_tensor``, as skorch's ``to_tensor`` makes
    them); on CUDA the copies are asynchronous (``non_blocking=True``): from the
    pinned memory of a data loader with ``pin_memory=True`` they overlap with the
    computation already queued, and the host does not wait for them. On the CPU
    nothing is copied. ``device=None`` leaves everything where it is (accelerate
    moves the batches). Anything else (scalars, None) is left for skorch's
    ``to_tensor``.

    Parameters
    ----------
    batch : object
        Tensors and arrays, nested in dicts, lists and tuples.
    device : torch.device, str or None

    Returns
    -------
    batch : object
        The same structure, with tensors on ``device`` in place of the tensors and
        arrays.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skaudio.data import batch_to_device
    >>> batch = batch_to_device(({"window": np.zeros((2, 3), np.float32)}, torch.ones(2)), "cpu")
    >>> type(batch[0]["window"]).__name__, batch[1].device.type
    ('Tensor', 'cpu')
    """
    if device is None:
        return batch
    non_blocking = _non_blocking(device)

    def move(value):
        if isinstance(value, np.ndarray):
            value = torch.as_tensor(value)
        if isinstance(value, torch.Tensor):
            return value.to(device, non_blocking=non_blocking)
        if isinstance(value, Mapping):
            return {key: move(item) for key, item in value.items()}
        if type(value) in (list, tuple):
            return type(value)(move(item) for item in value)
        return value

    return move(batch)


class _CutBatch(Sequence):
    """A batch cut at once by a dataset's ``__getitems__``: the items of one collated batch.

    :func:`collate_batch` returns its tensors as they are; any other collate
    function (torch's ``default_collate``) sees the sequence of items that
    ``__getitem__`` gives, ``({name: row of inputs[name]}, targets[row])``, and
    collates them to equal tensors.
    """

    def __init__(self, inputs: dict[str, np.ndarray], targets: np.ndarray) -> None:
        self.inputs = inputs
        self.targets = targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, row: int):
        return {name: value[row] for name, value in self.inputs.items()}, self.targets[row]

    def collated(self) -> list:
        """``[inputs, targets]`` as tensors, as ``default_collate`` of the items gives them."""
        inputs = {name: torch.from_numpy(value) for name, value in self.inputs.items()}
        return [inputs, torch.from_numpy(self.targets)]


def collate_batch(batch):
    """``collate_fn`` of the training data loaders: batches cut at once pass through.

    The datasets of this module cut a whole batch at once in ``__getitems__`` (torch's
    batched fetch) and return it already collated; any other batch (a list of items)
    is collated by torch's ``default_collate``. Either way the tensors are those
    ``default_collate`` makes of the items of ``__getitem__``. :class:`SelfSupervisedNet`
    uses it by default (``iterator_train__collate_fn``, ``iterator_valid__collate_fn``).

    Parameters
    ----------
    batch : sequence of items

    Returns
    -------
    batch : object
        Tensors of the batch: for the datasets of this module ``[inputs, targets]``,
        a dict of tensors with the batch first, and a tensor of shape (batch,).

    Examples
    --------
    >>> import numpy as np
    >>> from torch.utils.data import DataLoader
    >>> from skaudio.data import SegmentDataset, collate_batch
    >>> dataset = SegmentDataset([np.ones(100, np.float32)] * 4, 10, np.random.default_rng(0))
    >>> X, y = next(iter(DataLoader(dataset, batch_size=4, collate_fn=collate_batch)))
    >>> X["window"].shape, X["n_valid"].tolist(), y.tolist()
    (torch.Size([4, 10]), [10, 10, 10, 10], [-1, -1, -1, -1])
    """
    if isinstance(batch, _CutBatch):
        return batch.collated()
    return default_collate(batch)


class SegmentPairDataset(Dataset):
    """Two random segments of each clip: the positive pairs of COLA and SimCLR.

    Each access draws new offsets (as :func:`skaudio.segments.random_segment` does),
    so every epoch sees new pairs; clips in files are read segment by segment. Item ``i`` is
    ``({"anchor": anchor, "positive": positive}, target)``: two arrays of shape
    ``(segment_length,)``, the inputs of the ``forward`` of
    :class:`skaudio.models.COLAModel` and :class:`skaudio.models.ContrastiveModel`,
    and the label of clip ``i``.

    Parameters
    ----------
    waveforms : list of ndarray of shape (n_samples_i,), or AudioClips
        The clips (:class:`skaudio.clips.FileClips` reads them from disk on demand).
    segment_length : int
        Segment length in samples; shorter clips are zero-padded at a random offset.
    rng : numpy.random.Generator
        Source of the offsets.
    targets : ndarray of shape (n_clips,) or None, default=None
        Integer label per clip (``-1`` for unlabelled); ``None`` gives ``-1`` for all.

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio.data import SegmentPairDataset
    >>> rng = np.random.default_rng(0)
    >>> waveforms = [rng.standard_normal(n).astype(np.float32) for n in (4000, 1000)]
    >>> dataset = SegmentPairDataset(waveforms, segment_length=2000, rng=rng)
    >>> views, target = dataset[1]  # a short clip: zero-padded
    >>> len(dataset), views["anchor"].shape, views["positive"].dtype, int(target)
    (2, (2000,), dtype('float32'), -1)
    """

    def __init__(
        self,
        waveforms: list[np.ndarray] | AudioClips,
        segment_length: int,
        rng: np.random.Generator,
        targets: np.ndarray | None = None,
    ) -> None:
        self.clips = clips_of(waveforms)
        self.segment_length = segment_length
        self.rng = rng
        self.targets = np.full(len(self.clips), -1) if targets is None else targets

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int):
        anchor = self.clips.random_segment(index, self.segment_length, self.rng)
        positive = self.clips.random_segment(index, self.segment_length, self.rng)
        return {"anchor": anchor, "positive": positive}, self.targets[index]

    def __getitems__(self, indices: list[int]) -> _CutBatch:
        """The items of ``indices`` cut at once (torch's batched fetch), as float32.

        The offsets are drawn in one call, in the order of ``__getitem__`` (anchor,
        then positive, clip after clip), which gives the very same draws; the
        segments are copied into one array per view, collated as they are by
        :func:`collate_batch`.
        """
        indices = np.asarray(indices, dtype=np.int64)
        lengths = self.clips.lengths[indices]
        length = self.segment_length
        offsets = self.rng.integers(0, np.repeat(np.abs(lengths - length), 2) + 1)
        segments = np.empty((2, len(indices), length), dtype=np.float32)
        pairs = offsets.reshape(-1, 2).tolist()  # (anchor, positive) per clip
        for row, (index, pair) in enumerate(zip(indices.tolist(), pairs, strict=True)):
            for view, offset in enumerate(pair):
                self.clips.crop(index, length, offset, out=segments[view, row])
        targets = np.asarray(self.targets)[indices]
        return _CutBatch({"anchor": segments[0], "positive": segments[1]}, targets)


class SegmentDataset(Dataset):
    """One random segment of each clip, with how many of its samples are audio (CPC).

    The training crop of :class:`~skaudio.CPCEmbedder` (``segment_seconds``), as
    :class:`SegmentPairDataset` cuts two per clip. Called ``WindowDataset`` before
    0.2 (that name still works). A clip longer than ``segment_length`` gives a crop
    at a uniformly random offset; a shorter one is zero-padded at the end, and
    ``n_valid`` tells the model where the audio stops so that padding is never
    predicted nor used as a negative. Item ``i`` is
    ``({"window": segment, "n_valid": n_valid}, -1)``: an array of shape
    ``(segment_length,)`` and the number of audio samples at its start, the inputs of
    :meth:`skaudio.models.CPCModel.forward`.

    Parameters
    ----------
    waveforms : list of ndarray of shape (n_samples_i,), or AudioClips
        The clips (:class:`skaudio.clips.FileClips` reads them from disk on demand).
    segment_length : int
        Crop length in samples.
    rng : numpy.random.Generator
        Source of the offsets.
    groups : ndarray of shape (n_clips,), integer, or None, default=None
        Group code of each clip, the items' target (CPC's ``negatives="group"``
        reads it); ``None``: every target is ``-1``.

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio.data import SegmentDataset
    >>> rng = np.random.default_rng(0)
    >>> waveforms = [rng.standard_normal(n).astype(np.float32) for n in (4000, 1000)]
    >>> dataset = SegmentDataset(waveforms, segment_length=2000, rng=rng)
    >>> item, _ = dataset[1]  # a short clip: zero-padded at the end
    >>> len(dataset), item["window"].shape, item["n_valid"]
    (2, (2000,), 1000)
    """

    def __init__(
        self,
        waveforms: list[np.ndarray] | AudioClips,
        segment_length: int,
        rng: np.random.Generator,
        groups: np.ndarray | None = None,
    ) -> None:
        self.clips = clips_of(waveforms)
        self.segment_length = segment_length
        self.rng = rng
        self.groups = groups

    def __len__(self) -> int:
        return len(self.clips)

    def _targets(self, indices: np.ndarray) -> np.ndarray:
        if getattr(self, "groups", None) is None:  # (a pickle from before ``groups``)
            return np.full(len(indices), -1, dtype=np.int64)
        return np.asarray(self.groups, dtype=np.int64)[indices]

    def __getitem__(self, index: int):
        n = int(self.clips.lengths[index])
        length = self.segment_length
        start = random_offset(n, length, self.rng) if n >= length else 0  # padded at the end
        window = self.clips.crop(index, length, start)
        return {"window": window, "n_valid": min(n, length)}, int(self._targets([index])[0])

    def __getitems__(self, indices: list[int]) -> _CutBatch:
        """The items of ``indices`` cut at once (torch's batched fetch), as float32.

        The offsets of the clips longer than a segment are drawn in one call, in
        ``__getitem__``'s order, which gives the very same draws; the segments are
        copied into one array, collated as it is by :func:`collate_batch`.
        """
        indices = np.asarray(indices, dtype=np.int64)
        lengths = self.clips.lengths[indices]
        length = self.segment_length
        cropped = lengths >= length
        starts = np.zeros(len(indices), dtype=np.int64)
        starts[cropped] = self.rng.integers(0, lengths[cropped] - length + 1)
        windows = np.empty((len(indices), length), dtype=np.float32)
        for row, (index, start) in enumerate(zip(indices.tolist(), starts.tolist(), strict=True)):
            self.clips.crop(index, length, start, out=windows[row])  # short: padded at the end
        n_valid = np.minimum(lengths, length)
        return _CutBatch({"window": windows, "n_valid": n_valid}, self._targets(indices))


class GroupSampler(Sampler[int]):
    """An order of the clips in which every batch holds a few clips of each of a few groups.

    The sampler of :class:`~skaudio.CPCEmbedder`'s ``negatives="group"``, whose
    negatives come from the clips of the same group in the batch. The data loader
    cuts the order into batches of ``batch_size`` consecutive clips (its own
    ``batch_size``, so the number of batches is the usual ``ceil(n / batch_size)``),
    and each batch is filled with chunks of up to ``clips_per_group`` clips of one
    group: about ``batch_size / clips_per_group`` groups per batch.

    Every ``iter`` (an epoch) draws a new order from ``rng``: the clips of each group
    (in sorted order of the labels) are shuffled and cut into chunks of
    ``clips_per_group`` (the last one of a group may be smaller), the chunks are
    shuffled, then the batches are filled in turn, each taking the first chunk that
    fits in what is left of it, or, when none fits, as much of the first chunk as fits
    (the rest of it then opens the next batch). Every clip comes once per epoch.
    Drawing from the training run's data generator, whose state every checkpoint saves,
    a resumed run draws the orders of the uninterrupted one.

    Parameters
    ----------
    groups : array-like of shape (n_clips,)
        Group label of each clip (speaker, recording, instrument), any sortable labels.
    batch_size : int
        Clips per batch, the data loader's.
    clips_per_group : int
        Most clips of one group in a chunk (at most ``batch_size`` are used).
    rng : numpy.random.Generator
        Source of the orders.

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio.data import GroupSampler
    >>> groups = np.repeat(["a", "b", "c", "d"], 4)
    >>> rng = np.random.default_rng(0)
    >>> sampler = GroupSampler(groups, batch_size=8, clips_per_group=4, rng=rng)
    >>> order = np.array(list(sampler))
    >>> sorted(order.tolist()) == list(range(16))  # every clip once
    True
    >>> [sorted(set(groups[batch].tolist())) for batch in order.reshape(2, 8)]  # two groups each
    [['a', 'c'], ['b', 'd']]
    """

    def __init__(
        self, groups, batch_size: int, clips_per_group: int, rng: np.random.Generator
    ) -> None:
        self.groups = np.asarray(groups)
        self.batch_size = batch_size
        self.clips_per_group = clips_per_group
        self.rng = rng

    def __len__(self) -> int:
        return len(self.groups)

    def __iter__(self) -> Iterator[int]:
        return iter(self.order().tolist())

    def order(self) -> np.ndarray:
        """The next epoch's order of the clips (a draw of ``rng``), int64 of shape (n_clips,)."""
        if self.batch_size < 1 or self.clips_per_group < 1:
            raise ValueError(
                f"batch_size={self.batch_size} and clips_per_group={self.clips_per_group} "
                "must be at least 1"
            )
        if len(self.groups) == 0:
            return np.zeros(0, dtype=np.int64)
        _, codes, counts = np.unique(self.groups, return_inverse=True, return_counts=True)
        size = min(self.clips_per_group, self.batch_size)
        by_group = np.split(np.argsort(codes.reshape(-1), kind="stable"), np.cumsum(counts)[:-1])
        chunks = []
        for members in by_group:
            members = members[self.rng.permutation(len(members))]
            chunks.extend(members[start : start + size] for start in range(0, len(members), size))
        queue = [chunks[i] for i in self.rng.permutation(len(chunks))]
        order, room = [], self.batch_size
        while queue:
            fits = next((i for i, chunk in enumerate(queue) if len(chunk) <= room), None)
            if fits is None:  # none fits: as much of the first as fits, its rest next
                order.append(queue[0][:room])
                queue[0] = queue[0][room:]
                room = 0
            else:
                chunk = queue.pop(fits)
                order.append(chunk)
                room -= len(chunk)
            if room == 0:
                room = self.batch_size
        return np.concatenate(order).astype(np.int64)


class TokenContextDataset(Dataset):
    """Contexts of ``length`` tokens starting at every position of every token sequence.

    The training data of :class:`~skaudio.TokenTransformerEmbedder`: ``length`` is its
    ``context_tokens`` plus the token to predict. Called ``TokenWindowDataset`` before
    0.2 (that name still works).

    A sequence of ``n`` tokens gives ``max(1, n - 1)`` windows (every start that leaves
    at least one token to predict), so one epoch shows the transformer every
    transition of every clip, at every position of its context. Windows running past
    a sequence's end are padded with ``pad_id``. Item ``i`` is
    ``({"tokens": window}, -1)``, with ``window`` an int64 array of shape
    ``(length,)``, the input of :meth:`skaudio.models.TokenTransformerModel.forward`.

    Parameters
    ----------
    sequences : list of ndarray of shape (n_tokens_i,), integer
        Token ids of each clip.
    length : int
        Window length in tokens: the transformer's context plus the token to predict.
    pad_id : int
        Token id of the padding (the vocabulary size).

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio.data import TokenContextDataset
    >>> dataset = TokenContextDataset([np.arange(4), np.arange(1)], length=3, pad_id=9)
    >>> [dataset[i][0]["tokens"].tolist() for i in range(len(dataset))]
    [[0, 1, 2], [1, 2, 3], [2, 3, 9], [0, 9, 9]]
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
        # every sequence followed by ``length`` pads, end to end: a window is then one
        # slice of this buffer, and a batch of windows one gather (``__getitems__``)
        sizes = np.array([len(sequence) for sequence in sequences], dtype=np.int64)
        firsts = np.concatenate([[0], np.cumsum(sizes + length)[:-1]]).astype(np.int64)
        self._tokens = np.full(int((sizes + length).sum()), pad_id, dtype=np.int64)
        for first, sequence in zip(firsts.tolist(), sequences, strict=True):
            self._tokens[first : first + len(sequence)] = sequence
        self._window_firsts = np.array(
            [firsts[clip] + start for clip, start in self.starts], dtype=np.int64
        )

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int):
        clip, start = self.starts[index]
        piece = self.sequences[clip][start : start + self.length]
        window = np.full(self.length, self.pad_id, dtype=np.int64)
        window[: len(piece)] = piece
        return {"tokens": window}, -1

    def __getitems__(self, indices: list[int]) -> _CutBatch:
        """The windows of ``indices`` in one gather (torch's batched fetch)."""
        firsts = self._window_firsts[np.asarray(indices, dtype=np.int64)]
        windows = self._tokens[firsts[:, None] + np.arange(self.length)]
        return _CutBatch({"tokens": windows}, np.full(len(firsts), -1, dtype=np.int64))


#: the names before 0.2 (the same classes)
WindowDataset = SegmentDataset
TokenWindowDataset = TokenContextDataset


class ClipWindows(IterableDataset):
    """Batches of the embedding windows of every clip, each window with its clip's index.

    Items are whole batches (load them with ``DataLoader(..., batch_size=None)``):
    ``(owners, windows)``, an int64 array of shape (n,) and a float32 array of shape
    (n, length), with ``n <= batch_size``. With several data-loader workers, worker
    ``k`` of ``K`` reads clips ``k, k + K, ...``, so each clip is read once; batches
    arrive in no fixed order, which is why windows carry their clip's index.

    Parameters
    ----------
    clips : AudioClips
    length : int
        Window length in samples (see :meth:`AudioClips.windows`).
    batch_size : int
        Most windows per batch.

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio.clips import ArrayClips
    >>> from skaudio.data import ClipWindows
    >>> clips = ArrayClips([np.zeros(10, np.float32), np.zeros(3, np.float32)], 8000)
    >>> [(owners.tolist(), windows.shape) for owners, windows in ClipWindows(clips, 4, 3)]
    [([0, 0, 0], (3, 4)), ([1], (1, 4))]
    """

    def __init__(self, clips: AudioClips, length: int, batch_size: int) -> None:
        self.clips = clips
        self.length = length
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        worker = get_worker_info()
        first, step = (0, 1) if worker is None else (worker.id, worker.num_workers)
        owners: list[np.ndarray] = []
        windows: list[np.ndarray] = []
        pending = 0
        for index in range(first, len(self.clips), step):
            for block in self.clips.windows(index, self.length):
                while len(block):
                    take = block[: self.batch_size - pending]
                    block = block[len(take) :]
                    owners.append(np.full(len(take), index, dtype=np.int64))
                    windows.append(take)
                    pending += len(take)
                    if pending == self.batch_size:
                        yield np.concatenate(owners), np.concatenate(windows)
                        owners, windows, pending = [], [], 0
        if pending:
            yield np.concatenate(owners), np.concatenate(windows)
