"""BYOL objective, dataset pre-normalisation, batch post-normalisation, the BYOL-A preset."""

import copy
import itertools
import pickle
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone

import skaudio.estimators.contrastive as contrastive_module
from skaudio import ContrastiveAudioEmbedder, make_byol_a
from skaudio._compat import InvalidParameterError
from skaudio.augment import BatchStandardize, SpecTimeMask, make_policy
from skaudio.datasets import make_tones
from skaudio.encoders import CNNEncoder
from skaudio.exceptions import DegenerateTrainingWarning
from skaudio.features import LogMelSpectrogram
from skaudio.losses import BYOLCriterion, BYOLOutput, NTXentCriterion, byol_momentum
from skaudio.models import ContrastiveModel
from skaudio.models.contrastive import BYOLModel
from skaudio.training import SelfSupervisedNet

SR = 8000
SEGMENT = 800  # samples: 0.1 s
TINY = dict(
    sample_rate=SR,
    segment_seconds=SEGMENT / SR,
    n_mels=16,
    embedding_dim=8,
    projection_dim=8,
    batch_size=8,
    max_epochs=8,
    lr=3e-3,
    objective="byol",
    random_state=0,
)


@pytest.fixture(scope="module")
def clips():
    X, y = make_tones(n_clips=24, n_classes=3, sample_rate=SR, random_state=0)
    return [x[:SEGMENT] for x in X], np.asarray(y)  # one window per clip


@pytest.fixture(scope="module")
def fitted(clips):
    X, _ = clips
    return ContrastiveAudioEmbedder(**TINY).fit(X)


def _tiny_model(**kwargs) -> BYOLModel:
    torch.manual_seed(0)
    encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    return BYOLModel(LogMelSpectrogram(SR, n_mels=16), encoder, [SpecTimeMask(0.2)], 8, 2, **kwargs)


def _views(batch=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, SEGMENT, generator=g), torch.randn(batch, SEGMENT, generator=g)


# -- the loss --------------------------------------------------------------------------------


def test_symmetric_loss_against_a_reference():
    g = torch.Generator().manual_seed(0)
    q1, q2, t1, t2 = (torch.randn(5, 7, generator=g) for _ in range(4))
    for tensor in (q1, q2, t1, t2):
        tensor.requires_grad_(True)

    def reference(q, t):  # the mean squared distance of the unit vectors, row by row
        total = 0.0
        for qi, ti in zip(q, t, strict=True):
            qi, ti = qi.detach(), ti.detach()
            total += float(((qi / qi.norm() - ti / ti.norm()) ** 2).sum())
        return total / len(q)

    loss = BYOLCriterion()(BYOLOutput(q1, q2, None, t1, t2), None)
    assert loss.item() == pytest.approx(reference(q1, t2) + reference(q2, t1), rel=1e-5)
    loss.backward()
    assert t1.grad is None and t2.grad is None  # stop-gradient on the targets
    assert q1.grad.abs().max() > 0 and q2.grad.abs().max() > 0
    # the scale: 0 for aligned predictions, 8 for opposite ones
    assert BYOLCriterion()(BYOLOutput(t1, t2, None, 3 * t2, 2 * t1)).item() == pytest.approx(
        0, abs=1e-6
    )
    assert BYOLCriterion()(BYOLOutput(t1, t2, None, -t2, -t1)).item() == pytest.approx(8, abs=1e-5)


def test_supervised_term_is_the_one_of_nt_xent():
    g = torch.Generator().manual_seed(0)
    q1, q2, t1, t2 = (torch.randn(6, 4, generator=g) for _ in range(4))
    class_logits = torch.randn(12, 3, generator=g)
    target = torch.tensor([0, 2, -1, 1, -1, 0])
    output = BYOLOutput(q1, q2, class_logits, t1, t2)
    added = BYOLCriterion(0.5)(output, target) - BYOLCriterion()(output, target)
    nt_xent = (q1, q2, class_logits)
    expected = NTXentCriterion(0.5, 0.5)(nt_xent, target) - NTXentCriterion(0.5)(nt_xent, target)
    torch.testing.assert_close(added, expected)
    labels = torch.cat([target, target])
    torch.testing.assert_close(
        added, 0.5 * F.cross_entropy(class_logits[labels >= 0], labels[labels >= 0])
    )


