"""Non-contrastive objectives (Barlow Twins, VICReg) of the two-view estimator."""

import copy
import pickle

import joblib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone

from skaudio import ContrastiveAudioEmbedder
from skaudio._compat import InvalidParameterError
from skaudio.datasets import make_tones
from skaudio.estimators._base import BaseAudioEmbedder
from skaudio.exceptions import DegenerateTrainingWarning
from skaudio.losses import (
    BarlowTwinsCriterion,
    NTXentCriterion,
    VICRegCriterion,
    barlow_twins_loss,
    nt_xent_loss,
    vicreg_loss,
)
from skaudio.losses import _non_contrastive as non_contrastive

TINY = dict(
    sample_rate=8000,
    segment_seconds=0.05,
    n_mels=8,
    embedding_dim=8,
    projection_dim=8,
    batch_size=8,
    max_epochs=2,
    random_state=0,
)
OBJECTIVES = ["barlow_twins", "vicreg"]
METRIC = {"barlow_twins": "train_diagonal_corr", "vicreg": "train_embedding_std"}


@pytest.fixture(scope="module")
def clips():
    return make_tones(n_clips=24, n_classes=3, sample_rate=8000, random_state=0)


@pytest.fixture(scope="module")
def fitted(clips):
    X, _ = clips
    return {obj: ContrastiveAudioEmbedder(objective=obj, **TINY).fit(X) for obj in OBJECTIVES}


def _model_output(embedder, batch=8, seed=0):
    """The training model's output on a batch of random views (on a copy: batch norm)."""
    g = torch.Generator().manual_seed(seed)
    n = embedder._segment_length
    anchor, positive = torch.randn(batch, n, generator=g), torch.randn(batch, n, generator=g)
    model = copy.deepcopy(embedder.net_.module_).train()
    with torch.no_grad():
        return model(anchor, positive)


def test_default_is_nt_xent_and_objective_is_learnt_not_run_only():
    assert ContrastiveAudioEmbedder().objective == "nt_xent"
    assert "objective" not in BaseAudioEmbedder._RUN_ONLY_PARAMS


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_criterion_equals_the_pure_loss_on_the_models_output(fitted, objective):
    embedder = fitted[objective]
    criterion = embedder.net_.criterion_
    z1, z2, class_logits = output = _model_output(embedder)
    assert class_logits is None and z1.shape == (8, TINY["projection_dim"])
    target = torch.full((8,), -1)
    if objective == "barlow_twins":
        assert isinstance(criterion, BarlowTwinsCriterion)
        assert criterion.off_diagonal_weight == 1 / TINY["projection_dim"]
        expected = barlow_twins_loss(z1, z2, off_diagonal_weight=1 / TINY["projection_dim"])
    else:
        assert isinstance(criterion, VICRegCriterion)
        weights = (criterion.invariance_weight, criterion.variance_weight)
        assert (*weights, criterion.covariance_weight, criterion.eps) == (25, 25, 1, 1e-4)
        expected = vicreg_loss(z1, z2)
    assert torch.equal(criterion(output, target), expected)
    (metric,) = criterion.metric_names
    assert np.isfinite(criterion.metrics(output)[metric])


def test_nt_xent_criterion_unchanged(clips):
    X, _ = clips
    embedder = ContrastiveAudioEmbedder(**{**TINY, "max_epochs": 0}).fit(X)
    assert isinstance(embedder.net_.criterion_, NTXentCriterion)
    z1, z2, _ = output = _model_output(embedder)
    loss = embedder.net_.criterion_(output, torch.full((8,), -1))
    assert torch.equal(loss, nt_xent_loss(z1, z2, 0.2))


def test_criterion_metrics():
    g = torch.Generator().manual_seed(0)
    z = 2 * torch.randn(256, 4, generator=g)
    barlow = BarlowTwinsCriterion().metrics((z, z, None))["diagonal_corr"]
    assert barlow == pytest.approx(1.0, abs=1e-3)
    std = VICRegCriterion().metrics((z, -z, None))["embedding_std"]
    assert std == pytest.approx(float(z.std(dim=0).mean()), rel=1e-5)


