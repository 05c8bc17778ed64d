"""Multi-process pretraining computes what one process computes on the global batch.

The distributed checks share one spawn of two CPU processes (gloo backend): the
module-scoped fixture ``runs`` starts them once, each runs every scenario on its shard
of a fixed global batch and saves its results, and the tests compare those with the
same computation done here, in one process, on the whole global batch.
"""

from __future__ import annotations

import copy
import datetime
import os
import pickle
import socket
import sys
import time
from pathlib import Path
from unittest import mock

import joblib
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import skaudio.distributed as distributed
from skaudio import COLAEmbedder
from skaudio.distributed import (
    GlobalBatchNorm,
    GlobalBatchNorm1d,
    GlobalBatchNorm2d,
    convert_sync_batchnorm,
    distributed_net_class,
    gather,
    gather_with_grad,
    is_distributed,
    rank,
    to_plain_net,
    world_size,
)
from skaudio.encoders import CNNEncoder
from skaudio.features import LogMelSpectrogram
from skaudio.heads import BilinearSimilarity
from skaudio.losses import (
    COLAOutput,
    ContrastiveCrossEntropy,
    NTXentCriterion,
    contrastive_cross_entropy,
)
from skaudio.models import ContrastiveModel
from skaudio.training import SelfSupervisedNet, training_callbacks

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="needs torch.distributed with the gloo backend",
)

WORLD = 2  # processes
B = 4  # clips per process and step
SR, N_SAMPLES, N_MELS = 8000, 2000, 16
TOL = {"rtol": 1e-5, "atol": 1e-5}  # float32 noise of other reduction orders: ~1e-6
#: labels of the global SimCLR batch (-1: unlabelled): 3 labelled clips on rank 0 and 1
#: on rank 1, so a per-process mean of the supervised term would differ from the global one
TARGETS = torch.tensor([0, 2, -1, 1, -1, -1, 2, -1])
BN_SHARDS = (3, 5)  # rows per process in the batch-norm and gather checks: uneven on purpose
N_FIT = 20  # clips of the skorch fit: 2.5 global batches, so accelerate completes the last


