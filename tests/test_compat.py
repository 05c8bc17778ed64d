"""skaudio._compat: the one module that touches the private API of a dependency.

Every other module of the package (and every benchmark) imports scikit-learn's parameter
constraints, ``_fit_context``, torch's ``_BatchNorm`` and skorch's ``AccelerateMixin``
from the shim; the shim's fallbacks compute what the private API does.
"""

from __future__ import annotations

import ast
import re
from numbers import Integral
from pathlib import Path

import pytest
import sklearn.base
import sklearn.utils._param_validation as sklearn_param_validation
import skorch.hf
import torch
from sklearn.base import BaseEstimator
from torch import nn

from skaudio import COLAEmbedder, _compat
from skaudio.distributed import DistributedSelfSupervisedNet
from skaudio.layers import GlobalBatchNorm

ROOT = Path(__file__).resolve().parents[1]
SHIM = ROOT / "skaudio" / "_compat.py"
#: the dependencies whose private API must go through the shim
DEPENDENCIES = {"sklearn", "skorch", "torch", "soundfile", "librosa", "accelerate", "soxr", "tqdm"}

#: private attributes still used outside the shim, each until its edit lands: (file, name)
KNOWN: set[tuple[str, str]] = set()


def _sources() -> list[Path]:
    files = sorted((ROOT / "skaudio").rglob("*.py")) + sorted((ROOT / "benchmarks").rglob("*.py"))
    return [path for path in files if path != SHIM]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_imports(path: Path) -> list[str]:
    """``from torch.nn.modules.batchnorm import _BatchNorm``-like imports of ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            parts = node.module.split(".")
            names = [alias.name for alias in node.names]
            if parts[0] in DEPENDENCIES and any(map(_private, parts + names)):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in DEPENDENCIES and any(map(_private, parts)):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: import {alias.name}")
    return found


def _dependency_aliases(tree: ast.AST) -> set[str]:
    """Names bound to a dependency module or one of its objects (``torch``, ``nn``, ``sf``)."""
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in DEPENDENCIES:
                    aliases.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if node.module.split(".")[0] in DEPENDENCIES:
                aliases |= {alias.asname or alias.name for alias in node.names}
    return aliases


def _private_attributes(path: Path) -> set[tuple[str, str]]:
    """(file, dotted name) of every ``torch._foreach_mul``-like attribute read in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    aliases = _dependency_aliases(tree)
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        chain = [node.attr]
        value = node.value
        while isinstance(value, ast.Attribute):
            chain.append(value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id in aliases and _private(node.attr):
            found.add((str(path.relative_to(ROOT)), ".".join([value.id, *reversed(chain)])))
    return found


def test_the_grep_of_the_issue_finds_only_the_shim():
    pattern = re.compile(r"from (sklearn|skorch|torch|soundfile|librosa|accelerate)[a-z_.]*\._")
    hits = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "skaudio").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits and {hit.split(":")[0] for hit in hits} == {"skaudio/_compat.py"}


def test_no_private_import_of_a_dependency_outside_the_shim():
    assert [hit for path in _sources() for hit in _private_imports(path)] == []
    assert _private_imports(SHIM)  # the check sees the imports the shim does make


def test_no_private_attribute_of_a_dependency_outside_the_shim():
    found = set().union(*map(_private_attributes, _sources()))
    assert sorted(found - KNOWN) == []
    assert sorted(KNOWN - found) == []  # an entry whose edit landed leaves the list


def test_parse_version():
    assert _compat.parse_version("1.9.1") == (1, 9, 1)
    assert _compat.parse_version("2.13.0+cpu") == (2, 13, 0)
    assert _compat.parse_version("1.10.dev0") > _compat.parse_version("1.9.1")
    assert _compat.TORCH_VERSION >= (2, 1) and _compat.SKLEARN_VERSION >= (1, 6)
    with pytest.raises(ValueError, match="not a version"):
        _compat.parse_version("dev")


def test_the_shim_hands_out_the_dependencies_own_objects():
    assert _compat.InvalidParameterError is sklearn_param_validation.InvalidParameterError
    assert _compat.Interval is sklearn_param_validation.Interval
    assert _compat.StrOptions is sklearn_param_validation.StrOptions
    assert _compat._fit_context is sklearn.base._fit_context
    assert _compat._BatchNorm is nn.modules.batchnorm._BatchNorm
    assert _compat.AccelerateMixin is skorch.hf.AccelerateMixin
    assert issubclass(GlobalBatchNorm, nn.modules.batchnorm._BatchNorm)


