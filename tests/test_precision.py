"""Mixed precision: the ``precision`` parameter, the fp32 islands, the CUDA training flags.

bf16 (and fp16) autocast exists on the CPU, so everything but the speed is checked here;
``benchmarks/gpu_check.py`` measures the speed on a GPU.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import skaudio._torch_utils as torch_utils
import skaudio.estimators._trainer as base
from skaudio import COLAEmbedder, ContrastiveAudioEmbedder, CPCEmbedder, TokenTransformerEmbedder
from skaudio._torch_utils import (
    autocast,
    cuda_training_flags,
    fp32_island,
    resolve_precision,
)
from skaudio.datasets import make_tones
from skaudio.features import LogMelSpectrogram
from skaudio.heads import BilinearSimilarity
from skaudio.losses import (
    BarlowTwinsCriterion,
    BYOLCriterion,
    BYOLOutput,
    COLACriterion,
    COLAOutput,
    ContrastiveCrossEntropy,
    CPCCriterion,
    CPCOutput,
    NextTokenCriterion,
    NextTokenOutput,
    NTXentCriterion,
    PitchEquivarianceCriterion,
    PitchEquivarianceOutput,
    ReconstructionCriterion,
    VICRegCriterion,
    bilinear_logits,
)
from skaudio.training import SelfSupervisedNet, training_callbacks

ROOT = Path(__file__).resolve().parents[1]
SR = 8000
X, _ = make_tones(n_clips=16, n_classes=2, sample_rate=SR, random_state=0)
X = [x[: SR // 2] for x in X]
COLA = dict(
    sample_rate=SR, segment_seconds=0.25, n_mels=16, embedding_dim=16, projection_dim=16,
    batch_size=8, device="cpu", random_state=0,
)  # fmt: skip
BF16 = dict(device_type="cpu", dtype=torch.bfloat16)


def _bf16(generator, *shape, scale=1.0):
    """A tensor as a model under bf16 autocast would return it."""
    return (scale * torch.randn(*shape, generator=generator)).to(torch.bfloat16)


def _spy_layers(monkeypatch, estimator_class):
    """Record (training, dtype) of every conv/linear output, and the frontend's, in fit."""
    seen = {"layers": [], "frontend": [], "benchmark": []}
    build = estimator_class._build_model

    def record(key):
        def hook(module, inputs, output):
            if module.training and isinstance(output, torch.Tensor):
                seen[key].append(output.dtype)
                seen["benchmark"].append(torch.backends.cudnn.benchmark)

        return hook

    def spied(self):
        model = build(self)
        for module in model.encoder.modules():
            if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Linear):
                module.register_forward_hook(record("layers"))
        model.frontend.register_forward_hook(record("frontend"))
        return model

    monkeypatch.setattr(estimator_class, "_build_model", spied)
    return seen


