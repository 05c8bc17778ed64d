"""The ``skaudio`` command line: pretrain an embedder, embed a folder, describe a model.

::

    skaudio pretrain cola audio/ -o model.joblib --max_epochs 20 --sample_rate 16000
    skaudio embed model.joblib audio/ -o embeddings/ --n-jobs 4
    skaudio info model.joblib

``python -m skaudio`` runs the same program. Exit status: 0 on success, 2 on a usage
error (bad arguments, unreadable files, a value the library refuses), with the message
on stderr.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import joblib
import numpy as np
from tqdm import tqdm

from . import __version__
from ._atomic import atomic_write
from ._compat import InvalidParameterError
from ._model_file import load_model_file
from .clips import as_clips
from .distributed import rank
from .estimators import (
    COLAEmbedder,
    ContrastiveAudioEmbedder,
    CPCEmbedder,
    TokenTransformerEmbedder,
)
from .folder import _one_line, embed_folder, list_audio_files

__all__ = ["main"]

#: METHOD -> (estimator class, parameters it starts from, description)
METHODS = {
    "cola": (COLAEmbedder, {}, "COLA: contrastive segments of one clip (COLAEmbedder)"),
    "cola-multi": (
        COLAEmbedder,
        {"frame_weight": 1.0, "pitch_weight": 1.0},
        "multi-strategy COLA: COLA plus frame-level and pitch-shift losses "
        "(COLAEmbedder, frame_weight=1, pitch_weight=1)",
    ),
    "simclr": (
        ContrastiveAudioEmbedder,
        {},
        "SimCLR-style contrastive views by augmentation (ContrastiveAudioEmbedder)",
    ),
    "cpc": (CPCEmbedder, {}, "contrastive predictive coding (CPCEmbedder)"),
    "tokens": (
        TokenTransformerEmbedder,
        {},
        "transformer over learned discrete tokens (TokenTransformerEmbedder)",
    ),
}

#: options of ``pretrain`` itself; every other ``--name`` is an estimator parameter
_PRETRAIN_OPTIONS = {"-o", "--output", "-q", "--quiet", "-h", "--help"}


class CommandLineError(ValueError):
    """A usage error: reported as one line on stderr, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``skaudio`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments after the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    status : int
        0 on success, 2 on a usage error (its message is printed on stderr).

    Examples
    --------
    >>> main(["--version"])
    skaudio 0.1.0
    0
    >>> main(["info", "no-such-file.joblib"])
    2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        argv, params = _split_estimator_params(argv)
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or argparse's usage error (status 2)
        return exit_.code if isinstance(exit_.code, int) else 2
    except CommandLineError as error:
        parser.print_usage(sys.stderr)
        print(f"skaudio: error: {error}", file=sys.stderr)
        return 2
    try:
        args.run(args, params)
    except KeyboardInterrupt:
        print(f"skaudio {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as error:  # usage errors, and what the library refuses
        print(f"skaudio {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``skaudio`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="skaudio",
        description="Self-supervised audio embeddings with a scikit-learn API: pretrain an "
        "embedder on a folder of audio, embed a folder with it, describe a saved model.",
        epilog="Run 'skaudio COMMAND --help' for a command's options and examples. "
        "Security: model files are pickles, and 'skaudio embed' and 'skaudio info' run the "
        "code a model file holds: load only files you trust (checkpoints are weights only, "
        "read with torch.load(weights_only=True)).",
    )
    parser.add_argument("--version", action="version", version=f"skaudio {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    raw = argparse.RawDescriptionHelpFormatter

    methods = "\n".join(f"  {name:<11} {text}" for name, (_, _, text) in METHODS.items())
    pretrain = commands.add_parser(
        "pretrain",
        help="pretrain an embedder on every audio file of a folder",
        description="Pretrain a self-supervised embedder on every audio file under FOLDER "
        "(recursively) and save it with joblib.dump.\n\nmethods:\n" + methods,
        epilog="estimator parameters:\n"
        "  Any other '--name value' (or '--name=value') sets a parameter of the estimator;\n"
        "  the value is read as a Python literal (1, 0.5, None, (0.8, 1.2)), else as text.\n"
        "  An unknown name is refused with the list of valid ones. Progress is shown\n"
        "  (verbose=1) unless you give --verbose 0 or --quiet.\n\n"
        "examples:\n"
        "  skaudio pretrain cola audio/ -o cola.joblib --max_epochs 20\n"
        "  skaudio pretrain cpc audio/ -o cpc.joblib --sample_rate 8000 --device=cuda\n"
        "  skaudio pretrain cola-multi audio/ -o multi.joblib --pitch_shift_range '(0.9, 1.1)'",
        formatter_class=raw,
        allow_abbrev=False,
    )
    pretrain.add_argument("method", metavar="METHOD", choices=list(METHODS), help="see above")
    pretrain.add_argument("folder", metavar="FOLDER", help="folder of audio files")
    pretrain.add_argument(
        "-o", "--output", required=True, metavar="MODEL", help="file to save the model to"
    )
    pretrain.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    pretrain.set_defaults(run=_pretrain)

    embed = commands.add_parser(
        "embed",
        help="embed every audio file of a folder with a saved model, in parallel",
        description="Embed every audio file under FOLDER with MODEL (a fitted embedder, or a "
        "Pipeline starting with one, saved with joblib.dump) into OUT, in shards of files "
        "embedded in parallel. Running it again with the same arguments resumes an "
        "interrupted run. OUT then holds index.csv (path,shard,row), errors.csv "
        "(path,error: the unreadable files) and shards/shard-NNNNN.npy; read them with "
        "skaudio.folder.load_folder_embeddings(OUT).",
        epilog="examples:\n"
        "  skaudio embed model.joblib audio/ -o embeddings/\n"
        "  skaudio embed model.joblib audio/ -o embeddings/ --n-jobs 4 --shard-size 128\n"
        "  skaudio embed model.joblib audio/ -o embeddings/ --backend dask --n-jobs 8\n"
        "  skaudio embed model.joblib audio/ -o embeddings/ --backend dask "
        "--scheduler tcp://host:8786",
        formatter_class=raw,
        allow_abbrev=False,
    )
    embed.add_argument(
        "model",
        metavar="MODEL",
        help="model file written by joblib.dump (a pickle: load only files you trust)",
    )
    embed.add_argument("folder", metavar="FOLDER", help="folder of audio files")
    embed.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    embed.add_argument(
        "--shard-size", type=int, default=256, metavar="N", help="files per shard (default 256)"
    )
    embed.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        metavar="N",
        help="parallel workers; -1 for one per CPU (default 1). With --backend dask and no "
        "--scheduler, the workers of the local cluster started",
    )
    embed.add_argument(
        "--backend",
        choices=["loky", "dask"],
        default="loky",
        help="local processes (loky, default) or a dask.distributed cluster",
    )
    embed.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --backend dask: address of a running scheduler (by default a local "
        "cluster is started); workers must see the same files at the same paths",
    )
    embed.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="also embed links to files outside FOLDER (left out by default, with a warning)",
    )
    embed.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    embed.set_defaults(run=_embed)

    info = commands.add_parser(
        "info",
        help="describe a saved model",
        description="Describe a model file: its class (and pipeline steps), non-default "
        "parameters, sample rate, embedding size, training epochs and last loss, network "
        "size and file size.",
        epilog="example:\n  skaudio info model.joblib",
        formatter_class=raw,
        allow_abbrev=False,
    )
    info.add_argument(
        "model",
        metavar="MODEL",
        help="model file written by joblib.dump (a pickle: load only files you trust)",
    )
    info.set_defaults(run=_info)
    return parser


