"""The ``skaudio`` command line: pretrain, embed, info, and its usage errors."""

import subprocess
import sys

import joblib
import numpy as np
import pytest
import soundfile as sf
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skaudio import COLAEmbedder
from skaudio.cli import METHODS, _make_estimator, _split_estimator_params, main
from skaudio.datasets import make_tones
from skaudio.folder import load_folder_embeddings

SR = 8000
TINY = [
    "--max_epochs", "1", "--sample_rate", "8000", "--embedding_dim", "16",
    "--batch_size", "4", "--segment_seconds", "0.25", "--random_state", "0",
]  # fmt: skip


@pytest.fixture(scope="module")
def audio_folder(tmp_path_factory):
    """Eight short tones in two subfolders, and one corrupt file."""
    root = tmp_path_factory.mktemp("audio")
    X, _ = make_tones(n_clips=8, sample_rate=SR, random_state=0)
    for i, clip in enumerate(X):
        path = root / f"class{i % 2}" / f"tone{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, clip[: SR // 2], SR)
    (root / "class0" / "broken.wav").write_bytes(b"\x00" * 100)
    return root


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    X, _ = make_tones(n_clips=8, sample_rate=SR, random_state=0)
    embedder = COLAEmbedder(
        sample_rate=SR, segment_seconds=0.25, embedding_dim=16, max_epochs=0, random_state=0
    ).fit(X)
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    joblib.dump(embedder, path)
    return path


