"""The shared parameters of the embedders have one definition: signature, constraint, doc."""

import inspect
import re

import numpy as np
import pytest

from skaudio import COLAEmbedder, ContrastiveAudioEmbedder, CPCEmbedder, TokenTransformerEmbedder
from skaudio.datasets import make_tones
from skaudio.estimators._base import BaseSequenceEmbedder, BaseWindowEmbedder
from skaudio.estimators._params import SHARED, SHARED_CONSTRAINTS, SHARED_DEFAULTS, format_default

ESTIMATORS = [COLAEmbedder, ContrastiveAudioEmbedder, CPCEmbedder, TokenTransformerEmbedder]


def _signature(cls) -> dict:
    return {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self"
    }


def _documented(cls) -> list[tuple[str, str, str]]:
    """(name, type, default) of every entry of the docstring's Parameters section."""
    doc = cls.__doc__
    section = doc[doc.index("Parameters\n    ----------") : doc.index("Attributes\n    ----------")]
    entries = re.findall(r"^    (\w+) : (.*)$", section, flags=re.MULTILINE)
    out = []
    for name, spec in entries:
        kind, _, default = spec.rpartition(", default=")
        out.append((name, kind, default))
    return out


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_estimator_has_every_shared_parameter_with_the_shared_default(cls):
    signature = _signature(cls)
    assert set(SHARED) <= set(signature)
    assert list(signature)[-len(SHARED) :] == list(SHARED)  # last, in the shared order
    for name, default in SHARED_DEFAULTS.items():
        assert signature[name] == default and type(signature[name]) is type(default), name
    assert all(cls._parameter_constraints[name] is SHARED_CONSTRAINTS[name] for name in SHARED)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_parameter_is_documented_once_in_order_with_its_default(cls):
    signature = _signature(cls)
    documented = _documented(cls)
    assert [name for name, _, _ in documented] == list(signature)
    for name, _, default in documented:
        assert default == format_default(signature[name]), name
    for name, (_, kind, _, text) in SHARED.items():
        assert (name, kind, format_default(signature[name])) in documented
        flat = " ".join(cls.__doc__.split())
        assert text in flat, name  # the shared description, whole
        note = cls._parameter_notes.get(name)
        assert note is None or f"{text} {note}" in flat


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_constraints_are_those_of_the_parameters_the_estimator_has(cls):
    # no constraint of a parameter the estimator does not have (nor one missing)
    assert set(cls._parameter_constraints) == set(_signature(cls))


def test_the_families():
    assert issubclass(COLAEmbedder, BaseWindowEmbedder)
    assert issubclass(ContrastiveAudioEmbedder, BaseWindowEmbedder)
    assert issubclass(CPCEmbedder, BaseSequenceEmbedder)
    assert issubclass(TokenTransformerEmbedder, BaseSequenceEmbedder)
    for cls in ESTIMATORS:
        assert not hasattr(cls, "_embeds_whole_clips")


def test_format_default():
    assert [format_default(v) for v in ("auto", None, 0.0, 1e-3, 2e-4, 0.5, 64, False)] == [
        '"auto"',
        "None",
        "0.0",
        "1e-3",
        "2e-4",
        "0.5",
        "64",
        "False",
    ]


def test_partial_fit_trains_one_epoch_without_rewriting_max_epochs(monkeypatch):
    X, _ = make_tones(n_clips=8, sample_rate=8000, random_state=0)
    params = dict(
        sample_rate=8000,
        segment_seconds=0.25,
        n_mels=16,
        embedding_dim=16,
        projection_dim=8,
        batch_size=4,
        max_epochs=7,
        random_state=0,
    )
    seen = []
    pretrain = COLAEmbedder._pretrain

    def spy(self, *args, **kwargs):
        seen.append(self.max_epochs)
        return pretrain(self, *args, **kwargs)

    monkeypatch.setattr(COLAEmbedder, "_pretrain", spy)
    embedder = COLAEmbedder(**params).partial_fit(X)
    assert seen == [7]  # the parameter is never rewritten, not even during the call
    assert len(embedder.history_) == 1 and embedder.net_.max_epochs == 1
    # the one-epoch partial_fit equals fit with max_epochs=1
    one = COLAEmbedder(**{**params, "max_epochs": 1}).fit(X)
    np.testing.assert_array_equal(embedder.transform(X), one.transform(X))
