"""Run options for GPUs and speed: ``compile``, ``deterministic``, SyncBatchNorm on CUDA,
the device of a ``DeviceGenerator``, and the allocator tuning of ``fit``.

The CUDA branches are checked here by simulation (monkeypatched devices and backends);
``torch.compile`` runs with a graph-counting backend that executes the captured graphs
as they are (Dynamo's tracing and guards are real, no C++ compiler is needed: inductor
takes minutes per model on this CPU).
"""

from __future__ import annotations

import io
import os

import joblib
import numpy as np
import pytest
import torch
from torch import nn

import skaudio._allocator as allocator
import skaudio._torch_utils as torch_utils
import skaudio.estimators._trainer as base
from skaudio import COLAEmbedder, ContrastiveAudioEmbedder, CPCEmbedder, TokenTransformerEmbedder
from skaudio._compat import InvalidParameterError
from skaudio._torch_utils import (
    DeviceGenerator,
    _canonical_device,
    compile_in_place,
    cuda_training_flags,
    deterministic_algorithms,
    is_compiled,
)
from skaudio.clips import as_clips
from skaudio.datasets import make_tones
from skaudio.encoders import CNNEncoder
from skaudio.layers import (
    GlobalBatchNorm,
    GlobalBatchNorm1d,
    _uses_torch_sync_batchnorm,
    convert_sync_batchnorm,
)

