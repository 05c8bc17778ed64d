"""Sphinx configuration of the skaudio documentation (``make docs``: warnings are errors)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import skaudio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

project = "skaudio"
author = "skaudio developers"
copyright = "2026, skaudio developers"
release = version = skaudio.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
templates_path = ["_templates"]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
# numpydoc builds each class's member table itself; autosummary's would repeat it
numpydoc_show_class_members = False
numpydoc_validation_checks = set()

# no network on the build machine: intersphinx stays empty unless inventories are cached
intersphinx_mapping: dict = {}

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(^|/)(demo|_\w+)\.py$",
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "plot_gallery": "True",
}

html_theme = "alabaster"
html_static_path: list = []
html_theme_options = {"description": "Self-supervised audio representation learning, sklearn-style"}