# -- resolving the parameter ----------------------------------------------------------------
def test_auto_is_fp32_on_cpu_and_explicit_values_pass():
    assert resolve_precision("auto", "cpu") == "fp32"
    assert [resolve_precision(p, "cpu") for p in ("fp32", "bf16", "fp16")] == [
        "fp32",
        "bf16",
        "fp16",
    ]
    with pytest.raises(ValueError, match="precision='fp8' is not supported"):
        resolve_precision("fp8", "cpu")
    ones = torch.ones(2, 2)
    with autocast("cpu", "fp32"):
        assert (ones @ ones).dtype == torch.float32 and not torch.is_autocast_enabled("cpu")
    for device, precision, dtype in [(None, "bf16", torch.bfloat16), ("cpu", "fp16", torch.half)]:
        with autocast(device, precision):
            assert (ones @ ones).dtype == dtype


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_on_cuda_is_bf16_where_the_gpu_has_it(monkeypatch, native, expected):
    asked = []
    monkeypatch.setattr(torch.cuda, "device", lambda index: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(
        torch.cuda,
        "is_bf16_supported",
        lambda including_emulation=True: asked.append(including_emulation) or native,
    )
    assert resolve_precision("auto", "cuda:1") == expected
    assert asked == [False]  # emulated bf16 (pre-Ampere) is slower than fp32: not chosen


@pytest.mark.parametrize(
    "estimator", [COLAEmbedder, ContrastiveAudioEmbedder, CPCEmbedder, TokenTransformerEmbedder]
)
def test_every_estimator_has_a_run_only_precision(estimator):
    assert estimator().precision == "auto"
    assert "precision" in estimator._RUN_ONLY_PARAMS
    with pytest.raises(ValueError, match="'precision' parameter"):
        estimator(precision="half").fit(X)


# -- fp32 islands ---------------------------------------------------------------------------
def test_fp32_island_casts_half_inputs_and_turns_autocast_off():
    seen = {}

    class Pair(tuple):  # a NamedTuple-like output
        _fields = ("a", "b")

        def __new__(cls, a, b):
            return super().__new__(cls, (a, b))

    @fp32_island
    def inside(x, pair, *, table, double):
        seen.update(
            x=x.dtype,
            pair=(type(pair), pair[0].dtype, pair[1]),
            table=table["t"].dtype,
            double=double.dtype,
            autocast=torch.is_autocast_enabled("cpu"),
            matmul=(x @ x.T).dtype,
        )
        return x

    half = torch.ones(2, 3, dtype=torch.bfloat16)
    with torch.autocast(**BF16):
        inside(
            half,
            Pair(half, None),
            table={"t": half.half()},
            double=torch.ones(2, dtype=torch.float64),
        )
        assert torch.is_autocast_enabled("cpu")  # back on after the island
    assert seen == {
        "x": torch.float32,
        "pair": (Pair, torch.float32, None),
        "table": torch.float32,
        "double": torch.float64,  # float64 is not lowered
        "autocast": False,
        "matmul": torch.float32,
    }
    full = torch.ones(2, 3)
    assert inside(full, (full, None), table={"t": full}, double=full) is full  # fp32: as is


def test_the_frontend_under_autocast_equals_the_fp32_frontend_exactly():
    generator = torch.Generator().manual_seed(0)
    frontend = LogMelSpectrogram(SR, n_mels=32)
    waveforms = 0.1 * torch.randn(3, 4000, generator=generator)
    reference = frontend(waveforms)
    with torch.autocast(**BF16):
        mixed = frontend(waveforms)
        power = frontend.power_spectrogram(waveforms)
        split = frontend.log_mel(power)
        from_half = frontend(waveforms.to(torch.bfloat16))
        # without the island, the mel matmul would run in bf16
        unguarded = LogMelSpectrogram.log_mel.__wrapped__(frontend, power)
    assert mixed.dtype == power.dtype == torch.float32
    assert torch.equal(mixed, reference) and torch.equal(split, reference)
    assert torch.equal(from_half, frontend(waveforms.to(torch.bfloat16).float()))
    assert not torch.equal(unguarded.float(), reference)


def test_bilinear_logits_keep_fp32_under_autocast():
    generator = torch.Generator().manual_seed(0)
    anchors, positives = _bf16(generator, 8, 64, scale=3), _bf16(generator, 8, 64, scale=3)
    weight = torch.eye(64) + 0.01 * torch.randn(64, 64, generator=generator)
    reference = bilinear_logits(anchors.float(), positives.float(), weight)
    assert reference.abs().max() > 100  # COLA's range, where bf16 steps by 0.5 to 2
    with torch.autocast(**BF16):
        logits = BilinearSimilarity(64).requires_grad_(False)
        logits.weight.copy_(weight)
        mixed = logits(anchors, positives)
        unguarded = bilinear_logits.__wrapped__(anchors, positives, weight)
    assert mixed.dtype == torch.float32 and torch.equal(mixed, reference)
    assert unguarded.dtype == torch.bfloat16 and not torch.equal(unguarded.float(), reference)


def _criteria_cases():
    g = torch.Generator().manual_seed(0)
    n, d, t = 8, 16, 6
    z1, z2 = _bf16(g, n, d), _bf16(g, n, d)
    byol = BYOLOutput(_bf16(g, n, d), _bf16(g, n, d), None, _bf16(g, n, d), _bf16(g, n, d))
    pitch = PitchEquivarianceOutput((z1, z2, None), _bf16(g, n, t), _bf16(g, n, t), torch.ones(n))
    cola = COLAOutput(
        _bf16(g, n, n, scale=100),
        frame_logits=_bf16(g, 3 * n, t, t, scale=10),
        pitch_shifted=_bf16(g, n, t),
        pitch_original=_bf16(g, n, t),
        semitones=torch.randn(n, generator=g),
    )
    cpc = CPCOutput(_bf16(g, 4, 10, d), _bf16(g, 2, 4, 10, d), torch.ones(4, 10, dtype=bool))
    tokens = NextTokenOutput(_bf16(g, 4, 5, 12, scale=5), torch.randint(-1, 12, (4, 5)))
    return {
        "cola": (COLACriterion(1.0, 1.0), cola),
        "clip": (ContrastiveCrossEntropy(), _bf16(g, n, n, scale=200)),
        "nt-xent": (NTXentCriterion(0.2), (z1, z2, None)),
        "cpc": (CPCCriterion(2, negatives="batch+time"), cpc),
        "byol": (BYOLCriterion(), byol),
        "barlow": (BarlowTwinsCriterion(), (z1, z2, None)),
        "vicreg": (VICRegCriterion(), (z1, z2, None)),
        "pitch": (PitchEquivarianceCriterion(NTXentCriterion(0.2), 1.0), pitch),
        "tokens": (NextTokenCriterion(), tokens),
        "reconstruction": (ReconstructionCriterion(), (z1, z2)),
    }


@pytest.mark.parametrize("name", list(_criteria_cases()))
def test_a_loss_under_autocast_equals_the_fp32_loss_of_the_cast_inputs(name):
    criterion, output = _criteria_cases()[name]
    cast = torch_utils._to_float32(output)
    target = torch.full((8,), -1)
    reference = criterion(cast, target)
    with torch.autocast(**BF16):
        mixed = criterion(output, target)
        metrics = getattr(criterion, "metrics", lambda y: {})(output)
    assert mixed.dtype == torch.float32 and torch.equal(mixed, reference)
    assert metrics == getattr(criterion, "metrics", lambda y: {})(cast)


# -- training -------------------------------------------------------------------------------
def test_a_bf16_fit_on_cpu_runs_the_encoder_in_bf16_and_embeds_in_float32(monkeypatch):
    seen = _spy_layers(monkeypatch, COLAEmbedder)
    embedder = COLAEmbedder(**COLA, max_epochs=3, precision="bf16").fit(X)
    losses = embedder.history_[:, "train_loss"]
    assert embedder.precision_ == "bf16" and losses[-1] < 0.8 * losses[0]
    assert seen["layers"] and set(seen["layers"]) == {torch.bfloat16}
    assert set(seen["frontend"]) == {torch.float32}
    embeddings = embedder.transform(X[:4])
    assert embeddings.dtype == np.float32 and np.isfinite(embeddings).all()
    # transform does not autocast: the same weights embed as in a plain fp32 pass
    model = embedder.net_.module_.eval()
    with torch.inference_mode():
        expected = model.embed(torch.from_numpy(np.stack([x[:2000] for x in X[:4]])))
    np.testing.assert_allclose(embedder.transform([x[:2000] for x in X[:4]]), expected.numpy())


def test_the_default_cpu_fit_is_fp32_and_unchanged():
    auto = COLAEmbedder(**COLA, max_epochs=1).fit(X)
    fp32 = COLAEmbedder(**COLA, max_epochs=1, precision="fp32").fit(X)
    assert auto.precision_ == "fp32" and auto.net_.precision == "fp32"
    assert "optimizer__fused" not in auto.net_.get_params()  # CUDA only
    np.testing.assert_array_equal(auto.transform(X), fp32.transform(X))


@pytest.mark.parametrize("make", [ContrastiveAudioEmbedder, CPCEmbedder, TokenTransformerEmbedder])
def test_every_estimator_fits_in_bf16(make):
    small = dict(sample_rate=SR, n_mels=16, batch_size=8, max_epochs=1)
    if make is TokenTransformerEmbedder:
        small.update(n_tokens=8, patch_frames=5, context_tokens=5, autoencoder_width=16)
        small.update(embedding_dim=16, d_model=16, n_heads=2, n_layers=1, feedforward=16)
    elif make is CPCEmbedder:
        small.update(segment_seconds=0.25, encoder_width=16, z_dim=16, c_dim=16, n_predict=2)
    else:
        small.update(segment_seconds=0.25, embedding_dim=16, projection_dim=16)
        small.update(augmentations="clar")
    embedder = make(**small, precision="bf16", device="cpu", random_state=0).fit(X)
    assert embedder.precision_ == "bf16" and np.isfinite(embedder.history_[:, "train_loss"]).all()
    assert embedder.transform(X[:3]).dtype == np.float32


def test_fp16_scales_the_loss_and_its_callbacks_see_unscaled_gradients():
    generator = torch.Generator().manual_seed(0)
    anchors = torch.randn(8, 4, generator=generator)
    data = {"anchors": anchors, "positives": anchors + 0.1 * torch.randn(8, 4, generator=generator)}
    norms = {}

    from skorch.callbacks import Callback

    class GradNorm(Callback):
        def __init__(self, key):
            self.key = key

        def on_grad_computed(self, net, named_parameters, **kwargs):
            norms.setdefault(self.key, []).append(
                float(sum(p.grad.norm() ** 2 for _, p in named_parameters) ** 0.5)
            )

    def net(precision):
        torch.manual_seed(0)
        callbacks = training_callbacks(ContrastiveCrossEntropy.metric_names, verbose=0)
        return SelfSupervisedNet(
            BilinearSimilarity,
            ContrastiveCrossEntropy,
            module__dim=4,
            max_epochs=3,
            batch_size=8,
            lr=1e-3,
            train_split=None,
            verbose=0,
            precision=precision,
            callbacks=[*callbacks, ("norm", GradNorm(precision))],
        )

    fp16, fp32 = net("fp16").fit(data, None), net("fp32").fit(data, None)
    assert "grad_scaler" in dict(fp16.callbacks_) and "grad_scaler" not in dict(fp32.callbacks_)
    scaler = dict(fp16.callbacks_)["grad_scaler"].scaler_
    assert scaler.get_scale() == 2.0**16 and scaler.state_dict()["_growth_tracker"] == 3
    # unscaled: the gradients of the fp16 run are those of the fp32 run, not 65536 times
    np.testing.assert_allclose(norms["fp16"], norms["fp32"], rtol=1e-2)
    with pytest.raises(ValueError, match="precision must be"):
        net("int8").initialize()


def test_an_fp16_checkpoint_resumes_its_loss_scale_exactly(tmp_path):
    params = dict(**COLA, precision="fp16")
    COLAEmbedder(**params, max_epochs=2, checkpoint_dir=tmp_path).fit(X)
    saved = torch.load(tmp_path / "model.pt", weights_only=False)
    assert set(saved["callbacks"]["grad_scaler"]) >= {"scale", "_growth_tracker"}
    extended = COLAEmbedder(**params, max_epochs=3, checkpoint_dir=tmp_path).fit(X)
    straight = COLAEmbedder(**params, max_epochs=3).fit(X)
    np.testing.assert_array_equal(extended.transform(X), straight.transform(X))
    scalers = [dict(e.net_.callbacks_)["grad_scaler"].state_dict() for e in (extended, straight)]
    assert scalers[0] == scalers[1]


def test_a_checkpoint_resumes_under_another_precision(tmp_path):
    COLAEmbedder(**COLA, max_epochs=1, precision="bf16", checkpoint_dir=tmp_path).fit(X)
    manifest = torch.load(tmp_path / "model.pt", weights_only=False)["manifest"]
    assert "precision" not in manifest and "lr" in manifest  # run-only: not matched
    resumed = COLAEmbedder(**COLA, max_epochs=2, precision="fp32", checkpoint_dir=tmp_path).fit(X)
    assert len(resumed.history_) == 2 and resumed.precision_ == "fp32"


# -- CUDA settings, simulated on the CPU ------------------------------------------------------
def _flags():
    return (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
    )


def test_cuda_training_flags_are_set_in_the_block_and_restored_after_it():
    before = _flags()
    with cuda_training_flags("cpu"):
        assert _flags() == before  # the CPU is left alone
    with pytest.raises(RuntimeError, match="boom"), cuda_training_flags("cuda:0"):
        assert _flags() == (True, True, True)
        raise RuntimeError("boom")
    assert _flags() == before


def test_cuda_training_flags_use_the_new_api_where_the_caller_did():
    matmul = torch.backends.cuda.matmul
    try:
        matmul.fp32_precision = "ieee"  # reading allow_tf32 now raises (mixed APIs)
        with cuda_training_flags("cuda"):
            assert matmul.fp32_precision == "tf32" and torch.backends.cudnn.benchmark
        assert matmul.fp32_precision == "ieee"
    finally:
        matmul.fp32_precision = "none"
    assert _flags()[0] is False  # the legacy flag reads again


def test_fit_trains_under_the_cuda_flags_and_restores_them(monkeypatch):
    before = _flags()
    devices = []

    def as_if_cuda(device):
        devices.append(device)
        return cuda_training_flags("cuda")  # the flags a CUDA fit sets

    monkeypatch.setattr(base, "cuda_training_flags", as_if_cuda)
    seen = _spy_layers(monkeypatch, COLAEmbedder)
    embedder = COLAEmbedder(**COLA, max_epochs=1).fit(X)
    embedder.partial_fit(X)
    assert devices == ["cpu", "cpu"] and set(seen["benchmark"]) == {True}
    assert _flags() == before


def test_on_cuda_the_net_gets_the_fused_optimizer_and_the_precision(monkeypatch):
    embedder = COLAEmbedder(**COLA)
    embedder.device_, embedder.precision_ = "cuda", "bf16"
    model, criterion = embedder._build_model(), embedder._build_criterion()
    net = embedder._new_net(model, criterion)  # not initialised: no GPU needed
    params = net.get_params()
    assert params["optimizer__fused"] is True and params["iterator_train__pin_memory"] is True
    assert net.precision == "bf16" and net.device == "cuda"


# -- the distributed path: accelerate's mixed precision, applied once -----------------------
@pytest.fixture
def fresh_accelerate():
    state = pytest.importorskip("accelerate.state")
    state.AcceleratorState._reset_state()
    yield
    state.AcceleratorState._reset_state()


def test_the_accelerator_gets_the_precision_as_mixed_precision(fresh_accelerate, monkeypatch):
    from accelerate.state import AcceleratorState

    from skaudio.distributed import distributed_net_class, global_batch_accelerator

    assert global_batch_accelerator("cpu", 4).mixed_precision == "no"
    AcceleratorState._reset_state()  # accelerate keeps one precision per process
    accelerator = global_batch_accelerator("cpu", 4, mixed_precision="bf16")
    assert accelerator.mixed_precision == "bf16"
    net = distributed_net_class()(
        BilinearSimilarity,
        ContrastiveCrossEntropy,
        module__dim=4,
        accelerator=accelerator,
        device=None,
        precision="bf16",
    )
    with pytest.raises(ValueError, match="pass mixed_precision to the Accelerator"):
        net.initialize()


def test_a_distributed_fit_autocasts_once_through_accelerate(fresh_accelerate, monkeypatch):
    made = []
    original = base.global_batch_accelerator

    def spy(device, batch_size, mixed_precision="fp32"):
        made.append(mixed_precision)
        return original(device, batch_size, mixed_precision=mixed_precision)

    monkeypatch.setattr(base, "global_batch_accelerator", spy)
    seen = _spy_layers(monkeypatch, COLAEmbedder)
    embedder = COLAEmbedder(**COLA, max_epochs=1, precision="bf16", distributed=True).fit(X)
    assert made == ["bf16"] and embedder.net_.precision == "fp32"
    assert set(seen["layers"]) == {torch.bfloat16} and set(seen["frontend"]) == {torch.float32}
    assert embedder.transform(X[:2]).dtype == np.float32


# -- benchmarks/gpu_check.py ------------------------------------------------------------------
def _gpu_check():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_check
    finally:
        sys.path.pop(0)
    return gpu_check


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_gpu_check_without_cuda_says_so_and_exits_0():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "CUDA is not available" in result.stdout


def test_gpu_check_helpers_on_cpu():
    gpu_check = _gpu_check()
    values = iter([50.0, 100.0, None, 90.0])  # None: a failed read, skipped
    with gpu_check.BusySampler(values.__next__, period=0.0) as sampler:
        sampler._thread.join(timeout=10)  # the reads run out: the thread ends
    assert [value for _, value in sampler.samples] == [50.0, 100.0, 90.0]
    assert gpu_check.BusySampler.share(sampler.since(0.0)) == pytest.approx(0.8)
    assert gpu_check.BusySampler.share(sampler.since(time.perf_counter())) is None
    syncs = gpu_check.summarize_syncs(
        [("a.py", 3, "item"), ("a.py", 3, "item"), ("b.py", 7, "nonzero")]
    )
    assert syncs == [("a.py:3", 2), ("b.py:7", 1)]


def test_gpu_check_rows_run_dry_on_cpu(tmp_path):
    gpu_check = _gpu_check()
    args = gpu_check.parse(["--device", "cpu", "--tiny", "--epochs", "1", "--batch-size", "8"])
    clips = gpu_check.synthetic_clips(8)
    row = gpu_check.check_row("cola", "fp32", clips, args, None, tmp_path)
    assert row["ours"] > 0 and row["bare"] > 0 and row["busy"] is None
    assert row["ours_syncs"] is None  # counted on CUDA only
    assert row["diff_default"] == row["diff_strict"] == 0.0  # the same CPU model
    assert row["path"].exists() and row["path"].with_suffix(".here.npy").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_bf16_fit_on_cuda_embeds_as_on_the_cpu():
    embedder = COLAEmbedder(**{**COLA, "device": "cuda"}, max_epochs=1).fit(X)
    assert embedder.precision_ in ("bf16", "fp32")
    on_gpu = embedder.transform(X)
    embedder.net_.module_.cpu()
    embedder.net_.device = "cpu"
    np.testing.assert_allclose(on_gpu, embedder.transform(X), rtol=1e-2, atol=1e-3)