SR = 8000
X, _ = make_tones(n_clips=16, n_classes=2, sample_rate=SR, random_state=0)
X = [x[: SR // 2] for x in X]
XS = X[:8]
COLA = dict(
    sample_rate=SR, segment_seconds=0.25, n_mels=16, embedding_dim=16, projection_dim=16,
    batch_size=8, device="cpu", random_state=0, max_epochs=1,
)  # fmt: skip
ESTIMATORS = [COLAEmbedder, ContrastiveAudioEmbedder, CPCEmbedder, TokenTransformerEmbedder]


@pytest.fixture
def graphs(monkeypatch):
    """Compile with a backend that runs each captured graph as is, and count the graphs."""
    captured = []

    def backend(graph_module, example_inputs):
        captured.append(len(graph_module.graph.nodes))
        return graph_module.forward

    monkeypatch.setattr(torch_utils, "_COMPILE_OPTIONS", {"backend": backend})
    return captured


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_compile_and_deterministic_are_off_by_default_run_only_and_validated(estimator):
    params = estimator().get_params()
    assert params["compile"] is False and params["deterministic"] is False
    assert {"compile", "deterministic"} <= estimator._RUN_ONLY_PARAMS
    for name in ("compile", "deterministic"):
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
            estimator(**{name: "yes"}).fit(X)


def test_the_checkpoint_manifest_leaves_compile_and_deterministic_out():
    clips = as_clips(X, sample_rate=SR)
    plain = COLAEmbedder(**COLA)._checkpoint_manifest("model", clips)
    other = COLAEmbedder(**COLA, compile=True, deterministic=True)._checkpoint_manifest(
        "model", clips
    )
    assert plain == other and "compile" not in plain and "lr" in plain


# -- compile ----------------------------------------------------------------------------------
def test_compile_in_place_keeps_keys_and_outputs_and_pickles_plain(graphs):
    torch.manual_seed(0)
    encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    reference = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    reference.load_state_dict(encoder.state_dict())
    keys = list(encoder.state_dict())
    assert compile_in_place(encoder) is encoder and is_compiled(encoder)
    assert list(encoder.state_dict()) == keys and not graphs  # lazy: nothing traced yet
    x = torch.randn(3, 1, 16, 12)
    out, expected = encoder(x), reference(x)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(encoder.forward_frames(x), reference.forward_frames(x))
    out.square().sum().backward()
    expected.square().sum().backward()
    for (name, p), q in zip(encoder.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, msg=name)
    assert graphs  # the conv stack ran as a captured graph
    copy = joblib.load(_dumped(encoder))
    assert not is_compiled(copy) and list(copy.state_dict()) == keys
    compile_in_place(encoder, enabled=False)
    assert not is_compiled(encoder) and "_compiled_call_impl" not in vars(encoder.blocks)


def _dumped(obj) -> io.BytesIO:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    buffer.seek(0)
    return buffer


def test_a_compiled_fit_trains_and_embeds_as_the_plain_one_and_pickles(graphs):
    X = XS  # one batch per epoch: compiling, not training, is under test
    plain = COLAEmbedder(**COLA).fit(X)
    assert not graphs and not is_compiled(plain.net_.module_.encoder)
    compiled = COLAEmbedder(**COLA, compile=True).fit(X)
    assert graphs and is_compiled(compiled.net_.module_.encoder)
    traced_in_fit = len(graphs)
    np.testing.assert_allclose(
        compiled.history_[:, "train_loss"], plain.history_[:, "train_loss"], rtol=1e-5
    )
    assert list(compiled.net_.module_.state_dict()) == list(plain.net_.module_.state_dict())
    expected = plain.transform(X)
    np.testing.assert_allclose(compiled.transform(X), expected, rtol=1e-5, atol=1e-6)
    assert len(graphs) > traced_in_fit  # embedding (eval, inference mode) ran compiled too
    loaded = joblib.load(_dumped(compiled))
    assert not is_compiled(loaded.net_.module_.encoder)  # pickles hold no compiled code
    assert is_compiled(loaded._fitted_model().encoder)  # compiled again for its first use
    np.testing.assert_allclose(
        loaded.set_params(compile=False).transform(X), expected, rtol=1e-5, atol=1e-6
    )
    assert not is_compiled(loaded.net_.module_.encoder)


# -- deterministic ------------------------------------------------------------------------------
def _determinism():
    return (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
    )


def test_deterministic_algorithms_are_set_in_the_block_and_restored(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = _determinism()
    with deterministic_algorithms(False, "cuda"):
        assert _determinism() == before and "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    with pytest.raises(RuntimeError, match="boom"), deterministic_algorithms(True, "cuda:0"):
        assert _determinism() == (True, False, True)
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        with cuda_training_flags("cuda"):  # autotuning stays off: it picks by timing
            assert torch.backends.cudnn.allow_tf32 and not torch.backends.cudnn.benchmark
        raise RuntimeError("boom")
    assert _determinism() == before and "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")  # the user's choice is kept
    with deterministic_algorithms(True, "cuda"):
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    with deterministic_algorithms(True, "cpu"):  # no cuBLAS on the CPU
        monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    torch.use_deterministic_algorithms(True, warn_only=True)  # the caller's own setting
    try:
        with deterministic_algorithms(True, "cpu"):
            assert _determinism()[:2] == (True, False)
        assert _determinism()[:2] == (True, True)
    finally:
        torch.use_deterministic_algorithms(False)


def test_a_deterministic_fit_trains_under_the_flags_and_changes_nothing_on_cpu(monkeypatch):
    seen = []
    build = COLAEmbedder._build_model

    def spied(self):
        model = build(self)
        model.frontend.register_forward_hook(
            lambda *_: seen.append((_determinism(), torch.backends.cudnn.benchmark))
        )
        return model

    plain = COLAEmbedder(**COLA).fit(X)
    before = _determinism()
    monkeypatch.setattr(base, "cuda_training_flags", lambda device: cuda_training_flags("cuda"))
    monkeypatch.setattr(COLAEmbedder, "_build_model", spied)
    embedder = COLAEmbedder(**COLA, deterministic=True).fit(X)
    n_fit = len(seen)
    embedder.partial_fit(X)
    assert n_fit and len(seen) > n_fit
    assert set(seen) == {((True, False, True), False)}  # as a CUDA fit would: no autotuning
    assert _determinism() == before
    np.testing.assert_array_equal(
        embedder.history_[:1, "train_loss"], plain.history_[:, "train_loss"]
    )
    np.testing.assert_array_equal(
        embedder.transform(X), plain.partial_fit(X).transform(X)
    )  # exact on the CPU, with or without the flags


@pytest.mark.parametrize("make", [ContrastiveAudioEmbedder, CPCEmbedder, TokenTransformerEmbedder])
def test_every_estimator_fits_deterministically_as_without_the_flags_on_cpu(make):
    small = dict(sample_rate=SR, n_mels=16, batch_size=8, max_epochs=1)
    if make is TokenTransformerEmbedder:
        small.update(n_tokens=8, patch_frames=5, context_tokens=5, autoencoder_width=16)
        small.update(embedding_dim=16, d_model=16, n_heads=2, n_layers=1, feedforward=16)
    elif make is CPCEmbedder:
        small.update(segment_seconds=0.25, encoder_width=16, z_dim=16, c_dim=16, n_predict=2)
    else:  # the clar policy: every waveform augmentation, the phase vocoder included
        small.update(segment_seconds=0.25, embedding_dim=16, projection_dim=16)
        small.update(augmentations="clar")
    common = dict(**small, device="cpu", random_state=0)
    deterministic = make(**common, deterministic=True).fit(X)
    plain = make(**common).fit(X)
    np.testing.assert_array_equal(deterministic.transform(X[:4]), plain.transform(X[:4]))


# -- SyncBatchNorm on CUDA with NCCL --------------------------------------------------------------
@pytest.mark.parametrize(
    ("device", "backend", "expected"),
    [
        ("cuda", "nccl", True),
        ("cuda:1", "NCCL", True),
        (torch.device("cuda", 0), "nccl", True),
        ("cuda:0", "gloo", False),  # gloo cannot run SyncBatchNorm's CUDA collectives
        ("cpu", "gloo", False),
        ("cpu", "nccl", False),
        (None, "nccl", False),
        ("cuda", None, False),  # no process group
    ],
)
def test_torch_sync_batchnorm_only_on_cuda_with_nccl(device, backend, expected):
    assert _uses_torch_sync_batchnorm(device, backend) is expected


def _with_batch_norms():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), CNNEncoder(16, 8, channels=(4,)))


