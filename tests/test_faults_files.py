"""Faults in audio files and folders: truncated files, files changed or deleted while
read, files changed between runs of embed_folder, two jobs on one output folder, and
links out of the folder. Each gives the right answer or a ValueError naming the clip
(index and path) and what to do, never a raw soundfile or torch error."""

import csv
import os
import re
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest
import soundfile as sf

import skaudio.estimators._base as base_module
from skaudio import COLAEmbedder, ContrastiveAudioEmbedder, CPCEmbedder, TokenTransformerEmbedder
from skaudio.cli import main
from skaudio.clips import FileClips, as_clips
from skaudio.exceptions import AudioInputWarning
from skaudio.folder import embed_folder, list_audio_files, load_folder_embeddings

SR = 8000
SMALL = dict(sample_rate=SR, n_mels=8, batch_size=8, max_epochs=1, random_state=0)


def _cola(**kw):
    return COLAEmbedder(segment_seconds=0.05, embedding_dim=8, projection_dim=8, **{**SMALL, **kw})


def _simclr(**kw):
    return ContrastiveAudioEmbedder(
        segment_seconds=0.05, embedding_dim=8, projection_dim=8, **{**SMALL, **kw}
    )


def _cpc(**kw):
    return CPCEmbedder(segment_seconds=0.05, z_dim=8, c_dim=8, n_predict=2, **{**SMALL, **kw})


def _tokens(**kw):
    return TokenTransformerEmbedder(
        patch_frames=5,
        context_tokens=5,
        n_tokens=4,
        autoencoder_width=8,
        embedding_dim=8,
        **{**SMALL, **kw},
    )


MAKERS = {"cola": _cola, "simclr": _simclr, "cpc": _cpc, "tokens": _tokens}


def _noise(n, seed=0):
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def _write_files(folder, n=4, length=2000):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"clip{i}.wav"
        sf.write(path, _noise(length, i), SR, subtype="FLOAT")
        paths.append(path)
    return paths


def _truncated_flac(path, n=4000):
    """A valid FLAC cut to half its bytes: the header still promises ``n`` samples."""
    sf.write(path, _noise(n, 9), SR)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture(scope="module")
def fitted():
    """Every estimator fitted on arrays (the failing files are given to transform)."""
    X = [_noise(2000, i) for i in range(4)]
    return {name: make(max_epochs=0).fit(X) for name, make in MAKERS.items()}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, fitted):
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    joblib.dump(fitted["cola"], path)
    return path


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))[1:]


# -- 1. a truncated FLAC -------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MAKERS))
def test_transform_of_a_truncated_flac_names_the_clip(name, fitted, tmp_path):
    paths = _write_files(tmp_path)
    bad = _truncated_flac(tmp_path / "cut.flac")
    with pytest.raises(ValueError, match=r"clip 2: .*cut\.flac.* truncated.*re-encode"):
        fitted[name].transform([paths[0], paths[1], bad])


@pytest.mark.parametrize("name", ["cola", "cpc"])
def test_fit_on_a_truncated_flac_fails_before_training(name, tmp_path, monkeypatch):
    paths = _write_files(tmp_path)
    bad = _truncated_flac(tmp_path / "cut.flac")
    trained = []
    real = type(MAKERS[name]())._pretrain
    monkeypatch.setattr(
        type(MAKERS[name]()), "_pretrain", lambda *a, **k: trained.append(1) or real(*a, **k)
    )
    with pytest.raises(ValueError, match=r"clip 4: .*cut\.flac.* truncated"):
        MAKERS[name]().fit([*paths, bad])
    assert not trained  # found from the file, before any training
    with pytest.raises(ValueError, match=r"clip 1: .*cut\.flac"):
        as_clips([paths[0], bad], sample_rate=SR)


def test_embed_folder_records_a_truncated_flac_as_an_error(model_file, fitted, tmp_path):
    folder = tmp_path / "audio"
    paths = _write_files(folder)
    _truncated_flac(folder / "cut.flac")
    out = tmp_path / "out"
    result = embed_folder(model_file, folder, out, shard_size=2)
    assert (result.n_files, result.n_embedded, result.n_errors) == (5, 4, 1)
    errors = dict(_read_csv(out / "errors.csv"))
    assert list(errors) == ["cut.flac"] and "truncated" in errors["cut.flac"]
    names, embeddings = load_folder_embeddings(out)
    assert names == [p.name for p in paths]
    np.testing.assert_allclose(embeddings, fitted["cola"].transform(paths), atol=1e-5)
    again = embed_folder(model_file, folder, out, shard_size=2)  # a rerun works too
    assert (again.n_shards_skipped, again.n_errors) == (3, 1)


