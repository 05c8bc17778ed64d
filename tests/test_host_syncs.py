"""No host synchronisation in a training step: metrics, CPC, NT-Xent, BYOL, gathers.

On a GPU, every read of a device tensor by the host (``.item()``, ``bool(t)``, a
boolean mask, ...) makes the host wait for all the queued kernels. These tests count
such reads on the CPU, where they can be observed with a ``TorchFunctionMode``, around
one training step of every model and criterion; and check that the sync-free
formulations give the numbers of the code they replace (frozen copies below).
"""

import math
import os
import sys
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from skaudio import (
    COLAEmbedder,
    ContrastiveAudioEmbedder,
    CPCEmbedder,
    TokenTransformerEmbedder,
    _collectives,
)
from skaudio.datasets import make_tones
from skaudio.encoders import CNNEncoder
from skaudio.features import LogMelSpectrogram
from skaudio.heads import BilinearSimilarity
from skaudio.losses import (
    COLACriterion,
    ContrastiveCrossEntropy,
    CPCCriterion,
    _cola,
    _nt_xent,
    _supervised,
    cpc_infonce,
    cpc_step_weights,
)
from skaudio.losses._cpc import _sample_clip_negatives
from skaudio.models import BYOLModel
from skaudio.training import SelfSupervisedNet, training_callbacks

# -- the counter -----------------------------------------------------------------------

#: functions whose call reads a tensor's values back to the host
_READS = {
    torch.Tensor.item,
    torch.Tensor.tolist,
    torch.Tensor.__bool__,
    torch.Tensor.__int__,
    torch.Tensor.__float__,
    torch.Tensor.__index__,
    torch.Tensor.__repr__,
    torch.Tensor.__format__,
    torch.Tensor.numpy,
    torch.Tensor.cpu,
    torch.Tensor.nonzero,
    torch.nonzero,
    torch.Tensor.masked_select,
    torch.masked_select,
    torch.Tensor.unique,
    torch.unique,
    torch.Tensor.is_nonzero,
    torch.is_nonzero,
    torch.equal,
    torch.allclose,
    torch.Tensor.allclose,
}
#: where a read is attributed: the first frame outside these files
_TORCH_WRAPPERS = tuple(
    os.path.join("torch", name) for name in ("overrides.py", "_tensor.py", "functional.py")
)


def _has_bool_tensor(index) -> bool:
    if isinstance(index, tuple | list):
        return any(_has_bool_tensor(i) for i in index)
    return isinstance(index, torch.Tensor) and index.dtype == torch.bool


class HostReads(TorchFunctionMode):
    """Records every host read of a tensor's values: ``(function name, caller file:line)``.

    Besides the functions of ``_READS``: indexing with a boolean mask (read and
    write), one-argument ``torch.where`` (``nonzero``) and ``torch.tensor`` of tensors.
    """

    def __init__(self):
        super().__init__()
        self.reads: list[tuple[str, str]] = []

    def _caller(self) -> str:
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename.endswith(_TORCH_WRAPPERS):
            frame = frame.f_back
        if frame is None:
            return "?"
        return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        read = func in _READS
        if func in (torch.Tensor.__getitem__, torch.Tensor.__setitem__):
            read = _has_bool_tensor(args[1])
        elif func is torch.where:
            read = len(args) + len(kwargs) == 1
        elif func in (torch.tensor, torch.as_tensor) and args:
            read = _has_tensor(args[0])
        if read:
            self.reads.append((getattr(func, "__name__", str(func)), self._caller()))
        return func(*args, **kwargs)


def _has_tensor(data) -> bool:
    if isinstance(data, list | tuple):
        return any(_has_tensor(d) for d in data)
    return isinstance(data, torch.Tensor)


