"""The on-disk layout of a folder-embedding job: manifest, shards, index (see skaudio.folder)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from ._atomic import atomic_write

__all__ = ["merge_shards", "read_csv", "shard_file", "start_or_resume", "write_csv"]


def start_or_resume(out: Path, manifest: dict) -> None:
    """Write the manifest of a new job, or check that ``out`` holds this same job."""
    manifest_file = out / "manifest.json"
    if manifest_file.exists():
        try:
            recorded = json.loads(manifest_file.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot read {manifest_file}: {error}") from error
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
    atomic_write(manifest_file, lambda f: f.write(json.dumps(manifest, indent=1)), mode="w")


def _manifest_difference(recorded: dict, wanted: dict) -> str:
    """Why a recorded manifest is not this job's, or "" if it is."""
    if recorded.get("format") != wanted["format"]:
        return f"its manifest has format {recorded.get('format')!r}, not {wanted['format']}"
    old, new = recorded.get("model", {}), wanted["model"]
    if old.get("path") != new["path"]:
        return f"it was made with the model file {old.get('path')}, not {new['path']}"
    if (old.get("size"), old.get("mtime_ns")) != (new["size"], new["mtime_ns"]):
        return f"the model file {new['path']} was changed since (size or modification time)"
    if recorded.get("folder") != wanted["folder"]:
        return f"it embeds the folder {recorded.get('folder')}, not {wanted['folder']}"
    if recorded.get("shard_size") != wanted["shard_size"]:
        return f"it has shard_size={recorded.get('shard_size')}, not {wanted['shard_size']}"
    if recorded.get("files") != wanted["files"]:
        before, now = set(recorded.get("files", [])), set(wanted["files"])
        added, removed = sorted(now - before), sorted(before - now)
        example = (added or removed or ["(order)"])[0]
        return (
            f"the files under {wanted['folder']} changed since it started "
            f"({len(added)} added, {len(removed)} removed, e.g. {example!r})"
        )
    return ""


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
