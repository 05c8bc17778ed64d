"""One randomness story: every stream of a training call comes from one RunRandomness.

The object is checked against the derivations it replaced (written out here as the
reference), for independence and reproducibility of its streams; the estimators for
same ``random_state`` -> same embeddings and an untouched caller RNG; the data loader
workers for a stream per process; and the source for no seed derived anywhere else.
"""

import ast
import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.utils import check_random_state

from skaudio import COLAEmbedder, CPCEmbedder
from skaudio import data as data_module
from skaudio._random import SEED_BOUND, RunRandomness, worker_generator
from skaudio.data import seed_worker
from skaudio.datasets import make_tones

PACKAGE = Path(__file__).resolve().parents[1] / "skaudio"

X, _ = make_tones(n_clips=12, n_classes=2, sample_rate=8000, duration=(0.3, 0.5), random_state=0)
TINY = dict(
    sample_rate=8000,
    segment_seconds=0.25,
    n_mels=16,
    embedding_dim=8,
    projection_dim=8,
    batch_size=6,
    max_epochs=1,
)


def _draws(generator: np.random.Generator, n: int = 8) -> list[int]:
    return generator.integers(2**62, size=n).tolist()


# -- the object ------------------------------------------------------------------------------
@pytest.mark.parametrize("random_state", [0, 7, 2**31 - 2])
def test_the_root_and_its_streams_are_the_derivations_they_replace(random_state):
    """Single-process values are those of earlier versions, written out by hand."""
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    run = RunRandomness.from_random_state(random_state)
    assert (run.seed, run.process) == (seed, 0)
    assert _draws(run.data) == _draws(np.random.default_rng(seed))
    assert _draws(run.for_process(3).data) == _draws(np.random.default_rng([seed, 3]))
    for done in (0, 1, 5):
        state = np.random.SeedSequence([seed, done]).generate_state(1)[0]
        continued = run.continuation(done)
        assert continued.seed == int(state >> 1) < SEED_BOUND and continued.process == 0
        assert _draws(continued.data) == _draws(np.random.default_rng(int(state >> 1)))


def test_a_random_state_instance_is_advanced_once_per_training_call():
    state = np.random.RandomState(3)
    first, second = (RunRandomness.from_random_state(state).seed for _ in range(2))
    reference = np.random.RandomState(3)
    assert [first, second] == [int(reference.randint(SEED_BOUND)) for _ in range(2)]


def test_streams_are_reproducible_and_independent():
    run = RunRandomness(12345)
    assert run.data is run.data  # one Generator: datasets and checkpoints share its state
    assert _draws(RunRandomness(12345).data) == _draws(RunRandomness(12345).data)
    streams = [
        RunRandomness(12345).data,
        RunRandomness(12345, process=1).data,
        RunRandomness(12345, process=2).data,
        RunRandomness(12345).continuation(1).data,
        RunRandomness(12345).continuation(2).data,
        RunRandomness(12346).data,
    ]
    firsts = [tuple(_draws(stream)) for stream in streams]
    assert len(set(firsts)) == len(firsts)
    # no two of them are shifted copies of one another either
    values = np.concatenate([np.asarray(f, dtype=np.uint64) for f in firsts])
    assert len(np.unique(values)) == len(values)


def test_the_torch_stream_is_seeded_and_leaves_the_callers_rng_alone():
    torch.manual_seed(99)
    before = torch.get_rng_state()
    run = RunRandomness(5)
    with run.torch_stream("cpu"):
        weights = torch.randn(3)
        module_seed, shared_seed = run.module_seed(), run.shared_seed()
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(5)  # the reference: the root seeds torch, module seeds are draws
    assert torch.equal(torch.randn(3), weights)
    assert [module_seed, shared_seed] == [int(torch.randint(2**31 - 1, (1,))) for _ in range(2)]


def test_module_seeds_are_shifted_per_process_and_shared_seeds_are_not():
    seeds = {}
    for process in (0, 1, 3):
        run = RunRandomness(5, process=process)
        with run.torch_stream("cpu"):
            seeds[process] = (run.module_seed(), run.shared_seed())
    assert [seeds[p][0] - seeds[0][0] for p in (0, 1, 3)] == [0, 1, 3]
    assert seeds[0][1] == seeds[1][1] == seeds[3][1]


def test_unseeded_draws_from_the_global_stream_and_has_no_data_stream():
    run = RunRandomness.unseeded()
    torch.manual_seed(11)
    with run.torch_stream("cpu"):  # seeds nothing
        drawn = run.module_seed()
    torch.manual_seed(11)
    assert drawn == int(torch.randint(2**31 - 1, (1,)))
    with pytest.raises(ValueError, match="outside a training call"):
        _ = run.data


# -- the estimators ----------------------------------------------------------------------------
def _cola(random_state):
    """The model's generator (augmentations, pitch shifts): a module seed."""
    params = dict(augmentations="waveform", pitch_weight=1.0)
    return COLAEmbedder(**TINY, **params, random_state=random_state)