# -- pretrain -------------------------------------------------------------------------------


def _split_estimator_params(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """Take the ``--name value`` / ``--name=value`` estimator parameters out of a
    ``pretrain`` command line; other command lines are returned as they are."""
    command = next((i for i, arg in enumerate(argv) if not arg.startswith("-")), None)
    if command is None or argv[command] != "pretrain":
        return argv, {}
    kept, params = argv[: command + 1], {}
    rest = iter(argv[command + 1 :])
    for arg in rest:
        if arg == "--":
            kept.append(arg)
            kept.extend(rest)
            break
        name = arg.split("=", 1)[0]
        if not arg.startswith("--") or name in _PRETRAIN_OPTIONS:
            kept.append(arg)
            continue
        if "=" in arg:
            value = arg.split("=", 1)[1]
        else:
            value = next(rest, None)
            if value is None or (value.startswith("--") and len(value) > 2):
                raise CommandLineError(f"parameter {name} needs a value: {name} VALUE")
        key = name[2:].replace("-", "_")
        if not key:
            raise CommandLineError(f"{arg!r} is not a parameter name")
        if key in params:
            raise CommandLineError(f"parameter {name} is given twice")
        params[key] = value
    return kept, params


def _parse_value(text: str) -> object:
    """A Python literal if ``text`` is one (``1``, ``0.5``, ``None``, ``(1, 2)``), else text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _make_estimator(method: str, params: dict[str, str], quiet: bool):
    """The estimator of METHOD with the command line's parameters, validated."""
    cls, preset, _ = METHODS[method]
    estimator = cls(**preset)
    valid = estimator.get_params(deep=False)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise CommandLineError(
            f"unknown parameter {', '.join('--' + name for name in unknown)} for "
            f"{cls.__name__} ({method}); valid parameters: {', '.join(sorted(valid))}"
        )
    values = {name: _parse_value(value) for name, value in params.items()}
    if quiet:
        values["verbose"] = 0
    values.setdefault("verbose", 1)
    estimator.set_params(**values)
    try:
        estimator._validate_params()  # refuse bad values before reading the audio
    except InvalidParameterError as error:
        raise CommandLineError(str(error)) from None
    return estimator


def _check_writable(path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise CommandLineError(f"output {path} is a folder; give a file name, e.g. model.joblib")
    if not folder.is_dir():
        raise CommandLineError(f"the folder of the output file, {folder}, does not exist")
    if not os.access(folder, os.W_OK):
        raise CommandLineError(f"cannot write to {folder}")


def _readable_files(files: list[Path], sample_rate: int, verbose: bool) -> list[str]:
    """The files whose header reads (as ``fit`` checks them); the others are reported.

    Only headers are read here: ``fit`` reads the samples on demand.
    """
    readable, skipped = [], []
    for path in tqdm(files, desc="checking files", unit="file", disable=not verbose):
        try:
            as_clips([path], sample_rate=sample_rate)
            readable.append(str(path))
        except ValueError as error:
            skipped.append(f"{path}: {_one_line(error)}")
    for line in skipped[:5]:
        print(f"skaudio pretrain: skipping {line}", file=sys.stderr)
    if len(skipped) > 5:
        print(f"skaudio pretrain: skipping {len(skipped) - 5} more files", file=sys.stderr)
    if not readable:
        raise CommandLineError(f"none of the {len(files)} audio files could be read")
    return readable


def _pretrain(args: argparse.Namespace, params: dict[str, str]) -> None:
    estimator = _make_estimator(args.method, params, args.quiet)
    output = Path(args.output)
    _check_writable(output)
    files = list_audio_files(args.folder)
    start = time.perf_counter()
    readable = _readable_files(files, estimator.sample_rate, bool(estimator.verbose))
    try:
        estimator.fit(readable)
    except KeyboardInterrupt:  # no model is saved (main exits with status 130)
        if estimator.checkpoint_dir is not None:
            print(
                f"skaudio pretrain: the complete epochs are checkpointed in "
                f"{estimator.checkpoint_dir}; run the same command again to resume",
                file=sys.stderr,
            )
        raise
    seconds = time.perf_counter() - start
    if rank() != 0:  # `accelerate launch -m skaudio.cli pretrain ... --distributed True`
        return  # the first process saves and reports
    atomic_write(output, lambda file: joblib.dump(estimator, file))
    history = estimator.history_
    loss = history[-1, "train_loss"] if len(history) and "train_loss" in history[-1] else None
    print(
        f"{type(estimator).__name__} ({args.method}) pretrained on {len(readable)} of "
        f"{len(files)} files: {len(history)} epochs, final loss "
        f"{'n/a' if loss is None else f'{loss:.4f}'}, {seconds:.1f} s -> {output}"
    )


# -- embed ----------------------------------------------------------------------------------


def _embed(args: argparse.Namespace, params: dict[str, str]) -> None:
    if args.shard_size < 1:
        raise CommandLineError(f"--shard-size must be at least 1, got {args.shard_size}")
    if args.n_jobs == 0:
        raise CommandLineError("--n-jobs must not be 0 (1 for one process, -1 for all CPUs)")
    if args.scheduler and args.backend != "dask":
        raise CommandLineError("--scheduler needs --backend dask")
    run = dict(
        shard_size=args.shard_size,
        follow_symlinks=args.follow_symlinks,
        verbose=0 if args.quiet else 1,
    )
    if args.backend == "dask":
        result = _embed_with_dask(args, run)
    else:
        result = embed_folder(args.model, args.folder, args.output, n_jobs=args.n_jobs, **run)
    rate = result.n_files_computed / result.seconds if result.seconds > 0 else float("nan")
    errors = f", see {Path(args.output) / 'errors.csv'}" if result.n_errors else ""
    _report_errors(Path(args.output) / "errors.csv", result.n_errors)
    print(
        f"embedded {result.n_embedded} of {result.n_files} files, {result.n_errors} errors"
        f"{errors}; {result.n_shards_computed} shards computed, {result.n_shards_skipped} "
        f"already done; {result.seconds:.1f} s, {rate:.1f} files/s -> {args.output}"
    )


def _report_errors(errors_file: Path, n_errors: int) -> None:
    """Print the first files that could not be embedded on stderr (not fatal)."""
    from ._shards import read_csv

    if not n_errors:
        return
    for path, error in read_csv(errors_file, ["path", "error"])[:5]:
        print(f"skaudio embed: could not embed {path}: {error}", file=sys.stderr)
    if n_errors > 5:
        print(f"skaudio embed: and {n_errors - 5} more files, see {errors_file}", file=sys.stderr)


def _embed_with_dask(args: argparse.Namespace, run: dict):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise CommandLineError(
            "--backend dask needs dask.distributed: pip install 'skaudio[parallel]'"
        ) from None
    if args.scheduler:
        with Client(args.scheduler), joblib.parallel_config(backend="dask"):
            return embed_folder(args.model, args.folder, args.output, **run)
    n_workers = args.n_jobs if args.n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + args.n_jobs)
    with (
        LocalCluster(n_workers=n_workers, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster),
        joblib.parallel_config(backend="dask"),
    ):
        return embed_folder(args.model, args.folder, args.output, **run)


# -- info -----------------------------------------------------------------------------------


def _info(args: argparse.Namespace, params: dict[str, str]) -> None:
    obj, embedder = load_model_file(args.model, caller="skaudio info")
    path = Path(args.model)
    lines = [f"file: {path} ({_size(path.stat().st_size)})"]
    if obj is not embedder:
        steps = " -> ".join(f"{name} ({type(step).__name__})" for name, step in obj.steps)
        lines.append(f"pipeline: {steps}")
    cls = type(embedder)
    lines.append(f"class: {cls.__module__.split('.')[0]}.{cls.__name__}")
    changed = _changed_params(embedder)
    lines.append(
        "parameters (non-default): "
        + (", ".join(f"{name}={value!r}" for name, value in changed.items()) or "none")
    )
    lines.append(f"sample_rate: {embedder.sample_rate} Hz")
    if not hasattr(embedder, "net_"):
        lines.append("fitted: no (pretrain it with fit before embedding)")
        print("\n".join(lines))
        return
    lines.append(f"embedding size: {len(embedder.get_feature_names_out())}")
    if obj is not embedder:
        if hasattr(obj, "transform"):
            silence = np.zeros(embedder.segment_length_, dtype=np.float32)
            lines.append(f"pipeline output size: {np.asarray(obj.transform([silence])).shape[1]}")
        else:
            lines.append(f"pipeline output: {type(obj.steps[-1][1]).__name__} (no transform)")
    history = embedder.history_
    loss = history[-1, "train_loss"] if len(history) and "train_loss" in history[-1] else None
    lines.append(
        f"epochs trained: {len(history)}, last loss: {'n/a' if loss is None else f'{loss:.4f}'}"
    )
    network = embedder.net_.module_
    n_params = sum(p.numel() for p in network.parameters())
    lines.append(f"network: {type(network).__name__}, {n_params:,} parameters")
    print("\n".join(lines))


def _changed_params(estimator) -> dict[str, object]:
    """The parameters of ``estimator`` that differ from its class's defaults."""
    defaults = {
        name: p.default
        for name, p in inspect.signature(type(estimator).__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    return {
        name: value
        for name, value in estimator.get_params(deep=False).items()
        if name not in defaults or repr(value) != repr(defaults[name])
    }


def _size(n_bytes: int) -> str:
    if n_bytes < 1024:
        return f"{n_bytes} bytes"
    if n_bytes < 1024**2:
        return f"{n_bytes / 1024:.1f} KiB"
    return f"{n_bytes / 1024**2:.1f} MiB"
