"""CPC negatives drawn from the same clip (``negatives="clip"``), and the defaults unchanged."""

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from conftest import CPC_TINY

from skaudio import CPCEmbedder
from skaudio._compat import InvalidParameterError
from skaudio.exceptions import DegenerateTrainingWarning
from skaudio.losses import CPCCriterion, CPCOutput, cpc_infonce, cpc_step_weights
from skaudio.losses._cpc import _sample_clip_negatives


@pytest.fixture
def sequences():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, 6, 4, generator=g)
    predictions = torch.randn(2, 3, 6, 4, generator=g)
    valid = torch.ones(3, 6, dtype=torch.bool)
    valid[1, 4:] = False  # a short clip: its last two frames are padding
    return z, predictions, valid


# -- the sampler ------------------------------------------------------------------------


def _positives(valid):
    """Every valid frame of every clip with another valid frame: (clips, times)."""
    clips, times = valid.nonzero(as_tuple=True)
    keep = valid.sum(dim=1)[clips] >= 2
    return clips[keep], times[keep]


def test_sampler_draws_other_valid_frames_of_the_same_clip_and_all_of_them():
    valid = torch.tensor(
        [
            [True, True, True, True, True, True, False, False],
            [True, False, True, False, False, True, True, False],  # not a prefix
            [True, True, False, False, False, False, False, False],  # two frames only
        ]
    )
    clips, times = _positives(valid)
    n_frames = valid.shape[1]
    index = _sample_clip_negatives(valid, clips, times, 400, torch.Generator().manual_seed(0))
    assert index.shape == (len(clips), 400) and index.dtype == torch.long
    drawn_clip, drawn_time = index // n_frames, index % n_frames
    assert (drawn_clip == clips[:, None]).all()  # the same clip only
    assert (drawn_time != times[:, None]).all()  # never the positive
    assert valid[drawn_clip, drawn_time].all()  # never padding
    for i, (c, t) in enumerate(zip(clips.tolist(), times.tolist(), strict=True)):
        others = {u for u in range(n_frames) if valid[c, u] and u != t}
        assert set(drawn_time[i].tolist()) == others  # every other frame can be drawn


def test_sampler_is_roughly_uniform_over_the_other_frames():
    valid = torch.ones(1, 5, dtype=torch.bool)
    index = _sample_clip_negatives(
        valid, torch.tensor([0]), torch.tensor([2]), 40000, torch.Generator().manual_seed(1)
    )
    counts = torch.bincount(index[0], minlength=5).float() / 40000
    assert counts[2] == 0
    assert ((counts[[0, 1, 3, 4]] - 0.25).abs() < 0.01).all()


def test_sampler_follows_its_generator():
    valid = torch.ones(2, 7, dtype=torch.bool)
    clips, times = _positives(valid)

    def draw(seed):
        return _sample_clip_negatives(valid, clips, times, 5, torch.Generator().manual_seed(seed))

    assert torch.equal(draw(3), draw(3)) and not torch.equal(draw(3), draw(4))


def test_sampler_refuses_a_clip_without_another_frame():
    valid = torch.tensor([[True, False, False]])
    with pytest.raises(ValueError, match="another valid frame"):
        _sample_clip_negatives(valid, torch.tensor([0]), torch.tensor([0]), 3)


# -- the loss -----------------------------------------------------------------------------


def _reference_clip_infonce(z, predictions, valid, negatives_of=None):
    """Loop over steps, clips and times: -log softmax of the positive among candidates.

    The candidates are the positive and either every valid frame of the same clip
    (``negatives_of=None``) or the frames ``negatives_of(k, rows)`` gives for step ``k``.
    """
    n_predict, batch, n_frames, _ = predictions.shape
    losses = []
    for k in range(1, n_predict + 1):
        rows = [(b, t) for b in range(batch) for t in range(n_frames - k) if valid[b, t + k]]
        drawn = negatives_of(k, rows) if negatives_of is not None else None
        terms = []
        for i, (b, t) in enumerate(rows):
            p = predictions[k - 1, b, t].double()
            if drawn is None:
                others = [u for u in range(n_frames) if valid[b, u] and u != t + k]
            else:
                others = drawn[i]
            scores = [float(p @ z[b, u].double()) for u in [t + k, *others]]
            terms.append(math.log(sum(math.exp(s) for s in scores)) - scores[0])
        if terms:
            losses.append(sum(terms) / len(terms))
    return sum(losses) / len(losses)