# -- what both sides compute ---------------------------------------------------------------
def _views(n: int = WORLD * B, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed global batch of anchor and positive waveforms."""
    generator = torch.Generator().manual_seed(seed)
    anchor = torch.randn(n, N_SAMPLES, generator=generator)
    return anchor, anchor + 0.5 * torch.randn(n, N_SAMPLES, generator=generator)


def _cola(frame_weight: float = 0.0, pitch_weight: float = 0.0):
    """COLA as ``COLAEmbedder(distributed=True)`` builds it: its builders, batch norms converted.

    Seeded as ``fit`` seeds its building block, so every process and the single-process
    reference build the same weights and the same pitch-shift generator.
    """
    embedder = COLAEmbedder(
        sample_rate=SR,
        n_mels=N_MELS,
        embedding_dim=16,
        projection_dim=8,
        similarity="bilinear",
        temperature=0.2,
        frame_weight=frame_weight,
        pitch_weight=pitch_weight,
        pitch_shift_range=(0.8, 1.2),
        augmentations="none",  # views drawn per process would differ from the single run's
        readout_bands=1,
        distributed=True,
    )
    torch.manual_seed(0)
    model = embedder._build_model()
    return convert_sync_batchnorm(model), embedder._build_criterion()


def _simclr():
    """SimCLR with a classifier for the semi-supervised term; no augmentations.

    Augmentations draw from the model's generator, row by row in a batch: with them the
    rows of rank 1 would get the draws of rows 0..B-1 of the single process, not of rows
    B..2B-1. Turned off, both views are plain log-mels and the setups see the same data.
    """
    torch.manual_seed(0)
    model = ContrastiveModel(
        LogMelSpectrogram(sample_rate=SR, n_mels=N_MELS),
        CNNEncoder(n_mels=N_MELS, embedding_dim=16, channels=(8,)),
        augmentations=[],
        projection_dim=8,
        projection_layers=2,
        n_classes=3,
    )
    return convert_sync_batchnorm(model), NTXentCriterion(temperature=0.5, supervised_weight=1.0)


def _train_step(model, criterion, anchor, positive, target=None) -> dict:
    """One forward (training mode: batch statistics) and backward; what to compare."""
    module = model.module if isinstance(model, DistributedDataParallel) else model
    module.train()
    module.zero_grad()
    output = model(anchor, positive)
    loss = criterion(output, target)
    loss.backward()
    if isinstance(output, COLAOutput):
        clip_loss = contrastive_cross_entropy(criterion.clip_logits(output))
    else:  # every term of the SimCLR loss is global
        clip_loss = loss
    return {
        "loss": loss.detach(),
        "clip_loss": clip_loss.detach(),
        "grads": {name: p.grad.clone() for name, p in module.named_parameters()},
        "bn_stats": {
            name: buffer.clone()
            for name, buffer in module.named_buffers()
            if name.rsplit(".", 1)[-1] in {"running_mean", "running_var", "num_batches_tracked"}
        },
    }


def _bn_inputs(step: int):
    generator = torch.Generator().manual_seed(10 + step)
    n = sum(BN_SHARDS)
    x2d = 2 * torch.randn(n, 3, 4, 5, generator=generator) + 1
    x1d = torch.randn(n, 3, 6, generator=generator) - 0.5
    return {
        "2d": (x2d, torch.randn(x2d.shape, generator=generator)),
        "1d": (x1d, torch.randn(x1d.shape, generator=generator)),
    }


def _bn_layers(global_: bool) -> dict[str, nn.Module]:
    layers = {
        "2d": (GlobalBatchNorm2d if global_ else nn.BatchNorm2d)(3, momentum=0.3),
        "1d": (GlobalBatchNorm1d if global_ else nn.BatchNorm1d)(3, momentum=None),
    }
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for layer in layers.values():
            layer.weight.copy_(0.5 + torch.rand(3, generator=generator))
            layer.bias.copy_(torch.randn(3, generator=generator))
    return layers


def _bn_run(layers: dict[str, nn.Module], rows: slice) -> dict:
    """Two training steps on ``rows``: outputs and input gradients of a weighted sum."""
    result = {}
    for step in range(2):
        for name, (x, weights) in _bn_inputs(step).items():
            x = x[rows].clone().requires_grad_(True)
            output = layers[name](x)
            (output * weights[rows]).sum().backward()
            result[f"{name}_output_{step}"] = output.detach()
            result[f"{name}_input_grad_{step}"] = x.grad
    for name, layer in layers.items():
        result[f"{name}_state"] = {k: v.clone() for k, v in layer.state_dict().items()}
        result[f"{name}_weight_grad"] = layer.weight.grad.clone()
    return result


def _shard(r: int, sizes=(B,) * WORLD) -> slice:
    start = sum(sizes[:r])
    return slice(start, start + sizes[r])


def _net_kwargs(criterion) -> dict:
    return {
        "criterion": criterion,
        "optimizer": torch.optim.SGD,
        # small steps: the default CNN (the estimator's builder) amplifies float32 rounding
        # of other reduction orders over 6 steps of lr 0.1 to 1e-4; at 0.01 it stays < 1e-5
        "lr": 0.01,
        "max_epochs": 2,
        "train_split": None,
        "iterator_train__shuffle": False,
        "callbacks": training_callbacks(criterion.metric_names, verbose=0),
        "verbose": 0,
    }


# -- the workers ---------------------------------------------------------------------------
def _worker(r: int, port: int, out: str) -> None:
    accelerate_imported = "accelerate" in sys.modules  # skaudio is imported, accelerate not
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(r),
        WORLD_SIZE=str(WORLD),
        LOCAL_RANK=str(r),
        LOCAL_WORLD_SIZE=str(WORLD),
        OMP_NUM_THREADS="1",
    )
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", rank=r, world_size=WORLD, timeout=datetime.timedelta(seconds=60)
    )
    try:
        results = {
            "accelerate_imported": accelerate_imported,
            "world": (world_size(), rank(), is_distributed()),
        }
        results["gather"] = _worker_gather(r)
        results["bn"] = _bn_run(_bn_layers(global_=True), _shard(r, BN_SHARDS))

        anchor, positive = _views()
        rows = _shard(r)
        model, criterion = _cola()
        results["cola"] = _train_step(
            DistributedDataParallel(model), criterion, anchor[rows], positive[rows]
        )
        model, criterion = _cola(frame_weight=1.0, pitch_weight=1.0)
        # The pitch shifts are drawn row by row from the model's generator: the single
        # process draws 2B of them, rank r must use draws r*B..(r+1)*B-1, so skip r*B.
        torch.rand(r * B, generator=model.random_generator(torch.device("cpu")))
        results["multi"] = _train_step(
            DistributedDataParallel(model), criterion, anchor[rows], positive[rows]
        )
        model, criterion = _simclr()
        results["simclr"] = _train_step(
            DistributedDataParallel(model), criterion, anchor[rows], positive[rows], TARGETS[rows]
        )
        model, criterion = _cola()
        criterion.gather_distributed = False  # this process's negatives only
        output = model.train()(anchor[rows], positive[rows])
        results["local_loss"] = criterion(output).detach()
        results["net"] = _worker_fit(r, Path(out))
        results["estimator"] = _worker_estimator(r, Path(out))
        torch.save(results, Path(out) / f"rank{r}.pt")
    finally:
        dist.destroy_process_group()


def _worker_gather(r: int) -> dict:
    generator = torch.Generator().manual_seed(4)
    n = sum(BN_SHARDS)
    x, weights = torch.randn(n, 2, generator=generator), torch.randn(n, 2, generator=generator)
    rows = _shard(r, BN_SHARDS)
    local = x[rows].clone().requires_grad_(True)
    gathered = gather_with_grad(local)
    (gathered * weights).sum().backward()  # every rank computes the same global loss
    labels = gather(torch.arange(n)[rows])
    try:
        gather_with_grad(torch.zeros(2, 1 + r))
        error = ""
    except ValueError as exc:
        error = str(exc)
    return {"gathered": gathered.detach(), "grad": local.grad, "labels": labels, "error": error}


def _worker_fit(r: int, out: Path) -> dict | None:
    try:
        from accelerate import Accelerator
    except ImportError:
        return None
    anchor, positive = _views(N_FIT, seed=2)
    model, criterion = _cola()
    net = distributed_net_class()(
        model,
        accelerator=Accelerator(cpu=True),
        device=None,
        batch_size=B,
        **_net_kwargs(criterion),
    )
    net.fit({"anchor": anchor, "positive": positive}, None)
    plain = to_plain_net(net)
    result = {
        "state": {k: v.clone() for k, v in net.module_.state_dict().items()},
        "train_loss": net.history[:, "train_loss"],
        "train_pretext_acc": net.history[:, "train_pretext_acc"],
        "steps": [len(epoch["batches"]) for epoch in net.history],
    }
    if r == 0:
        joblib.dump(plain, out / "plain.joblib")
        with torch.no_grad():
            result["embedding"] = plain.module_.eval().embed(_views(3, seed=5)[0])
    return result


def _estimator_and_data():
    from skaudio import COLAEmbedder
    from skaudio.datasets import make_tones

    X, _ = make_tones(n_clips=24, n_classes=4, sample_rate=SR, random_state=0)
    embedder = COLAEmbedder(
        sample_rate=SR, segment_seconds=0.25, n_mels=N_MELS, embedding_dim=16,
        projection_dim=16, batch_size=WORLD * B, max_epochs=2, device="cpu",
        distributed=True, random_state=0,
    )  # fmt: skip
    return embedder, X


def _worker_estimator(r: int, out: Path) -> dict | None:
    try:
        import accelerate  # noqa: F401
    except ImportError:
        return None
    embedder, X = _estimator_and_data()
    embedder.set_params(checkpoint_dir=out / "checkpoints").fit(X)
    if r == 0:
        joblib.dump(embedder, out / "embedder.joblib")
    return {
        "state": {k: v.clone() for k, v in embedder.net_.module_.state_dict().items()},
        "train_loss": embedder.history_[:, "train_loss"],
        "net_class": type(embedder.net_).__name__,
        "embedding": embedder.transform(X[:4]),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Results of the two workers (one spawn for the module), and their output folder."""
    out = tmp_path_factory.mktemp("ddp")
    context = mp.start_processes(
        _worker, args=(_free_port(), str(out)), nprocs=WORLD, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + 240
    try:
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail("the distributed workers did not finish in 240 s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    results = [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    return results, out


def _assert_close_dicts(actual: dict, expected: dict, **tol) -> None:
    assert actual.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], **tol, msg=name)


def _assert_matches_single_process(per_rank: list[dict], single: dict) -> None:
    mean_loss = torch.stack([result["loss"] for result in per_rank]).mean()
    torch.testing.assert_close(mean_loss, single["loss"], **TOL)
    for result in per_rank:
        torch.testing.assert_close(result["clip_loss"], single["clip_loss"], **TOL)
        _assert_close_dicts(result["grads"], single["grads"], **TOL)  # DDP-averaged
        _assert_close_dicts(result["bn_stats"], single["bn_stats"], **TOL)
    assert any(g.abs().max() > 1e-3 for g in single["grads"].values())  # not trivially 0
    assert int(single["bn_stats"]["encoder.blocks.0.1.num_batches_tracked"]) == 1


# -- single process ------------------------------------------------------------------------
def test_single_process_is_not_distributed():
    x = torch.randn(3, 2, requires_grad=True)
    assert (world_size(), rank(), is_distributed()) == (1, 0, False)
    assert gather_with_grad(x) is x
    assert not gather(x).requires_grad and torch.equal(gather(x), x)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_global_batchnorm_is_batchnorm_in_one_process(momentum):
    torch.manual_seed(0)
    plain = nn.BatchNorm2d(3, momentum=momentum)
    global_ = convert_sync_batchnorm(copy.deepcopy(plain))
    assert type(global_) is GlobalBatchNorm2d and isinstance(global_, nn.BatchNorm2d)
    for step in range(3):
        x = torch.randn(4, 3, 5, 6) + step
        x_plain, x_global = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        y_plain, y_global = plain(x_plain), global_(x_global)
        (y_plain * x).sum().backward()
        (y_global * x).sum().backward()
        assert torch.equal(y_global, y_plain) and torch.equal(x_global.grad, x_plain.grad)
    for name, value in plain.state_dict().items():
        assert torch.equal(global_.state_dict()[name], value), name
    restored = pickle.loads(pickle.dumps(global_.eval()))
    assert torch.equal(restored(x), plain.eval()(x))


def test_convert_sync_batchnorm_keeps_state():
    torch.manual_seed(0)
    model = nn.ModuleDict(
        {
            "cnn": CNNEncoder(n_mels=8, embedding_dim=8, channels=(4,)),
            "head": nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, momentum=None, affine=False)),
            "stateless": nn.BatchNorm2d(2, track_running_stats=False, eps=1e-3),
        }
    )
    model["cnn"](torch.randn(4, 1, 8, 10))  # running statistics away from their start
    model["head"](torch.randn(5, 4))
    model["head"].eval()
    original = copy.deepcopy(model)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    converted = convert_sync_batchnorm(model)
    assert converted is model
    state = converted.state_dict()
    assert list(state) == list(expected)
    assert all(torch.equal(state[k], v) for k, v in expected.items())
    pairs = [
        (old, new)
        for old, new in zip(original.modules(), converted.modules(), strict=True)
        if isinstance(old, nn.modules.batchnorm._BatchNorm)
    ]
    assert len(pairs) == 4 and all(isinstance(new, GlobalBatchNorm) for _, new in pairs)
    for old, new in pairs:
        assert isinstance(new, type(old))
        for attribute in ("num_features", "eps", "momentum", "affine", "track_running_stats"):
            assert getattr(new, attribute) == getattr(old, attribute), attribute
        assert new.training == old.training
    x = torch.randn(3, 1, 8, 10)
    assert torch.equal(converted["cnn"](x), original["cnn"](x))
    assert convert_sync_batchnorm(converted) is converted  # already converted
    assert type(convert_sync_batchnorm(nn.BatchNorm1d(2))) is GlobalBatchNorm1d


