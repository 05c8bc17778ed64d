"""One randomness story: every random stream of a training call comes from one object.

``random_state`` is read once per training call (``fit``, and each ``partial_fit`` or
``warm_start`` continuation), into a :class:`RunRandomness`. That object hands out
every stream of the call, as a tree in the manner of ``numpy.random.SeedSequence.spawn``
(each node a function of its parent and its key)::

    random_state --check_random_state--> s, the root seed (an int below 2**31 - 1)
    |
    +- torch stream     torch.manual_seed(s) inside RunRandomness.torch_stream (torch's
    |                   fork_rng: the caller's RNG state is restored after), the same in
    |                   every process; it draws, in this order of the code:
    |                     weight initialisation, in build order;
    |                     module_seed(): the DeviceGenerator seed of a model (its
    |                       augmentations, pitch shifts, corrupted tokens), plus the
    |                       process index p;
    |                     shared_seed(): a seed the same in every process (CPC's
    |                       negatives, the crops of dataset input statistics);
    |                     the data loader's shuffling and its workers' base seed, dropout
    +- data stream      numpy Generator of SeedSequence(s) (process 0) or
    |                   SeedSequence([s, p]) (process p): training crops, held-out clips,
    |                   data_seed() (k-means' random_state); a loader worker w replaces
    |                   its copy by worker_generator(base seed + w, p)
    +- continuation n   after n epochs: a new root s' = SeedSequence([s, n])'s first word
                        >> 1, the whole tree again under s' (process 0: a fitted net is
                        continued in one process)

Process 0's tree, and so every single-process run, is the one of earlier versions of
skaudio, draw for draw: ``SeedSequence([s, 0])`` and ``SeedSequence(s)`` give the same
stream, so process 0 needs no special case (its data stream is kept as
``default_rng(s)`` nonetheless).

Everything that draws holds its stream's state (the data Generator, the DeviceGenerators,
torch's RNG), so a checkpoint of those states (:mod:`skaudio.checkpoint`) resumes a
run exactly. Nothing outside this module calls ``check_random_state`` on
``random_state``, seeds a numpy Generator from a seed, or shifts a seed per process.

Examples
--------
>>> from skaudio._random import RunRandomness
>>> run = RunRandomness.from_random_state(0)
>>> run.seed, run.process
(209652396, 0)
>>> with run.torch_stream("cpu"):
...     first = run.module_seed()
>>> with run.for_process(1).torch_stream("cpu"):
...     second = run.for_process(1).module_seed()  # the same draw, shifted by the process
>>> second - first
1
>>> run.continuation(3).seed != run.seed  # a new stream per continuation
True
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.utils import check_random_state

from ._torch_utils import seeded

__all__ = ["RunRandomness", "worker_generator"]

#: seeds are ints in [0, SEED_BOUND): what ``check_random_state(...).randint`` draws the
#: root from, and ``torch.randint`` the module seeds (both 2**31 - 1)
SEED_BOUND = int(np.iinfo(np.int32).max)


def worker_generator(worker_seed: int, process: int = 0) -> np.random.Generator:
    """The data stream of a data-loader worker of process ``process``.

    ``worker_seed`` is the worker's torch seed (the loader's base seed, drawn from the
    run's torch stream, plus the worker's index): distinct per worker and per epoch.
    The base seed is the same in every process of a distributed run (their torch
    streams are), so the process index is mixed in, as in the main process's data
    stream; process 0 keeps ``default_rng(worker_seed)``.

    Examples
    --------
    >>> from skaudio._random import worker_generator
    >>> a, b = worker_generator(7), worker_generator(7, process=1)
    >>> int(a.integers(100)), int(b.integers(100))
    (94, 87)
    """
    return np.random.default_rng([worker_seed, process] if process else worker_seed)


class RunRandomness:
    """Every random stream of one training call (see the module for the tree).

    Parameters
    ----------
    seed : int or None
        The root seed ``s``. None: a builder called outside a training call, whose
        draws come from torch's global stream (:meth:`torch_stream` seeds nothing and
        there is no data stream).
    process : int, default=0
        Index of this process in a distributed run.
    """

    def __init__(self, seed: int | None, process: int = 0) -> None:
        self.seed = None if seed is None else int(seed)
        self.process = int(process)

    @classmethod
    def from_random_state(cls, random_state) -> RunRandomness:
        """The root of a training call: one draw from ``random_state``.

        An int gives the same root every time; a ``RandomState`` gives its next draw
        (it is advanced), None a fresh one.
        """
        return cls(int(check_random_state(random_state).randint(SEED_BOUND)))

    @classmethod
    def unseeded(cls) -> RunRandomness:
        """The streams outside a training call: torch's global stream, process 0."""
        return cls(None)

    def __repr__(self) -> str:
        return f"RunRandomness(seed={self.seed}, process={self.process})"

    # -- the children ------------------------------------------------------------------
    def for_process(self, process: int) -> RunRandomness:
        """The same root seen from process ``process`` of a distributed run."""
        return type(self)(self.seed, process)

    def continuation(self, epochs_done: int) -> RunRandomness:
        """The root of a continuation of a net trained ``epochs_done`` epochs.

        A function of the root and of how far training has gone, so repeated
        ``partial_fit`` calls do not redraw the same crops.
        """
        sequence = np.random.SeedSequence([self._root(), epochs_done])
        return type(self)(int(sequence.generate_state(1)[0] >> 1))

    # -- the torch stream ----------------------------------------------------------------
    @contextmanager
    def torch_stream(self, device: str) -> Iterator[None]:
        """Seed torch with the root inside the block, restoring the caller's RNG after.

        On CUDA the GPU's generator is forked and seeded too. Unseeded: a no-op.
        """
        if self.seed is None:
            yield
            return
        with seeded(self.seed, device):
            yield

    def module_seed(self) -> int:
        """Seed of a model's ``DeviceGenerator``: a draw of the torch stream, plus the process.

        Drawn where the model is built (after its encoder's weights, before its
        heads'), so the weights around it are the ones of earlier versions; each
        process of a distributed run gets its own augmentations.
        """
        return int(torch.randint(SEED_BOUND, (1,))) + self.process

    def shared_seed(self) -> int:
        """A draw of the torch stream, the same in every process of a distributed run."""
        return int(torch.randint(SEED_BOUND, (1,)))

    def shared_generator(self) -> np.random.Generator:
        """A numpy Generator seeded with :meth:`shared_seed` (e.g. input statistics' crops)."""
        return np.random.default_rng(self.shared_seed())

    # -- the data stream ---------------------------------------------------------------
    @functools.cached_property
    def data(self) -> np.random.Generator:
        """The data stream: one Generator, shared by the call's datasets and checkpoints."""
        seed = self._root()
        return np.random.default_rng([seed, self.process] if self.process else seed)

    def data_seed(self) -> int:
        """An int seed for a library that takes one (k-means): the data stream's next draw."""
        return int(self.data.integers(SEED_BOUND))

    def worker_init_fn(self, seed_worker: Callable) -> Callable:
        """``seed_worker`` bound to this process: the data loader's ``worker_init_fn``.

        Process 0 gets ``seed_worker`` itself (see :func:`worker_generator`).
        """
        if not self.process:
            return seed_worker
        return functools.partial(seed_worker, process=self.process)

    def _root(self) -> int:
        if self.seed is None:
            raise ValueError("no data stream outside a training call (an unseeded RunRandomness)")
        return self.seed
