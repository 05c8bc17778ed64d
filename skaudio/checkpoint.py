"""Checkpoints of a pretraining run: written after every epoch, read back to resume.

A checkpoint is one file per training stage (``<checkpoint_dir>/<stage>.pt``) holding
the model's weights, the optimiser's state, the history and every random state the
run draws from (torch's, the numpy generator of the data, the model's own
generators), so that a resumed run continues exactly as the interrupted one would
have. It is written to a temporary file and renamed, so a run killed while writing
leaves the previous epoch's checkpoint intact. A *manifest* (the estimator, its
hyper-parameters and a summary of the training data) is stored with it; resuming
with another configuration raises instead of silently mixing runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.history import History
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ._atomic import atomic_write
from ._torch_utils import device_generators

__all__ = ["EpochCheckpoint", "load_checkpoint", "restore_checkpoint"]

#: version of the file layout; a file of another version is refused
FORMAT = 1


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


def _random_states(net, rng: np.random.Generator) -> dict:
    generators = [
        None if g._generator is None else g._generator.get_state()
        for g in device_generators(_unwrapped(net.module_))
    ]
    states = {"torch": torch.get_rng_state(), "numpy": rng.bit_generator.state}
    states["model"] = generators
    if _model_device(net).type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(_model_device(net))
    return states


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
        self, path: str | Path, manifest: dict, rng: np.random.Generator, is_writer: bool = True
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.rng = rng
        self.is_writer = is_writer

    def on_epoch_end(self, net, **kwargs) -> None:
        if not self.is_writer:
            return
        state = {
            "format": FORMAT,
            "manifest": self.manifest,
            "epochs": len(net.history),
            "module": _unwrapped(net.module_).state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "history": _plain(net.history.to_list()),
            "random": _random_states(net, self.rng),
        }
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda file: torch.save(state, file))


def _describe(manifest: dict, other: dict) -> str:
    """The differences between two manifests, e.g. ``embedding_dim: checkpoint 16, now 8``."""
    keys = sorted(set(manifest) | set(other), key=str)
    if manifest.get("estimator") != other.get("estimator"):
        keys = ["estimator"]  # other parameters differ too: that says enough
    return "; ".join(
        f"{key}: checkpoint {manifest.get(key)}, now {other.get(key)}"
        for key in keys
        if manifest.get(key) != other.get(key)
    )


def load_checkpoint(path: str | Path, manifest: dict) -> dict:
    """Read a checkpoint written by :class:`EpochCheckpoint` and check it fits the run.

    Parameters
    ----------
    path : str or Path
    manifest : dict
        The manifest of the run about to resume; it must equal the stored one.

    Returns
    -------
    state : dict
        ``epochs``, ``module`` and ``optimizer`` state dicts, ``history`` (a list)
        and ``random`` states.

    Raises
    ------
    ValueError
        If the file is unreadable or truncated, of another format, or was written by
        a run with another manifest (the differences are listed).
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
    if state["manifest"] != manifest:
        raise ValueError(
            f"checkpoint {os.fspath(path)!r} belongs to another run ("
            f"{_describe(state['manifest'], manifest)}); use another checkpoint_dir, "
            "restore those settings, or delete the checkpoint to start over"
        )
    return state


def restore_checkpoint(net, state: dict, rng: np.random.Generator) -> None:
    """Put an initialised net, torch's and ``rng``'s random states back as saved.

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
    random = state["random"]
    torch.set_rng_state(random["torch"])
    if "cuda" in random and _model_device(net).type == "cuda":
        torch.cuda.set_rng_state(random["cuda"], _model_device(net))
    rng.bit_generator.state = random["numpy"]
    model = _unwrapped(net.module_)
    for generator, saved in zip(device_generators(model), random["model"], strict=True):
        if saved is not None:
            generator.on(_model_device(net)).set_state(saved)