def test_metrics():
    g = torch.Generator().manual_seed(0)
    q, t = torch.randn(64, 8, generator=g), torch.randn(64, 8, generator=g)
    metrics = BYOLCriterion().metrics(BYOLOutput(q, q, None, q, q))
    assert metrics["target_cosine"] == pytest.approx(1.0, abs=1e-6)
    assert 0.8 < metrics["target_std"] < 1.2  # spread-out projections
    collapsed = torch.ones(64, 8) + 1e-4 * t
    assert BYOLCriterion().metrics(BYOLOutput(q, q, None, collapsed, collapsed))[
        "target_std"
    ] == pytest.approx(0, abs=1e-3)


# -- the target network ------------------------------------------------------------------------


def _train_step(model, optimizer, anchor, positive):
    optimizer.zero_grad()
    loss = BYOLCriterion()(model(anchor, positive))
    loss.backward()
    optimizer.step()
    return loss


def test_ema_update_equals_the_reference_for_every_parameter():
    model = _tiny_model(momentum=0.9, total_steps=10).train()
    online = lambda: [*model.encoder.parameters(), *model.head.parameters()]  # noqa: E731
    target = lambda: [*model.target_encoder.parameters(), *model.target_head.parameters()]  # noqa: E731
    for o, t in zip(online(), target(), strict=True):  # the target starts as a copy
        assert torch.equal(o, t)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    anchor, positive = _views()
    _train_step(model, optimizer, anchor, positive)  # first forward: step 0, target unchanged
    old = [t.detach().clone() for t in target()]
    stepped = [o.detach().clone() for o in online()]
    assert any(not torch.equal(o, t) for o, t in zip(stepped, old, strict=True))
    assert int(model.target_step) == 1
    tau = byol_momentum(1, 10, 0.9)
    assert model.target_momentum == tau
    _train_step(model, optimizer, anchor, positive)  # updates from the stepped weights first
    for new, before, after in zip(target(), old, stepped, strict=True):
        torch.testing.assert_close(new, tau * before + (1 - tau) * after, rtol=1e-6, atol=1e-7)
    assert int(model.target_step) == 2
    # evaluation-mode forwards do not move the target
    snapshot = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        model.eval()(anchor, positive)
    for key, value in model.state_dict().items():
        assert torch.equal(value, snapshot[key]), key


def test_momentum_rises_to_one_and_the_schedule_restarts():
    model = _tiny_model(momentum=0.99, total_steps=4)
    taus = []
    for _ in range(6):
        taus.append(model.target_momentum)
        model.update_target()
    assert taus[0] == 0.99 and taus[4:] == [1.0, 1.0]
    assert all(a < b for a, b in itertools.pairwise(taus[:5]))
    model.restart_momentum_schedule(3)
    assert (int(model.target_step), int(model.target_steps), model.target_momentum) == (0, 3, 0.99)


def test_the_target_gets_no_gradient():
    model = _tiny_model().train()
    loss = BYOLCriterion()(model(*_views()))
    loss.backward()
    target = [*model.target_encoder.parameters(), *model.target_head.parameters()]
    assert target and all(p.grad is None and not p.requires_grad for p in target)
    online = [*model.encoder.parameters(), *model.head.parameters(), *model.predictor.parameters()]
    assert all(p.grad is not None for p in online)
    assert any(p.grad.abs().max() > 0 for p in model.encoder.parameters())


