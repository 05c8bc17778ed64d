"""Learning-rate schedules: warmup and cosine decay per step, exact resume, warm restarts."""

import math

import numpy as np
import pytest
import torch
from skorch import NeuralNetRegressor

import skaudio.estimators._trainer as base
from skaudio import COLAEmbedder, ContrastiveAudioEmbedder, CPCEmbedder, TokenTransformerEmbedder
from skaudio._compat import InvalidParameterError
from skaudio.datasets import make_tones
from skaudio.training import LearningRateSchedule, SelfSupervisedNet

SR = 8000
X, _ = make_tones(n_clips=16, n_classes=2, sample_rate=SR, random_state=0)
X = [x[: SR // 2] for x in X]  # half-second clips
LR = 1e-3
#: 16 clips in batches of 6: 3 batches per epoch, the last of 4 clips
COLA = dict(
    sample_rate=SR, segment_seconds=0.1, n_mels=16, embedding_dim=8, projection_dim=8,
    batch_size=6, lr=LR, random_state=0,
)  # fmt: skip
B = 3  # batches per epoch at COLA's settings
TOKENS = dict(
    sample_rate=SR, n_mels=16, patch_frames=5, context_tokens=5, n_tokens=8,
    autoencoder_width=16, autoencoder_layers=1, d_model=8, n_heads=2, n_layers=1,
    feedforward=16, embedding_dim=8, batch_size=32, random_state=0,
)  # fmt: skip
MAKERS = {
    "cola": lambda **kw: COLAEmbedder(**COLA, **kw),
    "simclr": lambda **kw: ContrastiveAudioEmbedder(**COLA, **kw),
    "cpc": lambda **kw: CPCEmbedder(
        sample_rate=SR,
        segment_seconds=0.1,
        n_mels=16,
        encoder_width=16,
        z_dim=8,
        c_dim=8,
        n_predict=2,
        batch_size=6,
        random_state=0,
        **kw,
    ),
    "tokens": lambda **kw: TokenTransformerEmbedder(**TOKENS, **kw),
}


def reference_lr(step: int, n_steps: int, warmup_steps: int, schedule: str) -> float:
    """Linear warmup from lr / W, then constant, or a half cosine reaching 0 at step n_steps."""
    if step < warmup_steps:
        return LR * (step + 1) / warmup_steps
    if schedule == "constant":
        return LR
    progress = (step - warmup_steps) / (n_steps - warmup_steps)
    return LR * (1 + math.cos(math.pi * progress)) / 2


@pytest.fixture
def optimiser_lrs(monkeypatch):
    """The learning rate of every AdamW step, as the optimiser itself read it."""
    seen = []
    step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    return seen


def _batch_lrs(embedder) -> list[float]:
    return [lr for epoch in embedder.history_[:, "batches", :, "lr"] for lr in epoch]


def _interrupt_in_epoch(monkeypatch, epoch: int, module: str | None = None) -> None:
    """KeyboardInterrupt after the first batch of ``epoch`` (in nets training ``module``)."""

    def on_batch_end(self, *args, **kwargs):
        in_stage = module is None or type(self.module_).__name__ == module
        if in_stage and len(self.history) == epoch and len(self.history[-1]["batches"]) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(SelfSupervisedNet, "on_batch_end", on_batch_end, raising=False)


@pytest.mark.parametrize(
    ("schedule", "warmup_epochs", "warmup_steps"),
    [("cosine", 0.0, 0), ("cosine", 0.5, 2), ("cosine", 1.0, 3), ("constant", 1.5, 5)],
)
def test_the_rate_of_every_step_follows_the_reference(
    optimiser_lrs, schedule, warmup_epochs, warmup_steps
):
    embedder = COLAEmbedder(
        **COLA, max_epochs=3, lr_schedule=schedule, warmup_epochs=warmup_epochs
    ).fit(X)
    expected = [reference_lr(s, 3 * B, warmup_steps, schedule) for s in range(3 * B)]
    np.testing.assert_allclose(optimiser_lrs, expected, rtol=1e-12)
    np.testing.assert_allclose(_batch_lrs(embedder), expected, rtol=1e-12)
    # per epoch: the rate of its last step
    np.testing.assert_allclose(embedder.history_[:, "lr"], expected[B - 1 :: B], rtol=1e-12)
    assert min(optimiser_lrs) > 0


def test_constant_without_warmup_is_bit_identical_to_no_schedule(monkeypatch, optimiser_lrs):
    scheduled = COLAEmbedder(**COLA, max_epochs=2).fit(X)
    assert optimiser_lrs == [LR] * 2 * B and _batch_lrs(scheduled) == [LR] * 2 * B
    callbacks = base.training_callbacks
    monkeypatch.setattr(
        base, "training_callbacks", lambda names, verbose, *args: callbacks(names, verbose)
    )
    unscheduled = COLAEmbedder(**COLA, max_epochs=2).fit(X)
    assert "lr_schedule" not in dict(unscheduled.net_.callbacks_)
    np.testing.assert_array_equal(scheduled.transform(X), unscheduled.transform(X))
    np.testing.assert_array_equal(
        scheduled.history_[:, "train_loss"], unscheduled.history_[:, "train_loss"]
    )


def _assert_same_run(resumed, straight) -> None:
    assert len(resumed.history_) == len(straight.history_)
    assert _batch_lrs(resumed) == _batch_lrs(straight)
    np.testing.assert_allclose(
        resumed.history_[:, "train_loss"], straight.history_[:, "train_loss"], rtol=1e-6
    )
    np.testing.assert_allclose(resumed.transform(X), straight.transform(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("cola", None),
        ("simclr", None),
        ("cpc", None),
        ("tokens", "PatchReconstruction"),
        ("tokens", "TokenTransformerModel"),
    ],
)
def test_a_run_resumed_mid_schedule_equals_the_uninterrupted_run(
    tmp_path, monkeypatch, name, module
):
    params = dict(max_epochs=4, lr_schedule="cosine", warmup_epochs=1.5)
    _interrupt_in_epoch(monkeypatch, 3, module)  # in the decay, after the warmup
    with pytest.raises(KeyboardInterrupt):
        MAKERS[name](**params, checkpoint_dir=tmp_path).fit(X)
    stage = {None: "model", "PatchReconstruction": "autoencoder"}.get(module, "transformer")
    state = torch.load(tmp_path / f"{stage}.pt", weights_only=True)
    assert state["epochs"] == 2
    schedule = state["callbacks"]["lr_schedule"]
    batches = sum(state["history"][e]["train_batch_count"] for e in range(2))
    assert schedule["step"] == batches and schedule["n_steps"] == 2 * batches
    monkeypatch.undo()
    resumed = MAKERS[name](**params, checkpoint_dir=tmp_path).fit(X)
    straight = MAKERS[name](**params).fit(X)
    _assert_same_run(resumed, straight)
    if name == "tokens":
        _assert_same_run_histories(resumed.autoencoder_.history, straight.autoencoder_.history)
        np.testing.assert_array_equal(resumed.codebook_, straight.codebook_)


def _assert_same_run_histories(a, b) -> None:
    assert a[:, "batches", :, "lr"] == b[:, "batches", :, "lr"]
    np.testing.assert_allclose(a[:, "train_loss"], b[:, "train_loss"], rtol=1e-6)


def test_a_cosine_checkpoint_resumes_only_under_its_max_epochs(tmp_path):
    COLAEmbedder(**COLA, max_epochs=2, lr_schedule="cosine", checkpoint_dir=tmp_path).fit(X)
    with pytest.raises(ValueError, match=r"another run \(max_epochs: checkpoint 2, now 3\)"):
        COLAEmbedder(**COLA, max_epochs=3, lr_schedule="cosine", checkpoint_dir=tmp_path).fit(X)
    with pytest.raises(ValueError, match=r"another run \(lr_schedule: checkpoint 'cosine', now"):
        COLAEmbedder(**COLA, max_epochs=2, checkpoint_dir=tmp_path).fit(X)


def test_a_checkpoint_of_the_format_before_schedules_is_refused(tmp_path):
    COLAEmbedder(**COLA, max_epochs=1, checkpoint_dir=tmp_path).fit(X)
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    del state["callbacks"]
    torch.save({**state, "format": 2}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"not a skaudio checkpoint of format 3; delete it"):
        COLAEmbedder(**COLA, max_epochs=1, checkpoint_dir=tmp_path).fit(X)


def test_a_warmup_run_can_be_extended_like_the_uninterrupted_run(tmp_path):
    params = dict(max_epochs=2, warmup_epochs=1.5)  # constant after the warmup
    COLAEmbedder(**COLA, **params, checkpoint_dir=tmp_path).fit(X)
    extended = COLAEmbedder(**COLA, **{**params, "max_epochs": 3}, checkpoint_dir=tmp_path).fit(X)
    _assert_same_run(extended, COLAEmbedder(**COLA, **{**params, "max_epochs": 3}).fit(X))


def test_continued_training_restarts_the_schedule_never_at_zero(optimiser_lrs):
    params = dict(max_epochs=2, lr_schedule="cosine", warmup_epochs=1.0)
    embedder = COLAEmbedder(**COLA, **params, warm_start=True).fit(X)
    del optimiser_lrs[:]
    embedder.partial_fit(X)  # a restart over its one epoch, at lr, no new warmup
    assert optimiser_lrs == pytest.approx([reference_lr(s, B, 0, "cosine") for s in range(B)])
    del optimiser_lrs[:]
    embedder.fit(X)  # warm_start: max_epochs more epochs, restarted the same way
    expected = [reference_lr(s, 2 * B, 0, "cosine") for s in range(2 * B)]
    assert optimiser_lrs == pytest.approx(expected)
    assert _batch_lrs(embedder)[-2 * B :] == pytest.approx(expected)
    assert len(embedder.history_) == 5 and min(_batch_lrs(embedder)) > 0

    # the first partial_fit is a fit of one epoch: the warmup fills it
    del optimiser_lrs[:]
    first = COLAEmbedder(**COLA, **params).partial_fit(X)
    assert optimiser_lrs == pytest.approx([LR * (s + 1) / B for s in range(B)])
    # a model never trained (max_epochs=0) warms up in its first continued training
    del optimiser_lrs[:]
    untrained = COLAEmbedder(**COLA, **{**params, "max_epochs": 0}).fit(X).partial_fit(X)
    assert optimiser_lrs == pytest.approx([LR * (s + 1) / B for s in range(B)])
    assert _batch_lrs(first) == _batch_lrs(untrained)


def test_an_interrupted_continuation_leaves_the_schedule_as_it_was(monkeypatch):
    params = dict(max_epochs=1, lr_schedule="cosine")
    embedder = COLAEmbedder(**COLA, **params).fit(X)
    _interrupt_in_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        embedder.partial_fit(X)
    monkeypatch.undo()
    straight = COLAEmbedder(**COLA, **params).fit(X).partial_fit(X)
    _assert_same_run(embedder.partial_fit(X), straight)


@pytest.mark.parametrize(
    ("param", "value"),
    [("warmup_epochs", -0.5), ("warmup_epochs", True), ("lr_schedule", "linear")],
)
def test_invalid_schedule_parameters_are_refused(param, value):
    with pytest.raises(InvalidParameterError, match=param):
        COLAEmbedder(**COLA, **{param: value}).fit(X)


def test_the_callback_refuses_what_the_estimator_would_and_counts_batches_as_the_loader():
    with pytest.raises(ValueError, match="schedule must be 'constant' or 'cosine'"):
        LearningRateSchedule("linear").initialize()
    with pytest.raises(ValueError, match="warmup_epochs must be >= 0"):
        LearningRateSchedule(warmup_epochs=-1).initialize()
    data, target = torch.randn(10, 3), torch.randn(10, 1)
    for drop_last, batches in [(False, 3), (True, 2)]:
        net = NeuralNetRegressor(
            torch.nn.Linear, module__in_features=3, module__out_features=1, batch_size=4,
            max_epochs=2, train_split=None, iterator_train__drop_last=drop_last, verbose=0,
            callbacks=[("lr_schedule", LearningRateSchedule("cosine"))],
        ).fit(data, target)  # fmt: skip
        assert LearningRateSchedule.batches_per_epoch(net, data, target) == batches
        assert net.history[:, "train_batch_count"] == [batches, batches]
        assert len(net.history[-1, "batches"]) == batches
        assert net.history[-1, "lr"] == pytest.approx(
            0.01 * reference_lr(2 * batches - 1, 2 * batches, 0, "cosine") / LR
        )
