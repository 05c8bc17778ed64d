"""CPC negatives from the clips of the same group (``negatives="group"``, ``fit(groups=...)``)."""

import math

import numpy as np
import pytest
import sklearn
import torch
from conftest import CPC_TINY
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline

import skaudio.losses._cpc as cpc_loss
from skaudio import CPCEmbedder
from skaudio.clips import as_clips
from skaudio.data import GroupSampler
from skaudio.datasets import make_tones
from skaudio.losses import CPCCriterion, CPCOutput, cpc_infonce
from skaudio.probing import cross_validate_probe
from skaudio.training import SelfSupervisedNet

SR = 8000


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(5, 6, 4, generator=g)
    predictions = torch.randn(2, 5, 6, 4, generator=g)
    valid = torch.ones(5, 6, dtype=torch.bool)
    valid[1, 4:] = False  # a short clip: its last two frames are padding
    valid[3, 3:] = False
    groups = torch.tensor([7, 7, 2, 7, 5])  # a group of three, two groups of one clip
    return z, predictions, valid, groups


# -- the loss ---------------------------------------------------------------------------


def _reference_group_infonce(z, predictions, valid, groups, draws=None):
    """Loop over steps, clips and times: -log softmax of the positive among its candidates.

    Candidates: the positive and every other valid frame of the clips of its group,
    or, with ``draws`` (one (n_rows, n_negatives) tensor per step, uniform on
    0 .. 2**62 - 1), ``draws % len(pool)``-th members of that pool, the positive left out.
    """
    n_predict, batch, n_frames, _ = predictions.shape
    losses = []
    for k in range(1, n_predict + 1):
        rows = [(b, t) for b in range(batch) for t in range(n_frames - k) if valid[b, t + k]]
        terms = []
        for i, (b, t) in enumerate(rows):
            pool = [
                (c, u)
                for c in range(batch)
                for u in range(n_frames)
                if groups[c] == groups[b] and valid[c, u] and (c, u) != (b, t + k)
            ]
            if draws is not None:
                pool = [pool[int(r) % len(pool)] for r in draws[k - 1][i]]
            p = predictions[k - 1, b, t].double()
            scores = [float(p @ z[c, u].double()) for c, u in [(b, t + k), *pool]]
            terms.append(math.log(sum(math.exp(s) for s in scores)) - scores[0])
        losses.append(sum(terms) / len(terms))
    return sum(losses) / len(losses)


def test_group_infonce_matches_reference_loop(batch):
    z, predictions, valid, groups = batch
    loss, accuracy = cpc_infonce(z, predictions, valid, negatives="group", groups=groups)
    expected = _reference_group_infonce(z, predictions, valid, groups)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert accuracy.shape == (2,) and ((accuracy >= 0) & (accuracy <= 1)).all()


def test_sampled_group_infonce_matches_reference_with_the_same_draws(batch):
    z, predictions, valid, groups = batch
    loss, _ = cpc_infonce(
        z,
        predictions,
        valid,
        negatives="group",
        n_negatives=4,
        groups=groups,
        generator=torch.Generator().manual_seed(3),
    )
    # on the CPU the draws are those of one (n_rows_k, 4) draw per step, in order
    replay = torch.Generator().manual_seed(3)
    n_frames = z.shape[1]
    draws = []
    for k in (1, 2):
        n_rows = int(valid[:, k:].sum())
        draws.append(torch.randint(0, 2**62, (n_rows, 4), generator=replay))
    assert n_frames == 6
    expected = _reference_group_infonce(z, predictions, valid, groups, draws)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_group_of_every_clip_is_clip_and_one_group_is_batch_plus_time(batch):
    z, predictions, valid, _ = batch

    def loss(negatives, n_negatives, groups=None):
        return cpc_infonce(
            z,
            predictions,
            valid,
            negatives=negatives,
            n_negatives=n_negatives,
            groups=groups,
            generator=torch.Generator().manual_seed(0),
        )[0].item()

    own, one = torch.arange(5), torch.zeros(5, dtype=torch.long)
    for n_negatives in (None, 3):
        assert loss("group", n_negatives, own) == pytest.approx(loss("clip", n_negatives), rel=1e-6)
    # (sampled "batch+time" draws otherwise, from the same distribution)
    assert loss("group", None, one) == pytest.approx(loss("batch+time", None), rel=1e-6)