def test_distributed_net_needs_accelerate(monkeypatch):
    monkeypatch.setitem(sys.modules, "accelerate", None)  # as if not installed
    with pytest.raises(ImportError, match=r'pip install "skaudio\[distributed\]"'):
        distributed_net_class()
    with pytest.raises(ImportError, match="accelerate"):
        distributed.DistributedSelfSupervisedNet(
            nn.Linear(1, 1), criterion=nn.MSELoss, accelerator=None
        )
    with pytest.raises(AttributeError):
        distributed.NoSuchThing


def test_to_plain_net_needs_a_trained_net():
    net = SelfSupervisedNet(BilinearSimilarity, ContrastiveCrossEntropy, module__dim=4)
    with pytest.raises(ValueError, match="initialised"):
        to_plain_net(net)


# -- two processes -------------------------------------------------------------------------
@pytest.mark.slow
def test_workers_are_distributed_and_skaudio_does_not_import_accelerate(runs):
    results, _ = runs
    assert [result["world"] for result in results] == [(WORLD, r, True) for r in range(WORLD)]
    assert not any(result["accelerate_imported"] for result in results)


@pytest.mark.slow
def test_gather_with_grad_across_processes(runs):
    results, _ = runs
    generator = torch.Generator().manual_seed(4)
    n = sum(BN_SHARDS)
    x, weights = torch.randn(n, 2, generator=generator), torch.randn(n, 2, generator=generator)
    for r, result in enumerate(results):
        gathered = result["gather"]
        assert torch.equal(gathered["gathered"], x)  # uneven shards, in rank order
        assert torch.equal(gathered["labels"], torch.arange(n))
        # every process computes the same loss: each shard gets WORLD x its true gradient
        torch.testing.assert_close(gathered["grad"], WORLD * weights[_shard(r, BN_SHARDS)])
        assert "same shape apart from the batch dimension" in gathered["error"]


