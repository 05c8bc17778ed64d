"""The HEAR API adapter, for every embedder."""

import joblib
import numpy as np
import pytest
import torch
from conftest import EMBEDDERS, SMALL
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skaudio import COLAEmbedder, MFCCStatistics
from skaudio.datasets import make_tones
from skaudio.hear import HEARModel, get_scene_embeddings, get_timestamp_embeddings, load_model

SR = SMALL["sample_rate"]


@pytest.fixture(scope="module", params=EMBEDDERS, ids=lambda factory: factory.__name__)
def fitted(request, tones):
    return request.param(**SMALL).fit(tones[0])


@pytest.fixture(scope="module")
def model(fitted):
    return HEARModel(fitted)


@pytest.fixture(scope="module")
def audio():
    """Three sounds of 1.3 s: a batch as HEAR's kit hands it over."""
    return torch.from_numpy(
        0.1 * np.random.default_rng(0).standard_normal((3, 13 * SR // 10)).astype(np.float32)
    )


def test_attributes(model, fitted):
    assert model.sample_rate == SR
    assert model.scene_embedding_size == fitted.transform([np.zeros(SR, np.float32)]).shape[1]
    frames, _ = fitted.transform_frames([np.zeros(SR, np.float32)])
    assert model.timestamp_embedding_size == frames[0].shape[1]
    assert isinstance(model, torch.nn.Module)


def test_scene_embeddings_match_transform(model, fitted, audio):
    embeddings = get_scene_embeddings(audio, model)
    assert embeddings.shape == (3, model.scene_embedding_size)
    assert embeddings.dtype == torch.float32 and embeddings.device == audio.device
    np.testing.assert_array_equal(embeddings.numpy(), fitted.transform(list(audio.numpy())))


def test_timestamp_embeddings_shapes_and_times(model, fitted, audio):
    embeddings, timestamps = get_timestamp_embeddings(audio, model)
    n_frames = embeddings.shape[1]
    assert embeddings.shape == (3, n_frames, model.timestamp_embedding_size) and n_frames > 1
    assert embeddings.dtype == torch.float32 and timestamps.dtype == torch.float32
    assert timestamps.shape == (3, n_frames)
    # the same centres for every sound, in ms, increasing: the first frames of
    # transform_frames, those centred inside the sound (HEAR refuses later ones)
    _, seconds = fitted.transform_frames(list(audio.numpy()))
    np.testing.assert_allclose(timestamps[1].numpy(), 1000 * seconds[1][:n_frames], rtol=1e-6)
    assert torch.equal(timestamps[0], timestamps[2])
    assert (timestamps.diff(dim=1) > 0).all()
    assert timestamps.diff(dim=1).max() <= 50 + 1e-3  # HEAR's longest hop
    hop_ms = 1000 * fitted.net_.module_.frame_hop / SR
    duration_ms = 1000 * audio.shape[1] / SR
    assert 0 <= timestamps.min() and duration_ms - hop_ms < timestamps.max() <= duration_ms


def test_batching_does_not_change_embeddings(model, audio):
    scene = get_scene_embeddings(audio, model)
    frames, _ = get_timestamp_embeddings(audio, model)
    for i in range(len(audio)):
        one = audio[i : i + 1]
        torch.testing.assert_close(get_scene_embeddings(one, model)[0], scene[i])
        torch.testing.assert_close(get_timestamp_embeddings(one, model)[0][0], frames[i])


def test_load_model_from_joblib_file_and_pipeline(tmp_path):
    # HEAR accepts 16, 22.05, 44.1 or 48 kHz models only: load_model refuses the others
    X, y = make_tones(n_clips=16, n_classes=4, sample_rate=16000, random_state=0)
    embedder = COLAEmbedder(**{**SMALL, "sample_rate": 16000, "max_epochs": 0}).fit(X)
    pipe = make_pipeline(embedder, LogisticRegression()).fit(X, y)
    joblib.dump(embedder, tmp_path / "embedder.joblib")
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    audio = torch.from_numpy(np.stack([x[:8000] for x in X[:4]]))
    expected = embedder.transform(list(audio.numpy()))
    for name in ("embedder.joblib", "pipe.joblib"):
        loaded = load_model(str(tmp_path / name))
        np.testing.assert_array_equal(get_scene_embeddings(audio, loaded).numpy(), expected)


def test_bad_models_and_audio_are_refused(tmp_path, tones):
    with pytest.raises(ValueError, match="path"):
        load_model("")
    (tmp_path / "junk.joblib").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="cannot load"):
        load_model(tmp_path / "junk.joblib")
    joblib.dump(MFCCStatistics(sample_rate=SR).fit(tones[0]), tmp_path / "mfcc.joblib")
    with pytest.raises(ValueError, match="not a skaudio embedder"):
        load_model(tmp_path / "mfcc.joblib")
    with pytest.raises(ValueError, match="fitted|not fitted"):
        HEARModel(COLAEmbedder(**SMALL))

    model = HEARModel(COLAEmbedder(**{**SMALL, "max_epochs": 0}).fit(tones[0]))
    with pytest.raises(ValueError, match="2-D"):
        get_scene_embeddings(torch.zeros(SR), model)
    with pytest.raises(ValueError, match="no sound"):
        get_timestamp_embeddings(torch.zeros(0, SR), model)
    with pytest.raises(ValueError, match="NaN|finite"):
        get_scene_embeddings(torch.full((1, SR), float("nan")), model)
