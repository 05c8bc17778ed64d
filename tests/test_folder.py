"""Embedding a folder in parallel shards: results, errors, resume, backends."""

import csv
import json
import os
import shutil

import joblib
import numpy as np
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skaudio.folder as folder_module
from skaudio import COLAEmbedder, MFCCStatistics, _model_file
from skaudio.datasets import make_tones
from skaudio.folder import (
    FolderEmbedding,
    embed_folder,
    list_audio_files,
    load_folder_embeddings,
)

SR = 8000
TIGHT = dict(rtol=1e-5, atol=1e-6)

#: good files, in sorted order; some nested, one stereo, one at another rate, one FLAC
GOOD = [
    "a/b/deep0.wav",
    "a/b/deep1.wav",
    "a/x0.wav",
    "a/x1.flac",
    "a/x2.wav",
    "c/stereo.wav",
    "c/y0.wav",
    "c/y1_16k.wav",
    "root0.wav",
    "root1.wav",
    "root2.wav",
    "z/last.wav",
]
BAD = ["a/corrupt.wav", "c/empty.wav", "c/nan.wav"]  # unreadable, no samples, NaN samples


def _write_folder(root):
    rng = np.random.default_rng(0)
    for i, name in enumerate(GOOD):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        n = SR // 10 * (1 + i % 7)  # 0.1 s to 0.7 s: shorter and longer than a segment
        tone = 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * np.arange(n) / SR)
        clip = (tone + 0.05 * rng.standard_normal(n)).astype(np.float32)
        if "stereo" in name:
            sf.write(path, np.stack([clip, 0.5 * clip], axis=1), SR)
        elif "16k" in name:
            sf.write(path, np.repeat(clip, 2), 2 * SR)
        else:
            sf.write(path, clip, SR)
    (root / BAD[0]).write_bytes(rng.bytes(500))
    sf.write(root / BAD[1], np.zeros(0, dtype=np.float32), SR)
    sf.write(root / BAD[2], np.array([0.1, np.nan, 0.2] * 1000, np.float32), SR, subtype="FLOAT")
    (root / "notes.txt").write_text("not audio")
    (root / ".hidden.wav").write_bytes(b"AppleDouble junk")
    return root


@pytest.fixture(scope="module")
def audio_folder(tmp_path_factory):
    return _write_folder(tmp_path_factory.mktemp("audio"))


@pytest.fixture(scope="module")
def embedder():
    X, _ = make_tones(n_clips=8, sample_rate=SR, random_state=0)
    return COLAEmbedder(
        sample_rate=SR, segment_seconds=0.25, embedding_dim=16, max_epochs=0, random_state=0
    ).fit(X)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, embedder):
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    joblib.dump(embedder, path)
    return path


@pytest.fixture(scope="module")
def expected(embedder, audio_folder):
    return embedder.transform([audio_folder / name for name in GOOD])


@pytest.fixture(scope="module")
def reference(model_file, audio_folder, tmp_path_factory):
    """One uninterrupted sequential run, with 4 shards (the last one short)."""
    out = tmp_path_factory.mktemp("reference")
    result = embed_folder(model_file, audio_folder, out, shard_size=4, n_jobs=1)
    return result, *load_folder_embeddings(out)


