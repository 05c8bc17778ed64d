"""COLA with augmented views (``augmentations``) and edge frames out of the frame loss
(``frame_trim``): defaults unchanged, views independent and seeded, exact resume."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skaudio import COLAEmbedder
from skaudio.augment import Gain, SpecGain, SpecTimeMask, make_policy, split_by_domain
from skaudio.datasets import make_tones
from skaudio.encoders import CNNEncoder
from skaudio.features import LogMelSpectrogram, warp_frequency
from skaudio.heads import BilinearSimilarity
from skaudio.models import COLAModel
from skaudio.training import SelfSupervisedNet

SR = 8000
X, _ = make_tones(n_clips=16, n_classes=2, sample_rate=SR, random_state=0)
X = [x[: SR // 2] for x in X]  # half-second clips: two batches of 8 per epoch
PARAMS = dict(
    sample_rate=SR, segment_seconds=0.25, n_mels=16, embedding_dim=8, projection_dim=8,
    batch_size=8, max_epochs=2, random_state=0,
)  # fmt: skip
MULTI = dict(frame_weight=1.0, pitch_weight=1.0)

#: recorded with the code before ``augmentations`` and ``frame_trim`` existed:
#: (train_loss per epoch, transform(X[:2])[:, :4])
RECORDED = {
    "plain": (
        [2.009367883205414, 1.5854647755622864],
        [[0.8703929781913757, 0.378792405128479, 0.8177524209022522, 0.9046317338943481],
         [1.6553797721862793, 0.31122279167175293, 0.06860211491584778, 0.6825510263442993]],
    ),
    "multi": (
        [7.992567300796509, 4.777299880981445],
        [[0.631228506565094, 0.15405376255512238, 0.8876811265945435, 0.935102105140686],
         [0.7328585386276245, 0.06246306002140045, 1.4619672298431396, 0.5826734900474548]],
    ),
}  # fmt: skip


def _model(augmentations=(), pitch=False, frame=False, frame_trim=0, seed=3):
    torch.manual_seed(0)
    encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4, 4))
    return COLAModel(
        LogMelSpectrogram(SR, n_mels=16),
        encoder,
        8,
        BilinearSimilarity(8),
        frame_similarity=BilinearSimilarity(8) if frame else None,
        pitch_shift_range=(0.8, 1.2) if pitch else None,
        seed=seed,
        augmentations=augmentations,
        frame_trim=frame_trim,
    )


def _segments(n=4, length=2000, offset=0):
    return torch.from_numpy(np.stack([x[offset : offset + length] for x in X[:n]]))


def _history(est, key="train_loss"):
    return np.asarray(est.history_[:, key])


# -- defaults are bit-identical ----------------------------------------------------------


@pytest.mark.parametrize("name", ["plain", "multi"])
def test_defaults_repeat_the_recorded_run(name):
    extra = MULTI if name == "multi" else {}
    losses, embedding = RECORDED[name]
    # the papers' COLA, augmentations="none" (the default before 0.2; n_mels=16 leaves
    # "auto" at 1 band)
    est = COLAEmbedder(**PARAMS, **extra, augmentations="none").fit(X)
    assert est.readout_bands_ == 1
    np.testing.assert_allclose(_history(est), losses, rtol=1e-5)
    # recorded with one torch thread; other thread counts round float32 sums differently
    # (seen: 3e-6), far below what any change of behaviour moves
    np.testing.assert_allclose(est.transform(X[:2])[:, :4], embedding, rtol=1e-5, atol=2e-5)
    # an empty list, frame_trim=0 and readout_bands=1 are that run, bit for bit
    for same in (
        {"augmentations": []},
        {"augmentations": "none", "frame_trim": 0, "readout_bands": 1},
    ):
        other = COLAEmbedder(**PARAMS, **extra, **same).fit(X)
        np.testing.assert_array_equal(_history(other), _history(est))
        np.testing.assert_array_equal(other.transform(X), est.transform(X))


# -- augmentations: training only, independent per view, seeded ----------------------------


def test_untrained_embedding_is_deterministic_and_ignores_the_policy():
    base = COLAEmbedder(**{**PARAMS, "max_epochs": 0}).fit(X).transform(X)
    for policy in ("speech", "waveform+spectrogram", [Gain(6.0)]):
        est = COLAEmbedder(**{**PARAMS, "max_epochs": 0}, **MULTI, augmentations=policy).fit(X)
        first = est.transform(X)
        np.testing.assert_array_equal(first, base)  # the encoder is initialised first
        np.testing.assert_array_equal(est.transform(X), first)


def test_views_follow_the_reference_order_of_draws():
    """Waveform augmentations on [anchor; positive], then the frontend, then the
    spectrogram ones on the anchors and then on the positives, from one generator."""
    policy = make_policy("waveform+spectrogram")
    model = _model(policy).train()
    anchor, positive = _segments(), _segments(offset=1000)
    got, semitones = model._spectrograms(anchor, positive)

    generator = torch.Generator().manual_seed(3)
    waveform, spectrogram = split_by_domain(policy)
    waveforms = torch.cat([anchor, positive])
    for aug in waveform:
        waveforms = aug(waveforms, generator)
    views = list(model.frontend(waveforms).chunk(2))
    for i, view in enumerate(views):
        for aug in spectrogram:
            view = aug(view, generator)
        views[i] = view
    torch.testing.assert_close(got, torch.cat(views), rtol=0, atol=0)
    assert semitones is None


def test_the_two_views_get_independent_seeded_draws():
    segment = _segments()
    model = _model([SpecGain(10.0)]).train()
    spec, _ = model._spectrograms(segment, segment)  # the same audio as anchor and positive
    plain = model.frontend(segment)
    anchor_db, positive_db = (view - plain for view in spec.chunk(2))
    # one level per row and view, and not the same level for the two views
    torch.testing.assert_close(anchor_db, anchor_db[:, :1, :1].expand_as(anchor_db))
    assert (anchor_db[:, 0, 0] - positive_db[:, 0, 0]).abs().min() > 1e-3
    # a new draw every batch; the same draws from the same seed, others from another
    again, _ = model._spectrograms(segment, segment)
    assert not torch.equal(again, spec)
    torch.testing.assert_close(_model([SpecGain(10.0)]).train()._spectrograms(
        segment, segment)[0], spec, rtol=0, atol=0)  # fmt: skip
    other, _ = _model([SpecGain(10.0)], seed=4).train()._spectrograms(segment, segment)
    assert not torch.equal(other, spec)


def test_evaluation_mode_augments_nothing():
    segment = _segments()
    augmented = _model(make_policy("speech")).eval()
    plain = _model().eval()
    with torch.no_grad():
        first = augmented(segment, segment).clip_logits
        torch.testing.assert_close(augmented(segment, segment).clip_logits, first, rtol=0, atol=0)
        torch.testing.assert_close(plain(segment, segment).clip_logits, first, rtol=0, atol=0)


def test_shifted_copy_replays_the_anchors_spectrogram_draws():
    """The pitch view differs from the anchor by the shift alone: same level and mask."""
    policy = [SpecGain(10.0), SpecTimeMask(0.5)]
    model = _model(policy, pitch=True).train()
    anchor, positive = _segments(), _segments(offset=1000)
    got, semitones = model._spectrograms(anchor, positive)

    generator = torch.Generator().manual_seed(3)
    ratios = 0.8 + 0.4 * torch.rand(4, generator=generator)
    frontend = model.frontend
    power = frontend.power_spectrogram(anchor)
    plain = frontend.log_mel(
        torch.cat([power, frontend.power_spectrogram(positive), warp_frequency(power, ratios)])
    )
    torch.testing.assert_close(semitones, 12 * torch.log2(ratios))
    got_a, got_p, got_s = got.chunk(3)
    plain_a, plain_p, plain_s = plain.chunk(3)
    masked_a = (got_a == got_a.amin(dim=(1, 2), keepdim=True)).all(dim=1)
    masked_s = (got_s == got_s.amin(dim=(1, 2), keepdim=True)).all(dim=1)
    assert masked_a.any() and torch.equal(masked_a, masked_s)  # the same frames masked
    kept = ~masked_a[:, None, :].expand_as(got_a)
    level = (got_a - plain_a)[:, :1, :].amax(dim=2, keepdim=True)  # a level per row
    torch.testing.assert_close((got_a - plain_a)[kept], level.expand_as(got_a)[kept])
    torch.testing.assert_close((got_s - plain_s)[kept], level.expand_as(got_a)[kept])
    assert not torch.allclose(got_p - plain_p, level.expand_as(got_p), atol=1e-3)  # its own


def test_a_short_fit_with_a_policy_lowers_the_loss():
    """Measured: 2.14 -> 1.48 over 8 epochs (no policy: 2.05 -> 1.25)."""
    params = {**PARAMS, "max_epochs": 8, "lr": 3e-3}
    loss = _history(COLAEmbedder(**params, augmentations="waveform").fit(X))
    assert loss[-1] < loss[0] - 0.3
    plain = _history(COLAEmbedder(**params, augmentations="none").fit(X))
    assert not np.array_equal(plain, loss)


def test_a_fit_with_a_policy_and_both_strategies_is_seeded():
    est = COLAEmbedder(**PARAMS, **MULTI, augmentations="speech").fit(X)
    assert est.net_.module_.spectrogram_augmentations  # the policy is in the model
    again = COLAEmbedder(**PARAMS, **MULTI, augmentations="speech").fit(X)
    np.testing.assert_array_equal(_history(again), _history(est))
    np.testing.assert_array_equal(again.transform(X), est.transform(X))
    other = COLAEmbedder(**{**PARAMS, "random_state": 1}, **MULTI, augmentations="speech")
    assert not np.array_equal(_history(other.fit(X)), _history(est))


def test_pickle_and_clone_keep_the_policy():
    est = COLAEmbedder(**PARAMS, augmentations=[Gain(6.0), SpecTimeMask(0.3)]).fit(X)
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    assert loaded.augmentations == est.augmentations
    assert loaded.net_.module_.waveform_augmentations == [Gain(6.0)]
    refit = clone(est).fit(X)
    np.testing.assert_array_equal(_history(refit), _history(est))
    np.testing.assert_array_equal(refit.transform(X), est.transform(X))


def _interrupt_in_epoch(monkeypatch, epoch: int) -> None:
    def on_batch_end(self, *args, **kwargs):
        if len(self.history) == epoch and len(self.history[-1]["batches"]) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(SelfSupervisedNet, "on_batch_end", on_batch_end, raising=False)


def test_resume_from_checkpoint_with_a_policy_is_exact(tmp_path, monkeypatch):
    params = {**PARAMS, "max_epochs": 4, **MULTI, "augmentations": "speech"}
    _interrupt_in_epoch(monkeypatch, 3)
    embedder = COLAEmbedder(**params, checkpoint_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        embedder.fit(X)
    assert torch.load(tmp_path / "model.pt", weights_only=True)["epochs"] == 2
    monkeypatch.undo()
    resumed = embedder.fit(X)
    straight = COLAEmbedder(**params).fit(X)
    np.testing.assert_array_equal(_history(resumed), _history(straight))
    np.testing.assert_array_equal(resumed.transform(X), straight.transform(X))


@pytest.mark.parametrize(
    "change", [{"augmentations": "waveform"}, {"augmentations": "none"}, {"frame_trim": 1}]
)
def test_a_checkpoint_of_another_policy_is_refused(tmp_path, change):
    params = {**PARAMS, "max_epochs": 1, "frame_weight": 1.0, "augmentations": "speech"}
    COLAEmbedder(**params, checkpoint_dir=tmp_path).fit(X)
    name = next(iter(change))
    with pytest.raises(ValueError, match=name):
        COLAEmbedder(**{**params, **change}, checkpoint_dir=tmp_path).fit(X)


# -- frame_trim -------------------------------------------------------------------------


def test_frame_trim_leaves_the_edge_frames_out_of_the_frame_logits():
    segment = _segments(length=4000)
    full = _model(frame=True).train()
    trimmed = _model(frame=True, frame_trim=2).train()
    trimmed.load_state_dict(full.state_dict())  # no parameter of its own
    with torch.no_grad():
        everything, inner = full(segment, segment), trimmed(segment, segment)
    n_frames = everything.frame_logits.shape[-1]
    assert inner.frame_logits.shape == (8, n_frames - 4, n_frames - 4)
    torch.testing.assert_close(inner.frame_logits, everything.frame_logits[:, 2:-2, 2:-2])
    torch.testing.assert_close(inner.clip_logits, everything.clip_logits, rtol=0, atol=0)


def test_frame_trim_trains_and_is_recorded():
    est = COLAEmbedder(**{**PARAMS, "segment_seconds": 0.5}, **MULTI, frame_trim=1).fit(X)
    assert est.net_.module_.frame_trim == 1
    assert np.isfinite(_history(est, "train_frame_loss")).all()
    # without the frame loss the parameter changes nothing
    off = COLAEmbedder(**PARAMS, frame_trim=3, augmentations="none").fit(X)
    np.testing.assert_allclose(_history(off), RECORDED["plain"][0], rtol=1e-5)


# -- validation ---------------------------------------------------------------------------


def test_invalid_augmentations_and_frame_trim_are_reported():
    with pytest.raises(ValueError, match="unknown augmentation policy 'strong'"):
        COLAEmbedder(**PARAMS, augmentations="strong").fit(X)
    with pytest.raises(TypeError, match="not an augmentation"):
        COLAEmbedder(**PARAMS, augmentations=[abs]).fit(X)
    with pytest.raises(ValueError, match="'augmentations' parameter"):
        COLAEmbedder(**PARAMS, augmentations=5).fit(X)
    for policy in ("byol-a", "byol-a-pitch"):
        with pytest.raises(ValueError, match="BatchStandardize.*raw log-mel"):
            COLAEmbedder(**PARAMS, augmentations=policy).fit(X)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="'frame_trim' parameter"):
            COLAEmbedder(**PARAMS, frame_trim=bad).fit(X)
    # 0.25 s segments give 2 encoder frames: a trim of 1 leaves none
    with pytest.raises(ValueError, match="frame_trim=1 leaves 0 of the 2 encoder frames"):
        COLAEmbedder(**PARAMS, frame_weight=1.0, frame_trim=1).fit(X)
    with pytest.raises(ValueError, match="frame_trim must be >= 0"):
        _model(frame=True, frame_trim=-1)
