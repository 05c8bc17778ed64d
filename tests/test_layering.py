"""Data flows one way: no module of skaudio imports a module of a later layer.

The layers, in the order of ``doc/architecture.rst``::

    io -> clips -> features -> augment -> encoders -> models/heads -> losses
       -> training -> estimators -> cli/folder/hear

Every import statement of the package is read with ``ast`` (lazy imports inside
functions included, docstrings not), resolved to the top-level module it reaches
(``skaudio.losses._cola`` -> ``losses``), and must not reach a later layer than the
importing module's own. Imports within one layer are allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "skaudio"

#: top-level module (or subpackage) -> layer; a module may import its own layer and earlier ones
LAYERS = {
    # foundations every layer may use: no skaudio imports but each other
    "exceptions": 0,
    "_atomic": 0,
    "_allocator": 0,
    "_torch_utils": 0,
    "_collectives": 0,  # torch only: world size, rank, the gathers
    "_compat": 0,  # the private APIs of scikit-learn, skorch and torch, in one place
    "_random": 0,  # the streams of a training call: numpy, sklearn, torch, _torch_utils
    # data
    "io": 1,
    "segments": 2,
    "clips": 2,
    "data": 2,  # the training datasets
    "_manifest": 2,  # fingerprints of the clips
    "features": 3,
    "augment": 4,
    "encoders": 5,
    "layers": 5,  # batch norm over the global batch: a building block of models
    "similarity": 6,
    "heads": 6,
    "models": 6,
    "losses": 7,
    "training": 8,
    "checkpoint": 8,
    "distributed": 8,  # the accelerate net: a SelfSupervisedNet, so after training
    "_inference": 8,  # the embedding loops shared by the estimators and hear
    "estimators": 9,
    "baselines": 9,
    "datasets": 9,
    "probing": 9,
    "plotting": 9,
    "_model_file": 10,
    "_shards": 10,
    "folder": 10,
    "cli": 10,
    "hear": 10,
    "__main__": 10,
    "__init__": 11,  # the package itself: imports the estimators and baselines
}

#: (importer, imported) pairs allowed against the order, each with its reason
ALLOWED = {
    ("cli", "__init__"): "``from . import __version__``: the version lives in the package",
}


def _component(module: str) -> str:
    """``skaudio.losses._cola`` -> ``losses``; ``skaudio`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """Absolute skaudio modules imported by ``path``, with their line numbers."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None:  # from . import x: x may be a submodule
                for alias in node.names:
                    sub = PACKAGE.parent.joinpath(*target.split("."), alias.name)
                    is_module = sub.with_suffix(".py").exists() or sub.is_dir()
                    found.append((f"{target}.{alias.name}" if is_module else target, node.lineno))
            else:
                found.append((target, node.lineno))
    return [(module, line) for module, line in found if module.split(".")[0] == "skaudio"]


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _edges() -> list[tuple[str, str, str]]:
    """(importer component, imported component, 'file:line') of every cross-module import."""
    edges = []
    for path in _modules():
        importer = _component(_module_name(path)) if path.parent != PACKAGE else path.stem
        if path == PACKAGE / "__init__.py":
            importer = "__init__"
        for module, line in _imports(path):
            imported = _component(module)
            if imported != importer:
                edges.append((importer, imported, f"{path.relative_to(PACKAGE.parent)}:{line}"))
    return edges


def test_every_module_has_a_layer():
    components = {_component(_module_name(path)) for path in _modules()}
    components |= {path.stem for path in PACKAGE.glob("*.py")}
    assert sorted(components - set(LAYERS)) == []


def test_no_module_imports_a_later_layer():
    backwards = [
        f"{where}: {importer} (layer {LAYERS[importer]}) imports {imported} "
        f"(layer {LAYERS[imported]})"
        for importer, imported, where in _edges()
        if LAYERS[imported] > LAYERS[importer] and (importer, imported) not in ALLOWED
    ]
    assert backwards == []


def test_every_allowed_exception_is_still_needed():
    edges = {(importer, imported) for importer, imported, _ in _edges()}
    assert sorted(set(ALLOWED) - edges) == []


@pytest.mark.parametrize(
    ("component", "allowed"),
    [
        ("_collectives", set()),  # a leaf: torch only
        ("_compat", set()),  # a leaf: the dependencies only
        ("_random", {"_torch_utils"}),
        ("layers", {"_collectives", "_compat"}),
        ("similarity", {"_torch_utils"}),
    ],
)
def test_leaves_import_only_their_foundations(component, allowed):
    imported = {b for a, b, _ in _edges() if a == component}
    assert imported <= allowed


def test_the_resolver_sees_relative_and_lazy_imports():
    """The check cannot pass by not seeing imports: it finds the known ones."""
    edges = {(a, b) for a, b, _ in _edges()}
    assert ("losses", "models") in edges  # from ..models.cola import COLAOutput
    assert ("heads", "similarity") in edges  # from .similarity import ...
    assert ("distributed", "training") in edges
    assert ("cli", "folder") in edges
    assert ("models", "losses") not in edges and ("heads", "losses") not in edges