def test_group_padding_and_other_groups_are_never_candidates(batch):
    z, predictions, valid, groups = batch
    valid = valid.clone()
    valid[2, 1:] = False  # clip 2, alone in its group, has one frame: no prediction of its own
    changed = z.clone()
    changed[1, 4:] = 1000.0  # garbage in the padding of clip 1
    changed[2, 0] = 1000.0  # and in clip 2's frame, a candidate of no other group

    def loss(x, negatives, n_negatives):
        return cpc_infonce(
            x,
            predictions,
            valid,
            negatives=negatives,
            n_negatives=n_negatives,
            groups=groups,
            generator=torch.Generator().manual_seed(0),
        )[0].item()

    for n_negatives in (None, 3):
        assert loss(changed, "group", n_negatives) == pytest.approx(
            loss(z, "group", n_negatives), rel=1e-6
        )
    # where clip 2 is a candidate, its frame changes the loss
    assert loss(changed, "batch+time", None) > loss(z, "batch+time", None) + 1


def test_group_negatives_ignore_what_tells_groups_apart():
    # every clip of a group shares a large group-specific offset in z, and each
    # prediction points along its own group's offset: that tells the group, not the frame
    g = torch.Generator().manual_seed(0)
    batch, n_frames, dim = 8, 8, 16
    groups = torch.arange(batch) // 2  # four groups of two clips
    code = 10 * torch.eye(dim)[groups]
    z = code[:, None] + 0.01 * torch.randn(batch, n_frames, dim, generator=g)
    predictions = code[None, :, None].expand(2, batch, n_frames, dim)
    by_batch, _ = cpc_infonce(z, predictions, negatives="batch")
    by_group, _ = cpc_infonce(z, predictions, negatives="group", groups=groups)
    # "batch": the offset rules out every other group's clip (chance would be log 8);
    # only the group's other clip is left, a coin flip
    assert by_batch.item() == pytest.approx(math.log(2), abs=0.05)
    # "group": every candidate has the offset: chance over the 2 * 8 frames of the group
    assert by_group.item() == pytest.approx(math.log(2 * n_frames), abs=0.05)


def test_group_negatives_need_groups_of_the_batch(batch):
    z, predictions, valid, groups = batch
    with pytest.raises(ValueError, match="groups of shape \\(5,\\)"):
        cpc_infonce(z, predictions, valid, negatives="group")
    with pytest.raises(ValueError, match="groups of shape \\(5,\\)"):
        cpc_infonce(z, predictions, valid, negatives="group", groups=groups[:3])


def test_group_criterion_reads_the_groups_from_the_target(batch):
    z, predictions, valid, groups = batch
    output = CPCOutput(z, predictions.clone().requires_grad_(), valid)
    loss = CPCCriterion(2, negatives="group")(output, groups)
    expected = cpc_infonce(z, predictions, valid, negatives="group", groups=groups)[0]
    assert torch.equal(loss.detach(), expected)
    loss.backward()
    assert output.predictions.grad.abs().sum() > 0


# -- the sampler ---------------------------------------------------------------------------


def test_sampler_fills_batches_with_chunks_of_one_group():
    groups = np.repeat(np.arange(6), 8)  # 6 groups of 8 clips, batches of 3 groups x 4
    sampler = GroupSampler(groups, batch_size=12, clips_per_group=4, rng=np.random.default_rng(0))
    for _ in range(3):
        order = np.array(list(sampler))
        assert len(sampler) == 48 and sorted(order.tolist()) == list(range(48))
        for block in order.reshape(-1, 12):
            _, counts = np.unique(groups[block], return_counts=True)
            assert sorted(counts.tolist()) in ([4, 4, 4], [4, 8])  # chunks of 4, maybe two


def test_sampler_keeps_every_clip_once_with_uneven_groups():
    rng = np.random.default_rng(1)
    groups = rng.choice(["ann", "bob", "cy", "dee", "eve"], size=37)
    sampler = GroupSampler(groups, batch_size=8, clips_per_group=3, rng=rng)
    order = sampler.order()
    assert sorted(order.tolist()) == list(range(37))
    # chunks of at most 3: a batch holds more than one clip of some group
    blocks = [order[i : i + 8] for i in range(0, 37, 8)]
    assert sum(len(np.unique(groups[b])) < len(b) for b in blocks) >= 4