def _cpc(random_state):
    """The criterion's negatives: a shared seed."""
    params = dict(segment_seconds=0.25, z_dim=8, c_dim=8, n_predict=2, encoder_width=8)
    return CPCEmbedder(
        sample_rate=8000, batch_size=6, max_epochs=1, random_state=random_state, **params
    )


@pytest.mark.parametrize("make", [_cola, _cpc], ids=["cola", "cpc"])
def test_same_random_state_same_embeddings_and_the_callers_rng_untouched(make):
    torch.manual_seed(1)
    np.random.seed(1)  # noqa: NPY002  (the caller's global RNGs: what fit must not touch)
    torch_before = torch.get_rng_state()
    numpy_before = np.random.get_state()[1].copy()  # noqa: NPY002
    first = make(0).fit(X)
    assert torch.equal(torch.get_rng_state(), torch_before)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_before)  # noqa: NPY002
    np.testing.assert_array_equal(make(0).fit(X).transform(X), first.transform(X))
    assert not np.array_equal(make(1).fit(X).transform(X), first.transform(X))
    assert "_run_randomness" not in vars(first)  # nothing of the call is kept (or pickled)


def test_the_model_seed_is_a_draw_of_the_fits_torch_stream(monkeypatch):
    """COLA's seed comes after the encoder's weights: as torch.randint did in the builder."""
    embedder = COLAEmbedder(**TINY, augmentations="waveform", random_state=0)
    model = embedder.fit(X).net_.module_
    seed = RunRandomness.from_random_state(0).seed
    torch.manual_seed(seed)
    embedder._build_frontend()
    embedder._build_encoder(readout_bands=embedder.readout_bands)
    assert model.seed == int(torch.randint(2**31 - 1, (1,)))


def test_a_builder_called_outside_a_fit_draws_from_the_global_stream():
    embedder = COLAEmbedder(**TINY, augmentations="waveform")
    torch.manual_seed(0)
    a = embedder._build_model()
    torch.manual_seed(0)
    b = embedder._build_model()
    assert a.seed == b.seed
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


def test_a_process_gets_its_module_seeds_and_worker_streams_from_its_randomness():
    embedder = COLAEmbedder(**TINY, augmentations="waveform", random_state=0)
    embedder.device_ = "cpu"
    built = {}
    for process in (0, 2):
        with embedder._random_streams(RunRandomness(17, process=process)):
            model = embedder._build_model()
            net = embedder._new_net(model, embedder._build_criterion())
        built[process] = (model, net.iterator_train__worker_init_fn)
    (model0, init0), (model2, init2) = built[0], built[2]
    assert model2.seed == model0.seed + 2
    assert model2._generator.seed == model2.seed
    for p, q in zip(model0.state_dict().values(), model2.state_dict().values(), strict=True):
        assert torch.equal(p, q)  # the same weights in every process
    assert init0 is seed_worker
    assert isinstance(init2, functools.partial) and init2.func is seed_worker
    assert init2.keywords == {"process": 2}


# -- the loader workers ------------------------------------------------------------------------
class _Worker:
    def __init__(self, seed, dataset):
        self.seed, self.dataset = seed, dataset


class _Dataset:
    def __init__(self):
        self.rng = np.random.default_rng(0)


@pytest.mark.parametrize("process", [0, 1, 2])
def test_a_worker_draws_from_its_seed_and_its_process(monkeypatch, process):
    dataset = _Dataset()
    monkeypatch.setattr(data_module, "get_worker_info", lambda: _Worker(2**40 + 3, dataset))
    seed_worker(0, process=process) if process else seed_worker(0)
    reference = np.random.default_rng([2**40 + 3, process] if process else 2**40 + 3)
    assert _draws(dataset.rng) == _draws(reference)


def test_workers_of_different_processes_draw_different_crops():
    """Every process's loader derives the same worker seeds: the process tells them apart."""
    firsts = {tuple(_draws(worker_generator(1234, process))) for process in range(4)}
    assert len(firsts) == 4
    assert _draws(worker_generator(1234)) == _draws(np.random.default_rng(1234))


# -- the source ---------------------------------------------------------------------------------
def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            yield name, node
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Attribute):
            yield f"+= .{node.target.attr}", node


def test_no_seed_is_derived_outside_the_randomness_object():
    """The training code takes its streams from RunRandomness: no other seeding."""
    paths = [
        *sorted((PACKAGE / "estimators").glob("*.py")),
        *sorted((PACKAGE / "models").glob("*.py")),
        *sorted((PACKAGE / "losses").glob("*.py")),
        *(PACKAGE / name for name in ("data.py", "training.py", "checkpoint.py", "distributed.py")),
    ]
    found = []
    for path in paths:
        for name, node in _calls(path):
            keywords = {k.arg for k in getattr(node, "keywords", [])}
            unseeded_draw = name in ("randint", "rand", "randn") and "generator" not in keywords
            derived = name in ("check_random_state", "default_rng", "SeedSequence", "manual_seed")
            if derived or unseeded_draw or name == "+= .seed":
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {name}")
    assert found == []