@pytest.mark.slow
def test_global_batchnorm_across_processes(runs):
    results, _ = runs
    single = _bn_run(_bn_layers(global_=False), slice(None))
    for key, expected in single.items():
        if key.endswith("_state"):
            for r in range(WORLD):
                _assert_close_dicts(results[r]["bn"][key], expected, **TOL)
        elif key.endswith("_weight_grad"):  # local losses: the gradients add up
            actual = sum(result["bn"][key] for result in results)
            torch.testing.assert_close(actual, expected, **TOL, msg=key)
        else:  # outputs and input gradients, shard by shard
            actual = torch.cat([result["bn"][key] for result in results])
            torch.testing.assert_close(actual, expected, **TOL, msg=key)


@pytest.mark.slow
def test_cola_distributed_matches_single_process(runs):
    results, _ = runs
    model, criterion = _cola()
    single = _train_step(model, criterion, *_views())
    _assert_matches_single_process([result["cola"] for result in results], single)
    # the only loss term is the global clip loss: every process has the same loss
    for result in results:
        torch.testing.assert_close(result["cola"]["loss"], single["loss"], **TOL)


@pytest.mark.slow
def test_multi_strategy_cola_distributed_matches_single_process(runs):
    results, _ = runs
    model, criterion = _cola(frame_weight=1.0, pitch_weight=1.0)
    single = _train_step(model, criterion, *_views())
    _assert_matches_single_process([result["multi"] for result in results], single)
    # the frame and pitch terms are local: the per-process losses differ
    assert not torch.isclose(results[0]["multi"]["loss"], results[1]["multi"]["loss"])