@pytest.mark.parametrize(
    ("backend", "kind"), [("nccl", nn.SyncBatchNorm), ("gloo", GlobalBatchNorm)]
)
def test_convert_sync_batchnorm_picks_by_device_and_backend(monkeypatch, backend, kind):
    import skaudio.layers as layers

    monkeypatch.setattr(layers, "_process_group_backend", lambda: backend)
    model = _with_batch_norms()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    weight = model[1].weight
    converted = convert_sync_batchnorm(model, device="cuda:0")
    norms = [m for m in converted.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert len(norms) == 3 and all(isinstance(m, kind) for m in norms)
    assert converted[1].weight is weight  # shared: an optimizer built before keeps training it
    assert list(converted.state_dict()) == list(state)
    for key, value in converted.state_dict().items():
        torch.testing.assert_close(value, state[key])
    # without a device (or on the CPU) the global batch norm, whatever the backend
    cpu = convert_sync_batchnorm(_with_batch_norms(), device="cpu")
    assert isinstance(cpu[1], GlobalBatchNorm1d)
    assert isinstance(convert_sync_batchnorm(nn.BatchNorm1d(2)), GlobalBatchNorm1d)


def test_a_distributed_net_converts_for_the_accelerators_device(monkeypatch):
    state = pytest.importorskip("accelerate.state")
    state.AcceleratorState._reset_state()
    devices = []
    original = base.convert_sync_batchnorm

    def spy(module, device=None):
        devices.append(device)
        return original(module, device=device)

    monkeypatch.setattr(base, "convert_sync_batchnorm", spy)
    try:
        embedder = COLAEmbedder(**COLA, distributed=True)
        embedder.device_ = "cpu"
        embedder._new_net(embedder._build_model(), embedder._build_criterion(), distributed=True)
    finally:
        state.AcceleratorState._reset_state()
    assert [torch.device(d).type for d in devices] == ["cpu"]


# -- DeviceGenerator ---------------------------------------------------------------------------
def test_a_bare_cuda_device_is_the_current_gpu(monkeypatch):
    assert _canonical_device("cuda") == torch.device("cuda", 0)  # no CUDA here: GPU 0
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert _canonical_device("cuda") == torch.device("cuda:1") != _canonical_device("cuda:0")
    assert _canonical_device(torch.device("cpu")) == torch.device("cpu")


def test_device_generator_does_not_reseed_for_another_name_of_its_gpu(monkeypatch):
    made = []

    class FakeGenerator:  # torch.Generator(device="cuda") needs a GPU
        def __init__(self, device):
            self.device = torch.device(device)
            made.append(self.device)

        def manual_seed(self, seed):
            return self

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch, "Generator", FakeGenerator)
    generator = DeviceGenerator(3)
    first = generator.on("cuda")
    assert generator.on("cuda:0") is first and generator.on(torch.device("cuda")) is first
    assert made == [torch.device("cuda:0")]
    other = generator.on("cuda:1")  # another GPU: a new generator, seeded again
    assert other is not first and made[-1] == torch.device("cuda:1")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert generator.on("cuda") is other and len(made) == 2


