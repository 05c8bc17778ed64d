"""Files written whole or not at all: a killed process never leaves half a file."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write"]


def atomic_write(path: Path, write: Callable[[IO], object], mode: str = "wb") -> None:
    """Write through a temporary file of the same folder, then rename it over ``path``.

    The temporary file is created like any other file (permissions from the umask), so
    the result has the permissions a plain ``open(path, "w")`` would give it.

    Parameters
    ----------
    path : Path
        The file to write.
    write : callable
        ``write(file)`` writes the contents to the open file object.
    mode : {"wb", "w"}, default="wb"
        Binary or text (UTF-8, no newline translation).
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    text = {} if "b" in mode else {"newline": "", "encoding": "utf-8"}
    try:
        with open(temporary, mode.replace("w", "x"), **text) as f:
            write(f)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
