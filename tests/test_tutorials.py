"""Run every Python block of every tutorials/*.md chapter, in order, in one namespace a chapter.

Blocks see FIGURES, a folder for the figures they draw: a temporary folder under the tests;
set HCLM_TUTORIAL_FIGURES=tutorials/figures to regenerate the committed PNGs.
"""

import os
import pathlib
import re

import matplotlib
import pytest

matplotlib.use("Agg")

CHAPTERS = sorted((pathlib.Path(__file__).parent.parent / "tutorials").glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(path):
    return BLOCK.findall(path.read_text())


def test_every_chapter_has_code():
    assert len(CHAPTERS) >= 9
    assert all(python_blocks(c) for c in CHAPTERS if not c.name.startswith("99"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_runs(chapter, tmp_path):
    figures = pathlib.Path(os.environ.get("HCLM_TUTORIAL_FIGURES", tmp_path))
    figures.mkdir(parents=True, exist_ok=True)
    namespace = {"FIGURES": figures, "__name__": f"tutorial_{chapter.stem}"}
    for i, block in enumerate(python_blocks(chapter)):
        code = compile(block, f"{chapter.name}, block {i + 1}", "exec")
        exec(code, namespace)        # noqa: S102 — the tutorials are this project's own code