def test_estimators_raise_the_shims_invalid_parameter_error():
    with pytest.raises(_compat.InvalidParameterError, match="batch_size"):
        COLAEmbedder(batch_size=0).fit([torch.zeros(800).numpy()])


class _Toy(BaseEstimator):
    _parameter_constraints: dict = {"width": [_compat.Interval(Integral, 1, None, closed="left")]}

    def __init__(self, width=1):
        self.width = width

    def fit(self, X=None):
        self.fitted_ = True
        return self


@pytest.mark.parametrize("decorate", [_compat._fit_context, _compat._fit_context_fallback])
def test_fit_context_fallback_validates_as_sklearn_does(decorate):
    toy = type("Toy", (_Toy,), {"fit": decorate(prefer_skip_nested_validation=True)(_Toy.fit)})
    assert toy(width=3).fit().fitted_
    with pytest.raises(_compat.InvalidParameterError) as raised:
        toy(width=0).fit()
    assert not hasattr(toy(width=0), "fitted_")
    expected = "The 'width' parameter of Toy must be an int in the range [1, inf). Got 0 instead."
    assert str(raised.value) == expected  # the same message from either decorator


def test_batch_norm_base_found_without_the_private_path():
    assert _compat._batch_norm_base() is nn.modules.batchnorm._BatchNorm


@pytest.mark.parametrize(
    ("batch_norm", "good", "bad"),
    [(nn.BatchNorm1d, (4, 3), (4, 3, 2, 2)), (nn.BatchNorm2d, (4, 3, 2, 2), (4, 3, 2))],
)
def test_batch_norm_input_check_is_torchs(batch_norm, good, bad):
    check = _compat.batch_norm_input_check(batch_norm)
    assert check is batch_norm._check_input_dim
    check(batch_norm(3), torch.zeros(good))
    with pytest.raises(ValueError, match="expected"):
        check(batch_norm(3), torch.zeros(bad))


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("tau", [0.99, torch.tensor(0.9)])
def test_momentum_update_matches_the_moving_average(monkeypatch, fused, tau):
    monkeypatch.setattr(_compat, "_HAS_FOREACH", fused)
    generator = torch.Generator().manual_seed(0)
    target = [torch.randn(3, 4, generator=generator), torch.randn(5, generator=generator)]
    online = [torch.randn(3, 4, generator=generator), torch.randn(5, generator=generator)]
    expected = [t * tau + o * (1.0 - tau) for t, o in zip(target, online, strict=True)]
    _compat.momentum_update_(target, online, tau)
    assert all(torch.equal(t, e) for t, e in zip(target, expected, strict=True))


def test_the_accelerate_override_still_overrides_a_skorch_method():
    """If skorch renames the hook, the override would be dead code: this fails first."""
    for name in _compat.SKORCH_ACCELERATE_HOOKS:
        assert callable(vars(skorch.hf.AccelerateMixin).get(name))
    assert "_initialize_accelerator" in vars(DistributedSelfSupervisedNet)
    assert skorch.hf.AccelerateMixin in DistributedSelfSupervisedNet.__mro__


def test_a_skorch_without_the_hooks_fails_on_use_with_the_reason():
    class OldMixin:  # a skorch whose AccelerateMixin lost _unwrap_accelerator
        def _initialize_accelerator(self):
            return self

    checked = _compat.checked_accelerate_mixin(OldMixin)
    assert checked is not OldMixin and issubclass(checked, OldMixin)
    with pytest.raises(ImportError, match=r"AccelerateMixin\._unwrap_accelerator.*skorch"):
        checked()


def test_the_skorch_net_internals_skaudio_uses_are_there():
    # SelfSupervisedNet's training step and the accelerate net read these members of an
    # initialised skorch NeuralNet; a skorch release without them fails here, by name
    import torch
    from skorch import NeuralNet

    net = NeuralNet(torch.nn.Linear(2, 1), criterion=torch.nn.MSELoss).initialize()
    missing = [name for name in _compat.SKORCH_NET_INTERNALS if not hasattr(net, name)]
    assert missing == []
    assert callable(net._set_training)
    assert list(net._optimizers) == ["optimizer"] and list(net._criteria) == ["criterion"]
