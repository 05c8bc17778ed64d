"""The augmentations' static-shape path (issue 18): no host reads, the same semantics.

On a GPU every host read of a device value (``.item()``, ``if mask.any()``, a
boolean gather) stalls the step until the device catches up, so off the CPU the
augmentations take a static-shape path: whole-batch transforms selected with
``torch.where``, output sizes from parameter ranges. These tests force that path on
the CPU (``static_shapes()``) and check that it keeps the semantics (rows not chosen
are the input, exactly; p=1 is the transform, p=0 the identity; about a share p is
augmented; deterministic), that it reads nothing on the host (a counter of host
reads, and a run on the ``meta`` device, where any read of a value fails), and that
the default CPU path is unchanged (outputs recorded before the static path existed).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch.overrides import TorchFunctionMode

from skaudio import augment as A
from skaudio.augment._base import uniform
from skaudio.augment.waveform import _overlap_add

POLICY_NAMES = [
    "spectrogram",
    "waveform",
    "clar",
    "waveform+spectrogram",
    "byol-a",
    "byol-a-pitch",
    "speech",
    "pitch",
]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _inputs(batch=16):
    """A batch of waveforms (batch, 1600) and of log-mel-like spectrograms (batch, 32, 40)."""
    g = _gen(123)
    t = torch.arange(1600) / 8000
    f0 = torch.linspace(200.0, 900.0, batch)[:, None]
    wave = 0.5 * torch.sin(2 * torch.pi * f0 * t) + 0.05 * torch.randn(batch, 1600, generator=g)
    spec = -50.0 + 15.0 * torch.randn(batch, 32, 40, generator=g)
    return wave, spec


def _input_for(aug, batch=16):
    wave, spec = _inputs(batch)
    return wave if aug.domain == "waveform" else spec


def _run_policy(name, wave, spec, generator):
    """The policy's waveform augmentations on ``wave``, then its spectrogram ones on ``spec``."""
    waveform_augs, spectrogram_augs = A.split_by_domain(A.make_policy(name))
    for aug in waveform_augs:
        wave = aug(wave, generator)
    for aug in spectrogram_augs:
        spec = aug(spec, generator)
    return wave, spec


def _leaves(aug):
    """The augmentations inside ``aug``: RandomApply, OneOf and Compose unwrapped."""
    if isinstance(aug, A.RandomApply):
        return _leaves(aug.augmentation)
    if isinstance(aug, A.OneOf | A.Compose):
        return [leaf for inner in aug.augmentations for leaf in _leaves(inner)]
    return [aug]


LEAVES = list(
    {
        repr(leaf): leaf
        for name in POLICY_NAMES
        for aug in A.make_policy(name)
        for leaf in _leaves(aug)
    }.values()
)


class HostReads(TorchFunctionMode):
    """Records every call that reads a tensor's values on the host, or copies host data in.

    Each is a device synchronisation when the tensor is on a GPU: ``item``,
    ``tolist``, ``bool()``/``int()``/``float()``/``index()`` of a tensor (``if
    mask.any()``), ``numpy``, ``cpu``, ``nonzero`` and everything built on it (a
    boolean-mask index or assignment, ``masked_select``, ``torch.where(mask)``), and
    ``torch.tensor``/``as_tensor`` (host data copied to the device). Only calls made
    from Python are seen, not those inside a torch function (the ``meta`` device test
    covers those).
    """

    READS = {
        "item",
        "tolist",
        "__bool__",
        "__int__",
        "__float__",
        "__index__",
        "numpy",
        "cpu",
        "nonzero",
        "argwhere",
        "masked_select",
        "unique",
        "tensor",
        "as_tensor",
    }

    def __init__(self):
        super().__init__()
        self.reads = []

    @staticmethod
    def _boolean_index(index):
        parts = index if isinstance(index, tuple | list) else (index,)
        return any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in self.READS:
            self.reads.append(name)
        elif name in ("__getitem__", "__setitem__", "index_put", "index_put_"):
            if self._boolean_index(args[1]):
                self.reads.append(f"{name}[boolean mask]")
        elif name == "where" and len(args) + len(kwargs) == 1:
            self.reads.append("where(mask)")
        return func(*args, **kwargs)


