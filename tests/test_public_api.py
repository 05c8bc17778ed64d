"""The public API is what a user needs, and doc/api.rst documents exactly it.

A public module is one whose dotted path has no component starting with ``_``. Its
``__all__`` lists its public names; every one of them exists and is documented in
``doc/api.rst`` (under its own module or under another that exports the same object),
and every name ``doc/api.rst`` documents is in its module's ``__all__``. Internals left
``__all__`` but stay importable where users may have imported them from.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import skaudio

API_RST = Path(__file__).resolve().parents[1] / "doc" / "api.rst"

#: names that were public and are internals: (module they import from, name)
INTERNALS = [
    ("skaudio.checkpoint", "clip_digests"),
    ("skaudio.checkpoint", "load_checkpoint"),
    ("skaudio.checkpoint", "net_state"),
    ("skaudio.checkpoint", "restore_checkpoint"),
    ("skaudio.clips", "clips_of"),
    ("skaudio.data", "ClipWindows"),
    ("skaudio.data", "batch_to_device"),
    ("skaudio.data", "collate_batch"),
    ("skaudio.data", "seed_worker"),
    ("skaudio.training", "GradScaling"),
    ("skaudio.training", "LearningRateSchedule"),
    ("skaudio.training", "training_callbacks"),
    ("skaudio.training", "batch_to_device"),
    ("skaudio.training", "collate_batch"),
    ("skaudio.training", "seed_worker"),
    ("skaudio.segments", "crop_or_pad"),
    ("skaudio.segments", "random_offset"),
    ("skaudio.segments", "random_segment"),
    ("skaudio.segments", "sliding_windows"),
    ("skaudio.segments", "window_starts"),
    ("skaudio.layers", "GlobalBatchNorm"),
    ("skaudio.layers", "GlobalBatchNorm1d"),
    ("skaudio.layers", "GlobalBatchNorm2d"),
    ("skaudio.layers", "GlobalBatchNorm3d"),
    ("skaudio.distributed", "GlobalBatchNorm"),
    ("skaudio.distributed", "GlobalBatchNorm1d"),
    ("skaudio.distributed", "GlobalBatchNorm2d"),
    ("skaudio.distributed", "GlobalBatchNorm3d"),
    ("skaudio.distributed", "distributed_net_class"),
    ("skaudio.distributed", "gather"),
    ("skaudio.distributed", "global_batch_accelerator"),
    ("skaudio.distributed", "is_distributed"),
    ("skaudio.distributed", "join_processes"),
    ("skaudio.distributed", "rank"),
    ("skaudio.distributed", "world_size"),
    ("skaudio.augment", "static_shapes"),
    ("skaudio.augment", "uses_static_shapes"),
    ("skaudio.estimators.token_transformer", "codebook_statistics"),
    ("skaudio.models.cpc", "CausalTransformer"),
    ("skaudio.models.cpc", "GRUContext"),
    ("skaudio.models.cpc", "make_context_network"),
    ("skaudio.models.token_transformer", "NextTokenTransformer"),
    ("skaudio.models.token_transformer", "PatchReconstruction"),
]

#: public names that other public modules re-export under their old path, out of __all__
REEXPORTS = [
    ("skaudio.losses", "COLAOutput", "skaudio.models"),
    ("skaudio.losses", "CPCOutput", "skaudio.models"),
    ("skaudio.losses", "BYOLOutput", "skaudio.models"),
    ("skaudio.losses", "NextTokenOutput", "skaudio.models"),
    ("skaudio.losses", "PitchEquivarianceOutput", "skaudio.models"),
    ("skaudio.losses", "byol_momentum", "skaudio.models"),
    ("skaudio.losses", "bilinear_logits", "skaudio.similarity"),
    ("skaudio.losses", "cosine_logits", "skaudio.similarity"),
    ("skaudio.training", "SegmentPairDataset", "skaudio.data"),
    ("skaudio.layers", "convert_sync_batchnorm", "skaudio.distributed"),
]


def _public_modules() -> dict[str, object]:
    modules = {"skaudio": skaudio}
    for info in pkgutil.walk_packages(skaudio.__path__, "skaudio."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            modules[info.name] = importlib.import_module(info.name)
    return modules


def _documented() -> list[tuple[str, str]]:
    """(current module, name) of every autosummary entry of doc/api.rst."""
    entries, module, in_autosummary = [], None, False
    for line in API_RST.read_text().splitlines():
        if match := re.match(r"\.\. currentmodule:: (\S+)$", line):
            module = match.group(1)
        if line.startswith(".. autosummary::"):
            in_autosummary = True
        elif in_autosummary and line and not line.startswith(" "):
            in_autosummary = False
        elif in_autosummary and (match := re.match(r"   ([A-Za-z_]\w*)$", line)):
            entries.append((module, match.group(1)))
    return entries


MODULES = _public_modules()


def _public_names() -> list[tuple[str, str]]:
    return [(name, item) for name, module in MODULES.items() for item in module.__all__]


def test_the_resolvers_see_the_api():
    assert {"skaudio", "skaudio.augment", "skaudio.losses", "skaudio.hear"} <= set(MODULES)
    assert ("skaudio", "COLAEmbedder") in _documented()
    assert ("skaudio.losses", "cola_loss") in _documented()
    assert len(_public_names()) > 100


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_public_module_declares_its_public_names(name):
    names = MODULES[name].__dict__.get("__all__")
    assert isinstance(names, list) and len(names) == len(set(names))
    assert [item for item in names if not hasattr(MODULES[name], item)] == []


def test_every_public_name_is_documented():
    documented = {}
    for module, item in _documented():
        documented.setdefault(item, []).append(getattr(MODULES[module], item))
    missing = [
        f"{module}.{item}"
        for module, item in _public_names()
        if not item.startswith("__")
        and not any(obj is getattr(MODULES[module], item) for obj in documented.get(item, []))
    ]
    assert missing == []


def test_every_documented_name_is_public():
    documented = _documented()
    assert len(documented) == len(set(documented))  # each name documented once
    assert [f"{m}.{n}" for m, n in documented if n not in MODULES[m].__all__] == []


@pytest.mark.parametrize(("module", "name"), INTERNALS)
def test_internals_are_not_public_but_still_import(module, name):
    public = {item for _, item in _public_names()}
    assert name not in public
    assert getattr(importlib.import_module(module), name) is not None


@pytest.mark.parametrize(("module", "name", "home"), REEXPORTS)
def test_reexports_keep_the_old_path_to_the_public_object(module, name, home):
    assert name not in MODULES[module].__all__ and name in MODULES[home].__all__
    assert getattr(MODULES[module], name) is getattr(MODULES[home], name)
