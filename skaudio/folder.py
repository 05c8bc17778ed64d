"""Embed every audio file of a folder, in parallel, in resumable shards.

:func:`embed_folder` splits the sorted file list into shards; each shard is one
:mod:`joblib` task, so the work runs on any joblib backend: local processes (``loky``,
the default) or a dask cluster (``with joblib.parallel_config(backend="dask"):``). A
task writes its shard's embeddings to ``output_dir`` itself, and a later call with the
same arguments skips the shards already written: an interrupted job resumes where it
stopped. :func:`load_folder_embeddings` reads the result back.

Layout of ``output_dir``::

    manifest.json              model file (path, size, mtime), folder, shard_size, files
    .lock                      locked by the running job (holds its process id)
    shards/shard-00000.npy     float32 (n_embedded_files, n_features), one row per file
    shards/shard-00000.stamps.json  size and mtime of each of the shard's files when read
    shards/shard-00000.csv     the relative path of each row; written last: the shard is done
    shards/shard-00000.errors.csv  files that could not be embedded (path, error), if any
    index.csv                  path, shard, row of every embedded file, in file order
    errors.csv                 path, error of every file that could not be embedded
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

import joblib
import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from tqdm import tqdm

from ._atomic import atomic_write
from ._model_file import cached_model_file, file_stamp
from ._shards import (
    file_stamps,
    job_lock,
    merge_shards,
    read_csv,
    shard_file,
    shard_is_current,
    start_or_resume,
    write_csv,
    write_stamps,
)
from .clips import as_clips
from .exceptions import AudioInputWarning

__all__ = [
    "AUDIO_EXTENSIONS",
    "FolderEmbedding",
    "embed_folder",
    "list_audio_files",
    "load_folder_embeddings",
]

#: file name endings taken for audio by default (compared without case)
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au")

_MANIFEST_FORMAT = 1


def list_audio_files(
    folder: str | os.PathLike,
    extensions: Iterable[str] = AUDIO_EXTENSIONS,
    *,
    follow_symlinks: bool = False,
) -> list[Path]:
    """Every audio file under ``folder``, recursively, in a deterministic order.

    Files and folders whose name starts with ``"."`` (``.git``, macOS ``._x.wav``
    resource forks) are left out. Symbolic links to folders are not followed; links to
    files are taken if they resolve to a file inside ``folder``, and links that lead
    out of it are left out with an :class:`~skaudio.exceptions.AudioInputWarning`
    listing them, unless ``follow_symlinks=True``.

    Parameters
    ----------
    folder : str or os.PathLike
        Folder to search.
    extensions : iterable of str, default=AUDIO_EXTENSIONS
        File name endings to take, with or without the dot, in any case.
    follow_symlinks : bool, default=False
        Also take links to files outside ``folder``.

    Returns
    -------
    paths : list of Path
        ``folder / relative_path`` for each file, sorted by the relative path (with
        ``/`` separators), so the order is the same on every machine.

    Raises
    ------
    ValueError
        If ``folder`` is not an existing folder, or holds no audio file.

    Warns
    -----
    AudioInputWarning
        If links to files outside ``folder`` were left out.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     for name in ["b.wav", "a/c.FLAC", "notes.txt"]:
    ...         (Path(folder) / name).parent.mkdir(exist_ok=True)
    ...         (Path(folder) / name).touch()
    ...     [p.relative_to(folder).as_posix() for p in list_audio_files(folder)]
    ['a/c.FLAC', 'b.wav']
    """
    root = Path(folder)
    if not root.exists():
        raise ValueError(f"folder {os.fspath(folder)!r} does not exist")
    if not root.is_dir():
        raise ValueError(f"{os.fspath(folder)!r} is a file, not a folder")
    if isinstance(extensions, str):
        extensions = [extensions]
    endings = tuple("." + e.lower().lstrip(".") for e in extensions)
    if not endings:
        raise ValueError("extensions is empty: give at least one, e.g. ('.wav',)")
    relative: list[str] = []
    outside: list[str] = []  # links to files out of the folder
    resolved_root = root.resolve()
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        base = Path(directory).relative_to(root)
        for name in names:
            path = Path(directory) / name
            if name.startswith(".") or not name.lower().endswith(endings) or not path.is_file():
                continue
            if (
                not follow_symlinks
                and path.is_symlink()
                and not path.resolve().is_relative_to(resolved_root)
            ):
                outside.append((base / name).as_posix())
            else:
                relative.append((base / name).as_posix())
    skipped = ""
    if outside:
        outside.sort()
        more = f" and {len(outside) - 3} more" if len(outside) > 3 else ""
        skipped = (
            f"{len(outside)} link(s) to files outside the folder left out "
            f"({', '.join(outside[:3])}{more}); pass follow_symlinks=True to take them"
        )
        if relative:
            warnings.warn(f"folder {os.fspath(folder)!r}: {skipped}", AudioInputWarning, 2)
    if not relative:
        raise ValueError(
            f"folder {os.fspath(folder)!r} holds no audio file (looked for {', '.join(endings)})"
            + (f"; {skipped}" if skipped else "")
        )
    return [root / name for name in sorted(relative)]


@dataclass(frozen=True)
class FolderEmbedding:
    """What :func:`embed_folder` did; the embeddings themselves are in ``output_dir``.

    Attributes
    ----------
    output_dir : Path
        Where the shards, ``index.csv``, ``errors.csv`` and ``manifest.json`` are.
    n_files : int
        Audio files found under the folder.
    n_embedded : int
        Files embedded (rows of ``index.csv``).
    n_errors : int
        Files that could not be embedded (rows of ``errors.csv``).
    n_shards : int
        Shards the files were split into.
    n_shards_computed : int
        Shards computed by this call.
    n_shards_skipped : int
        Shards found done by an earlier call and not computed again.
    n_files_computed : int
        Files in the shards computed by this call.
    seconds : float
        Duration of the call.
    """

    output_dir: Path
    n_files: int
    n_embedded: int
    n_errors: int
    n_shards: int
    n_shards_computed: int
    n_shards_skipped: int
    n_files_computed: int
    seconds: float

    def load(self) -> tuple[list[str], np.ndarray]:
        """``(paths, embeddings)``: see :func:`load_folder_embeddings`."""
        return load_folder_embeddings(self.output_dir)


def embed_folder(
    model: str | os.PathLike,
    folder: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    shard_size: int = 256,
    n_jobs: int | None = None,
    extensions: Iterable[str] = AUDIO_EXTENSIONS,
    follow_symlinks: bool = False,
    verbose: int = 0,
) -> FolderEmbedding:
    """Embed every audio file under a folder, in parallel shards, resuming earlier runs.

    The files (:func:`list_audio_files`) are cut, in sorted order, into shards of
    ``shard_size``; each shard is one :class:`joblib.Parallel` task, which loads the
    model (once per worker process: later tasks of the worker reuse it), embeds the
    shard with one ``transform`` call and writes it to ``output_dir/shards``. Files that
    cannot be read (corrupt, truncated, empty, NaN samples, changed or deleted while
    read) are recorded as errors, not fatal. At the end the shards are indexed in
    ``index.csv`` and ``errors.csv``.

    Calling again with the same arguments skips the shards already written, so an
    interrupted run resumes; ``manifest.json`` records the model file, the folder,
    ``shard_size`` and the file list, and a call that disagrees with it is refused.
    Each shard records the size and modification time of its files: a shard with a
    file changed since (rewritten in place, or fixed after an error) is computed again.
    A job holds a lock on ``output_dir`` while it runs: a second job started on the
    same ``output_dir`` is refused at once (the lock dies with its process, so a killed
    job never blocks the next one).

    Parameters
    ----------
    model : str or os.PathLike
        Path of a fitted skaudio embedder saved with ``joblib.dump``, or of a fitted
        ``Pipeline`` whose first step is one: its ``transform`` is applied (all its
        steps), at the embedder's ``sample_rate``. ``joblib.load`` unpickles it: use
        only files you trust.
    folder : str or os.PathLike
        Folder searched recursively for audio files.
    output_dir : str or os.PathLike
        Where the results go; created if needed. With the dask backend, workers must
        see ``folder``, ``model`` and ``output_dir`` at the same paths (a shared file
        system).
    shard_size : int, default=256
        Files per shard (per task, and per ``transform`` call).
    n_jobs : int or None, default=None
        Parallel tasks, as for :class:`joblib.Parallel`: ``None`` takes the active
        :func:`joblib.parallel_config` (one process if none; all the workers of the
        cluster with ``backend="dask"``), ``-1`` all CPUs.
    extensions : iterable of str, default=AUDIO_EXTENSIONS
        File name endings taken for audio.
    follow_symlinks : bool, default=False
        Also embed links to files outside ``folder``; by default they are left out with
        a warning (see :func:`list_audio_files`).
    verbose : int, default=0
        ``1`` or more shows a progress bar over shards (on stderr).

    Returns
    -------
    result : FolderEmbedding
        Counts and timing; ``result.load()`` reads the embeddings.

    Raises
    ------
    ValueError
        If the model file holds no fitted skaudio embedder (or a Pipeline without
        ``transform``), the folder holds no audio file, ``shard_size`` is not a
        positive integer, or ``output_dir`` holds another job (its manifest names
        another model file or folder, another ``shard_size`` or other files) or is in
        use by a job still running.

    Warns
    -----
    AudioInputWarning
        If links to files outside ``folder`` were left out.

    See Also
    --------
    load_folder_embeddings : Reads the embeddings back.

    Examples
    --------
    >>> import tempfile, joblib, numpy as np, soundfile as sf
    >>> from pathlib import Path
    >>> from skaudio import COLAEmbedder
    >>> rng = np.random.default_rng(0)
    >>> embedder = COLAEmbedder(sample_rate=8000, segment_seconds=0.25, embedding_dim=8,
    ...                         max_epochs=0, random_state=0)
    >>> embedder = embedder.fit([rng.standard_normal(4000) for _ in range(4)])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     tmp = Path(tmp)
    ...     (tmp / "audio" / "sub").mkdir(parents=True)
    ...     for name in ["a.wav", "b.wav", "sub/c.wav"]:
    ...         sf.write(tmp / "audio" / name, 0.1 * rng.standard_normal(4000), 8000)
    ...     _ = (tmp / "audio" / "broken.wav").write_bytes(b"not audio")
    ...     _ = joblib.dump(embedder, tmp / "model.joblib")
    ...     result = embed_folder(tmp / "model.joblib", tmp / "audio", tmp / "out",
    ...                           shard_size=2)
    ...     paths, embeddings = load_folder_embeddings(tmp / "out")
    ...     again = embed_folder(tmp / "model.joblib", tmp / "audio", tmp / "out",
    ...                          shard_size=2)  # nothing left to do
    >>> result.n_embedded, result.n_errors, result.n_shards
    (3, 1, 2)
    >>> paths, embeddings.shape, embeddings.dtype
    (['a.wav', 'b.wav', 'sub/c.wav'], (3, 8), dtype('float32'))
    >>> again.n_shards_skipped, again.n_shards_computed
    (2, 0)
    """
    start = time.perf_counter()
    if isinstance(shard_size, bool) or not isinstance(shard_size, Integral) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer, got {shard_size!r}")
    if not isinstance(model, str | os.PathLike):
        raise ValueError(
            f"model must be the path of a model file, got a {type(model).__name__}; "
            "save a fitted model with joblib.dump(model, path) and pass the path"
        )
    model_path = Path(model).resolve()
    _check_model_file(model_path)
    root = Path(folder).resolve()
    listed = list_audio_files(root, extensions, follow_symlinks=follow_symlinks)
    files = [p.relative_to(root).as_posix() for p in listed]
    out = Path(output_dir)
    shards_dir = out.resolve() / "shards"  # absolute: workers may run in another folder
    size, mtime_ns = file_stamp(model_path)
    manifest = {
        "format": _MANIFEST_FORMAT,
        "model": {"path": str(model_path), "size": size, "mtime_ns": mtime_ns},
        "folder": str(root),
        "shard_size": int(shard_size),
        "n_files": len(files),
        "files": files,
    }
    with job_lock(out):
        start_or_resume(out, manifest)
        shards = [files[i : i + shard_size] for i in range(0, len(files), shard_size)]
        stamps = file_stamps(root, files)
        todo = [
            i
            for i, shard in enumerate(shards)
            if not shard_is_current(shards_dir, i, {p: stamps[p] for p in shard})
        ]
        if todo:  # the index of an earlier run no longer holds
            (out / "index.csv").unlink(missing_ok=True)
        tasks = (
            joblib.delayed(_embed_shard)(
                str(model_path), (size, mtime_ns), str(root), shards[i], str(shards_dir), i
            )
            for i in todo
        )
        progress = tqdm(
            total=len(shards),
            initial=len(shards) - len(todo),
            unit="shard",
            desc="embedding",
            disable=not verbose,
        )
        with progress:
            if todo:
                parallel = joblib.Parallel(n_jobs=n_jobs, batch_size=1, return_as="generator")
                n_bad = 0
                for _, _, shard_errors in parallel(tasks):
                    n_bad += shard_errors
                    progress.set_postfix(errors=n_bad, refresh=False)
                    progress.update(1)

        n_embedded, n_errors = merge_shards(out, len(shards), files)
    return FolderEmbedding(
        output_dir=out,
        n_files=len(files),
        n_embedded=n_embedded,
        n_errors=n_errors,
        n_shards=len(shards),
        n_shards_computed=len(todo),
        n_shards_skipped=len(shards) - len(todo),
        n_files_computed=sum(len(shards[i]) for i in todo),
        seconds=time.perf_counter() - start,
    )


def load_folder_embeddings(output_dir: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Read back what :func:`embed_folder` wrote.

    Parameters
    ----------
    output_dir : str or os.PathLike
        The ``output_dir`` of a finished :func:`embed_folder` call.

    Returns
    -------
    paths : list of str
        Path of each embedded file relative to the folder (``/`` separators), in
        sorted order; the files that could not be embedded are in
        ``output_dir/errors.csv``.
    embeddings : ndarray of shape (n_embedded, n_features), dtype float32
        Row ``i`` embeds ``paths[i]``.

    Raises
    ------
    ValueError
        If ``output_dir`` holds no finished run (no ``index.csv``), or a shard
        disagrees with the index.

    Examples
    --------
    See :func:`embed_folder`.
    """
    out = Path(output_dir)
    index_file = out / "index.csv"
    if not index_file.exists():
        raise ValueError(
            f"{os.fspath(output_dir)!r} holds no index.csv: embed_folder has not finished "
            "there; call it again with the same arguments to resume"
        )
    rows = read_csv(index_file, ["path", "shard", "row"])
    paths = [row[0] for row in rows]
    shard_of = np.array([int(row[1]) for row in rows], dtype=np.int64)
    row_of = np.array([int(row[2]) for row in rows], dtype=np.int64)
    if not rows:
        return [], np.empty((0, 0), dtype=np.float32)
    parts = []
    for shard in np.unique(shard_of):
        array = np.load(shard_file(out / "shards", int(shard), ".npy"))
        mine = shard_of == shard
        if row_of[mine].max() >= len(array):
            raise ValueError(
                f"shard {shard} holds {len(array)} rows but index.csv refers to row "
                f"{row_of[mine].max()}; the output is damaged: embed again into a new folder"
            )
        parts.append((mine, array))
    width = parts[0][1].shape[1]
    embeddings = np.empty((len(paths), width), dtype=np.float32)
    for mine, array in parts:
        if array.shape[1] != width:
            raise ValueError(f"shards of {os.fspath(output_dir)!r} have different widths")
        embeddings[mine] = array[row_of[mine]]
    return paths, embeddings


