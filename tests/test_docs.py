"""The README's Python snippets, and the guide's runnable ones, run as written."""

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
GUIDE = sorted([ROOT / "doc" / "index.rst", *(ROOT / "doc" / "guide").glob("*.rst")])

# In the guide, a runnable snippet is a ``.. code-block:: python`` with ``:class: runnable``;
# the other blocks are fragments (they use an ``X`` they do not define).
RST_RUNNABLE = re.compile(
    r"^\.\. code-block:: python\n   :class: runnable\n\n((?:(?:   .*)?\n)+)", flags=re.M
)


def _readme_snippets():
    return [
        (README, block)
        for block in re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
        if block.lstrip().startswith(("import", "from"))  # a teaser is not a program
    ]


def _guide_snippets():
    return [
        (page, textwrap.dedent(block))
        for page in GUIDE
        for block in RST_RUNNABLE.findall(page.read_text())
    ]


SNIPPETS = _readme_snippets() + _guide_snippets()


def test_readme_has_runnable_snippets():
    assert _readme_snippets()


def test_guide_runnable_snippets_are_found():
    # the guide marks at least these pages' snippets as runnable; a marker that the
    # pattern above misses would silently drop its snippet from the tests
    pages = {page.name for page, _ in _guide_snippets()}
    assert {"index.rst", "cola.rst", "hear.rst"} <= pages
    marked = sum(page.read_text().count(":class: runnable") for page in GUIDE)
    assert marked == len(_guide_snippets())


@pytest.mark.slow
@pytest.mark.parametrize(
    "source, snippet",
    SNIPPETS,
    ids=lambda s: s.name if isinstance(s, Path) else s.splitlines()[0][:40],
)
def test_snippet_runs(source, snippet, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, str(source), "exec"), {"__name__": "__docs__"})