def test_the_policies_tested_are_all_the_named_policies():
    assert set(POLICY_NAMES) == set(A.POLICIES) - {"none"}
    assert len(LEAVES) >= 20  # every augmentation of every policy, unwrapped


def test_static_shapes_switch_is_auto_by_default_and_nests():
    cpu, meta = torch.zeros(1), torch.zeros(1, device="meta")
    assert not A.uses_static_shapes(cpu) and A.uses_static_shapes(meta)  # auto
    with A.static_shapes():
        assert A.uses_static_shapes(cpu)
        with A.static_shapes(False):
            assert not A.uses_static_shapes(cpu) and not A.uses_static_shapes(meta)
        with A.static_shapes(None):
            assert not A.uses_static_shapes(cpu)
        assert A.uses_static_shapes(cpu)
    assert not A.uses_static_shapes(cpu)


# -- the counter of host reads sees what it must --------------------------------------


@dataclass
class _Planted(A.Augmentation):
    """A gain that reads a device value on the host, the way a sync slips in."""

    read: str = "item"

    def __call__(self, x, generator):
        db = uniform(-6.0, 6.0, x.shape[0], generator, x.device)
        if self.read == "item":
            db = db.clamp(max=db.max().item())
        elif self.read == "bool":
            if (db > 0).any():
                db = db * 0.5
        elif self.read == "int":
            db = db.roll(int(db.argmax()))
        elif self.read == "float":
            db = db - float(db.mean())
        elif self.read == "tolist":
            db = db * len(db.tolist())
        elif self.read == "mask-index":
            db = db.clone()
            db[db > 0] = db[db > 0] * 0.5
        elif self.read == "nonzero":
            db = db[(db > 0).nonzero()[:, 0]].sum() + db
        elif self.read == "copy":
            db = db + torch.tensor([1.0, -1.0] * (x.shape[0] // 2), device=x.device)
        return x * (10.0 ** (db / 20.0))[:, None]


@pytest.mark.parametrize(
    "read", ["item", "bool", "int", "float", "tolist", "mask-index", "nonzero", "copy"]
)
def test_counter_catches_a_planted_host_read(read):
    wave, _ = _inputs()
    with A.static_shapes(), HostReads() as reads:
        A.RandomApply(_Planted(read), p=0.5)(wave, _gen(0))
    assert reads.reads, f"the counter missed a planted {read!r}"
    if read not in ("copy", "tolist"):  # the meta device cannot give a value either
        with pytest.raises((RuntimeError, NotImplementedError)):
            _Planted(read)(wave.to("meta"), _gen(0))


def test_counter_sees_the_reads_of_the_cpu_gather_path():
    wave, spec = _inputs()
    with HostReads() as reads:  # auto on the CPU: the gather path
        _run_policy("spectrogram", wave, spec, _gen(0))
    assert "__bool__" in reads.reads and "__getitem__[boolean mask]" in reads.reads


# -- no host reads on the static path ----------------------------------------------


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_static_policy_makes_no_host_read(name):
    wave, spec = _inputs()
    with A.static_shapes(), HostReads() as reads:
        out_wave, out_spec = _run_policy(name, wave, spec, _gen(0))
    assert reads.reads == []
    assert out_wave.shape == wave.shape and out_spec.shape == spec.shape
    assert torch.isfinite(out_wave).all() and torch.isfinite(out_spec).all()


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_policy_runs_on_the_meta_device(name):
    # meta tensors have no values: any read (even inside torch, as torch.istft's
    # window check) raises; auto picks the static path there, as it would on CUDA
    wave, spec = (t.to("meta") for t in _inputs())
    assert A.uses_static_shapes(wave)
    out_wave, out_spec = _run_policy(name, wave, spec, _gen(0))
    assert out_wave.shape == wave.shape and out_spec.shape == spec.shape
    assert out_wave.device.type == out_spec.device.type == "meta"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", POLICY_NAMES)
def test_policy_on_cuda_never_synchronises(name):
    wave, spec = (t.cuda() for t in _inputs())
    generator = torch.Generator(device="cuda").manual_seed(0)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any synchronising call raises
    try:
        out_wave, out_spec = _run_policy(name, wave, spec, generator)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(out_wave).all() and torch.isfinite(out_spec).all()


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_static_policy_is_deterministic_given_the_generator(name):
    wave, spec = _inputs()
    with A.static_shapes():
        first = _run_policy(name, wave, spec, _gen(4))
        second = _run_policy(name, wave, spec, _gen(4))
        other = _run_policy(name, wave, spec, _gen(5))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


# -- the semantics of the static path, for every augmentation of every policy ----------


@pytest.mark.parametrize("leaf", LEAVES, ids=repr)
def test_static_random_apply_keeps_unchosen_rows_and_augments_chosen_ones(leaf):
    x = _input_for(leaf)
    with A.static_shapes():
        out = A.RandomApply(leaf, p=0.5)(x, _gen(3))
        g = _gen(3)  # replay: the coins, then the augmentation of the whole batch
        chosen = torch.rand(x.shape[0], generator=g) < 0.5
        augmented = leaf(x, g)
    assert 0 < int(chosen.sum()) < len(chosen)
    assert torch.equal(out[~chosen], x[~chosen])
    assert torch.equal(out[chosen], augmented[chosen])
    assert out.dtype == x.dtype


@pytest.mark.parametrize("leaf", LEAVES, ids=repr)
def test_static_random_apply_p1_is_the_augmentation_and_p0_the_identity(leaf):
    x = _input_for(leaf)
    with A.static_shapes():
        always = A.RandomApply(leaf, p=1.0)(x, _gen(5))
        g = _gen(5)
        torch.rand(x.shape[0], generator=g)  # the coins
        expected = leaf(x, g)
        never = A.RandomApply(leaf, p=0.0)(x, _gen(5))
    assert torch.equal(always, expected)
    assert torch.equal(never, x)


@pytest.mark.parametrize("leaf", LEAVES, ids=repr)
def test_static_augmentation_matches_the_gather_path_on_the_same_draws(leaf):
    # the static path of an augmentation draws what its gather path draws, in the
    # same order (same distribution of parameters), and computes the same result
    # up to float rounding (the phase vocoder's own overlap-add, the noise colour
    # chosen on the device)
    x = _input_for(leaf)
    for seed in range(3):
        with A.static_shapes(False):
            gathered = leaf(x, _gen(seed))
        with A.static_shapes(True):
            static = leaf(x, _gen(seed))
        scale = float(x.abs().max())
        torch.testing.assert_close(static, gathered, rtol=1e-5, atol=1e-5 * scale)


def test_static_one_of_gives_each_row_to_exactly_one_alternative():
    one_of = A.make_policy("spectrogram")[2].augmentation
    assert isinstance(one_of, A.OneOf)
    _, x = _inputs(batch=32)
    with A.static_shapes():
        out = one_of(x, _gen(2))
        g = _gen(2)  # replay: the choices, then every alternative on the whole batch
        choice = torch.randint(len(one_of.augmentations), (x.shape[0],), generator=g)
        expected = [aug(x, g) for aug in one_of.augmentations]
    assert set(choice.tolist()) == set(range(len(one_of.augmentations)))
    for k, alternative in enumerate(expected):
        assert torch.equal(out[choice == k], alternative[choice == k])


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_static_share_augmented_is_p(p):
    x = torch.zeros(20_000, 1, 2)
    with A.static_shapes():
        out = A.RandomApply(A.SpecGain(10.0), p=p)(x, _gen(0))
    share = (out != x).flatten(1).any(dim=1).float().mean().item()
    assert abs(share - p) < 0.02  # 5 standard deviations at n = 20,000


def test_static_one_of_shares_are_uniform():
    x = torch.arange(4.0).view(1, 2, 2).expand(9_000, 2, 2)
    aug = A.OneOf([A.TimeReversal(), A.FrequencyFlip(), A.SpecGain(10.0)])
    with A.static_shapes():
        out = aug(x, _gen(0))
    time_flipped = (out == x.flip(-1)).flatten(1).all(dim=1)
    freq_flipped = (out == x.flip(-2)).flatten(1).all(dim=1)
    shares = [time_flipped.float().mean(), freq_flipped.float().mean()]
    assert not (time_flipped & freq_flipped).any()
    assert all(abs(float(s) - 1 / 3) < 0.025 for s in shares)  # 5 sd at n = 9,000


@pytest.mark.filterwarnings("ignore:The length of signal is shorter:UserWarning")
def test_overlap_add_is_istft():
    x = torch.randn(3, 1600, generator=_gen(0))
    window = torch.hann_window(256)
    spec = torch.stft(x, 256, 64, window=window, return_complex=True)
    for length in (1500, 1600, 1800):  # shorter, equal, longer (zero-padded)
        expected = torch.istft(spec, 256, 64, window=window, length=length)
        torch.testing.assert_close(_overlap_add(spec, 256, 64, window, length), expected)
    # frames from n_used on are silent and left out, as if the signal stopped there
    used = torch.istft(spec[..., :20], 256, 64, window=window, length=1400)
    silenced = torch.cat([spec[..., :20], torch.zeros_like(spec[..., 20:])], dim=-1)
    static = _overlap_add(silenced, 256, 64, window, 1400, torch.tensor(20.0))
    torch.testing.assert_close(static, used)


# -- the default CPU path is what it was -------------------------------------------

# (sum of |y|, sum of y**2, y.flatten()[0]) of every policy's output, two calls each on
# one generator, recorded with the code before the static path existed (commit 9652e19)
RECORDED = {
    "byol-a/spectrogram0": (16243.44463317066, 20478.99983741491, -1.584009051322937),
    "byol-a/spectrogram1": (16006.03679665377, 20479.001803304447, -2.060925006866455),
    "byol-a-pitch/spectrogram0": (15414.070816156296, 20478.9997590923, -1.9301104545593262),
    "byol-a-pitch/spectrogram1": (15472.118773629794, 20478.9996897119, -2.4652955532073975),
    "clar/waveform0": (5489.375839595988, 2716.9043717502936, -0.19290371239185333),
    "clar/waveform1": (5433.835656915328, 2216.088100962417, -0.08309021592140198),
    "spectrogram/spectrogram0": (1168040.4623470306, 77355999.03464292, -52.34034729003906),
    "spectrogram/spectrogram1": (1196577.2554740906, 79153061.72454417, -60.2235221862793),
    "speech/waveform0": (7934.731122987978, 3123.8421574845934, 0.016868509352207184),
    "speech/waveform1": (8026.947444566606, 3175.1099224744485, 0.016868509352207184),
    "speech/spectrogram0": (1159369.2571702003, 73746727.26010995, -23.899269104003906),
    "speech/spectrogram1": (1158756.9873006344, 75018891.7584812, -61.75668716430664),
    "waveform/waveform0": (10223.262502283193, 6975.2790714124985, -0.08632728457450867),
    "waveform/waveform1": (7013.224974670616, 3534.332334560161, 0.08892131596803665),
    "waveform+spectrogram/waveform0": (
        10223.262502283193,
        6975.2790714124985,
        -0.08632728457450867,
    ),
    "waveform+spectrogram/waveform1": (7013.224974670616, 3534.332334560161, 0.08892131596803665),
    "waveform+spectrogram/spectrogram0": (1102704.191091001, 66365420.03114014, -75.12525177001953),
    "waveform+spectrogram/spectrogram1": (
        1221483.8482365608,
        83790180.90421903,
        -46.213462829589844,
    ),
    # recorded when the "pitch" policy was added (waveform policy + RandomEQ)
    "pitch/waveform0": (10223.262502283193, 6975.2790714124985, -0.08632728457450867),
    "pitch/waveform1": (7013.224974670616, 3534.332334560161, 0.08892131596803665),
    "pitch/spectrogram0": (1029493.1308071613, 57038641.76790356, -65.49471282958984),
    "pitch/spectrogram1": (1031021.4039587975, 57069131.8750439, -56.747955322265625),
}


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_default_cpu_path_is_unchanged(name):
    wave, spec = _inputs()
    waveform_augs, spectrogram_augs = A.split_by_domain(A.make_policy(name))
    g = _gen(7)
    for label, x, augs in (
        ("waveform", wave, waveform_augs),
        ("spectrogram", spec, spectrogram_augs),
    ):
        for call in range(2 if augs else 0):
            y = x
            for aug in augs:
                y = aug(y, g)
            recorded = RECORDED[f"{name}/{label}{call}"]
            found = (
                float(y.double().abs().sum()),
                float(y.double().square().sum()),
                float(y.flatten()[0]),
            )
            assert found == pytest.approx(recorded, rel=1e-7, abs=1e-7)