@pytest.mark.slow
def test_simclr_distributed_matches_single_process(runs):
    results, _ = runs
    model, criterion = _simclr()
    single = _train_step(model, criterion, *_views(), TARGETS)
    _assert_matches_single_process([result["simclr"] for result in results], single)
    for result in results:
        torch.testing.assert_close(result["simclr"]["loss"], single["loss"], **TOL)


@pytest.mark.slow
def test_without_the_gather_the_loss_differs(runs):
    results, _ = runs
    model, criterion = _cola()
    with torch.no_grad():
        single = criterion(model.train()(*_views()))
    local = torch.stack([result["local_loss"] for result in results]).mean()
    assert abs(float(local) - float(single)) > 1e-2  # fewer negatives: another loss


@pytest.mark.slow
def test_distributed_net_fit_matches_single_process(runs):
    pytest.importorskip("accelerate")
    results, _ = runs
    anchor, positive = _views(N_FIT, seed=2)
    # accelerate's even batches: the last global batch is completed with the first rows
    rows = torch.cat([torch.arange(N_FIT), torch.arange(WORLD * B - N_FIT % (WORLD * B))])
    model, criterion = _cola()
    single = SelfSupervisedNet(model, batch_size=WORLD * B, device="cpu", **_net_kwargs(criterion))
    single.fit({"anchor": anchor[rows], "positive": positive[rows]}, None)
    expected_state = single.module_.state_dict()
    for result in (net := [result["net"] for result in results]):
        assert result["steps"] == [3, 3]
        _assert_close_dicts(result["state"], expected_state, **TOL)
        for name in ("train_loss", "train_pretext_acc"):
            torch.testing.assert_close(
                torch.tensor(result[name]), torch.tensor(single.history[:, name]), **TOL
            )
    initial, _ = _cola()
    assert not torch.allclose(net[0]["state"]["head.0.weight"], initial.head[0].weight)


