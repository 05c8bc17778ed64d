"""Small torch helpers: device choice and seeding that leaves the global RNG alone."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import torch

__all__ = [
    "DEVICES",
    "DeviceGenerator",
    "device_generators",
    "is_device_name",
    "resolve_device",
    "seeded",
]

#: the values of the ``device`` parameter, in words
DEVICES = "'auto', 'cpu', 'cuda' or 'cuda:N' (N the index of a visible GPU)"

_DEVICE_NAME = re.compile(r"auto|cpu|cuda(:[0-9]+)?")


def is_device_name(device: object) -> bool:
    """Whether ``device`` is one of :data:`DEVICES` (spelling only, not availability)."""
    return isinstance(device, str) and _DEVICE_NAME.fullmatch(device) is not None


def resolve_device(device: str) -> str:
    """Turn ``"auto"`` into ``"cuda"`` when a GPU is visible, else ``"cpu"``.

    ``"cpu"``, ``"cuda"`` and ``"cuda:N"`` are returned unchanged after checking that
    the GPU exists.

    Raises
    ------
    ValueError
        For any other value (``"mps"``, ``"meta"``, ...: the models are trained and
        tested on CPU and CUDA only), for ``"cuda"`` without CUDA, and for a GPU index
        that is not visible.
    """
    if not is_device_name(device):
        raise ValueError(f"device={device!r} is not supported; use {DEVICES}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available; "
                "use device='auto' or 'cpu'"
            )
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} names GPU {index}, but {torch.cuda.device_count()} "
                "GPU(s) are visible (indices from 0); use another index, 'cuda' or 'auto'"
            )
    return device


@contextlib.contextmanager
def seeded(seed: int, device: str) -> Iterator[None]:
    """Seed torch inside the block and restore the caller's RNG state afterwards.

    Everything torch draws inside (weight initialisation, data-loader shuffling,
    dropout) is then a function of ``seed`` alone, without changing the global
    random state seen by the rest of the program.
    """
    devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class DeviceGenerator:
    """A seeded ``torch.Generator`` created on first use on the device asked for.

    Modules that draw random numbers during training (augmentations, pitch shifts,
    negative sampling) own one, so their draws are a function of ``seed`` alone and
    happen on the training device. It pickles without the generator (torch
    generators do not pickle); a fresh one is seeded on the next use.

    Parameters
    ----------
    seed : int
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._generator: torch.Generator | None = None

    def on(self, device: torch.device | str) -> torch.Generator:
        """The generator on ``device`` (re-created and re-seeded if the device changed)."""
        device = torch.device(device)
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device).manual_seed(self.seed)
        return self._generator

    def __getstate__(self):
        return {"seed": self.seed, "_generator": None}


def device_generators(module: torch.nn.Module) -> list[DeviceGenerator]:
    """The :class:`DeviceGenerator` of every submodule of ``module``, in module order."""
    return [
        value
        for submodule in module.modules()
        for value in vars(submodule).values()
        if isinstance(value, DeviceGenerator)
    ]