@pytest.mark.parametrize(
    "read",
    [
        lambda x: x[0].item(),
        lambda x: x.tolist(),
        lambda x: bool(x[0] > 0),
        lambda x: int(x[0]),
        lambda x: float(x[0]),
        lambda x: x.numpy(),
        lambda x: x.cpu(),
        lambda x: x.nonzero(),
        lambda x: x[x > 0],
        lambda x: x.clone().__setitem__(x > 0, 0.0),
        lambda x: x.masked_select(x > 0),
        lambda x: torch.where(x > 0),
        lambda x: 1 if (x > 0).any() else 0,
        lambda x: [0, 1][torch.tensor(1)],
        lambda x: f"{x}",
        lambda x: torch.tensor([x[0], x[1]]),
        lambda x: torch.equal(x, x),
    ],
)
def test_the_counter_sees_each_kind_of_read(read):
    x = torch.randn(5)
    with HostReads() as counter:
        read(x)
    assert len(counter.reads) >= 1


def test_the_counter_ignores_device_side_work():
    x = torch.randn(5, 3)
    with HostReads() as counter:
        mask = x > 0
        y = torch.where(mask, x, 0.0).sum(dim=0) / mask.sum(dim=0).clamp_min(1)
        z = x[torch.tensor([0, 2])].masked_fill(~mask[:2], 0.0).argmax(dim=1)
        _ = (y.nanmean(), z.float().mean(), x.shape[0], len(x))
    assert counter.reads == []


# -- one training step of every model and criterion --------------------------------------

SR = 8000
CLIPS, LABELS = make_tones(n_clips=16, n_classes=4, sample_rate=SR, random_state=0)
#: clips of every CPC window, shorter ones among them (padding, steps without a future)
SHORT_CLIPS = [*CLIPS[:12], *(clip[:900] for clip in CLIPS[12:])]
TWO_VIEW = dict(
    sample_rate=SR,
    segment_seconds=0.25,
    n_mels=16,
    embedding_dim=8,
    projection_dim=8,
    batch_size=8,
    max_epochs=0,
    random_state=0,
)
CPC = dict(sample_rate=SR, segment_seconds=0.25, z_dim=8, c_dim=8, n_predict=3, batch_size=8)
CPC.update(max_epochs=0, random_state=0)
SEMI_LABELS = np.where(np.arange(16) % 2 == 0, LABELS, -1)

ESTIMATORS = {
    "cola": (lambda: COLAEmbedder(augmentations="none", **TWO_VIEW), CLIPS, None),
    "cola_frame_pitch": (
        lambda: COLAEmbedder(frame_weight=1.0, pitch_weight=1.0, augmentations="none", **TWO_VIEW),
        CLIPS,
        None,
    ),
    **{
        objective: (
            lambda objective=objective: ContrastiveAudioEmbedder(
                objective=objective, augmentations="none", **TWO_VIEW
            ),
            CLIPS,
            None,
        )
        for objective in ("nt_xent", "barlow_twins", "vicreg", "byol")
    },
    "semi_supervised": (
        lambda: ContrastiveAudioEmbedder(augmentations="none", supervised_weight=1.0, **TWO_VIEW),
        CLIPS,
        SEMI_LABELS,
    ),
    "byol_semi_pitch": (
        lambda: ContrastiveAudioEmbedder(
            objective="byol",
            augmentations="none",
            supervised_weight=1.0,
            pitch_weight=0.5,
            **TWO_VIEW,
        ),
        CLIPS,
        SEMI_LABELS,
    ),
    "cpc_batch": (lambda: CPCEmbedder(**CPC), SHORT_CLIPS, None),
    "cpc_batch_sampled": (lambda: CPCEmbedder(n_negatives=3, **CPC), SHORT_CLIPS, None),
    "cpc_batch_time": (lambda: CPCEmbedder(negatives="batch+time", **CPC), SHORT_CLIPS, None),
    "cpc_clip": (lambda: CPCEmbedder(negatives="clip", **CPC), SHORT_CLIPS, None),
    "cpc_clip_sampled": (
        lambda: CPCEmbedder(negatives="clip", n_negatives=3, **CPC),
        SHORT_CLIPS,
        None,
    ),
    "tokens": (
        lambda: TokenTransformerEmbedder(
            sample_rate=SR,
            patch_frames=5,
            context_tokens=5,
            n_tokens=8,
            autoencoder_width=16,
            embedding_dim=8,
            batch_size=8,
            max_epochs=0,
            random_state=0,
        ),
        CLIPS,
        None,
    ),
}


