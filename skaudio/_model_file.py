"""Read a model file: a fitted embedder, or a Pipeline starting with one, saved by joblib.

Shared by :mod:`skaudio.hear`, :mod:`skaudio.folder` and the command line, so that
every entry point accepts the same files and refuses bad ones with the same messages.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import joblib
from sklearn.pipeline import Pipeline

from .estimators import BaseAudioEmbedder

__all__ = ["cached_model_file", "file_stamp", "load_model_file"]


def load_model_file(
    path: str | os.PathLike, *, caller: str = "load_model"
) -> tuple[object, BaseAudioEmbedder]:
    """Load a file written by ``joblib.dump`` and find its skaudio embedder.

    ``joblib.load`` unpickles the file: load only files you trust.

    Parameters
    ----------
    path : str or os.PathLike
        File holding a skaudio embedder, or a ``Pipeline`` whose first step is one.
    caller : str, default="load_model"
        Name of the function asking, used in the message for an empty path.

    Returns
    -------
    obj : object
        What the file holds: the embedder, or the Pipeline.
    embedder : BaseAudioEmbedder
        The embedder itself (``obj``, or the Pipeline's first step). Whether it is
        fitted is not checked here.

    Raises
    ------
    ValueError
        If the path is empty, the file cannot be read, or it holds no skaudio embedder.

    Examples
    --------
    >>> import joblib, tempfile
    >>> from skaudio import COLAEmbedder
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = joblib.dump(COLAEmbedder(sample_rate=8000), f"{folder}/model.joblib")
    ...     obj, embedder = load_model_file(f"{folder}/model.joblib")
    >>> obj is embedder, embedder.sample_rate
    (True, 8000)
    """
    if not path:
        raise ValueError(f"{caller} needs the path of a model saved with joblib.dump")
    try:
        obj = joblib.load(path)
    except Exception as error:  # joblib raises many kinds; all mean "not a model file"
        raise ValueError(f"cannot load a model from {path!s}: {error}") from error
    embedder = obj.steps[0][1] if isinstance(obj, Pipeline) else obj
    if not isinstance(embedder, BaseAudioEmbedder):
        raise ValueError(
            f"{path!s} holds a {type(embedder).__name__}, not a skaudio embedder "
            "(or a Pipeline starting with one)"
        )
    return obj, embedder


def file_stamp(path: str | os.PathLike) -> tuple[int, int]:
    """``(size in bytes, modification time in ns)`` of a file: what says it changed."""
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


#: resolved path -> (file_stamp, (obj, embedder)); one entry per model file, per process
_CACHE: dict[str, tuple[tuple[int, int], tuple[object, BaseAudioEmbedder]]] = {}
_CACHE_LOCK = threading.Lock()


def cached_model_file(path: str | os.PathLike) -> tuple[object, BaseAudioEmbedder]:
    """:func:`load_model_file`, loaded once per process while the file is unchanged.

    Parallel workers (loky processes, dask workers) run many tasks each: the model is
    read by the first task of a worker and reused by the next ones; a file rewritten
    since (another size or modification time) is read again. The embedder's network is
    put in evaluation mode once here, so that threads embedding with it at the same
    time (dask workers with several threads) never see it switch to training mode.

    Parameters
    ----------
    path : str or os.PathLike
        As for :func:`load_model_file`.

    Returns
    -------
    obj, embedder
        As :func:`load_model_file` returns them; the same objects on every call, so
        callers must not modify them.

    Examples
    --------
    >>> import joblib, tempfile
    >>> from skaudio import COLAEmbedder
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = joblib.dump(COLAEmbedder(sample_rate=8000), f"{folder}/model.joblib")
    ...     first = cached_model_file(f"{folder}/model.joblib")
    ...     again = cached_model_file(f"{folder}/model.joblib")
    >>> first[0] is again[0]
    True
    """
    if not path:
        raise ValueError("cached_model_file needs the path of a model saved with joblib.dump")
    try:
        key = str(Path(path).resolve())
        stamp = file_stamp(key)
    except (OSError, TypeError, ValueError):
        return load_model_file(path)  # unreadable: raises its clear "cannot load" error
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        loaded = load_model_file(key)
        network = getattr(getattr(loaded[1], "net_", None), "module_", None)
        if network is not None:
            network.eval()
        _CACHE[key] = (stamp, loaded)
        return loaded