def test_cli_embed_reports_a_truncated_flac_and_exits_0(model_file, tmp_path, capsys):
    folder = tmp_path / "audio"
    _write_files(folder, n=2)
    _truncated_flac(folder / "cut.flac")
    out = tmp_path / "out"
    assert main(["embed", str(model_file), str(folder), "-o", str(out), "-q"]) == 0
    captured = capsys.readouterr()
    assert "embedded 2 of 3 files, 1 errors" in captured.out
    assert "cut.flac" in captured.err and "truncated" in captured.err
    assert "Traceback" not in captured.err


# -- 2. a file changed or deleted after it was listed ---------------------------------------


def _reads(clips, index):
    """Every way clips.py reads a clip's samples."""
    rng = np.random.default_rng(0)
    n = int(clips.lengths[index])
    return {
        "whole": lambda: clips[index],
        "segment": lambda: clips.segment(index, n - 500, n),
        "random_segment": lambda: clips.random_segment(index, n // 2, rng),
        "windows": lambda: list(clips.windows(index, 300)),
    }


@pytest.mark.parametrize("rate", [SR, 2 * SR])  # read as it is, and resampled
@pytest.mark.parametrize("read", ["whole", "segment", "random_segment", "windows"])
def test_every_read_of_a_shortened_file_says_it_changed(read, rate, tmp_path, monkeypatch):
    monkeypatch.setattr("skaudio.clips._BLOCK_FRAMES", 1024)  # stream in several blocks
    path = tmp_path / "x.wav"
    other = tmp_path / "other.wav"
    sf.write(other, _noise(3000), SR)
    sf.write(path, _noise(6000), rate)
    clips = FileClips([other, path], SR)
    sf.write(path, _noise(2500), rate)  # rewritten shorter after it was listed
    message = r"clip 1: .*x\.wav.* changed since it was listed: had 6000 samples.* now 2500"
    with pytest.raises(ValueError, match=message):
        _reads(clips, 1)[read]()
    path.unlink()
    with pytest.raises(ValueError, match=r"clip 1: .*x\.wav.* no longer exists"):
        _reads(clips, 1)[read]()


@pytest.mark.parametrize("read", ["whole", "segment", "windows"])
def test_a_flac_truncated_after_it_was_listed_is_a_value_error(read, tmp_path):
    path = tmp_path / "x.flac"
    sf.write(path, _noise(6000), SR)
    clips = FileClips([path], SR)
    _truncated_flac(path, 6000)  # the header still says 6000 samples
    with pytest.raises(ValueError, match=r"clip 0: .*x\.flac.*replace or re-encode"):
        _reads(clips, 0)[read]()


def _change_after_listing(monkeypatch, change):
    """Make ``change()`` happen right after an estimator has checked its input."""
    real = base_module.as_clips

    def listing_then_change(X, **kwargs):
        clips = real(X, **kwargs)
        change()
        return clips

    monkeypatch.setattr(base_module, "as_clips", listing_then_change)


@pytest.mark.parametrize("name", ["cola", "cpc"])
@pytest.mark.parametrize("how", ["shortened", "deleted"])
def test_fit_and_transform_on_a_file_changed_after_listing(name, how, fitted, tmp_path):
    paths = _write_files(tmp_path)
    expected = {
        "shortened": "changed since it was listed: had 2000 samples at 8000 Hz, now 1000",
        "deleted": "no longer exists",
    }[how]

    def change():
        if how == "shortened":
            sf.write(paths[3], _noise(1000), SR, subtype="FLOAT")
        else:
            paths[3].unlink(missing_ok=True)

    for run in (lambda: MAKERS[name]().fit(paths), lambda: fitted[name].transform(paths)):
        sf.write(paths[3], _noise(2000, 3), SR, subtype="FLOAT")
        with pytest.MonkeyPatch.context() as m:
            _change_after_listing(m, change)
            with pytest.raises(ValueError, match=rf"clip 3: .*clip3\.wav.* {expected}"):
                run()


# -- 3. a file changed between two runs of embed_folder -------------------------------------


def test_embed_folder_reembeds_the_shards_of_changed_files(model_file, fitted, tmp_path):
    folder = tmp_path / "audio"
    paths = _write_files(folder, n=6)
    (folder / "clip5.wav").write_bytes(b"not audio")  # an error, fixed later
    out = tmp_path / "out"
    first = embed_folder(model_file, folder, out, shard_size=2)
    assert (first.n_embedded, first.n_errors) == (5, 1)

    sf.write(paths[0], _noise(3000, 42), SR, subtype="FLOAT")  # rewritten in place
    os.utime(paths[0], ns=(1, 10**18))  # whatever the clock's resolution
    sf.write(paths[5], _noise(2000, 43), SR, subtype="FLOAT")  # the broken file fixed
    again = embed_folder(model_file, folder, out, shard_size=2)
    assert (again.n_shards_computed, again.n_shards_skipped) == (2, 1)  # shards 0 and 2
    assert (again.n_embedded, again.n_errors) == (6, 0)
    names, embeddings = load_folder_embeddings(out)
    assert names == [p.name for p in paths]
    np.testing.assert_allclose(embeddings, fitted["cola"].transform(paths), atol=1e-5)
    assert _read_csv(out / "errors.csv") == []
    third = embed_folder(model_file, folder, out, shard_size=2)
    assert third.n_shards_computed == 0


# -- 4. two jobs on one output folder ------------------------------------------------------

_HOLD_LOCK = """
import fcntl, sys, time
f = open(sys.argv[1], "a+")
fcntl.flock(f.fileno(), fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_a_second_job_on_the_same_output_dir_is_refused(model_file, tmp_path):
    folder = tmp_path / "audio"
    _write_files(folder, n=2)
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(out / ".lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        message = rf"{re.escape(str(out))} is in use by another embedding job"
        with pytest.raises(ValueError, match=message):
            embed_folder(model_file, folder, out)
        assert not (out / "manifest.json").exists()  # the refused job wrote nothing
    finally:
        holder.kill()  # a job that dies releases its lock: no stale lock
        holder.wait()
    assert embed_folder(model_file, folder, out).n_embedded == 2


def test_a_job_started_while_another_runs_is_refused(model_file, fitted, tmp_path, monkeypatch):
    import skaudio.folder as folder_module

    folder = tmp_path / "audio"
    paths = _write_files(folder, n=2)
    other_model = tmp_path / "other.joblib"
    joblib.dump(fitted["simclr"], other_model)
    out = tmp_path / "out"
    real = folder_module._embed_shard
    refused = []

    def second_job_meanwhile(*args):
        with pytest.raises(ValueError, match="in use by another embedding job") as error:
            embed_folder(other_model, folder, out)
        refused.append(str(error.value))
        return real(*args)

    monkeypatch.setattr(folder_module, "_embed_shard", second_job_meanwhile)
    embed_folder(model_file, folder, out, n_jobs=1)
    assert refused
    _, embeddings = load_folder_embeddings(out)
    np.testing.assert_allclose(embeddings, fitted["cola"].transform(paths), atol=1e-5)


# -- 5. links out of the folder -------------------------------------------------------------


def test_links_out_of_the_folder_are_left_out_unless_asked(model_file, tmp_path):
    folder = tmp_path / "audio"
    _write_files(folder, n=2)
    outside = _write_files(tmp_path / "elsewhere", n=1)[0]
    (folder / "escape.wav").symlink_to(outside)
    (folder / "alias.wav").symlink_to(folder / "clip0.wav")  # inside: kept
    with pytest.warns(AudioInputWarning, match=r"escape\.wav.*follow_symlinks=True"):
        result = embed_folder(model_file, folder, tmp_path / "out")
    assert result.load()[0] == ["alias.wav", "clip0.wav", "clip1.wav"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", AudioInputWarning)
        followed = embed_folder(model_file, folder, tmp_path / "out2", follow_symlinks=True)
    assert followed.load()[0] == ["alias.wav", "clip0.wav", "clip1.wav", "escape.wav"]

    only_links = tmp_path / "links"
    only_links.mkdir()
    (only_links / "escape.wav").symlink_to(outside)
    with pytest.raises(ValueError, match=r"no audio file.*escape\.wav.*follow_symlinks=True"):
        list_audio_files(only_links)
