"""The contract every embedder keeps, checked for each of them."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from conftest import EMBEDDERS, SMALL, WINDOWED, cpc, token_transformer
from sklearn.base import clone


@pytest.fixture(scope="module", params=EMBEDDERS, ids=lambda factory: factory.__name__)
def Embedder(request):
    return request.param


@pytest.fixture(scope="module")
def fitted(Embedder, tones):
    X, _ = tones
    return Embedder(**SMALL).fit(X)


def test_fitted_attributes(fitted):
    assert fitted.device_ == "cpu"
    assert fitted.segment_length_ == 2000
    history = fitted.history_
    assert len(history) == 1
    assert {"train_loss", "train_pretext_acc", "dur"} <= set(history[-1])
    assert 0 <= history[-1, "train_pretext_acc"] <= 1


def test_transform_shape_dtype_for_clips_of_any_length(fitted):
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(n).astype(np.float32) for n in (1, 50, 2000, 8000, 20001)]
    Z = fitted.transform(clips)
    assert Z.shape == (5, 16) and Z.dtype == np.float32 and np.isfinite(Z).all()


def test_long_clip_embedding_is_mean_of_its_windows(Embedder, fitted):
    if Embedder not in WINDOWED:
        pytest.skip("embeds whole clips: its context runs across window boundaries")
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal(2000).astype(np.float32) for _ in range(2))
    together = fitted.transform([np.concatenate([a, b])])
    np.testing.assert_allclose(
        together[0], fitted.transform([a, b]).mean(axis=0), rtol=1e-5, atol=1e-6
    )


def test_transform_is_invariant_to_order_and_batching(fitted, tones):
    X, _ = tones
    Z = fitted.transform(X)
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(
        fitted.transform([X[i] for i in order]), Z[order], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(fitted.transform(X[:5]), Z[:5], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(fitted.transform(X), Z)  # deterministic


def test_fit_is_deterministic_given_random_state(Embedder, fitted, tones):
    X, _ = tones
    Z1 = fitted.transform(X[:8])  # the module's fit, at the same settings
    Z2 = Embedder(**SMALL).fit(X).transform(X[:8])
    np.testing.assert_array_equal(Z1, Z2)
    Z3 = Embedder(**{**SMALL, "random_state": 1}).fit(X).transform(X[:8])
    assert not np.allclose(Z1, Z3)


def test_fit_leaves_global_torch_rng_alone(Embedder, tones):
    X, _ = tones
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Embedder(**SMALL).fit(X[:8])
    torch.testing.assert_close(torch.rand(3), expected)


def test_max_epochs_zero_is_the_untrained_encoder(Embedder, fitted, tones):
    X, _ = tones
    untrained = Embedder(**{**SMALL, "max_epochs": 0}).fit(X)
    assert len(untrained.history_) == 0
    # same seed, same initial weights: only the pretraining (one epoch) differs
    assert not np.allclose(untrained.transform(X[:4]), fitted.transform(X[:4]))


@pytest.mark.slow
def test_loss_decreases_during_pretraining(Embedder, tones):
    X, _ = tones
    est = Embedder(**{**SMALL, "max_epochs": 6, "lr": 3e-3}).fit(X)
    losses = est.history_[:, "train_loss"]
    assert losses[-1] < losses[0]


def test_clone_gives_an_unfitted_copy_with_the_same_params(fitted):
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "net_")


def test_joblib_round_trip_gives_identical_embeddings(fitted, tones, tmp_path):
    X, _ = tones
    path = tmp_path / "cola.joblib"
    joblib.dump(fitted, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))


def test_model_saved_for_cuda_loads_on_cpu(fitted, tones):
    """A net pickled with device='cuda' (as after GPU training) embeds on a CPU-only machine.

    The weights here live on the CPU (no GPU in CI); what is tested is the loading path
    a CPU-only machine takes for a model whose recorded device is CUDA.
    """
    X, _ = tones
    expected = fitted.transform(X[:6])
    fitted.net_.device = "cuda"
    try:
        blob = pickle.dumps(fitted)
    finally:
        fitted.net_.device = "cpu"
    with warnings.catch_warnings(), pytest.MonkeyPatch.context() as mp:
        warnings.simplefilter("ignore")
        mp.setattr(torch.cuda, "is_available", lambda: False)
        loaded = pickle.loads(blob)
    assert str(loaded.net_.device) == "cpu"
    np.testing.assert_array_equal(loaded.transform(X[:6]), expected)


def test_files_and_arrays_give_the_same_embeddings(fitted, wav_files):
    paths, mono, _ = wav_files
    np.testing.assert_allclose(fitted.transform([paths[0]]), fitted.transform([mono]), rtol=1e-6)


def test_bad_input_is_a_clear_error(Embedder, fitted):
    with pytest.raises(ValueError, match="clip 1 contains NaN"):
        fitted.transform([np.zeros(100), np.full(100, np.nan)])
    with pytest.raises(ValueError, match="X is empty"):
        Embedder(**SMALL).fit([])


def test_changing_sample_rate_after_fit_is_refused(Embedder, tones):
    X, _ = tones
    est = Embedder(**{**SMALL, "max_epochs": 0}).fit(X)
    est.set_params(sample_rate=16000)
    with pytest.raises(ValueError, match="sample_rate was changed"):
        est.transform(X)


def test_verbose_prints_loss_per_epoch_and_a_progress_bar(Embedder, tones, capsys):
    X, _ = tones
    Embedder(**{**SMALL, "max_epochs": 2, "verbose": 1}).fit(X)
    captured = capsys.readouterr()
    assert "train_loss" in captured.out and "train_pretext_acc" in captured.out
    assert "it/s" in captured.out + captured.err
    Embedder(**SMALL).fit(X)
    captured = capsys.readouterr()
    assert captured.out == "" and "it/s" not in captured.err


# -- frame embeddings with timestamps ------------------------------------------------


def test_frame_embeddings_of_clips_of_any_length(fitted):
    rng = np.random.default_rng(0)
    lengths = (1, 50, 2000, 8000, 20001)
    clips = [rng.standard_normal(n).astype(np.float32) for n in lengths]
    frames, times = fitted.transform_frames(clips)
    model = fitted.net_.module_
    assert len(frames) == len(times) == len(clips)
    for n, f, t in zip(lengths, frames, times, strict=True):
        assert f.dtype == np.float32 and f.shape == (len(t), model.frame_dim)
        assert np.isfinite(f).all()
        assert len(t) == max(1, -(-n // model.frame_hop))  # frames that start in the clip
        np.testing.assert_allclose(np.diff(t), model.frame_hop / fitted.sample_rate)
        assert t[0] >= 0  # a regular grid of centres; the last frame starts in the clip:
        start = t[-1] - t[0]  # frame m starts m * frame_hop samples after frame 0
        assert start < max(n, fitted.segment_length_) / fitted.sample_rate
        assert model.frame_hop / fitted.sample_rate <= 0.05  # HEAR's longest hop
    assert len(frames[-1]) > len(frames[-2]) > len(frames[2])


def test_frame_embeddings_do_not_depend_on_the_other_clips(fitted, tones):
    X, _ = tones
    clips = [X[0], X[1][:3000], X[2], X[3][:500]]
    together, _ = fitted.transform_frames(clips)
    for clip, expected in zip(clips, together, strict=True):
        alone, _ = fitted.transform_frames([clip])
        np.testing.assert_allclose(alone[0], expected, rtol=1e-5, atol=1e-6)


def _mean_reference(frames: np.ndarray) -> np.ndarray:
    """The mean over time, one frame at a time (float64)."""
    total = np.zeros(frames.shape[1], dtype=np.float64)
    for frame in frames:
        total += frame
    return total / len(frames)


def _max_reference(frames: np.ndarray) -> np.ndarray:
    top = np.full(frames.shape[1], -np.inf)
    for frame in frames:
        top = np.maximum(top, frame)
    return top


def test_clip_embedding_of_a_one_window_clip_pools_its_frames(Embedder, fitted, tones):
    """transform (window batches) agrees with transform_frames (whole clips) pooled here.

    The reference pools frame by frame; for the windowed embedders it keeps the frames
    stamped on the encoder's own grid (``encoder_hop`` apart, from the first), which
    :meth:`transform` pools as mean then max.
    """
    X, _ = tones
    clip = X[0][: fitted.segment_length_]
    (frames,), (times,) = fitted.transform_frames([clip])
    assert len(frames) > 1  # several frames: mean, max and last differ
    if Embedder in WINDOWED:
        model = fitted.net_.module_
        position = (times - times[0]) * fitted.sample_rate / model.encoder_hop
        on_grid = np.isclose(position, np.round(position), atol=1e-6)
        own = frames[on_grid]
        assert 1 < len(own) <= len(frames)
        expected = np.concatenate([_mean_reference(own), _max_reference(own)])
        np.testing.assert_allclose(fitted.transform([clip])[0], expected, rtol=1e-5, atol=1e-6)
        return
    expected = {"mean": _mean_reference(frames)}
    if Embedder is cpc:  # every pooling CPC offers
        expected["last"] = frames[-1]
        expected["mean+max"] = np.concatenate([_mean_reference(frames), _max_reference(frames)])
    try:
        for pooling, pooled in expected.items():
            if Embedder is cpc:
                fitted.set_params(pooling=pooling)
            np.testing.assert_allclose(
                fitted.transform([clip])[0], pooled, rtol=1e-5, atol=1e-6, err_msg=pooling
            )
    finally:
        if Embedder is cpc:
            fitted.set_params(pooling="mean")


def test_frame_timestamps_locate_a_sound(Embedder):
    """In silence with one burst of noise, the odd frame out is stamped inside the burst."""
    if Embedder is token_transformer:
        pytest.skip(
            "its representation integrates the token context, so a sound's trace "
            "persists after it; token timing is tested in test_tokens.py"
        )
    est = Embedder(**{**SMALL, "max_epochs": 0}).fit([np.zeros(2000, np.float32)])
    if Embedder is cpc:  # a context integrates the past; the encoder's frames are local
        est.set_params(features="encoder")
    sr = SMALL["sample_rate"]
    clip = np.zeros(3 * sr, dtype=np.float32)
    clip[int(1.8 * sr) : int(2.2 * sr)] = np.random.default_rng(0).standard_normal(int(0.4 * sr))
    (frames,), (times,) = est.transform_frames([clip])
    silent = np.median(frames, axis=0)
    loudest = times[np.argmax(np.linalg.norm(frames - silent, axis=1))]
    hop = est.net_.module_.frame_hop / sr
    assert 1.8 - hop <= loudest <= 2.2 + hop