@pytest.mark.parametrize("cls", [BarlowTwinsCriterion, VICRegCriterion])
def test_statistics_are_over_the_gathered_global_batch(monkeypatch, cls):
    """Stand-in for the other processes: the gathers return the global batch."""
    g = torch.Generator().manual_seed(0)
    global1, global2 = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    local1, local2 = global1[:4], global2[:4]  # this process's shard

    def fake_gather(tensor):
        return {id(local1): global1, id(local2): global2}.get(id(tensor), tensor)

    criterion = cls()
    local_loss = criterion((local1, local2, None), None)
    local_metrics = criterion.metrics((local1, local2, None))
    monkeypatch.setattr(non_contrastive, "gather_with_grad", fake_gather)
    monkeypatch.setattr(non_contrastive, "gather", fake_gather)
    loss = criterion((local1, local2, None), None)
    assert torch.equal(loss, criterion((global1, global2, None), None))
    assert not torch.equal(loss, local_loss)
    metrics = criterion.metrics((local1, local2, None))
    assert metrics == criterion.metrics((global1, global2, None)) != local_metrics


@pytest.mark.parametrize("criterion", [BarlowTwinsCriterion(), VICRegCriterion()])
def test_a_single_clip_batch_gives_a_zero_loss_that_backpropagates(criterion):
    z1 = torch.randn(1, 4, requires_grad=True)
    z2 = torch.randn(1, 4, requires_grad=True)
    loss = criterion((z1, z2, None), torch.tensor([-1]))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(z1.grad, torch.zeros(1, 4))
    assert all(np.isfinite(v) for v in criterion.metrics((z1, z2, None)).values())


@pytest.mark.parametrize("cls", [BarlowTwinsCriterion, VICRegCriterion])
def test_supervised_term_is_the_one_of_nt_xent(cls):
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    class_logits = torch.randn(12, 3, generator=g)
    target = torch.tensor([0, 2, -1, 1, -1, 0])
    output = (z1, z2, class_logits)
    labels = torch.cat([target, target])
    ce = F.cross_entropy(class_logits[labels >= 0], labels[labels >= 0])
    added = cls(supervised_weight=0.5)(output, target) - cls()(output, target)
    nt_xent_added = NTXentCriterion(0.5, 0.5)(output, target) - NTXentCriterion(0.5)(output, target)
    torch.testing.assert_close(added, 0.5 * ce)
    torch.testing.assert_close(added, nt_xent_added)
    # no labelled clip, or no target at all: the self-supervised loss alone
    unlabelled = torch.full((6,), -1)
    assert torch.equal(cls(supervised_weight=0.5)(output, unlabelled), cls()(output, unlabelled))
    assert torch.equal(cls(supervised_weight=0.5)(output, None), cls()(output, None))


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_each_objective_fits_and_transforms(fitted, clips, objective):
    X, _ = clips
    embedder = fitted[objective]
    Z = embedder.transform(X)
    assert Z.shape == (len(X), TINY["embedding_dim"]) and Z.dtype == np.float32
    assert np.isfinite(Z).all()
    losses = embedder.history_[:, "train_loss"]
    assert len(losses) == TINY["max_epochs"] and np.isfinite(losses).all()
    metric = embedder.history_[:, METRIC[objective]]
    assert np.isfinite(metric).all()
    assert "train_pretext_acc" not in embedder.history_[-1]


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_each_objective_is_deterministic_under_random_state(fitted, clips, objective):
    X, _ = clips
    again = ContrastiveAudioEmbedder(objective=objective, **TINY).fit(X)
    np.testing.assert_array_equal(again.transform(X[:6]), fitted[objective].transform(X[:6]))
    np.testing.assert_array_equal(
        again.history_[:, "train_loss"], fitted[objective].history_[:, "train_loss"]
    )