# -- allocator ---------------------------------------------------------------------------------
class FakeLibc:
    def __init__(self, accept=1):
        self.calls, self.accept = [], accept

    def mallopt(self, param, value):
        self.calls.append(("mallopt", param, value))
        return self.accept

    def malloc_trim(self, pad):
        self.calls.append(("malloc_trim", pad))
        return 1


@pytest.fixture
def libc(monkeypatch):
    fake = FakeLibc()
    monkeypatch.setattr(allocator, "_glibc", lambda: fake)
    monkeypatch.setattr(allocator, "_tuned", False)
    for name in ("SKAUDIO_NO_MALLOPT", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    return fake


def test_the_allocator_is_tuned_once_and_trimmed_after_every_block(libc):
    with allocator.training_allocator() as tuned:
        assert tuned and libc.calls == [
            ("mallopt", -3, 32 * 2**20),  # M_MMAP_THRESHOLD
            ("mallopt", -1, 2**31 - 1),  # M_TRIM_THRESHOLD, the largest C int
        ]
    assert libc.calls[-1] == ("malloc_trim", 0)
    with pytest.raises(KeyboardInterrupt), allocator.training_allocator():
        raise KeyboardInterrupt
    assert [c[0] for c in libc.calls] == ["mallopt", "mallopt", "malloc_trim", "malloc_trim"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SKAUDIO_NO_MALLOPT", "1"),
        ("MALLOC_MMAP_THRESHOLD_", "65536"),
        ("MALLOC_TRIM_THRESHOLD_", "0"),
        ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=4096"),
    ],
)
def test_the_allocator_is_left_alone_on_opt_out_or_user_settings(libc, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with allocator.training_allocator() as tuned:
        pass
    assert tuned is False and libc.calls == []


def test_the_allocator_never_fails_a_fit(libc, monkeypatch):
    libc.accept = 0  # a glibc that refuses the values
    with allocator.training_allocator() as tuned:
        assert tuned is False
    assert ("malloc_trim", 0) not in libc.calls

    def broken(param, value):
        raise OSError("mallopt is gone")

    libc.mallopt = broken
    with allocator.training_allocator() as tuned:
        assert tuned is False
    monkeypatch.setattr(allocator, "_glibc", lambda: None)  # not glibc
    with allocator.training_allocator() as tuned:
        assert tuned is False


def test_there_is_no_glibc_off_linux(monkeypatch):
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    allocator._glibc.cache_clear()
    try:
        assert allocator._glibc() is None
    finally:
        allocator._glibc.cache_clear()


def test_glibc_accepts_the_thresholds():
    libc = allocator._glibc()
    if libc is None:
        pytest.skip("not glibc")
    # what fit sets for the whole process anyway; 1 is success, 0 a refused value
    assert libc.mallopt(-3, allocator.MMAP_THRESHOLD) == 1
    assert libc.mallopt(-1, allocator.TRIM_THRESHOLD) == 1


def test_fit_and_partial_fit_run_in_the_tuned_allocator(monkeypatch):
    entered = []
    original = base.training_allocator

    def spy():
        entered.append(True)
        return original()

    monkeypatch.setattr(base, "training_allocator", spy)
    embedder = COLAEmbedder(**COLA).fit(X)
    embedder.partial_fit(X)
    assert len(entered) == 2