def _nets(name):
    """The (untrained) nets of an estimator's fit, each with one training batch."""
    make, X, y = ESTIMATORS[name]
    est = make()
    recorded = []
    original = type(est)._train

    def spy(self, module, criterion, dataset, rng, **kwargs):
        net = original(self, module, criterion, dataset, rng, **kwargs)
        recorded.append(net)
        batch = next(iter(net.get_iterator(net.get_dataset(dataset), training=True)))
        recorded.append(batch)
        return net

    with mock.patch.object(type(est), "_train", spy):
        est.fit(X, y)
    pairs = list(zip(recorded[::2], recorded[1::2], strict=True))
    for net, _ in pairs:
        # torch's fused AdamW (what skaudio uses on CUDA) keeps its step counts on the
        # device; the plain one reads them with .item(), host-side on a CPU run
        net.set_params(optimizer__fused=True)
        net.history.new_epoch()
        net.history.new_batch()
    return pairs


#: reads that the code makes only when its tensors are on the CPU, where they cost no
#: wait: the token transformer decides whether to corrupt a batch on the host there,
#: to keep the random stream of before (on an accelerator it masks instead)
CPU_ONLY_READS = (os.path.join("models", "token_transformer.py") + ":", " in _corrupt")


def _on_accelerators(reads):
    return [
        (read, where)
        for read, where in reads
        if not (CPU_ONLY_READS[0] in where and where.endswith(CPU_ONLY_READS[1]))
    ]


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_a_training_step_reads_nothing_back_to_the_host(name):
    for net, batch in _nets(name):
        with HostReads() as counter:
            step = net.train_step(batch)
        assert _on_accelerators(counter.reads) == [], type(net.module_).__name__
        assert torch.isfinite(step["loss"]).item()


def test_a_planted_read_in_a_criterion_is_seen():
    (net, batch), *_ = _nets("cola")
    metrics = type(net.criterion_).metrics

    def planted(self, output):
        values = metrics(self, output)
        values["pretext_acc"].item()
        return values

    with mock.patch.object(type(net.criterion_), "metrics", planted), HostReads() as counter:
        net.train_step(batch)
    assert [read for read, _ in counter.reads] == ["item"]
    assert "test_host_syncs.py" in counter.reads[0][1]


def test_an_epoch_reads_the_loss_per_batch_and_the_metrics_once():
    (net, _), *_ = _nets("cpc_clip")
    X = {"window": np.stack([clip[:2000] for clip in CLIPS]), "n_valid": np.full(16, 2000)}
    with HostReads() as counter:
        net.partial_fit(X, epochs=1)  # 2 batches of 8
    ours = [
        (read, where)
        for read, where in counter.reads
        if os.path.join("torch", "utils", "data") not in where  # the sampler's permutation
    ]
    assert [read for read, _ in ours] == ["item", "item", "tolist"]
    assert all("skorch" in where for _, where in ours[:2])  # skorch's loss.item()
    assert "training.py" in ours[2][1]  # the metrics of the epoch, at its end


# -- the metrics reach the history as before ------------------------------------------------