def test_objectives_learn_different_encoders(fitted, clips):
    X, _ = clips
    nt_xent = ContrastiveAudioEmbedder(**TINY).fit(X).transform(X[:6])
    barlow, vicreg = (fitted[obj].transform(X[:6]) for obj in OBJECTIVES)
    assert not np.allclose(barlow, vicreg)
    assert not np.allclose(barlow, nt_xent) and not np.allclose(vicreg, nt_xent)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_each_objective_round_trips_and_clones(fitted, clips, objective, tmp_path):
    X, _ = clips
    embedder = fitted[objective]
    expected = embedder.transform(X[:4])
    joblib.dump(embedder, tmp_path / "embedder.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "embedder.joblib").transform(X[:4]), expected
    )
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(embedder)).transform(X[:4]), expected)
    cloned = clone(embedder)
    assert cloned.get_params() == embedder.get_params() and cloned.objective == objective
    assert not hasattr(cloned, "net_")
    np.testing.assert_array_equal(cloned.fit(X).transform(X[:4]), expected)


def test_explicit_nt_xent_is_bit_identical_to_the_default(clips):
    X, _ = clips
    default = ContrastiveAudioEmbedder(**TINY).fit(X)
    explicit = ContrastiveAudioEmbedder(objective="nt_xent", **TINY).fit(X)
    np.testing.assert_array_equal(default.transform(X), explicit.transform(X))
    np.testing.assert_array_equal(
        default.history_[:, "train_loss"], explicit.history_[:, "train_loss"]
    )


@pytest.mark.parametrize("objective", ["byol-a", "NT_Xent", "", None, 1])
def test_invalid_objective_is_refused(clips, objective):
    X, _ = clips
    with pytest.raises(InvalidParameterError, match="objective"):
        ContrastiveAudioEmbedder(**{**TINY, "objective": objective}).fit(X)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_semi_supervised_with_a_non_contrastive_objective(clips, objective):
    X, y = clips
    y_partial = np.where(np.arange(len(y)) % 2 == 0, y, -1)
    params = {**TINY, "objective": objective}
    semi = ContrastiveAudioEmbedder(**params, supervised_weight=1.0).fit(X, y_partial)
    np.testing.assert_array_equal(semi.classes_, np.unique(y_partial[y_partial != -1]))
    assert semi.net_.module_.classifier.out_features == len(semi.classes_)
    assert semi.net_.criterion_.supervised_weight == 1.0
    assert np.isfinite(semi.history_[:, "train_loss"]).all()
    plain = ContrastiveAudioEmbedder(**params).fit(X, y_partial)  # y ignored
    assert plain.classes_.size == 0 and plain.net_.module_.classifier is None
    assert not np.allclose(semi.transform(X[:4]), plain.transform(X[:4]))


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_a_last_batch_of_one_clip_trains(objective):
    X, _ = make_tones(n_clips=9, n_classes=3, sample_rate=8000, random_state=0)
    embedder = ContrastiveAudioEmbedder(objective=objective, **TINY).fit(X)  # batches 8 + 1
    assert np.isfinite(embedder.history_[:, "train_loss"]).all()
    assert embedder.history_[-1, "batches", -1, "train_batch_size"] == 1


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_batches_of_one_clip_warn(clips, objective):
    X, _ = clips
    embedder = ContrastiveAudioEmbedder(**{**TINY, "objective": objective, "batch_size": 1})
    with pytest.warns(DegenerateTrainingWarning, match="no batch statistics") as record:
        embedder.fit(X[:4])
    assert not any("negatives" in str(w.message) for w in record)


def test_a_checkpoint_of_another_objective_is_refused(clips, tmp_path):
    X, _ = clips
    ContrastiveAudioEmbedder(**TINY, checkpoint_dir=tmp_path).fit(X)
    with pytest.raises(ValueError, match=r"objective: checkpoint 'nt_xent', now 'vicreg'"):
        ContrastiveAudioEmbedder(**TINY, objective="vicreg", checkpoint_dir=tmp_path).fit(X)
