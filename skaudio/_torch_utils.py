"""Small torch helpers: device choice, seeding that leaves the global RNG alone, precision,
compilation and deterministic algorithms."""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Callable, Iterator

import torch
from torch import nn

__all__ = [
    "DEVICES",
    "PRECISIONS",
    "DeviceGenerator",
    "autocast",
    "compile_in_place",
    "cuda_training_flags",
    "deterministic_algorithms",
    "device_generators",
    "fp32_island",
    "is_compiled",
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


def _canonical_device(device: torch.device | str) -> torch.device:
    """``device`` with its GPU index: a bare ``"cuda"`` is the current GPU.

    ``torch.device("cuda")`` and ``torch.device("cuda:0")`` compare unequal although
    they name the same GPU when GPU 0 is the current one; comparing canonical devices
    (type and index) does not make that mistake. Without CUDA a bare ``"cuda"`` is
    ``"cuda:0"``.

    Examples
    --------
    >>> from skaudio._torch_utils import _canonical_device
    >>> _canonical_device("cpu"), _canonical_device("cuda:1")
    (device(type='cpu'), device(type='cuda', index=1))
    """
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        index = torch.cuda.current_device() if torch.cuda.is_available() else 0
        device = torch.device("cuda", index)
    return device


@contextlib.contextmanager
def seeded(seed: int, device: str) -> Iterator[None]:
    """Seed torch inside the block and restore the caller's RNG state afterwards.

    Everything torch draws inside (weight initialisation, data-loader shuffling,
    dropout) is then a function of ``seed`` alone, without changing the global
    random state seen by the rest of the program. A fit's seed and block come from
    :meth:`skaudio._random.RunRandomness.torch_stream`.
    """
    devices = [_canonical_device(device).index] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class DeviceGenerator:
    """A seeded ``torch.Generator`` created on first use on the device asked for.

    Modules that draw random numbers during training (augmentations, pitch shifts,
    negative sampling) own one, so their draws are a function of ``seed`` alone and
    happen on the training device. In a fit, ``seed`` is handed out by
    :class:`skaudio._random.RunRandomness` (``module_seed``, ``shared_seed``). It
    pickles without the generator (torch generators do not pickle); a fresh one is
    seeded on the next use.

    Parameters
    ----------
    seed : int
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._generator: torch.Generator | None = None

    def on(self, device: torch.device | str) -> torch.Generator:
        """The generator on ``device`` (re-created and re-seeded if the device changed).

        Devices are compared by type and index, a bare ``"cuda"`` being the current
        GPU: asking for ``"cuda"`` and then ``"cuda:0"`` (or the reverse) on GPU 0
        keeps drawing from the same generator.
        """
        device = _canonical_device(device)
        if self._generator is None or _canonical_device(self._generator.device) != device:
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
        # autotuning picks algorithms by timing them: not with deterministic algorithms
        self.set(*on, benchmark=not torch.are_deterministic_algorithms_enabled())

    def restore(self) -> None:
        self.set(*self.saved[1:], benchmark=self.benchmark)


@contextlib.contextmanager
def cuda_training_flags(device: torch.device | str | None) -> Iterator[None]:
    """On a CUDA ``device``: TF32 matmuls and convolutions and cuDNN autotuning in the block.

    Sets ``torch.backends.cuda.matmul.allow_tf32``, ``torch.backends.cudnn.allow_tf32``
    and ``torch.backends.cudnn.benchmark`` (or their ``fp32_precision`` equivalents,
    when the caller set TF32 through that newer API) and restores the caller's values
    afterwards, also after an exception. Under deterministic algorithms
    (``torch.use_deterministic_algorithms(True)``, e.g. from
    :func:`deterministic_algorithms`) autotuning stays off: it chooses convolution
    algorithms by timing them, which differs from run to run. On any other device it
    does nothing: CPU results stay bit-identical.

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


#: the environment variable that deterministic cuBLAS needs (torch checks it on every call)
_CUBLAS_CONFIG = "CUBLAS_WORKSPACE_CONFIG"


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool, device: torch.device | str | None) -> Iterator[None]:
    """With ``enabled``: torch's deterministic algorithms in the block, restored after.

    Sets ``torch.use_deterministic_algorithms(True)`` (an operation without a
    deterministic implementation on the device then raises a ``RuntimeError`` naming
    it) and ``torch.backends.cudnn.deterministic``; :func:`cuda_training_flags` leaves
    cuDNN autotuning off while they are on. On a CUDA ``device`` it also sets
    ``CUBLAS_WORKSPACE_CONFIG=:4096:8``, which torch requires for deterministic cuBLAS,
    if the environment does not set it. The caller's settings (and the environment)
    are restored afterwards, also after an exception. On the CPU, skaudio's results are
    deterministic without it: the flags change no result there.

    Parameters
    ----------
    enabled : bool
        False: the block runs under the caller's settings.
    device : torch.device, str or None

    Examples
    --------
    >>> import torch
    >>> from skaudio._torch_utils import deterministic_algorithms
    >>> with deterministic_algorithms(True, "cpu"):
    ...     torch.are_deterministic_algorithms_enabled()
    True
    >>> torch.are_deterministic_algorithms_enabled()
    False
    """
    if not enabled:
        yield
        return
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
    )
    environment = os.environ.get(_CUBLAS_CONFIG)
    if _device_type(device) == "cuda" and environment is None:
        os.environ[_CUBLAS_CONFIG] = ":4096:8"
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic = saved[2]
        if environment is None:
            os.environ.pop(_CUBLAS_CONFIG, None)


