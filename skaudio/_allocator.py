"""glibc's malloc tuned for training on the CPU: large blocks kept, and returned after fit.

The mmap threshold is raised to 32 MiB (glibc's largest) and the trim threshold to
2 GiB, so the large blocks a training step frees (activations, gradients, batches of a
few MiB) stay in the process for the next step instead of being unmapped and faulted
in again.

:func:`training_allocator` is the context manager ``fit`` runs in. It sets both
thresholds once per process with ``mallopt`` (through ``ctypes``); they are never
restored, since glibc cannot read them back. When the block ends it returns the free
memory to the system with ``malloc_trim(0)``, so a fitted process does not keep the
memory that training freed; between fits, free heap memory below 2 GiB is returned
only then. See :ref:`gpu-allocator` for why, and what it was measured to change.

It does nothing (and never raises) where it cannot or should not act: on anything but
Linux with glibc (macOS, Windows, musl), when ``SKAUDIO_NO_MALLOPT=1`` is set (the
opt-out), or when the environment already sets either threshold (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, or ``glibc.malloc.*_threshold`` in ``GLIBC_TUNABLES``): the
user's choice wins. Data-loader workers forked during ``fit`` inherit the settings.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
from collections.abc import Iterator

__all__ = ["MMAP_THRESHOLD", "OPT_OUT", "TRIM_THRESHOLD", "training_allocator", "tune_allocator"]

#: bytes from which glibc serves a block with ``mmap``: 32 MiB, the largest it accepts
MMAP_THRESHOLD = 32 * 1024**2
#: free bytes at the top of the heap before glibc trims it: ``mallopt`` takes a C ``int``,
#: so 2 GiB - 1 (the environment variable ``MALLOC_TRIM_THRESHOLD_`` accepts more)
TRIM_THRESHOLD = 2**31 - 1
#: the environment variable that turns the tuning off (``SKAUDIO_NO_MALLOPT=1``)
OPT_OUT = "SKAUDIO_NO_MALLOPT"

# glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
_USER_TUNABLES = ("glibc.malloc.mmap_threshold", "glibc.malloc.trim_threshold")

_tuned = False


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (it has ``gnu_get_libc_version``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        for name in ("gnu_get_libc_version", "mallopt", "malloc_trim"):
            getattr(libc, name)
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    return libc


def _wanted(environ=os.environ) -> bool:
    """Whether the tuning applies: no opt-out, and no threshold set by the user."""
    if environ.get(OPT_OUT, "").strip() not in ("", "0"):
        return False
    if any(name in environ for name in _USER_VARIABLES):
        return False
    return not any(name in environ.get("GLIBC_TUNABLES", "") for name in _USER_TUNABLES)


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds for this process, once.

    Returns
    -------
    tuned : bool
        Whether the thresholds are skaudio's (set now or by an earlier call); False
        where the tuning does not apply (see the module docstring). Never raises.

    Examples
    --------
    >>> from skaudio._allocator import tune_allocator
    >>> isinstance(tune_allocator(), bool)
    True
    """
    global _tuned
    if _tuned:
        return True
    if not _wanted():
        return False
    libc = _glibc()
    if libc is None:
        return False
    try:  # mallopt returns 1 on success, 0 for a value it refuses
        ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    except Exception:  # a speed setting must never fail a fit
        return False
    _tuned = ok
    return ok


@contextlib.contextmanager
def training_allocator() -> Iterator[bool]:
    """Run the block (a ``fit``) with the tuned allocator, and trim the heap after it.

    Yields
    ------
    tuned : bool
        What :func:`tune_allocator` returned.

    Examples
    --------
    >>> from skaudio._allocator import training_allocator
    >>> with training_allocator() as tuned:
    ...     pass  # train here
    """
    tuned = tune_allocator()
    try:
        yield tuned
    finally:
        if tuned:
            with contextlib.suppress(Exception):
                _glibc().malloc_trim(0)