def test_target_and_schedule_are_in_the_state_dict():
    model = _tiny_model(total_steps=7)
    keys = set(model.state_dict())
    assert {"target_step", "target_steps"} <= keys
    assert {
        k.replace("target_encoder.", "encoder.", 1) for k in keys if "target_encoder." in k
    } == {k for k in keys if k.startswith("encoder.")}
    assert int(model.state_dict()["target_steps"]) == 7


def test_embeddings_come_from_the_online_encoder():
    model = _tiny_model().eval()
    for p in model.target_encoder.parameters():
        p.data.add_(1.0)
    waveforms, _ = _views()
    with torch.no_grad():
        expected = model.encoder(model.frontend(waveforms).unsqueeze(1))
        torch.testing.assert_close(model.embed(waveforms), expected, rtol=0, atol=0)


# -- the estimator ---------------------------------------------------------------------------


def test_byol_fit_lowers_the_loss_and_does_not_collapse(fitted, clips):
    X, _ = clips
    losses = fitted.history_[:, "train_loss"]
    assert np.isfinite(losses).all() and np.mean(losses[-2:]) < np.mean(losses[:2]) - 0.3
    model = fitted.net_.module_
    assert isinstance(model, BYOLModel) and isinstance(fitted.net_.criterion_, BYOLCriterion)
    assert model.momentum == 0.99
    assert int(model.target_steps) == 8 * 3 == int(model.target_step)  # 3 batches per epoch
    with torch.no_grad():
        z = model.eval().head(model.embed(torch.from_numpy(np.stack(X))))
    spread = F.normalize(z, dim=1).std(dim=0) * np.sqrt(z.shape[1])
    assert spread.mean() > 0.3  # collapse would give 0
    assert np.min(fitted.history_[:, "train_target_std"]) > 0.3
    assert np.isfinite(fitted.history_[:, "train_target_cosine"]).all()
    Z = fitted.transform(X)
    assert Z.shape == (len(X), 8) and np.isfinite(Z).all() and Z.std(axis=0).min() > 0


def test_pickle_round_trip_gives_identical_embeddings(fitted, clips):
    X, _ = clips
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.transform(X), fitted.transform(X))
    for key, value in again.net_.module_.state_dict().items():
        assert torch.equal(value, fitted.net_.module_.state_dict()[key]), key


def test_clone_refits_identically(fitted, clips):
    X, _ = clips
    cloned = clone(fitted)
    assert cloned.get_params() == fitted.get_params() and not hasattr(cloned, "net_")
    np.testing.assert_array_equal(cloned.fit(X).transform(X[:4]), fitted.transform(X[:4]))


def _interrupt_in_epoch(monkeypatch, epoch: int) -> None:
    def on_batch_end(self, *args, **kwargs):
        if len(self.history) == epoch and len(self.history[-1]["batches"]) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(SelfSupervisedNet, "on_batch_end", on_batch_end, raising=False)


def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(clips, tmp_path, monkeypatch):
    X, _ = clips
    params = {**TINY, "max_epochs": 3, "input_normalization": "dataset", "augmentations": "byol-a"}
    _interrupt_in_epoch(monkeypatch, 2)
    embedder = ContrastiveAudioEmbedder(**params, checkpoint_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        embedder.fit(X)
    assert torch.load(tmp_path / "model.pt", weights_only=True)["epochs"] == 1
    monkeypatch.undo()
    resumed = embedder.fit(X)
    straight = ContrastiveAudioEmbedder(**params).fit(X)
    np.testing.assert_array_equal(resumed.transform(X), straight.transform(X))
    np.testing.assert_array_equal(
        resumed.history_[:, "train_loss"], straight.history_[:, "train_loss"]
    )
    expected = straight.net_.module_.state_dict()
    for key, value in resumed.net_.module_.state_dict().items():  # target and schedule too
        assert torch.equal(value, expected[key]), key


def test_continued_training_restarts_the_momentum_schedule(clips, monkeypatch):
    X, _ = clips
    embedder = ContrastiveAudioEmbedder(**{**TINY, "max_epochs": 2}).fit(X)
    model = embedder.net_.module_
    assert (int(model.target_step), int(model.target_steps)) == (6, 6)
    embedder.partial_fit(X[:16])  # one epoch of 2 batches
    assert (int(model.target_step), int(model.target_steps)) == (2, 2)
    embedder.set_params(warm_start=True, max_epochs=3).fit(X)
    assert (int(model.target_step), int(model.target_steps)) == (9, 9)
    # an interrupted continuation leaves the schedule (and all the state) as it was
    state = copy.deepcopy(model.state_dict())
    _interrupt_in_epoch(monkeypatch, len(embedder.history_) + 1)
    with pytest.raises(KeyboardInterrupt):
        embedder.partial_fit(X)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_a_single_clip_trains_without_warning(clips):
    """BYOL's loss is a mean over clips: one clip is no degenerate batch."""
    X, _ = clips
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateTrainingWarning)
        embedder = ContrastiveAudioEmbedder(**{**TINY, "max_epochs": 1}).fit(X[:1])
    assert np.isfinite(embedder.history_[:, "train_loss"]).all()