# -- compilation ---------------------------------------------------------------------------
#: keyword arguments of the ``torch.compile`` calls of :func:`compile_in_place` (a private
#: hook: the tests set a backend that needs no C++ compiler)
_COMPILE_OPTIONS: dict = {}

_CONTAINERS = (nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict)


def _compiled_parts(module: nn.Module) -> Iterator[nn.Module]:
    """The children of ``module`` that are called, looking inside containers (never called)."""
    for child in module.children():
        if isinstance(child, _CONTAINERS):
            yield from _compiled_parts(child)
        else:
            yield child


def _traceable(call: Callable) -> Callable:
    """``call`` behind a frame of its own that Dynamo traces (a new code object per call)."""

    def compiled_call(*args, **kwargs):
        return call(*args, **kwargs)

    # a code object of its own: Dynamo caches (and limits recompilations) per code object
    compiled_call.__code__ = compiled_call.__code__.replace()
    return compiled_call


def compile_in_place(module: nn.Module, enabled: bool = True) -> nn.Module:
    """Compile (``enabled``) or un-compile the submodules that ``module`` calls, in place.

    Every child of ``module`` (inside ``ModuleList`` and ``ModuleDict`` containers,
    the children of the container) gets its ``__call__`` compiled by ``torch.compile``
    in the slot that ``nn.Module.compile`` uses (``_compiled_call_impl``), so its
    parameters, buffers, ``state_dict`` keys and pickling are unchanged (the compiled
    function is not pickled: an unpickled module is plain until compiled again).

    What each method of ``module`` computes runs in its compiled children, the glue
    between them (reshapes, the pooling) in eager mode. The compiled function is a
    small wrapper around the child's ``_call_impl``, which Dynamo traces, inlining the
    module's call into one graph (why both differ from ``nn.Module.compile``: see
    :ref:`guide-gpu`). Compiling is lazy (the first call compiles)
    and idempotent (compiled parts keep their caches); ``enabled=False`` removes the
    compiled functions.

    Parameters
    ----------
    module : nn.Module
    enabled : bool, default=True

    Returns
    -------
    module : nn.Module
        The same module.

    Examples
    --------
    >>> import pickle
    >>> from skaudio._torch_utils import compile_in_place, is_compiled
    >>> from skaudio.encoders import CNNEncoder
    >>> encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    >>> keys = list(encoder.state_dict())
    >>> is_compiled(compile_in_place(encoder)), list(encoder.state_dict()) == keys
    (True, True)
    >>> is_compiled(pickle.loads(pickle.dumps(encoder)))
    False
    """
    for part in _compiled_parts(module):
        if not enabled:
            part.__dict__.pop("_compiled_call_impl", None)
        elif part.__dict__.get("_compiled_call_impl") is None:
            part._compiled_call_impl = torch.compile(
                _traceable(part._call_impl), **_COMPILE_OPTIONS
            )
    return module


def is_compiled(module: nn.Module) -> bool:
    """Whether :func:`compile_in_place` compiled ``module`` (all its parts, at least one).

    Parameters
    ----------
    module : nn.Module

    Returns
    -------
    compiled : bool
    """
    parts = list(_compiled_parts(module))
    return bool(parts) and all(p.__dict__.get("_compiled_call_impl") is not None for p in parts)
