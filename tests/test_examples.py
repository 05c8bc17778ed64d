"""The gallery examples run as written (the docs build runs them too), so they cannot rot."""

import runpy
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("plot_*.py"))


def test_the_gallery_has_its_examples():
    assert len(EXAMPLES) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda path: path.stem)
def test_example_runs(script, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples may write files (a saved model)
    try:
        runpy.run_path(str(script), run_name="__main__")
        assert plt.get_fignums(), "a gallery example draws at least one figure"
    finally:
        plt.close("all")