def test_semi_supervised_byol(clips):
    X, y = clips
    y_partial = np.where(np.arange(len(y)) % 2 == 0, y, -1)
    params = {**TINY, "max_epochs": 1}
    semi = ContrastiveAudioEmbedder(**params, supervised_weight=1.0).fit(X, y_partial)
    assert semi.net_.module_.classifier.out_features == 3
    assert semi.net_.criterion_.supervised_weight == 1.0
    plain = ContrastiveAudioEmbedder(**params).fit(X, y_partial)
    assert not np.allclose(semi.transform(X[:4]), plain.transform(X[:4]))


@pytest.mark.parametrize(
    "params",
    [
        {"byol_momentum": 1.5},
        {"byol_momentum": -0.1},
        {"input_normalization": "batch"},
        {"input_normalization": None},
    ],
)
def test_invalid_parameters_are_refused(clips, params):
    X, _ = clips
    with pytest.raises(InvalidParameterError, match=next(iter(params))):
        ContrastiveAudioEmbedder(**{**TINY, **params}).fit(X)


def test_byol_momentum_is_ignored_by_the_other_objectives(clips):
    X, _ = clips
    params = {**TINY, "objective": "vicreg", "max_epochs": 1}
    a = ContrastiveAudioEmbedder(**params).fit(X).transform(X)
    b = ContrastiveAudioEmbedder(**params, byol_momentum=0.5).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)


# -- dataset pre-normalisation -----------------------------------------------------------------


def _log_mel(X):
    with torch.no_grad():
        return LogMelSpectrogram(SR, n_mels=16)(torch.from_numpy(np.stack(X))).double()


def test_dataset_statistics_are_those_of_the_crops_and_transform_uses_them(clips):
    X, _ = clips
    params = {**TINY, "max_epochs": 0, "objective": "nt_xent", "input_normalization": "dataset"}
    embedder = ContrastiveAudioEmbedder(**params).fit(X)
    model = embedder.net_.module_
    spec = _log_mel(X)  # every clip is one crop: the crops are the clips
    assert float(model.input_mean) == pytest.approx(spec.mean().item(), rel=1e-6)
    assert float(model.input_std) == pytest.approx(spec.std(unbiased=False).item(), rel=1e-6)
    with torch.no_grad():
        standardized = (spec.float() - model.input_mean) / model.input_std
        expected = model.eval().encoder(standardized.unsqueeze(1)).numpy()
    np.testing.assert_allclose(embedder.transform(X), expected, rtol=1e-5, atol=1e-6)
    raw = ContrastiveAudioEmbedder(**{**params, "input_normalization": "none"}).fit(X)
    assert not np.allclose(raw.transform(X), embedder.transform(X))
    # pickled with the model
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(embedder)).transform(X), embedder.transform(X)
    )


