"""Checkpoints of a pretraining run: written after every epoch, read back to resume.

A checkpoint is one file per training stage (``<checkpoint_dir>/<stage>.pt``) holding
the model's weights, the optimiser's state, the history, the state of the callbacks
that keep one (the position in the learning-rate schedule) and every random state the
run draws from (torch's, the numpy generator of the data, the model's own
generators), so that a resumed run continues exactly as the interrupted one would
have. It is written to a temporary file and renamed, so a run killed while writing
leaves the previous epoch's checkpoint intact. A *manifest* (the estimator, its
hyper-parameters and a fingerprint of the training data, see :func:`clip_digests`;
compared as every manifest is, :mod:`skaudio._manifest`) is stored with it; resuming
with another configuration or other data raises instead of silently mixing runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.history import History
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ._atomic import atomic_write
from ._manifest import (
    clip_digests,  # noqa: F401  (an internal, importable from here)
    data_fingerprint,  # noqa: F401  (estimators import it from here)
    differing,
)
from ._torch_utils import device_generators
from .augment import spectrogram as _spectrogram
from .augment import waveform as _waveform
from .clips import AudioClips, FileClips

__all__ = [
    "EpochCheckpoint",
    "ResumeCheckpoint",
]

#: version of the file layout; a file of another version is refused
#: (2: the manifest identifies the data by content, the per-clip digests are stored;
#: 3: the learning-rate schedule, its parameters in the manifest, its position saved)
FORMAT = 3


def _unwrapped(module: nn.Module) -> nn.Module:
    """The model inside a ``DistributedDataParallel`` wrapper (or the model itself)."""
    return module.module if isinstance(module, DistributedDataParallel) else module


def _model_device(net) -> torch.device:
    """Where the net's model lives (skorch's ``device`` is None under accelerate)."""
    return next(_unwrapped(net.module_).parameters()).device


def _plain(value):
    """``value`` with numpy scalars made Python numbers (``torch.load`` safe-loads those)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _generator_states(module: nn.Module) -> list:
    """The state of each :class:`DeviceGenerator` of ``module`` (None: not used yet)."""
    return [
        None if g._generator is None else g._generator.get_state()
        for g in device_generators(module)
    ]


def _set_generator_states(module: nn.Module, states: list, device) -> None:
    """Put back what :func:`_generator_states` saved (an unused generator stays fresh)."""
    for generator, saved in zip(device_generators(module), states, strict=True):
        if saved is not None:
            generator.on(device).set_state(saved)


def _random_states(net, rng: np.random.Generator) -> dict:
    states = {"torch": torch.get_rng_state(), "numpy": rng.bit_generator.state}
    states["model"] = _generator_states(_unwrapped(net.module_))
    criterion = getattr(net, "criterion_", None)  # e.g. CPC's sampled negatives
    if isinstance(criterion, nn.Module):
        states["criterion"] = _generator_states(criterion)
    if _model_device(net).type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(_model_device(net))
    return states


def _stateful_callbacks(net) -> list:
    """The net's named callbacks that keep a state (``state_dict``/``load_state_dict``)."""
    return [
        (name, callback)
        for name, callback in getattr(net, "callbacks_", [])
        if callable(getattr(callback, "state_dict", None))
        and callable(getattr(callback, "load_state_dict", None))
    ]


def net_state(net, rng: np.random.Generator) -> dict:
    """What a checkpoint saves of a net: epochs, weights, optimiser, history, callbacks, RNGs.

    ``callbacks`` holds the ``state_dict()`` of every callback that has one (e.g.
    the position of a :class:`skaudio.training.LearningRateSchedule`), by name. The
    tensors are the net's own (not copies): ``copy.deepcopy`` the result to keep a
    snapshot that :func:`restore_checkpoint` can put back.
    """
    return {
        "epochs": len(net.history),
        "module": _unwrapped(net.module_).state_dict(),
        "optimizer": net.optimizer_.state_dict(),
        "history": _plain(net.history.to_list()),
        "callbacks": _plain({name: cb.state_dict() for name, cb in _stateful_callbacks(net)}),
        "random": _random_states(net, rng),
    }


