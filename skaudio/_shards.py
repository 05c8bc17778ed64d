"""The on-disk layout of a folder-embedding job: manifest, shards, index (see skaudio.folder)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ._atomic import atomic_write
from ._manifest import differing, file_stamp, read_manifest, write_manifest

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

__all__ = [
    "LOCK_NAME",
    "file_stamps",
    "job_lock",
    "merge_shards",
    "read_csv",
    "shard_file",
    "shard_is_current",
    "start_or_resume",
    "write_csv",
    "write_stamps",
]

#: the lock file of a job, in its output folder
LOCK_NAME = ".lock"


@contextmanager
def job_lock(out: Path) -> Iterator[None]:
    """Hold the exclusive lock of the job in ``out`` (created if needed) while in the block.

    The lock is an ``flock`` on ``out/.lock`` (``msvcrt.locking`` on Windows): the
    operating system releases it when the process ends, however it ends, so a killed
    job leaves no stale lock behind. A second job on the same ``out`` gets a
    ``ValueError`` at once instead of mixing its shards with the first one's.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise ValueError(f"output_dir {out} is a file, not a folder: {error}") from error
    lock_file = out / LOCK_NAME
    with open(lock_file, "a+", encoding="utf-8") as f:
        try:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError as error:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise ValueError(
                f"{out} is in use by another embedding job (process {holder} holds "
                f"{lock_file}); wait for it to end, or embed into another output_dir. The "
                "lock is released when that process ends, even if it is killed"
            ) from error
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield


def file_stamps(folder: str | os.PathLike, files: Iterable[str]) -> dict[str, list[int] | None]:
    """``{file: [size, mtime_ns]}`` of files relative to ``folder`` (``None``: missing)."""
    return {name: file_stamp(os.path.join(folder, name)) for name in files}


def write_stamps(directory: Path, shard: int, stamps: dict) -> None:
    """Record the stamps of a shard's files, as they were before they were read."""
    atomic_write(
        shard_file(directory, shard, ".stamps.json"),
        lambda f: f.write(json.dumps(stamps)),
        mode="w",
    )


def shard_is_current(directory: Path, shard: int, stamps: dict) -> bool:
    """Whether a shard is done and its files are unchanged since it was computed.

    A shard without stamps (an older run's, or a damaged one) is not current.
    """
    if not shard_file(directory, shard, ".csv").exists():
        return False
    try:
        recorded = json.loads(shard_file(directory, shard, ".stamps.json").read_text())
    except (OSError, ValueError):
        return False
    return recorded == stamps and None not in stamps.values()


def start_or_resume(out: Path, manifest: dict) -> None:
    """Write the manifest of a new job, or check that ``out`` holds this same job."""
    manifest_file = out / "manifest.json"
    if manifest_file.exists():
        recorded = read_manifest(manifest_file)
        problem = _manifest_difference(recorded, manifest)
        if problem:
            raise ValueError(
                f"{out} holds another embedding job: {problem}. Embed into another "
                "output_dir, or delete this one to start over"
            )
        return
    shards_dir = out / "shards"
    if shards_dir.is_dir() and any(shards_dir.iterdir()):
        raise ValueError(
            f"{out} holds shards but no manifest.json, so they cannot be checked; embed into "
            "another output_dir, or delete this one"
        )
    shards_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(manifest_file, manifest)


#: the entries that make a job's manifest, in the order their differences are reported
#: (``n_files`` follows from ``files``)
_JOB_KEYS = ("format", "model", "folder", "shard_size", "files")


def _manifest_difference(recorded: dict, wanted: dict) -> str:
    """Why a recorded manifest is not this job's (its first differing entry), or "" if it is."""
    differ = differing(recorded, wanted, _JOB_KEYS)
    if not differ:
        return ""
    key, old, new = differ[0], recorded.get(differ[0]), wanted[differ[0]]
    if key == "format":
        return f"its manifest has format {old!r}, not {new}"
    if key == "model":
        old = old or {}
        if old.get("path") != new["path"]:
            return f"it was made with the model file {old.get('path')}, not {new['path']}"
        return f"the model file {new['path']} was changed since (size or modification time)"
    if key == "folder":
        return f"it embeds the folder {old}, not {new}"
    if key == "shard_size":
        return f"it has shard_size={old}, not {new}"
    before, now = set(old or []), set(new)
    added, removed = sorted(now - before), sorted(before - now)
    example = (added or removed or ["(order)"])[0]
    return (
        f"the files under {wanted['folder']} changed since it started "
        f"({len(added)} added, {len(removed)} removed, e.g. {example!r})"
    )


def merge_shards(out: Path, n_shards: int, files: Sequence[str]) -> tuple[int, int]:
    """Write index.csv and errors.csv from the shards; returns (n_embedded, n_errors)."""
    index: list[list[object]] = []
    errors: list[list[str]] = []
    shards_dir = out / "shards"
    for shard in range(n_shards):
        kept = read_csv(shard_file(shards_dir, shard, ".csv"), ["path"])
        index.extend([row[0], shard, i] for i, row in enumerate(kept))
        errors_file = shard_file(shards_dir, shard, ".errors.csv")
        if errors_file.exists():
            errors.extend(read_csv(errors_file, ["path", "error"]))
    covered = sorted([row[0] for row in index] + [row[0] for row in errors])
    if covered != sorted(files):
        raise ValueError(
            f"the shards in {shards_dir} do not cover the manifest's files exactly once; "
            "the output was modified: delete it and embed again"
        )
    write_csv(out / "errors.csv", ["path", "error"], errors)
    write_csv(out / "index.csv", ["path", "shard", "row"], index)
    return len(index), len(errors)


def shard_file(directory: Path, shard: int, suffix: str) -> Path:
    return Path(directory) / f"shard-{shard:05d}{suffix}"


def write_csv(path: Path, header: list[str], rows: Iterable[Sequence[object]]) -> None:
    def write(f: IO) -> None:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)

    atomic_write(path, write, mode="w")


def read_csv(path: Path, header: list[str]) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != header:
        raise ValueError(f"{path} does not start with the header {','.join(header)}")
    return rows[1:]