def test_sampler_draws_from_its_generator():
    groups = np.arange(20) % 5

    def orders(seed):
        sampler = GroupSampler(groups, 8, 2, np.random.default_rng(seed))
        return [sampler.order().tolist() for _ in range(2)]

    first, second = orders(0)
    assert orders(0) == [first, second] and first != second and orders(1)[0] != first


# -- the estimator --------------------------------------------------------------------------


def test_group_negatives_without_groups_are_refused(cpc_tones):
    X, _ = cpc_tones
    with pytest.raises(ValueError, match="fit got no groups"):
        CPCEmbedder(**CPC_TINY, negatives="group").fit(X)
    with pytest.raises(ValueError, match="fit got no groups"):
        CPCEmbedder(**{**CPC_TINY, "max_epochs": 0}, negatives="group").fit(X)


@pytest.mark.parametrize("negatives", ["group", "batch"])
def test_groups_of_the_wrong_shape_are_refused(cpc_tones, negatives):
    X, _ = cpc_tones
    est = CPCEmbedder(**CPC_TINY, negatives=negatives)
    with pytest.raises(ValueError, match="groups has 3 labels but X has 16 clips"):
        est.fit(X, groups=[0, 1, 2])
    with pytest.raises(ValueError, match="one label per clip"):
        est.fit(X, groups=np.zeros((16, 2)))
    assert not est.__sklearn_is_fitted__()


def test_groups_are_ignored_by_the_other_pools(cpc_tones):
    X, _ = cpc_tones
    plain = CPCEmbedder(**CPC_TINY).fit(X)
    grouped = CPCEmbedder(**CPC_TINY).fit(X, groups=np.arange(16) % 4)
    assert grouped.history_[:, "train_loss"] == plain.history_[:, "train_loss"]
    assert not hasattr(grouped, "_fit_groups") and not hasattr(grouped, "_fit_group_codes")


def test_group_negatives_are_refused_in_distributed_training(cpc_tones):
    X, _ = cpc_tones
    with pytest.raises(ValueError, match="distributed=True"):
        CPCEmbedder(**CPC_TINY, negatives="group", distributed=True).fit(
            X, groups=np.arange(16) % 4
        )


def test_group_fit_trains_on_group_batches(cpc_tones, monkeypatch):
    X, _ = cpc_tones
    speakers = np.array(list("abcdefgh"))[np.arange(16) % 8]  # 8 groups of 2 clips
    seen = []
    original = cpc_loss.cpc_infonce

    def spy(*args, **kwargs):
        seen.append((kwargs["negatives"], kwargs["groups"].clone()))
        return original(*args, **kwargs)

    monkeypatch.setattr(cpc_loss, "cpc_infonce", spy)
    est = CPCEmbedder(**CPC_TINY, negatives="group", clips_per_group=2).fit(X, groups=speakers)
    assert len(seen) == 4  # two epochs of two batches
    for negatives, codes in seen:
        _, counts = np.unique(codes.numpy(), return_counts=True)
        assert negatives == "group" and counts.tolist() == [2, 2, 2, 2]  # 4 groups of 2
    sampler = est.net_.iterator_train__sampler
    assert isinstance(sampler, GroupSampler) and not est.net_.iterator_train__shuffle
    assert est.transform(X[:2]).shape == (2, 8)


def test_group_fit_in_a_pipeline_and_with_metadata_routing(cpc_tones):
    X, y = cpc_tones
    groups = np.arange(16) % 4
    settings = {**CPC_TINY, "max_epochs": 1, "negatives": "group"}
    pipe = make_pipeline(CPCEmbedder(**settings), LogisticRegression())
    pipe.fit(X, y, cpcembedder__groups=groups)
    assert len(pipe[0].history_) == 1
    with sklearn.config_context(enable_metadata_routing=True):
        est = CPCEmbedder(**settings).set_fit_request(groups=True)
        routed = make_pipeline(est, LogisticRegression()).fit(X, y, groups=groups)
        assert len(routed[0].history_) == 1
        # the same run: routing hands the same groups to fit
        np.testing.assert_array_equal(routed[0].transform(X), pipe[0].transform(X))
        unrequested = make_pipeline(CPCEmbedder(**settings), LogisticRegression())
        with pytest.raises(ValueError, match="fit got no groups"):
            unrequested.fit(X, y)