class EpochCheckpoint(Callback):
    """skorch callback saving a checkpoint of the net at the end of every epoch.

    Parameters
    ----------
    path : str or Path
        The checkpoint file; its folder is created if needed.
    manifest : dict
        JSON-like description of the run, compared on resume
        (see :func:`load_checkpoint`).
    rng : numpy.random.Generator
        The run's numpy generator (crop offsets, k-means seeds), saved with the rest.
    is_writer : bool, default=True
        Whether this process writes (in multi-process training, only the first).
    digests : ndarray of shape (n_clips,) or None, default=None
        The :func:`clip_digests` of the training clips, saved so that a refused resume
        can name the clips that differ.

    Examples
    --------
    >>> import tempfile, numpy as np, torch
    >>> from skorch import NeuralNetRegressor
    >>> from skaudio.checkpoint import EpochCheckpoint, load_checkpoint
    >>> X, y = torch.randn(16, 3), torch.randn(16, 1)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     callback = EpochCheckpoint(f"{folder}/model.pt", {"run": 1}, np.random.default_rng(0))
    ...     net = NeuralNetRegressor(torch.nn.Linear, module__in_features=3,
    ...                              module__out_features=1, max_epochs=2, train_split=None,
    ...                              callbacks=[callback], verbose=0).fit(X, y)
    ...     state = load_checkpoint(f"{folder}/model.pt", {"run": 1})
    >>> state["epochs"], sorted(state["module"])
    (2, ['bias', 'weight'])
    """

    def __init__(
        self,
        path: str | Path,
        manifest: dict,
        rng: np.random.Generator,
        is_writer: bool = True,
        digests: np.ndarray | None = None,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.rng = rng
        self.is_writer = is_writer
        self.digests = digests

    def on_epoch_end(self, net, **kwargs) -> None:
        if not self.is_writer:
            return
        state = {"format": FORMAT, "manifest": self.manifest, **net_state(net, self.rng)}
        if self.digests is not None:
            state["digests"] = torch.from_numpy(np.asarray(self.digests, dtype=np.int64))
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda file: torch.save(state, file))