def test_dataset_statistics_are_bounded_and_seeded(clips, monkeypatch):
    X, _ = clips
    monkeypatch.setattr(contrastive_module, "_NORMALIZATION_CROPS", 4)
    params = {**TINY, "max_epochs": 0, "input_normalization": "dataset"}

    def statistics(random_state):
        model = (
            ContrastiveAudioEmbedder(**{**params, "random_state": random_state}).fit(X).net_.module_
        )
        return float(model.input_mean), float(model.input_std)

    spec = _log_mel(X).flatten(1)
    n, s, s2 = spec.shape[1], spec.sum(1).numpy(), spec.square().sum(1).numpy()
    combos = np.array(list(itertools.combinations(range(len(X)), 4)))
    means = s[combos].sum(1) / (4 * n)
    stds = np.sqrt(s2[combos].sum(1) / (4 * n) - means**2)
    for random_state in (0, 1):
        mean, std = statistics(random_state)
        assert statistics(random_state) == (mean, std)  # a function of random_state
        # those of exactly 4 whole clips
        assert np.min(np.abs(means - mean) + np.abs(stds - std)) < 1e-3
    assert statistics(0) != statistics(1)


def test_none_adds_no_buffer_and_is_what_auto_picks_by_default(clips):
    X, _ = clips
    params = {**TINY, "objective": "nt_xent", "max_epochs": 1}
    default = ContrastiveAudioEmbedder(**params).fit(X)
    explicit = ContrastiveAudioEmbedder(**params, input_normalization="none").fit(X)
    assert ContrastiveAudioEmbedder().input_normalization == "auto"
    np.testing.assert_array_equal(default.transform(X), explicit.transform(X))
    assert not any(k.startswith("input_") for k in default.net_.module_.state_dict())
    assert not default.net_.module_.normalizes_input


def test_continued_training_keeps_the_statistics(clips):
    X, _ = clips
    embedder = ContrastiveAudioEmbedder(
        **{**TINY, "max_epochs": 1, "input_normalization": "dataset"}
    )
    model = embedder.fit(X).net_.module_
    before = float(model.input_mean), float(model.input_std)
    embedder.partial_fit([2 * x for x in X[:8]])
    assert (float(model.input_mean), float(model.input_std)) == before


def test_waveform_encoders_refuse_dataset_normalization(clips):
    X, _ = clips
    embedder = ContrastiveAudioEmbedder(
        **{**TINY, "max_epochs": 0},
        encoder="resnet18",
        input_representation="waveform",
        augmentations="waveform",
        input_normalization="dataset",
    )
    with pytest.raises(ValueError, match="input_representation='waveform'"):
        embedder.fit(X)
    assert not hasattr(embedder, "net_")


# -- batch post-normalisation ----------------------------------------------------------------


def test_batch_standardize_gives_mean_0_std_1_per_view_batch():
    g = torch.Generator().manual_seed(0)
    view = -40 + 15 * torch.randn(6, 16, 20, generator=g)
    aug = BatchStandardize()
    out = aug(view, torch.Generator().manual_seed(0))
    assert out.shape == view.shape
    assert abs(out.mean().item()) < 1e-5 and out.std().item() == pytest.approx(1.0, abs=1e-5)
    # stateless and deterministic: the generator is not used, nothing is remembered
    torch.testing.assert_close(aug(view, torch.Generator().manual_seed(1)), out, rtol=0, atol=0)
    other = aug(view * 2 + 3, torch.Generator())
    torch.testing.assert_close(other, out, rtol=1e-5, atol=1e-5)
    constant = aug(torch.full((2, 4, 5), -80.0), torch.Generator())
    assert torch.equal(constant, torch.zeros(2, 4, 5))


def test_byol_a_policies_end_with_batch_standardize():
    for name in ("byol-a", "byol-a-pitch"):
        policy = make_policy(name)
        assert isinstance(policy[-1], BatchStandardize) and len(policy) == 4