# -- the task ---------------------------------------------------------------------------


def _embed_shard(
    model_path: str,
    model_stamp: tuple[int, int],
    folder: str,
    paths: list[str],
    shards_dir: str,
    shard: int,
) -> tuple[int, int, int]:
    """Embed one shard and write it; returns (shard, n_embedded, n_errors).

    Runs in a worker: the model comes from the worker's cache, not from the task.
    """
    if file_stamp(model_path) != tuple(model_stamp):
        raise ValueError(
            f"the model file {model_path} changed while embedding; embed again into a new "
            "output_dir"
        )
    obj, embedder = cached_model_file(model_path)
    directory = Path(shards_dir)
    directory.mkdir(parents=True, exist_ok=True)
    # no longer done (its files changed) until written again in full
    shard_file(directory, shard, ".csv").unlink(missing_ok=True)
    stamps = file_stamps(folder, paths)  # before reading: a later change shows next run
    embeddings, kept, errors = _embed_paths(obj, embedder, folder, paths)
    errors_file = shard_file(directory, shard, ".errors.csv")
    if errors:
        write_csv(errors_file, ["path", "error"], errors)
    else:
        errors_file.unlink(missing_ok=True)  # left by an earlier, interrupted run
    atomic_write(shard_file(directory, shard, ".npy"), lambda f: np.save(f, embeddings))
    write_stamps(directory, shard, stamps)
    write_csv(shard_file(directory, shard, ".csv"), ["path"], [[p] for p in kept])
    return shard, len(kept), len(errors)


