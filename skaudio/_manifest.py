"""Manifests: what a stored result was made from, recorded with it and checked on resume.

A manifest is a dict of JSON-like entries stored with what it describes. Resuming
builds the manifest of the run about to continue and compares it with the stored
one, entry by entry (:func:`differing`); each owner explains the differences in its
own words. Two results keep one: a training checkpoint (:mod:`skaudio.checkpoint`:
the estimator, its learning parameters and the data, fingerprinted by
:func:`clip_digests`) and a folder-embedding job (:mod:`skaudio._shards`: the model
file, the folder and its files, identified by :func:`file_stamp`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ._atomic import atomic_write
from .clips import AudioClips, FileClips

__all__ = [
    "clip_digests",
    "data_fingerprint",
    "differing",
    "file_stamp",
    "read_manifest",
    "write_manifest",
]


def differing(recorded: Mapping, wanted: Mapping, keys: Iterable | None = None) -> list:
    """The entries whose values differ between two manifests (missing differs from present).

    Parameters
    ----------
    recorded, wanted : dict
        The stored manifest and the one of the run about to resume.
    keys : iterable or None, default=None
        The entries to compare, in the order returned; ``None``: every entry of
        either, sorted by name.

    Returns
    -------
    keys : list

    Examples
    --------
    >>> from skaudio._manifest import differing
    >>> differing({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4})
    ['b', 'c']
    """
    keys = sorted(set(recorded) | set(wanted), key=str) if keys is None else keys
    return [key for key in keys if recorded.get(key) != wanted.get(key)]


def file_stamp(path: str | os.PathLike) -> list[int] | None:
    """``[size in bytes, modification time in ns]`` of a file, ``None`` if it cannot be found."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def read_manifest(path: Path) -> dict:
    """The manifest stored as JSON in ``path``; a ``ValueError`` if it cannot be read."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {path}: {error}") from error


def write_manifest(path: Path, manifest: dict) -> None:
    """Store ``manifest`` as JSON in ``path``, renamed into place once complete."""
    atomic_write(path, lambda f: f.write(json.dumps(manifest, indent=1)), mode="w")


def clip_digests(clips: AudioClips) -> np.ndarray:
    """A 64-bit fingerprint of every clip, to recognise the training data of a checkpoint.

    A clip in memory is identified by its length and all its samples (hashing them
    costs less than one epoch of reading them); a file by its absolute path, size and
    modification time, without reading any sample.

    Parameters
    ----------
    clips : AudioClips

    Returns
    -------
    digests : ndarray of shape (n_clips,), dtype int64

    Raises
    ------
    ValueError
        If a file can no longer be found (naming the clip and its path).

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio.clips import ArrayClips
    >>> from skaudio.checkpoint import clip_digests
    >>> a = clip_digests(ArrayClips([np.zeros(4, np.float32), np.ones(4, np.float32)]))
    >>> b = clip_digests(ArrayClips([np.zeros(4, np.float32), np.zeros(4, np.float32)]))
    >>> a.shape, bool(a[0] == b[0]), bool(a[1] == b[1])
    ((2,), True, False)
    """
    digests = np.empty(len(clips), dtype=np.int64)
    for index in range(len(clips)):
        digest = hashlib.blake2b(digest_size=8)
        if isinstance(clips, FileClips):
            path = os.path.abspath(clips.paths[index])
            try:
                stat = os.stat(path)
            except OSError as error:
                raise ValueError(
                    f"clip {index} ({clips.paths[index]!r}): cannot read the file "
                    f"({error.strerror or error})"
                ) from error
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
        else:
            samples = np.ascontiguousarray(clips[index], dtype=np.float32)
            digest.update(len(samples).to_bytes(8, "little"))
            digest.update(memoryview(samples).cast("B"))
        digests[index] = int.from_bytes(digest.digest(), "little", signed=True)
    return digests


def data_fingerprint(digests: np.ndarray) -> str:
    """One hex digest of the per-clip ``digests`` (the ``data`` entry of a manifest)."""
    return hashlib.blake2b(np.ascontiguousarray(digests).tobytes(), digest_size=16).hexdigest()