class EveryBatchNet(SelfSupervisedNet):
    """The metrics recorded at every batch, read back one by one (the code before)."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = super(SelfSupervisedNet, self).get_loss(y_pred, y_true, X=X, training=training)
        if training:
            for name, value in self.criterion_.metrics(y_pred).items():
                self.history.record_batch(f"train_{name}", float(value))
        return loss


class StopAt(Exception):
    pass


def _bilinear_net(cls, **kwargs):
    torch.manual_seed(0)
    return cls(
        BilinearSimilarity,
        ContrastiveCrossEntropy,
        module__dim=4,
        max_epochs=3,
        batch_size=8,
        train_split=None,
        verbose=0,
        callbacks=training_callbacks(ContrastiveCrossEntropy.metric_names, verbose=0),
        **kwargs,
    )


def _anchors():
    g = torch.Generator().manual_seed(0)
    anchors = torch.randn(20, 4, generator=g)
    return {"anchors": anchors, "positives": anchors + 0.3 * torch.randn(20, 4, generator=g)}


def test_history_equals_recording_the_metrics_at_every_batch():
    X = _anchors()
    new, old = _bilinear_net(SelfSupervisedNet).fit(X), _bilinear_net(EveryBatchNet).fit(X)
    for epoch_new, epoch_old in zip(new.history, old.history, strict=True):
        assert [list(b.items()) for b in epoch_new["batches"]] == [
            list(b.items()) for b in epoch_old["batches"]
        ]  # values and key order
        assert epoch_new["train_pretext_acc"] == epoch_old["train_pretext_acc"]
    assert not new._pending_metrics


def test_an_interrupted_epoch_keeps_the_metrics_of_its_batches():
    def interrupt(self, net, **kwargs):
        if len(net.history) == 2 and len(net.history[-1, "batches"]) == 2:
            raise KeyboardInterrupt

    X = _anchors()
    histories = []
    for cls in (SelfSupervisedNet, EveryBatchNet):
        net = _bilinear_net(cls)
        with mock.patch.object(cls, "on_batch_end", interrupt), pytest.raises(KeyboardInterrupt):
            net.fit(X)
        histories.append([b.copy() for b in net.history[-1, "batches"]])
    assert histories[0] == histories[1]
    assert all("train_pretext_acc" in b for b in histories[0])


# -- CPC: the vectorised InfoNCE equals the loop over steps ---------------------------------


def _old_sample_clip_negatives(valid, clips, times, n_negatives, generator=None):
    """A frozen copy of ``_sample_clip_negatives`` before vectorisation."""
    n_frames = valid.shape[1]
    n_valid = valid.sum(dim=1)[clips]
    if bool((n_valid < 2).any()):
        raise ValueError("negatives='clip' needs another valid frame in the clip of each positive")
    order = torch.argsort((~valid).to(torch.uint8), dim=1, stable=True)
    rank = valid.cumsum(dim=1)[clips, times] - 1
    draw = torch.randint(
        0, 2**62, (len(clips), n_negatives), generator=generator, device=valid.device
    )
    draw = draw % (n_valid - 1)[:, None]
    draw = draw + (draw >= rank[:, None]).long()
    return clips[:, None] * n_frames + order[clips[:, None], draw]


def _old_step_logits(z, prediction, valid, k, negatives, n_negatives, generator):
    """A frozen copy of ``_step_logits`` (with ``_clip_step_logits``) before vectorisation."""
    batch, n_frames, dim = z.shape
    span = n_frames - k
    rows = valid[:, k:]
    target_clip = torch.arange(batch)[:, None].expand(batch, span)
    target_time = torch.arange(k, n_frames)[None].expand(batch, span)
    if negatives == "clip":
        if n_negatives is None:
            logits = torch.einsum("btd,bsd->bts", prediction, z)
            logits = logits.masked_fill(~valid[:, None], float("-inf"))
            return logits[rows], target_time[rows]
        flat = z.reshape(-1, z.shape[2])
        clips, times = target_clip[rows], target_time[rows]
        index = _old_sample_clip_negatives(valid, clips, times, n_negatives, generator)
        scores = torch.einsum("nd,nmd->nm", prediction[rows], flat[index])
        own = (prediction[rows] * z[clips, times]).sum(dim=1, keepdim=True)
        return torch.cat([own, scores], dim=1), torch.zeros(len(clips), dtype=torch.long)
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
        shift = torch.randint(1, batch, (n_rows, n_negatives), generator=generator)
        index = ((target_clip[rows][:, None] + shift) % batch) * n_frames
        index = index + target_time[rows][:, None]
    else:
        draw = torch.randint(0, batch * n_frames - 1, (n_rows, n_negatives), generator=generator)
        index = draw + (draw >= positive[rows][:, None]).long()
    scores = torch.einsum("nd,nmd->nm", prediction[rows], flat[index])
    scores = scores.masked_fill(~valid.reshape(-1)[index], float("-inf"))
    own = (prediction[rows] * flat[positive[rows]]).sum(dim=1, keepdim=True)
    return torch.cat([own, scores], dim=1), torch.zeros(n_rows, dtype=torch.long)


def _old_cpc_infonce(z, predictions, valid, negatives, n_negatives, step_weights, generator):
    """A frozen copy of the loop over steps of ``cpc_infonce`` before vectorisation."""
    n_predict, _, n_frames, _ = predictions.shape
    losses, weights = [], []
    accuracy = torch.full((n_predict,), float("nan"))
    for k in range(1, min(n_predict, n_frames - 1) + 1):
        prediction = predictions[k - 1, :, : n_frames - k]
        logits, targets = _old_step_logits(
            z, prediction, valid, k, negatives, n_negatives, generator
        )
        if targets.numel() == 0:
            continue
        losses.append(F.cross_entropy(logits, targets))
        weights.append(float(step_weights[k - 1]))
        accuracy[k - 1] = (logits.argmax(dim=1) == targets).float().mean().item()
    if not losses:
        return predictions.sum() * 0.0, accuracy
    total = sum(w * loss for w, loss in zip(weights, losses, strict=True))
    return total / sum(weights), accuracy


def _sequences(batch=5, n_frames=9, dim=6, n_predict=4, lengths=(9, 9, 5, 2, 1), seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, n_frames, dim, generator=g)
    predictions = torch.randn(n_predict, batch, n_frames, dim, generator=g)
    valid = torch.arange(n_frames)[None] < torch.tensor(lengths)[:, None]
    return z, predictions.requires_grad_(), valid


CASES = [(n, m) for n in ("batch", "batch+time", "clip") for m in (None, 3)]


@pytest.mark.parametrize(("negatives", "n_negatives"), CASES)
@pytest.mark.parametrize("scheme", ["uniform", "linear"])
def test_cpc_infonce_equals_the_loop_over_steps(negatives, n_negatives, scheme):
    # clips of 9, 5, 2 and 1 valid frames: steps without a future for the short ones;
    # 12 steps on 9 frames: steps 9..12 without any row
    for n_predict, lengths in ((4, (9, 9, 5, 2, 1)), (12, (9, 9, 5, 2, 1)), (4, (3, 2, 2, 1, 3))):
        z, predictions, valid = _sequences(n_predict=n_predict, lengths=lengths)
        weights = cpc_step_weights(n_predict, scheme)
        loss, accuracy = cpc_infonce(
            z,
            predictions,
            valid,
            negatives=negatives,
            n_negatives=n_negatives,
            step_weights=weights,
            generator=torch.Generator().manual_seed(3),
        )
        old_generator = torch.Generator().manual_seed(3)
        old, old_accuracy = _old_cpc_infonce(
            z, predictions, valid, negatives, n_negatives, weights, old_generator
        )
        torch.testing.assert_close(loss, old, rtol=1e-6, atol=0)
        torch.testing.assert_close(accuracy, old_accuracy, equal_nan=True, rtol=0, atol=0)
        (grad,) = torch.autograd.grad(loss, predictions)
        (old_grad,) = torch.autograd.grad(old, predictions)
        torch.testing.assert_close(grad, old_grad, rtol=1e-5, atol=1e-7)


def test_cpc_sampled_negatives_are_the_draws_of_the_loop_and_the_generator_ends_alike():
    # no padding: the block drawn is exactly what the loop drew, step after step
    z, predictions, _ = _sequences(lengths=(9,) * 5)
    valid = torch.ones(5, 9, dtype=torch.bool)
    for negatives in ("batch", "batch+time", "clip"):
        new_g, old_g = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
        for _ in range(2):  # the second call starts where the first left the generator
            loss, _ = cpc_infonce(
                z, predictions, valid, negatives=negatives, n_negatives=4, generator=new_g
            )
            old, _ = _old_cpc_infonce(
                z, predictions, valid, negatives, 4, cpc_step_weights(4), old_g
            )
            torch.testing.assert_close(loss, old, rtol=1e-6, atol=0)
        assert torch.equal(new_g.get_state(), old_g.get_state())


def test_cpc_infonce_without_any_prediction_is_an_attached_zero():
    z, predictions, _ = _sequences(lengths=(1,) * 5)
    valid = torch.arange(9)[None] < torch.ones(5, 1)
    loss, accuracy = cpc_infonce(z, predictions, valid, n_negatives=2)
    assert loss.item() == 0.0 and accuracy.isnan().all()
    (grad,) = torch.autograd.grad(loss, predictions)
    assert torch.equal(grad, torch.zeros_like(grad))


def test_cpc_metrics_are_device_tensors_with_the_old_values():
    z, predictions, valid = _sequences(n_predict=3)
    criterion = CPCCriterion(3, negatives="clip", n_negatives=2)
    output = criterion(_cpc_output(z, predictions, valid))
    metrics = criterion.metrics(None)
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in metrics.values())
    accuracy = criterion._last_accuracy
    assert metrics["pretext_acc"].item() == accuracy[~accuracy.isnan()].mean().item()
    assert [metrics[f"step{k}_acc"].item() for k in (1, 2, 3)] == accuracy.tolist()
    assert output.shape == ()


def _cpc_output(z, predictions, valid):
    from skaudio.losses import CPCOutput

    return CPCOutput(z, predictions, valid)


def test_the_sampler_of_clip_negatives_is_unchanged():
    valid = torch.arange(7)[None] < torch.tensor([7, 4, 2])[:, None]
    clips, times = torch.tensor([0, 0, 1, 2, 1]), torch.tensor([0, 6, 3, 1, 0])
    new = _sample_clip_negatives(valid, clips, times, 50, torch.Generator().manual_seed(2))
    old = _old_sample_clip_negatives(valid, clips, times, 50, torch.Generator().manual_seed(2))
    assert torch.equal(new, old)


# -- NT-Xent, the supervised term, COLA's metrics --------------------------------------------


def test_nt_xent_targets_are_made_on_the_device_as_before():
    _, targets = _nt_xent._nt_xent_logits(torch.randn(5, 3), torch.randn(5, 3), 0.5)
    assert torch.equal(targets, torch.cat([torch.arange(5, 10), torch.arange(5)]))


def _old_add_supervised(loss, class_logits, target, weight):
    labels = torch.cat([target, target]).long()
    labelled = labels >= 0
    if labelled.any():
        loss = loss + weight * F.cross_entropy(class_logits[labelled], labels[labelled])
    return loss


@pytest.mark.parametrize("target", [[0, -1, 2, -1, 1, 1, -1, 0, 2, -1], [-1] * 10, [1] * 10])
def test_the_masked_supervised_term_has_the_old_value(target):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(20, 3, generator=g).requires_grad_()
    loss = torch.tensor(1.5)
    target = torch.tensor(target)
    new = _supervised._add_supervised(loss, logits, target, 0.7)
    old = _old_add_supervised(loss, logits, target, 0.7)
    torch.testing.assert_close(new, old, rtol=1e-7, atol=0)
    (grad,) = torch.autograd.grad(new, logits)
    if old.requires_grad:
        torch.testing.assert_close(grad, torch.autograd.grad(old, logits)[0])
    else:  # nothing labelled: a zero term, zero (finite) gradients
        assert new.item() == 1.5 and torch.equal(grad, torch.zeros_like(grad))


def test_cola_metrics_reuse_the_losses_of_forward():
    g = torch.Generator().manual_seed(0)
    output = _cola.COLAOutput(
        torch.randn(4, 4, generator=g),
        frame_logits=torch.randn(8, 5, 5, generator=g),
        pitch_shifted=torch.randn(4, 5, generator=g),
        pitch_original=torch.randn(4, 5, generator=g),
        semitones=torch.randn(4, generator=g),
    )
    criterion = COLACriterion(frame_weight=0.5, pitch_weight=0.5)
    reference = COLACriterion(frame_weight=0.5, pitch_weight=0.5).metrics(output)  # no forward
    frame, pitch = _cola.frame_contrastive_loss, _cola.pitch_shift_loss
    with (
        mock.patch.object(_cola, "frame_contrastive_loss", wraps=frame) as frames,
        mock.patch.object(_cola, "pitch_shift_loss", wraps=pitch) as pitches,
    ):
        criterion(output)
        metrics = criterion.metrics(output)
    assert frames.call_count == 1 and pitches.call_count == 1
    assert list(metrics) == ["pretext_acc", "frame_loss", "frame_acc", "pitch_loss"]
    assert {k: v.item() for k, v in metrics.items()} == {k: v.item() for k, v in reference.items()}
    assert not any(v.requires_grad for v in metrics.values())


# -- BYOL's momentum on the device -----------------------------------------------------------


def _byol(total_steps=10, momentum=0.9):
    torch.manual_seed(0)
    encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    model = BYOLModel(
        LogMelSpectrogram(SR, n_mels=16), encoder, [], projection_dim=8, projection_layers=2,
        momentum=momentum, total_steps=total_steps,
    )  # fmt: skip
    with torch.no_grad():  # online and target apart
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter))
    return model


def test_byol_momentum_on_the_device_is_the_float64_schedule():
    model = _byol(total_steps=37, momentum=0.9)
    for step in range(-1, 41):
        model.target_step.fill_(step)
        progress = min(max(step, 0), 37) / 37
        expected = 1.0 - (1.0 - 0.9) * (math.cos(math.pi * progress) + 1.0) / 2.0
        tau = model._target_momentum()
        assert tau.dtype == torch.float64 and tau.item() == pytest.approx(expected, rel=1e-15)
        assert tau.item() == model.target_momentum


def test_byol_target_update_equals_the_one_with_a_host_momentum():
    model = _byol()
    model.target_step.fill_(3)
    online, target = model._online_and_target()
    expected = [t.clone() for t in target]
    tau = model.target_momentum  # the old update: tau read on the host
    torch._foreach_mul_(expected, tau)
    torch._foreach_add_(expected, online, alpha=1.0 - tau)
    with HostReads() as counter:
        model.update_target()
    assert counter.reads == []
    assert int(model.target_step) == 4
    for new, old in zip(model._online_and_target()[1], expected, strict=True):
        torch.testing.assert_close(new, old, rtol=2.5e-7, atol=1e-7)


# -- the gathers of a run with equal shards exchange no shapes --------------------------------


def test_gather_with_equal_shards_skips_the_shape_exchange(monkeypatch):
    calls = []

    def all_gather(pieces, tensor):
        calls.append(tuple(tensor.shape))
        for piece in pieces:
            piece.copy_(tensor)

    monkeypatch.setattr(_collectives, "world_size", lambda: 2)
    monkeypatch.setattr(_collectives.dist, "all_gather", all_gather)
    x = torch.arange(6.0).reshape(3, 2)
    with HostReads() as counter, _collectives._equal_shards():
        gathered = _collectives._gather(x, with_grad=False)
    assert calls == [(3, 2)] and counter.reads == []  # the rows only
    assert torch.equal(gathered, torch.cat([x, x]))
    calls.clear()
    with HostReads() as counter:
        gathered = _collectives._gather(x, with_grad=False)
    assert torch.equal(gathered, torch.cat([x, x]))
    assert calls == [(2,), (3, 2)]  # the shapes first, read back to the host
    assert [read for read, _ in counter.reads] == ["tolist", "tolist"]
