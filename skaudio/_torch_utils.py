"""Small torch helpers: device choice, seeding that leaves the global RNG alone, precision."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator

import torch

__all__ = [
    "DEVICES",
    "PRECISIONS",
    "DeviceGenerator",
    "autocast",
    "cuda_training_flags",
    "device_generators",
    "fp32_island",
    "is_device_name",
    "resolve_device",
    "resolve_precision",
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


# -- precision ---------------------------------------------------------------------------
#: the values of the ``precision`` parameter
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
_LOW_PRECISION = (torch.bfloat16, torch.float16)


def _device_type(device: torch.device | str | None) -> str:
    return "cpu" if device is None else torch.device(device).type


def resolve_precision(precision: str, device: str) -> str:
    """Turn ``"auto"`` into ``"bf16"`` on a CUDA device with native bf16, else ``"fp32"``.

    ``"fp32"``, ``"bf16"`` and ``"fp16"`` are returned unchanged, on any device (CPU
    autocast supports both half types, slowly on CPUs without native support).

    Parameters
    ----------
    precision : {"auto", "fp32", "bf16", "fp16"}
    device : str
        A resolved device (see :func:`resolve_device`).

    Returns
    -------
    precision : {"fp32", "bf16", "fp16"}

    Raises
    ------
    ValueError
        For any other ``precision``.

    Examples
    --------
    >>> from skaudio._torch_utils import resolve_precision
    >>> resolve_precision("auto", "cpu"), resolve_precision("bf16", "cpu")
    ('fp32', 'bf16')
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not supported; use one of {PRECISIONS}")
    if precision != "auto":
        return precision
    if _device_type(device) != "cuda":
        return "fp32"
    index = torch.device(device).index
    with torch.cuda.device(index if index is not None else torch.cuda.current_device()):
        native = torch.cuda.is_bf16_supported(including_emulation=False)
    return "bf16" if native else "fp32"


def autocast(
    device: torch.device | str | None, precision: str
) -> contextlib.AbstractContextManager:
    """``torch.autocast`` on ``device``'s type for ``"bf16"``/``"fp16"``; nothing for ``"fp32"``.

    Parameters
    ----------
    device : torch.device, str or None
        Where the block computes (None: the CPU).
    precision : {"fp32", "bf16", "fp16"}

    Returns
    -------
    context : context manager

    Examples
    --------
    >>> import torch
    >>> from skaudio._torch_utils import autocast
    >>> with autocast("cpu", "bf16"):
    ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
    torch.bfloat16
    """
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(_device_type(device), dtype=_AUTOCAST_DTYPES[precision])


def _to_float32(value):
    """``value`` with every bf16/fp16 tensor in it (nested in tuples, lists, dicts) cast to fp32."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype in _LOW_PRECISION else value
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple
        return type(value)(*map(_to_float32, value))
    if isinstance(value, list | tuple):
        return type(value)(map(_to_float32, value))
    if isinstance(value, dict):
        return {key: _to_float32(item) for key, item in value.items()}
    return value


def fp32_island(function: Callable) -> Callable:
    """Run ``function`` in float32: half-precision tensor arguments cast, autocast off.

    The precision-sensitive parts of mixed-precision training (the log-mel frontend,
    similarities, losses and their metrics) keep float32 this way: bf16 and fp16
    tensors among the arguments (also inside tuples, NamedTuples, lists and dicts) are
    cast with ``.float()`` (differentiably), other tensors are passed as they are
    (float64 stays float64), and autocast is disabled inside for every device type
    where it is on. Outside autocast and with float32 inputs, the call is unchanged.

    Parameters
    ----------
    function : callable

    Returns
    -------
    wrapped : callable

    Examples
    --------
    >>> import torch
    >>> from skaudio._torch_utils import fp32_island
    >>> @fp32_island
    ... def gram(x):
    ...     return x @ x.T
    >>> with torch.autocast("cpu", dtype=torch.bfloat16):
    ...     gram(torch.ones(2, 3, dtype=torch.bfloat16)).dtype
    torch.float32
    """

    @functools.wraps(function)
    def island(*args, **kwargs):
        args, kwargs = _to_float32(args), _to_float32(kwargs)
        on = [t for t in ("cpu", "cuda") if torch.is_autocast_enabled(t)]
        if not on:
            return function(*args, **kwargs)
        with contextlib.ExitStack() as stack:
            for device_type in on:
                stack.enter_context(torch.autocast(device_type, enabled=False))
            return function(*args, **kwargs)

    return island


class _Flags:
    """Save, set and restore the TF32 and cuDNN benchmark flags (legacy or new torch API)."""

    def __init__(self) -> None:
        try:  # the legacy flags, as most code sets them
            self.saved = (
                "legacy",
                torch.backends.cuda.matmul.allow_tf32,
                torch.backends.cudnn.allow_tf32,
            )
        except RuntimeError:  # flags set through the new API: reading the legacy ones fails
            self.saved = (
                "new",
                torch.backends.cuda.matmul.fp32_precision,
                torch.backends.cudnn.conv.fp32_precision,
            )
        self.benchmark = torch.backends.cudnn.benchmark

    def set(self, matmul, conv, benchmark: bool) -> None:
        if self.saved[0] == "legacy":
            torch.backends.cuda.matmul.allow_tf32 = matmul
            torch.backends.cudnn.allow_tf32 = conv
        else:
            torch.backends.cuda.matmul.fp32_precision = matmul
            torch.backends.cudnn.conv.fp32_precision = conv
        torch.backends.cudnn.benchmark = benchmark

    def fast(self) -> None:
        on = (True, True) if self.saved[0] == "legacy" else ("tf32", "tf32")
        self.set(*on, benchmark=True)

    def restore(self) -> None:
        self.set(*self.saved[1:], benchmark=self.benchmark)


@contextlib.contextmanager
def cuda_training_flags(device: torch.device | str | None) -> Iterator[None]:
    """On a CUDA ``device``: TF32 matmuls and convolutions and cuDNN autotuning in the block.

    Sets ``torch.backends.cuda.matmul.allow_tf32``, ``torch.backends.cudnn.allow_tf32``
    and ``torch.backends.cudnn.benchmark`` (or their ``fp32_precision`` equivalents,
    when the caller set TF32 through that newer API) and restores the caller's values
    afterwards, also after an exception. On any other device it does nothing: CPU
    results stay bit-identical.

    Parameters
    ----------
    device : torch.device, str or None

    Examples
    --------
    >>> import torch
    >>> from skaudio._torch_utils import cuda_training_flags
    >>> before = torch.backends.cudnn.benchmark
    >>> with cuda_training_flags("cuda"):  # flags can be set without a GPU
    ...     torch.backends.cudnn.benchmark
    True
    >>> torch.backends.cudnn.benchmark == before
    True
    """
    if _device_type(device) != "cuda":
        yield
        return
    flags = _Flags()
    flags.fast()
    try:
        yield
    finally:
        flags.restore()