def test_clip_infonce_matches_reference_loop(sequences):
    z, predictions, valid = sequences
    loss, accuracy = cpc_infonce(z, predictions, valid, negatives="clip")
    assert loss.item() == pytest.approx(_reference_clip_infonce(z, predictions, valid), rel=1e-5)
    assert accuracy.shape == (2,) and ((accuracy >= 0) & (accuracy <= 1)).all()


def test_sampled_clip_infonce_matches_reference_with_the_same_negatives(sequences):
    z, predictions, valid = sequences
    n_frames = z.shape[1]
    loss, _ = cpc_infonce(
        z,
        predictions,
        valid,
        negatives="clip",
        n_negatives=4,
        generator=torch.Generator().manual_seed(7),
    )
    replay = torch.Generator().manual_seed(7)  # one draw per step, in order

    def negatives_of(k, rows):
        clips = torch.tensor([b for b, _ in rows])
        times = torch.tensor([t + k for _, t in rows])
        index = _sample_clip_negatives(valid, clips, times, 4, replay)
        assert (index // n_frames == clips[:, None]).all()
        return (index % n_frames).tolist()

    expected = _reference_clip_infonce(z, predictions, valid, negatives_of)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_clip_negatives_ignore_what_tells_clips_apart():
    # each clip's frames share a large clip-specific direction, and each prediction
    # points along its own clip's direction: that identifies the clip, not the frame
    g = torch.Generator().manual_seed(0)
    batch, n_frames, dim = 4, 8, 16
    clip_code = 10 * torch.eye(dim)[:batch]
    z = clip_code[:, None] + 0.01 * torch.randn(batch, n_frames, dim, generator=g)
    predictions = clip_code[None, :, None].expand(2, batch, n_frames, dim)
    by_batch, acc_batch = cpc_infonce(z, predictions, negatives="batch")
    by_clip, _ = cpc_infonce(z, predictions, negatives="clip")
    assert by_batch.item() < 1e-3 and (acc_batch == 1).all()  # solved by the clip alone
    assert by_clip.item() == pytest.approx(math.log(n_frames), abs=0.05)  # chance


def test_clip_padding_is_never_a_target_or_a_candidate(sequences):
    z, predictions, valid = sequences
    changed = z.clone()
    changed[1, 4:] = 1000.0  # garbage in the padding of clip 1
    for n_negatives in (None, 3):
        before, after = (
            cpc_infonce(
                x,
                predictions,
                valid,
                negatives="clip",
                n_negatives=n_negatives,
                generator=torch.Generator().manual_seed(0),
            )[0]
            for x in (z, changed)
        )
        assert after.item() == pytest.approx(before.item(), rel=1e-6)


def test_clip_criterion_is_seeded_and_differentiable(sequences):
    z, predictions, valid = sequences
    predictions = predictions.clone().requires_grad_()
    output = CPCOutput(z, predictions, valid)

    def loss(seed):
        return CPCCriterion(2, negatives="clip", n_negatives=3, seed=seed)(output)

    assert loss(1).item() == loss(1).item() and loss(1).item() != loss(2).item()
    loss(1).backward()
    assert predictions.grad.abs().sum() > 0


def test_unknown_negatives_are_refused(sequences):
    z, predictions, valid = sequences
    with pytest.raises(ValueError, match="'batch', 'batch\\+time' or 'clip'"):
        cpc_infonce(z, predictions, valid, negatives="speaker")


# -- the defaults are those of before ---------------------------------------------------


def _old_step_logits(z, prediction, valid, k, negatives, n_negatives, generator):
    """A verbatim copy of ``_step_logits`` before ``negatives="clip"`` was added."""
    batch, n_frames, dim = z.shape
    span = n_frames - k
    rows = valid[:, k:]
    target_clip = torch.arange(batch, device=z.device)[:, None].expand(batch, span)
    target_time = torch.arange(k, n_frames, device=z.device)[None].expand(batch, span)
    if n_negatives is None and negatives == "batch":
        logits = torch.einsum("btd,ctd->btc", prediction, z[:, k:])
        logits = logits.masked_fill(~valid[:, k:].T[None], float("-inf"))
        return logits[rows], target_clip[rows]
    flat = z.reshape(batch * n_frames, dim)
    positive = target_clip * n_frames + target_time
    if n_negatives is None:
        logits = prediction[rows] @ flat.T
        logits = logits.masked_fill(~valid.reshape(1, -1), float("-inf"))
        return logits, positive[rows]
    n_rows = int(rows.sum())
    if negatives == "batch":
        shift = torch.randint(1, batch, (n_rows, n_negatives), generator=generator, device=z.device)
        clips = (target_clip[rows][:, None] + shift) % batch
        index = clips * n_frames + target_time[rows][:, None]
    else:
        draw = torch.randint(
            0, batch * n_frames - 1, (n_rows, n_negatives), generator=generator, device=z.device
        )
        index = draw + (draw >= positive[rows][:, None]).long()
    scores = torch.einsum("nd,nmd->nm", prediction[rows], flat[index])
    scores = scores.masked_fill(~valid.reshape(-1)[index], float("-inf"))
    own = (prediction[rows] * flat[positive[rows]]).sum(dim=1, keepdim=True)
    logits = torch.cat([own, scores], dim=1)
    return logits, torch.zeros(n_rows, dtype=torch.long, device=z.device)


def _old_infonce(z, predictions, valid, negatives, n_negatives, generator):
    """The loop of ``cpc_infonce`` before ``negatives="clip"``, over the old logits."""
    n_predict, _, n_frames, _ = predictions.shape
    weights, losses = cpc_step_weights(n_predict), []
    for k in range(1, min(n_predict, n_frames - 1) + 1):
        logits, targets = _old_step_logits(
            z, predictions[k - 1, :, : n_frames - k], valid, k, negatives, n_negatives, generator
        )
        losses.append((float(weights[k - 1]), F.cross_entropy(logits, targets)))
    return sum(w * loss for w, loss in losses) / sum(w for w, _ in losses)


@pytest.mark.parametrize(
    ("negatives", "n_negatives"),
    [("batch", None), ("batch", 3), ("batch+time", None), ("batch+time", 3)],
)
def test_earlier_negatives_are_bit_identical_to_the_old_code(sequences, negatives, n_negatives):
    z, predictions, valid = sequences
    loss, _ = cpc_infonce(
        z,
        predictions,
        valid,
        negatives=negatives,
        n_negatives=n_negatives,
        generator=torch.Generator().manual_seed(5),
    )
    old = _old_infonce(
        z, predictions, valid, negatives, n_negatives, torch.Generator().manual_seed(5)
    )
    assert torch.equal(loss, old)


def test_default_fit_keeps_its_loss_history(cpc_clips):
    # recorded with the code before negatives="clip" was added (same CPC_TINY settings on
    # these 16 clips): CPCEmbedder(**CPC_TINY).fit(cpc_clips).history_[:, "train_loss"]
    est = CPCEmbedder(**CPC_TINY).fit(cpc_clips)
    assert est.history_[:, "train_loss"] == pytest.approx(
        [2.060467481613159, 2.0755462646484375],
        rel=1e-5,  # other thread counts round
    )


# -- the estimator ------------------------------------------------------------------------


@pytest.mark.parametrize("n_negatives", [None, 4])
def test_a_short_clip_negatives_fit_lowers_the_loss(cpc_clips, n_negatives):
    settings = {**CPC_TINY, "z_dim": 16, "c_dim": 16, "encoder_width": 16, "max_epochs": 24}
    settings["lr"] = 1e-2
    est = CPCEmbedder(**settings, negatives="clip", n_negatives=n_negatives).fit(cpc_clips)
    loss = est.history_[:, "train_loss"]
    assert sum(loss[-3:]) / 3 < sum(loss[:3]) / 3 - 0.2


def test_clip_negatives_train_on_batches_of_one_clip(cpc_clips):
    # the other clips are not needed: no warning, no error, a finite non-zero loss
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateTrainingWarning)
        est = CPCEmbedder(**{**CPC_TINY, "batch_size": 1}, negatives="clip", n_negatives=3).fit(
            cpc_clips[:3]
        )
    assert 0 < est.history_[-1, "train_loss"] < math.inf


def test_negatives_parameter_is_validated(cpc_clips):
    with pytest.raises(InvalidParameterError, match="negatives"):
        CPCEmbedder(**CPC_TINY, negatives="speaker").fit(cpc_clips[:2])