@pytest.mark.slow
def test_to_plain_net_pickles_and_matches(runs):
    pytest.importorskip("accelerate")
    results, out = runs
    plain = joblib.load(out / "plain.joblib")  # saved by rank 0 after the distributed fit
    assert type(plain) is SelfSupervisedNet and not hasattr(plain, "accelerator")
    assert isinstance(plain.optimizer_, torch.optim.SGD) and len(plain.history) == 2
    assert isinstance(plain.module_.encoder.blocks[0][1], GlobalBatchNorm2d)
    with torch.no_grad():
        embedding = plain.module_.eval().embed(_views(3, seed=5)[0])
    torch.testing.assert_close(embedding, results[0]["net"]["embedding"], rtol=0, atol=0)
    _assert_close_dicts(plain.module_.state_dict(), results[0]["net"]["state"], rtol=0, atol=0)


@pytest.mark.slow
def test_estimator_distributed_fit_agrees_across_processes_and_pickles(runs):
    """COLAEmbedder(distributed=True) in two processes: one model, saved by rank 0."""
    pytest.importorskip("accelerate")
    results, out = runs
    ranks = [result["estimator"] for result in results]
    _assert_close_dicts(ranks[1]["state"], ranks[0]["state"], rtol=0, atol=0)
    assert ranks[0]["train_loss"] == ranks[1]["train_loss"] and len(ranks[0]["train_loss"]) == 2
    assert ranks[0]["net_class"] == "SelfSupervisedNet"  # no accelerator left in the model
    embedder = joblib.load(out / "embedder.joblib")  # here: one process, no process group
    _, X = _estimator_and_data()
    torch.testing.assert_close(
        torch.from_numpy(embedder.transform(X[:4])), torch.from_numpy(ranks[0]["embedding"])
    )
    assert isinstance(embedder.net_.module_.encoder.blocks[0][1], GlobalBatchNorm2d)
    checkpoint = torch.load(out / "checkpoints" / "model.pt", weights_only=True)
    assert checkpoint["epochs"] == 2  # written by rank 0 only, with the plain model's keys
    assert set(checkpoint["module"]) == set(ranks[0]["state"])


def test_estimator_global_batch_must_split_between_processes():
    pytest.importorskip("accelerate")
    embedder, X = _estimator_and_data()
    embedder.set_params(batch_size=3)
    with mock.patch("accelerate.Accelerator.num_processes", 2):
        with pytest.raises(ValueError, match="batch_size=3 is the global batch.*2 processes"):
            embedder.fit(X)