def test_dataset_standardisation_runs_before_the_batch_standardisation():
    torch.manual_seed(0)
    encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    frontend = LogMelSpectrogram(SR, n_mels=16)
    augs = [BatchStandardize()]
    model = ContrastiveModel(frontend, encoder, augs, 8, 2, normalize_input=True).train()
    model.set_input_statistics(-30.0, 10.0)
    waveforms, _ = _views()
    with torch.no_grad():
        x = model.augmented_input(waveforms)
        spec = frontend(waveforms)
    torch.testing.assert_close(x[:, 0], BatchStandardize()(spec, None), rtol=1e-4, atol=1e-4)
    assert abs(x.mean().item()) < 1e-4  # not (0 + 30) / 10 = 3: standardised last
    # with no batch standardisation the dataset statistics apply after the augmentations
    plain = ContrastiveModel(frontend, encoder, [], 8, 2, normalize_input=True).train()
    plain.set_input_statistics(-30.0, 10.0)
    with torch.no_grad():
        torch.testing.assert_close(plain.augmented_input(waveforms)[:, 0], (spec + 30) / 10)


def test_batch_standardize_without_dataset_normalization_is_refused(clips):
    X, _ = clips
    embedder = ContrastiveAudioEmbedder(
        **{**TINY, "augmentations": "byol-a", "input_normalization": "none"}
    )
    with pytest.raises(ValueError, match="input_normalization='dataset'"):
        embedder.fit(X)
    # not with max_epochs=0: nothing is trained on standardised inputs
    embedder.set_params(max_epochs=0).fit(X)


# -- the preset ------------------------------------------------------------------------------


def test_make_byol_a_sets_the_recipe_and_takes_overrides(clips):
    X, _ = clips
    embedder = make_byol_a()
    assert type(embedder) is ContrastiveAudioEmbedder
    recipe = {
        "objective": "byol",
        "augmentations": "byol-a",
        "input_normalization": "dataset",
        "readout_bands": 4,
        "projection_dim": 256,
        "byol_momentum": 0.99,
        "lr": 3e-4,
    }
    assert {k: embedder.get_params()[k] for k in recipe} == recipe
    cloned = clone(embedder)
    assert type(cloned) is ContrastiveAudioEmbedder and cloned.get_params() == embedder.get_params()
    overridden = make_byol_a(byol_momentum=0.996, readout_bands=1, random_state=3)
    assert (overridden.byol_momentum, overridden.readout_bands, overridden.random_state) == (
        0.996,
        1,
        3,
    )
    assert overridden.objective == "byol"
    with pytest.raises(TypeError):
        make_byol_a(not_a_parameter=1)
    small = make_byol_a(**{**TINY, "max_epochs": 1, "readout_bands": 1})
    assert small.fit(X).transform(X[:2]).shape == (2, 8)
    assert small.net_.module_.normalizes_input


def test_constant_training_data_only_centres():
    silence = [np.zeros(SEGMENT, dtype=np.float32)] * 4
    params = {**TINY, "max_epochs": 0, "input_normalization": "dataset"}
    model = ContrastiveAudioEmbedder(**params).fit(silence).net_.module_
    assert float(model.input_std) == 1.0 and np.isfinite(float(model.input_mean))


def test_auto_normalizes_exactly_when_the_policy_standardizes(clips):
    X, _ = clips
    params = {**TINY, "objective": "nt_xent", "max_epochs": 1, "augmentations": "byol-a"}
    auto = ContrastiveAudioEmbedder(**params).fit(X)
    dataset = ContrastiveAudioEmbedder(**params, input_normalization="dataset").fit(X)
    assert auto.net_.module_.normalizes_input
    np.testing.assert_array_equal(auto.transform(X), dataset.transform(X))
    with pytest.raises(ValueError, match="input_normalization='dataset'"):
        ContrastiveAudioEmbedder(**params, input_normalization="none").fit(X)