@pytest.mark.slow
def test_python_m_skaudio_help():
    done = subprocess.run(
        [sys.executable, "-m", "skaudio", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "usage: skaudio" in done.stdout
    for command in ("pretrain", "embed", "info"):
        assert command in done.stdout


@pytest.mark.parametrize("command", ["pretrain", "embed", "info"])
def test_subcommand_help(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"usage: skaudio {command}" in out and "example" in out
    if command == "pretrain":
        assert all(method in out for method in METHODS)


def test_pretrain_info_embed(audio_folder, tmp_path, capsys):
    model = tmp_path / "model.joblib"
    assert main(["pretrain", "cola", str(audio_folder), "-o", str(model), *TINY]) == 0
    captured = capsys.readouterr()
    summary = captured.out.strip().splitlines()[-1]
    assert "COLAEmbedder (cola) pretrained on 8 of 9 files: 1 epochs, final loss" in summary
    assert str(model) in summary
    assert "train_loss" in captured.out  # skorch's epoch table: verbose=1 by default
    assert "skipping" in captured.err and "broken.wav" in captured.err
    embedder = joblib.load(model)
    assert isinstance(embedder, COLAEmbedder) and len(embedder.history_) == 1
    params = embedder.get_params()
    assert (params["sample_rate"], params["embedding_dim"], params["batch_size"]) == (SR, 16, 4)
    assert (params["segment_seconds"], params["random_state"], params["verbose"]) == (0.25, 0, 1)

    assert main(["info", str(model)]) == 0
    info = capsys.readouterr().out
    for expected in (
        "class: skaudio.COLAEmbedder",
        "embedding_dim=16",
        "max_epochs=1",
        "sample_rate: 8000 Hz",
        "embedding size: 16",
        "epochs trained: 1, last loss: ",
        "iB)",  # the file size
    ):
        assert expected in info
    n_params = sum(p.numel() for p in embedder.net_.module_.parameters())
    assert f"{n_params:,} parameters" in info
    assert "lr=" not in info  # defaults are not listed

    out = tmp_path / "embeddings"
    assert main(["embed", str(model), str(audio_folder), "-o", str(out), "--shard-size", "3"]) == 0
    captured = capsys.readouterr()
    assert "embedded 8 of 9 files, 1 errors" in captured.out
    assert "3 shards computed, 0 already done" in captured.out and "files/s" in captured.out
    assert "3/3" in captured.err  # the progress bar
    paths, embeddings = load_folder_embeddings(out)
    assert len(paths) == 8 and "class0/broken.wav" not in paths
    expected = embedder.transform([audio_folder / p for p in paths])
    np.testing.assert_allclose(embeddings, expected, rtol=1e-5, atol=1e-6)

    assert main(["embed", str(model), str(audio_folder), "-o", str(out), "--shard-size", "3"]) == 0
    assert "0 shards computed, 3 already done" in capsys.readouterr().out


def test_quiet_pretrain(audio_folder, tmp_path, capsys):
    model = tmp_path / "m.joblib"
    args = ["pretrain", "cola", str(audio_folder), "-o", str(model), *TINY]
    assert main([*args, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "train_loss" not in out and len(out.strip().splitlines()) == 1
    assert joblib.load(model).verbose == 0


def test_estimator_parameters_from_the_command_line():
    command = "pretrain cola-multi --max-epochs=3 audio --device cpu -o m.joblib"
    options = ["--pitch_shift_range", "(0.9, 1.1)", "--random_state", "None", "--lr", "-1e-3"]
    argv, params = _split_estimator_params([*command.split(), *options])
    assert argv == ["pretrain", "cola-multi", "audio", "-o", "m.joblib"]
    assert params == {
        "max_epochs": "3",
        "device": "cpu",
        "pitch_shift_range": "(0.9, 1.1)",
        "random_state": "None",
        "lr": "-1e-3",
    }
    del params["lr"]
    estimator = _make_estimator("cola-multi", params, quiet=False)
    assert isinstance(estimator, COLAEmbedder)
    assert (estimator.frame_weight, estimator.pitch_weight) == (1.0, 1.0)  # multi-strategy
    assert estimator.max_epochs == 3 and estimator.device == "cpu"
    assert estimator.pitch_shift_range == (0.9, 1.1) and estimator.random_state is None
    assert estimator.verbose == 1
    assert _make_estimator("cola", {"verbose": "0"}, quiet=False).verbose == 0
    assert _make_estimator("cola", {}, quiet=True).verbose == 0
    # every method builds with its defaults
    for method, (cls, _, _) in METHODS.items():
        assert type(_make_estimator(method, {}, quiet=True)) is cls
    # other commands keep their arguments
    assert _split_estimator_params(["embed", "m", "f", "--n-jobs", "2"])[1] == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pretrain", "byol", "{folder}", "-o", "{tmp}/m.joblib"], "invalid choice: 'byol'"),
        (
            ["pretrain", "cola", "{folder}", "-o", "{tmp}/m.joblib", "--embeding_dim", "8"],
            "unknown parameter --embeding_dim for COLAEmbedder (cola); valid parameters: ",
        ),
        (
            ["pretrain", "cola", "{folder}", "-o", "{tmp}/m.joblib", "--embedding_dim", "-3"],
            "'embedding_dim' parameter of COLAEmbedder must be an int in the range [1, inf)",
        ),
        (
            ["pretrain", "cpc", "{folder}", "-o", "{tmp}/m.joblib", "--max_epochs", "1.5"],
            "'max_epochs' parameter of CPCEmbedder",
        ),
        (["pretrain", "cola", "{folder}", "-o", "{tmp}/m.joblib", "--lr"], "--lr needs a value"),
        (["pretrain", "cola", "{tmp}/nowhere", "-o", "{tmp}/m.joblib"], "does not exist"),
        (["pretrain", "cola", "{folder}", "-o", "{tmp}/no/m.joblib"], "does not exist"),
        (["pretrain", "cola", "{folder}"], "the following arguments are required: -o"),
        (["info", "{tmp}/junk.joblib"], "cannot load a model from"),
        (["info", "{tmp}/missing.joblib"], "cannot load a model from"),
        (["embed", "{tmp}/junk.joblib", "{folder}", "-o", "{tmp}/out"], "cannot load"),
        (["embed", "{model}", "{folder}", "-o", "{tmp}/out", "--shard-size", "0"], "at least 1"),
        (["embed", "{model}", "{folder}", "-o", "{tmp}/out", "--backend", "spark"], "choice"),
        (["embed", "{model}", "{folder}", "-o", "{tmp}/out", "--max_epochs", "1"], "unrecogn"),
        (["fit", "x"], "invalid choice: 'fit'"),
        ([], "required: COMMAND"),
    ],
)
def test_usage_errors_exit_2(args, message, audio_folder, model_file, tmp_path, capsys):
    (tmp_path / "junk.joblib").write_bytes(b"not a pickle")
    values = dict(folder=audio_folder, tmp=tmp_path, model=model_file)
    assert main([arg.format(**values) for arg in args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(errors) == 1  # one readable line
    assert not (tmp_path / "m.joblib").exists()


def test_unknown_parameter_lists_the_valid_ones(audio_folder, tmp_path, capsys):
    args = ["pretrain", "tokens", str(audio_folder), "-o", str(tmp_path / "m.joblib")]
    assert main([*args, "--segment_seconds", "0.25"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter --segment_seconds for TokenTransformerEmbedder" in err
    assert "context_tokens" in err and "n_tokens" in err


def test_info_on_a_pipeline_and_an_unfitted_model(model_file, tmp_path, capsys):
    X, _ = make_tones(n_clips=8, sample_rate=SR, random_state=0)
    pipe = make_pipeline(joblib.load(model_file), StandardScaler()).fit(X)
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    assert main(["info", str(tmp_path / "pipe.joblib")]) == 0
    out = capsys.readouterr().out
    assert "pipeline: colaembedder (COLAEmbedder) -> standardscaler (StandardScaler)" in out
    assert "pipeline output size: 16" in out and "epochs trained: 0, last loss: n/a" in out

    joblib.dump(COLAEmbedder(embedding_dim=8), tmp_path / "unfitted.joblib")
    assert main(["info", str(tmp_path / "unfitted.joblib")]) == 0
    out = capsys.readouterr().out
    assert "fitted: no" in out and "embedding_dim=8" in out


@pytest.mark.slow
def test_embed_with_a_dask_scheduler(model_file, audio_folder, tmp_path, capsys):
    distributed = pytest.importorskip("dask.distributed")
    out = tmp_path / "out"
    args = ["embed", str(model_file), str(audio_folder), "-o", str(out), "--shard-size", "4"]
    with distributed.LocalCluster(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
    ) as cluster:
        assert main([*args, "--backend", "dask", "--scheduler", cluster.scheduler_address]) == 0
    assert "embedded 8 of 9 files, 1 errors" in capsys.readouterr().out
    paths, embeddings = load_folder_embeddings(out)
    expected = joblib.load(model_file).transform([audio_folder / p for p in paths])
    np.testing.assert_allclose(embeddings, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_embed_with_a_local_dask_cluster(model_file, audio_folder, tmp_path, capsys):
    pytest.importorskip("dask.distributed")
    out = tmp_path / "out"
    args = ["embed", str(model_file), str(audio_folder), "-o", str(out), "--shard-size", "4"]
    assert main([*args, "--backend", "dask", "--n-jobs", "2", "--quiet"]) == 0
    assert "embedded 8 of 9 files, 1 errors" in capsys.readouterr().out
    paths, embeddings = load_folder_embeddings(out)
    expected = joblib.load(model_file).transform([audio_folder / p for p in paths])
    np.testing.assert_allclose(embeddings, expected, rtol=1e-5, atol=1e-6)