def _read(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def _shard_mtimes(out):
    return {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}


def test_list_audio_files(audio_folder, tmp_path):
    files = list_audio_files(audio_folder)
    assert [p.relative_to(audio_folder).as_posix() for p in files] == sorted(GOOD + BAD)
    assert all(p.is_file() for p in files)
    only_flac = list_audio_files(audio_folder, extensions=["FLAC"])
    assert [p.name for p in only_flac] == ["x1.flac"]
    with pytest.raises(ValueError, match="does not exist"):
        list_audio_files(tmp_path / "missing")
    with pytest.raises(ValueError, match="not a folder"):
        list_audio_files(audio_folder / "notes.txt")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("nothing")
    with pytest.raises(ValueError, match="no audio file"):
        list_audio_files(tmp_path / "empty")


def test_outputs_equal_transform(reference, expected, audio_folder, model_file):
    result, paths, embeddings = reference
    assert isinstance(result, FolderEmbedding)
    assert (result.n_files, result.n_embedded, result.n_errors) == (15, 12, 3)
    assert (result.n_shards, result.n_shards_computed, result.n_shards_skipped) == (4, 4, 0)
    assert paths == GOOD
    assert embeddings.dtype == np.float32 and embeddings.shape == (12, 16)
    np.testing.assert_allclose(embeddings, expected, **TIGHT)

    out = result.output_dir
    index = _read(out / "index.csv")
    assert index[0] == ["path", "shard", "row"]
    assert sorted(row[0] for row in index[1:]) == GOOD  # every good file, exactly once
    for path, shard, row in index[1:]:
        shard_rows = np.load(out / "shards" / f"shard-{int(shard):05d}.npy")
        np.testing.assert_array_equal(shard_rows[int(row)], embeddings[paths.index(path)])
    errors = _read(out / "errors.csv")
    assert errors[0] == ["path", "error"]
    assert {row[0] for row in errors[1:]} == set(BAD)
    messages = dict(errors[1:])
    assert "could not read" in messages["a/corrupt.wav"]
    assert "no samples" in messages["c/empty.wav"]
    assert "NaN" in messages["c/nan.wav"]

    names = sorted(p.name for p in (out / "shards").iterdir())
    assert not [n for n in names if n.startswith(".")]  # no temporary file left
    assert "shard-00000.errors.csv" in names  # a/corrupt.wav is in the first shard
    assert "shard-00003.errors.csv" not in names
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"] == sorted(GOOD + BAD) and manifest["shard_size"] == 4
    assert manifest["model"]["path"] == str(model_file.resolve())
    assert manifest["folder"] == str(audio_folder.resolve())
    assert result.load()[0] == paths


def test_model_is_loaded_once_per_process(model_file, audio_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(_model_file, "_CACHE", {})
    loads = []
    real = _model_file.load_model_file

    def counting(path, **kwargs):
        loads.append(path)
        return real(path, **kwargs)

    monkeypatch.setattr(_model_file, "load_model_file", counting)
    result = embed_folder(model_file, audio_folder, tmp_path / "out", shard_size=3)
    assert result.n_shards == 5 and len(loads) == 1


def test_resume_after_deleting_a_shard(reference, model_file, audio_folder, tmp_path):
    out = tmp_path / "out"
    embed_folder(model_file, audio_folder, out, shard_size=4)
    before = _shard_mtimes(out)
    for path in (out / "shards").glob("shard-00001.*"):
        path.unlink()
    result = embed_folder(model_file, audio_folder, out, shard_size=4)
    assert (result.n_shards_computed, result.n_shards_skipped) == (1, 3)
    assert result.n_files_computed == 4
    after = _shard_mtimes(out)
    assert after.keys() == before.keys()
    assert all(after[name] == before[name] for name in after if "00001" not in name)
    paths, embeddings = load_folder_embeddings(out)
    assert paths == reference[1]
    np.testing.assert_allclose(embeddings, reference[2], **TIGHT)


def test_resume_after_an_interrupted_run(
    reference, model_file, audio_folder, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    real = folder_module._embed_shard
    calls = []

    def crashing(*args):
        if len(calls) == 2:
            raise RuntimeError("worker lost")
        calls.append(args[-1])
        return real(*args)

    monkeypatch.setattr(folder_module, "_embed_shard", crashing)
    with pytest.raises(RuntimeError, match="worker lost"):
        embed_folder(model_file, audio_folder, out, shard_size=4, n_jobs=1)
    assert sorted(p.name for p in (out / "shards").glob("*.csv")) == [
        "shard-00000.csv",
        "shard-00000.errors.csv",
        "shard-00001.csv",
        "shard-00001.errors.csv",
    ]
    assert not (out / "index.csv").exists()
    with pytest.raises(ValueError, match="resume"):
        load_folder_embeddings(out)
    done = _shard_mtimes(out)

    def counting(*args):
        calls.append(args[-1])
        return real(*args)

    calls.clear()
    monkeypatch.setattr(folder_module, "_embed_shard", counting)
    result = embed_folder(model_file, audio_folder, out, shard_size=4, n_jobs=1)
    assert calls == [2, 3]  # the finished shards were not computed again
    assert (result.n_shards_computed, result.n_shards_skipped) == (2, 2)
    assert all(_shard_mtimes(out)[name] == mtime for name, mtime in done.items())
    assert (result.n_embedded, result.n_errors) == (12, 3)
    paths, embeddings = load_folder_embeddings(out)
    assert paths == reference[1]
    np.testing.assert_allclose(embeddings, reference[2], **TIGHT)
    assert _read(out / "index.csv") == _read(reference[0].output_dir / "index.csv")


def test_manifest_mismatch_is_refused(model_file, audio_folder, embedder, tmp_path):
    folder = shutil.copytree(audio_folder, tmp_path / "audio")
    out = tmp_path / "out"
    embed_folder(model_file, folder, out, shard_size=4)
    with pytest.raises(ValueError, match="shard_size=4, not 5"):
        embed_folder(model_file, folder, out, shard_size=5)
    other_model = tmp_path / "other.joblib"
    joblib.dump(embedder, other_model)
    with pytest.raises(ValueError, match="another embedding job.*model file"):
        embed_folder(other_model, folder, out, shard_size=4)
    with pytest.raises(ValueError, match="folder"):
        embed_folder(model_file, audio_folder, out, shard_size=4)
    shutil.copy(folder / "root0.wav", folder / "root9.wav")
    with pytest.raises(ValueError, match=r"files .* changed .*1 added, 0 removed.*root9"):
        embed_folder(model_file, folder, out, shard_size=4)
    (folder / "root9.wav").unlink()
    stat = model_file.stat()
    os.utime(model_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    try:
        with pytest.raises(ValueError, match="model file .* was changed"):
            embed_folder(model_file, folder, out, shard_size=4)
    finally:
        os.utime(model_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert embed_folder(model_file, folder, out, shard_size=4).n_shards_skipped == 4

    stray = tmp_path / "stray"
    (stray / "shards").mkdir(parents=True)
    (stray / "shards" / "shard-00000.csv").write_text("path\n")
    with pytest.raises(ValueError, match="no manifest"):
        embed_folder(model_file, folder, stray, shard_size=4)


def test_pipeline_model_applies_every_step(embedder, audio_folder, tmp_path):
    X, y = make_tones(n_clips=16, n_classes=2, sample_rate=SR, random_state=1)
    pipe = make_pipeline(embedder, StandardScaler()).fit(X)
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    result = embed_folder(tmp_path / "pipe.joblib", audio_folder, tmp_path / "out", shard_size=5)
    paths, embeddings = result.load()
    assert paths == GOOD
    np.testing.assert_allclose(
        embeddings, pipe.transform([audio_folder / p for p in GOOD]), **TIGHT
    )

    joblib.dump(make_pipeline(embedder, LogisticRegression()).fit(X, y), tmp_path / "clf.joblib")
    with pytest.raises(ValueError, match="without transform.*LogisticRegression"):
        embed_folder(tmp_path / "clf.joblib", audio_folder, tmp_path / "out2")


def test_bad_models_and_arguments(tmp_path, audio_folder, model_file, tones):
    joblib.dump(MFCCStatistics(sample_rate=SR).fit(tones[0][:4]), tmp_path / "mfcc.joblib")
    with pytest.raises(ValueError, match="not a skaudio embedder"):
        embed_folder(tmp_path / "mfcc.joblib", audio_folder, tmp_path / "out")
    joblib.dump(COLAEmbedder(sample_rate=SR), tmp_path / "unfitted.joblib")
    with pytest.raises(ValueError, match="unfitted"):
        embed_folder(tmp_path / "unfitted.joblib", audio_folder, tmp_path / "out")
    with pytest.raises(ValueError, match="cannot load"):
        embed_folder(tmp_path / "missing.joblib", audio_folder, tmp_path / "out")
    with pytest.raises(ValueError, match="path of a model file"):
        embed_folder(COLAEmbedder(), audio_folder, tmp_path / "out")
    for size in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="shard_size"):
            embed_folder(model_file, audio_folder, tmp_path / "out", shard_size=size)
    with pytest.raises(ValueError, match="does not exist"):
        embed_folder(model_file, tmp_path / "nowhere", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written for a refused call


def test_shard_of_only_bad_files(model_file, tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.wav", "b.wav"):
        sf.write(folder / name, 0.1 * rng.standard_normal(SR // 2), SR)
    (folder / "c.wav").write_bytes(b"RIFF....WAVE")
    sf.write(folder / "d.wav", np.zeros(0), SR)
    result = embed_folder(model_file, folder, tmp_path / "out", shard_size=2)
    assert (result.n_embedded, result.n_errors) == (2, 2)
    assert np.load(tmp_path / "out" / "shards" / "shard-00001.npy").shape == (0, 16)
    paths, embeddings = result.load()
    assert paths == ["a.wav", "b.wav"] and embeddings.shape == (2, 16)


def test_files_with_bad_samples_are_isolated(model_file, embedder, tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        clip = (0.1 * rng.standard_normal(SR // 2)).astype(np.float32)
        if i in (2, 5):
            clip[100] = np.inf if i == 2 else np.nan
        sf.write(folder / f"{i}.wav", clip, SR, subtype="FLOAT")
    result = embed_folder(model_file, folder, tmp_path / "out", shard_size=8)
    assert (result.n_embedded, result.n_errors) == (6, 2)
    errors = _read(tmp_path / "out" / "errors.csv")[1:]
    assert [row[0] for row in errors] == ["2.wav", "5.wav"]
    assert all("NaN or infinity" in row[1] for row in errors)
    paths, embeddings = result.load()
    expected = embedder.transform([folder / p for p in paths])
    np.testing.assert_allclose(embeddings, expected, **TIGHT)


def test_progress_bar(model_file, audio_folder, tmp_path, capsys):
    embed_folder(model_file, audio_folder, tmp_path / "out", shard_size=7, verbose=1)
    assert "3/3" in capsys.readouterr().err  # 15 files, 7 per shard
    embed_folder(model_file, audio_folder, tmp_path / "quiet", shard_size=7)
    assert capsys.readouterr().err == ""


def _probe(path):
    """In a worker: which process it is and which model object its cache holds."""
    obj, _ = _model_file.cached_model_file(path)
    return os.getpid(), id(obj)


@pytest.mark.slow
def test_loky_two_jobs_equal_one(reference, model_file, audio_folder, tmp_path):
    result = embed_folder(model_file, audio_folder, tmp_path / "out", shard_size=4, n_jobs=2)
    assert result.n_shards_computed == 4
    paths, embeddings = result.load()
    assert paths == reference[1]
    np.testing.assert_allclose(embeddings, reference[2], **TIGHT)
    assert _read(tmp_path / "out" / "index.csv") == _read(reference[0].output_dir / "index.csv")
    # a reused worker keeps its loaded model: one object per process
    seen = joblib.Parallel(n_jobs=2)(joblib.delayed(_probe)(str(model_file)) for _ in range(8))
    objects = {}
    for pid, obj in seen:
        objects.setdefault(pid, set()).add(obj)
    assert all(len(ids) == 1 for ids in objects.values())


@pytest.mark.slow
def test_dask_backend_gives_the_same_result(reference, model_file, audio_folder, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    # two worker threads: with one, joblib would run the tasks itself, sequentially
    with (
        distributed.Client(
            processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
        ) as client,
        joblib.parallel_config(backend="dask"),
        distributed.get_task_stream(client) as tasks,
    ):
        result = embed_folder(model_file, audio_folder, tmp_path / "out", shard_size=4)
    assert result.n_shards_computed == 4
    assert len(tasks.data) == 4  # one dask task per shard
    paths, embeddings = result.load()
    assert paths == reference[1]
    np.testing.assert_allclose(embeddings, reference[2], **TIGHT)
    assert _read(tmp_path / "out" / "errors.csv") == _read(reference[0].output_dir / "errors.csv")
