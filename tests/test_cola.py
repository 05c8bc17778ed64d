import numpy as np
import pytest
import torch
from conftest import SMALL
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skaudio import COLAEmbedder
from skaudio.datasets import make_tones
from skaudio.models import COLAModel


@pytest.fixture(scope="module")
def fitted(tones):
    X, _ = tones
    return COLAEmbedder(**SMALL).fit(X)


def test_fitted_model_is_cola(fitted):
    assert isinstance(fitted.net_.module_, COLAModel)


@pytest.mark.slow
def test_pretraining_beats_random_encoder_on_pitch_bands():
    """12 pitch bands with nuisance timbre, phase and within-clip level changes.

    Identifying a clip across its segments means identifying its pitch, so COLA should
    make a small (8-d) embedding carry pitch, where the untrained encoder's random
    channels do so far less reliably. Measured over seeds 0, 1, 2: untrained 0.74, 0.43,
    0.36; pretrained 0.84, 0.77, 0.75.
    """
    X, y = make_tones(n_clips=160, n_classes=12, sample_rate=8000, random_state=0)
    X_test, y_test = make_tones(n_clips=160, n_classes=12, sample_rate=8000, random_state=1)
    scores = {0: [], 8: []}
    for seed in (0, 1, 2):
        params = {**SMALL, "embedding_dim": 8, "batch_size": 32, "lr": 3e-3, "random_state": seed}
        params.update(augmentations="none", readout_bands=1)  # the setting measured above
        for epochs in scores:
            embedder = COLAEmbedder(**{**params, "max_epochs": epochs})
            probe = make_pipeline(embedder, StandardScaler(), LogisticRegression(max_iter=1000))
            scores[epochs].append(probe.fit(X, y).score(X_test, y_test))
    untrained, pretrained = np.array(scores[0]), np.array(scores[8])
    assert (pretrained > untrained).all(), scores
    assert pretrained.mean() > untrained.mean() + 0.15, scores


def test_pipeline_with_probe(tones):
    X, y = tones
    pipe = make_pipeline(COLAEmbedder(**SMALL), LogisticRegression(max_iter=500)).fit(X, y)
    assert pipe.predict(X[:5]).shape == (5,)
    names = pipe[:-1].get_feature_names_out()
    assert names[0] == "colaembedder0" and len(names) == 16


@pytest.mark.slow
def test_grid_search_over_temperature_and_batch_size(tones):
    X, y = tones
    groups = np.arange(len(X)) % 3
    pipe = make_pipeline(COLAEmbedder(**{**SMALL, "similarity": "cosine"}), LogisticRegression())
    grid = {"colaembedder__temperature": [0.1, 0.5], "colaembedder__batch_size": [8, 16]}
    search = GridSearchCV(pipe, grid, cv=GroupKFold(n_splits=3)).fit(X, y, groups=groups)
    assert set(search.best_params_) == set(grid)
    assert search.cv_results_["mean_test_score"].shape == (4,)


def test_invalid_parameters_are_reported_at_fit(tones):
    X, _ = tones
    with pytest.raises(ValueError, match="similarity"):
        COLAEmbedder(similarity="dot").fit(X)
    with pytest.raises(ValueError, match="max_epochs"):
        COLAEmbedder(max_epochs=-1).fit(X)
    with pytest.raises(ValueError, match="mel bands"):
        COLAEmbedder(sample_rate=8000, n_mels=256, max_epochs=0).fit(X)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available")
def test_cuda_without_cuda_is_reported_at_fit(tones):
    X, _ = tones
    with pytest.raises(ValueError, match="CUDA is not available"):
        COLAEmbedder(device="cuda", max_epochs=0).fit(X)


# -- multi-strategy COLA (frame-level and pitch-shift losses) ---------------------------


def test_plain_cola_builds_no_extra_heads(fitted):
    model = fitted.net_.module_
    assert model.frame_head is None and model.pitch_head is None
    assert "train_frame_loss" not in fitted.history_[-1]


def test_multi_strategy_records_and_reduces_its_losses(tones):
    X, _ = tones
    est = COLAEmbedder(
        **{**SMALL, "segment_seconds": 0.5, "max_epochs": 8, "lr": 3e-3},
        frame_weight=1.0,
        pitch_weight=1.0,
        augmentations="none",  # the papers' setting: the measured halving of the pitch loss
        readout_bands=1,
    ).fit(X)
    history = est.history_
    for key in ("train_frame_loss", "train_frame_acc", "train_pitch_loss"):
        assert key in history[-1]
    pitch = history[:, "train_pitch_loss"]
    assert pitch[-1] < 0.5 * pitch[0]  # the pitch head learns to read the shift
    frame = history[:, "train_frame_loss"]
    assert frame[-1] < frame[0]
    assert est.transform(X[:3]).shape == (3, SMALL["embedding_dim"])


def test_pitch_shift_is_drawn_in_range_on_the_models_generator(tones):
    X, _ = tones
    est = COLAEmbedder(**SMALL, pitch_weight=1.0, pitch_shift_range=(0.9, 1.1)).fit(X)
    model = est.net_.module_.train()
    segment = torch.from_numpy(np.stack([x[:2000] for x in X[:16]]))
    with torch.no_grad():
        first = model(segment, segment)
        second = model(segment, segment)
    bound = 12 * np.log2(1.1) + 1e-5
    assert first.semitones.abs().max() <= bound
    assert not torch.equal(first.semitones, second.semitones)  # a new draw every batch
    assert first.pitch_shifted.shape == first.pitch_original.shape


@pytest.mark.parametrize("bad", [(1.2, 0.8), (0.0, 1.0), (0.9,), ("a", 1.0)])
def test_invalid_pitch_shift_range_is_a_clear_error(tones, bad):
    X, _ = tones
    with pytest.raises(ValueError, match="pitch_shift_range"):
        COLAEmbedder(**SMALL, pitch_weight=1.0, pitch_shift_range=bad).fit(X[:4])


def test_efficientnet_b0_encoder_by_name(tones):
    X, _ = tones
    est = COLAEmbedder(**{**SMALL, "embedding_dim": 32}, encoder="efficientnet_b0").fit(X[:16])
    assert type(est.net_.module_.encoder).__name__ == "EfficientNetB0Encoder"
    assert est.transform(X[:2]).shape == (2, 32)
    frames, _ = est.transform_frames(X[:1])
    assert frames[0].shape[1] == 16