class ResumeCheckpoint(Callback):
    """skorch callback resuming a run from the checkpoint an :class:`EpochCheckpoint` wrote.

    The reading half of the pair, as skorch's ``LoadInitState`` is of its
    ``Checkpoint``: when the net is initialised the file is read and checked against
    the run's manifest (:func:`load_checkpoint`; a missing file is a fresh run), and
    at the start of training the net is put back as saved
    (:func:`restore_checkpoint`): weights, optimiser, history, the state of every
    callback that keeps one, torch's random state, ``rng``'s and the model's own
    generators. Training then goes on from the next epoch exactly as the
    interrupted run would have. It must come before the callbacks whose state it
    restores (the learning-rate schedule, early stopping): skaudio's trainer puts it
    first.

    Parameters
    ----------
    path : str or Path
        The checkpoint file.
    manifest : dict
        The manifest of the run about to resume.
    rng : numpy.random.Generator
        The run's numpy generator; its state is overwritten by the saved one.
    digests : ndarray of shape (n_clips,) or None, default=None
        The :func:`clip_digests` of the run's clips (to name a clip that differs).
    clips : AudioClips or None, default=None
        The run's clips (to name that clip's file).
    restart_on : tuple of str, default=()
        Manifest entries that make a checkpoint stale (see :func:`load_checkpoint`):
        the run then starts over.

    Attributes
    ----------
    state_ : dict or None
        What :func:`load_checkpoint` read; None for a fresh run.
    epochs_ : int
        Epochs the checkpoint holds (0 for a fresh run).

    Examples
    --------
    >>> import tempfile, numpy as np, torch
    >>> from skorch import NeuralNetRegressor
    >>> from skaudio.checkpoint import EpochCheckpoint, ResumeCheckpoint
    >>> X, y = torch.randn(16, 3), torch.randn(16, 1)
    >>> def net(*callbacks, epochs):
    ...     return NeuralNetRegressor(torch.nn.Linear, module__in_features=3,
    ...         module__out_features=1, max_epochs=epochs, train_split=None,
    ...         callbacks=list(callbacks), verbose=0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = f"{folder}/model.pt"
    ...     _ = net(EpochCheckpoint(path, {"run": 1}, np.random.default_rng(0)), epochs=2).fit(X, y)
    ...     resume = ResumeCheckpoint(path, {"run": 1}, np.random.default_rng(0))
    ...     resumed = net(resume, epochs=1).initialize()
    ...     done = resume.epochs_
    ...     _ = resumed.partial_fit(X, y)
    >>> done, len(resumed.history)
    (2, 3)
    """

    def __init__(
        self,
        path: str | Path,
        manifest: dict,
        rng: np.random.Generator,
        digests: np.ndarray | None = None,
        clips: AudioClips | None = None,
        restart_on: tuple[str, ...] = (),
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.rng = rng
        self.digests = digests
        self.clips = clips
        self.restart_on = restart_on

    def initialize(self):
        self.state_ = None
        if Path(self.path).exists():
            self.state_ = load_checkpoint(
                self.path,
                self.manifest,
                digests=self.digests,
                clips=self.clips,
                restart_on=tuple(self.restart_on),
            )
        self.epochs_ = 0 if self.state_ is None else int(self.state_["epochs"])
        self.restored_ = False
        return self

    def restore(self, net) -> None:
        """Put ``net`` back as the checkpoint saved it (once; nothing for a fresh run)."""
        if self.state_ is not None and not self.restored_:
            restore_checkpoint(net, self.state_, self.rng)
        self.restored_ = True

    def on_train_begin(self, net, **kwargs) -> None:
        self.restore(net)


def _describe(manifest: dict, other: dict, keys: set) -> str:
    """The differences between two manifests, e.g. ``embedding_dim: checkpoint 16, now 8``."""
    if manifest.get("estimator") != other.get("estimator"):
        keys = {"estimator"}  # other parameters differ too: that says enough
    if keys & {"n_clips", "n_samples"}:
        keys = keys - {"data"}  # other clips, obviously

    def difference(key) -> str:
        if key == "data":
            return "data: other clips"
        return f"{key}: checkpoint {manifest.get(key)}, now {other.get(key)}"

    return "; ".join(difference(key) for key in sorted(keys, key=str))


def _differing_clips(saved, digests, clips) -> str:
    """Which clips differ from those a checkpoint was trained on, in words."""
    if saved is None or digests is None or len(saved) != len(digests):
        return "the clips' contents differ"
    differ = np.flatnonzero(np.asarray(saved) != np.asarray(digests))
    first = int(differ[0]) if len(differ) else 0
    name = f"clip {first}"
    if isinstance(clips, FileClips):
        name += f" ({clips.paths[first]!r}: another path, size or modification time)"
    return f"{len(differ)} of {len(digests)} clips differ, the first being {name}"


def _current_names(manifest: dict) -> dict:
    """``manifest`` with the former names of renamed augmentations replaced by today's.

    A manifest stores each parameter's ``repr``; a checkpoint of a run whose
    ``augmentations`` was a list of, e.g., ``TimeMasking(...)`` objects (the name
    before 0.2) must resume under ``SpecTimeMask(...)``, the same object.
    """
    renamed = [
        (cls.__qualname__, cls.renamed_to.__name__)
        for module in (_spectrogram, _waveform)
        for cls in vars(module).values()
        if isinstance(cls, type) and hasattr(cls, "renamed_to")
    ]

    def current(value):
        if not isinstance(value, str):
            return value
        for old, new in renamed:
            value = re.sub(rf"\b{old}\(", f"{new}(", value)
        return value

    return {key: current(value) for key, value in manifest.items()}


def load_checkpoint(
    path: str | Path,
    manifest: dict,
    *,
    digests: np.ndarray | None = None,
    clips: AudioClips | None = None,
    restart_on: tuple[str, ...] = (),
) -> dict | None:
    """Read a checkpoint written by :class:`EpochCheckpoint` and check it fits the run.

    Parameters
    ----------
    path : str or Path
    manifest : dict
        The manifest of the run about to resume; it must equal the stored one.
    digests : ndarray of shape (n_clips,) or None, default=None
        The :func:`clip_digests` of the run's clips: with them, a checkpoint of other
        data names the first clip that differs.
    clips : AudioClips or None, default=None
        The run's clips, to name that clip's file.
    restart_on : tuple of str, default=()
        Manifest entries that make a checkpoint *stale* rather than foreign (e.g. the
        tokenizer a later training stage was trained on): when only these differ,
        ``None`` is returned and the stage starts over.

    Returns
    -------
    state : dict or None
        ``epochs``, ``module`` and ``optimizer`` state dicts, ``history`` (a list),
        ``callbacks`` states and ``random`` states; ``None`` for a stale checkpoint.

    Raises
    ------
    ValueError
        If the file is unreadable or truncated, of another format, or was written by
        a run with another manifest: other parameters (the differences are listed)
        or other training data (the clips that differ are counted and the first is
        named).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a damaged file
        # (torch's own message can run to many lines and suggest unsafe loading)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(
            f"checkpoint {os.fspath(path)!r} is corrupt or unreadable "
            f"({type(error).__name__}: {reason[:200]}); delete it to start the run over"
        ) from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(
            f"checkpoint {os.fspath(path)!r} is not a skaudio checkpoint of format {FORMAT}; "
            "delete it to start the run over"
        )
    saved = _current_names(state["manifest"])
    differ = set(differing(saved, manifest))
    if differ and differ <= set(restart_on):
        return None
    differ -= set(restart_on)
    if differ == {"data"}:
        saved_digests = state.get("digests")
        raise ValueError(
            f"checkpoint {os.fspath(path)!r} was trained on other data (the same number of "
            "clips and samples, but "
            f"{_differing_clips(saved_digests, digests, clips)}): a checkpoint_dir resumes "
            "one fit on one data set; give a fit on other data its own checkpoint_dir (or "
            "none: e.g. in cross-validation every fold fits other clips), or delete the "
            "checkpoint to start over"
        )
    if differ:
        raise ValueError(
            f"checkpoint {os.fspath(path)!r} belongs to another run ("
            f"{_describe(saved, manifest, differ)}); use another checkpoint_dir, "
            "restore those settings, or delete the checkpoint to start over"
        )
    return state


def restore_checkpoint(net, state: dict, rng: np.random.Generator) -> None:
    """Put an initialised net, torch's and ``rng``'s random states back as saved.

    The weights, the optimiser, the history, the state of every callback saved under
    its name (a callback that was not saved keeps its own) and the random states.

    Parameters
    ----------
    net : skorch.NeuralNet
        Initialised, with the same module and optimiser as the saved run.
    state : dict
        What :func:`load_checkpoint` returned.
    rng : numpy.random.Generator
        The run's numpy generator; its state is overwritten.
    """
    _unwrapped(net.module_).load_state_dict(state["module"])
    net.optimizer_.load_state_dict(state["optimizer"])
    net.history = History(state["history"])
    saved = state.get("callbacks", {})
    for name, callback in _stateful_callbacks(net):
        if name in saved:
            callback.load_state_dict(saved[name])
    random = state["random"]
    torch.set_rng_state(random["torch"])
    if "cuda" in random and _model_device(net).type == "cuda":
        torch.cuda.set_rng_state(random["cuda"], _model_device(net))
    rng.bit_generator.state = random["numpy"]
    _set_generator_states(_unwrapped(net.module_), random["model"], _model_device(net))
    if "criterion" in random:  # checkpoints written before the criterion's were saved lack it
        _set_generator_states(net.criterion_, random["criterion"], _model_device(net))