def _embed_paths(
    obj, embedder, folder: str, paths: list[str]
) -> tuple[np.ndarray, list[str], list[list[str]]]:
    """(embeddings of the good files, their paths, [path, error] of the bad ones).

    One ``transform`` call over the paths; if it raises ``ValueError``, each file's
    header is checked alone (:func:`skaudio.clips.as_clips`, as ``transform`` does) to
    find the unreadable and empty ones, the others are embedded together, and if that
    fails again (bad samples, e.g. NaN) the files are split in halves until each
    failing file is alone.
    """
    full = [os.path.join(folder, p) for p in paths]
    try:
        return _transform(obj, full), list(paths), []
    except ValueError:
        pass
    errors: dict[int, str] = {}
    good: list[int] = []
    for i, path in enumerate(full):
        try:
            as_clips([path], sample_rate=embedder.sample_rate)
            good.append(i)
        except ValueError as error:
            errors[i] = _one_line(error)
    rows: dict[int, np.ndarray] = {}
    pending = [good] if good else []
    while pending:  # bisect: a few bad files cost O(log n) transforms each, not n
        part = pending.pop()
        try:
            rows.update(zip(part, _transform(obj, [full[i] for i in part]), strict=True))
        except ValueError as error:
            if len(part) == 1:
                errors[part[0]] = _one_line(error)
            else:
                pending += [part[len(part) // 2 :], part[: len(part) // 2]]
    kept = sorted(rows)
    if kept:
        embeddings = np.stack([rows[i] for i in kept]).astype(np.float32, copy=False)
    else:  # nothing readable: an empty array of the right width
        silence = np.zeros(embedder.segment_length_, dtype=np.float32)
        embeddings = _transform(obj, [silence])[:0]
    return embeddings, [paths[i] for i in kept], [[paths[i], errors[i]] for i in sorted(errors)]


def _transform(obj, X: list) -> np.ndarray:
    embeddings = np.asarray(obj.transform(X), dtype=np.float32)
    if embeddings.ndim != 2 or len(embeddings) != len(X):
        raise TypeError(
            f"{type(obj).__name__}.transform returned shape {embeddings.shape} for "
            f"{len(X)} clips; embed_folder needs one row per clip"
        )
    return embeddings


def _one_line(error: Exception) -> str:
    return " ".join(str(error).removeprefix("clip 0: ").split())


# -- checks and bookkeeping, in the calling process ---------------------------------------


def _check_model_file(path: Path) -> None:
    """Refuse a file that embed_folder's tasks could not use, before starting them."""
    obj, embedder = cached_model_file(path)
    try:
        check_is_fitted(embedder)
        if obj is not embedder:
            check_is_fitted(obj)
    except NotFittedError as error:
        raise ValueError(f"{path} holds an unfitted model: {error}") from error
    if not hasattr(obj, "transform"):
        raise ValueError(
            f"{path} holds a {type(obj).__name__} without transform (its last step "
            f"is a {type(obj.steps[-1][1]).__name__}); embed_folder needs an embedder or "
            "a Pipeline of transformers"
        )
    # one silent clip: a model that cannot embed at all fails here, not once per file
    silence = np.zeros(embedder.segment_length_, dtype=np.float32)
    try:
        _transform(obj, [silence])
    except ValueError as error:
        raise ValueError(f"the model in {path} cannot embed audio: {error}") from error