def test_partial_fit_takes_the_groups_of_its_clips(cpc_tones):
    X, _ = cpc_tones
    est = CPCEmbedder(**CPC_TINY, negatives="group").partial_fit(X, groups=np.arange(16) % 4)
    est.partial_fit(X[:8], groups=np.arange(8) % 2)
    assert len(est.history_) == 2
    assert len(est.net_.iterator_train__sampler) == 8  # the second call's clips
    with pytest.raises(ValueError, match="fit got no groups"):
        est.partial_fit(X)
    # another pool: the shuffled loader is back
    est.set_params(negatives="clip").partial_fit(X)
    assert est.net_.iterator_train__sampler is None and est.net_.iterator_train__shuffle


def test_checkpoint_manifest_records_the_groups_only_where_they_are_used(cpc_tones):
    X, _ = cpc_tones
    audio = as_clips(X, sample_rate=SR)
    plain = CPCEmbedder(**CPC_TINY)._checkpoint_manifest("model", audio)
    assert "clips_per_group" not in plain and "groups" not in plain  # as before groups
    grouped = CPCEmbedder(**CPC_TINY, negatives="group")
    manifests = []
    for groups in (np.arange(16) % 4, np.arange(16) % 4, np.arange(16) % 2):
        with grouped._fit_groups_of(groups):
            grouped._check_targets(None, 16)
            manifests.append(grouped._checkpoint_manifest("model", audio))
    assert manifests[0]["clips_per_group"] == "4"
    assert manifests[0] == manifests[1] and manifests[0]["groups"] != manifests[2]["groups"]


@pytest.mark.parametrize(
    "sampling",
    [
        dict(negatives="group", clips_per_group=2),
        # sampled negatives: drawn from the criterion's generator, saved in the checkpoint
        dict(negatives="group", clips_per_group=2, n_negatives=3),
        dict(negatives="clip", n_negatives=3),
    ],
)
def test_resume_after_an_interrupt_ends_as_the_uninterrupted_run(tmp_path, monkeypatch, sampling):
    X, _ = make_tones(n_clips=16, n_classes=2, sample_rate=SR, random_state=0)
    X = [x[: SR // 2] for x in X]
    groups = np.arange(16) % 4
    settings = {**CPC_TINY, "segment_seconds": 0.1, "n_predict": 2, "max_epochs": 4}
    settings.update(sampling)

    def interrupt(self, *args, **kwargs):  # Ctrl-C after the first batch of epoch 3
        if len(self.history) == 3 and len(self.history[-1]["batches"]) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(SelfSupervisedNet, "on_batch_end", interrupt, raising=False)
    embedder = CPCEmbedder(**settings, checkpoint_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        embedder.fit(X, groups=groups)
    assert torch.load(tmp_path / "model.pt", weights_only=True)["epochs"] == 2
    monkeypatch.undo()
    resumed = embedder.fit(X, groups=groups)
    uninterrupted = CPCEmbedder(**settings).fit(X, groups=groups)
    assert len(resumed.history_) == len(uninterrupted.history_) == 4
    np.testing.assert_allclose(
        resumed.history_[:, "train_loss"], uninterrupted.history_[:, "train_loss"], rtol=1e-5
    )
    np.testing.assert_allclose(resumed.transform(X), uninterrupted.transform(X), rtol=1e-5)
    if sampling["negatives"] != "group":
        return
    # other groups are other data: their run does not resume this checkpoint
    with pytest.raises(ValueError, match="groups"):
        CPCEmbedder(**settings, checkpoint_dir=tmp_path).fit(X, groups=np.arange(16) % 2)


# -- probing --------------------------------------------------------------------------------


class _RecordsGroups(TransformerMixin, BaseEstimator):
    """An embedder that keeps the groups its fit got."""

    def fit(self, X, y=None, groups=None):
        self.groups_ = groups
        return self

    def transform(self, X):
        return np.array([[float(np.mean(x)), float(np.std(x))] for x in X])


def test_probe_passes_the_training_folds_groups_only_when_asked(cpc_tones):
    X, y = cpc_tones
    groups = np.arange(16) % 4
    cv = GroupKFold(n_splits=2)
    asked = cross_validate_probe(_RecordsGroups(), X, y, groups, cv, groups_to_embedder=True)
    for embedder, (train, _) in zip(asked.embedders, cv.split(X, y, groups), strict=True):
        np.testing.assert_array_equal(embedder.groups_, groups[train])
    plain = cross_validate_probe(_RecordsGroups(), X, y, groups, cv)
    assert all(embedder.groups_ is None for embedder in plain.embedders)
