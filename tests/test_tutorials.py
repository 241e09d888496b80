"""Every tutorials/*.md chapter runs as a reader would run it: its Python blocks, concatenated
in order, as one script given to plain `python` in an empty folder. Nothing is injected; the
package is found as after `pip install -e .` (its folder on PYTHONPATH).

Figures go where each chapter says: $HCLM_TUTORIAL_FIGURES, else figures/ in the working
folder. To regenerate the committed PNGs:
    HCLM_TUTORIAL_FIGURES=$PWD/tutorials/figures python -m pytest tests/test_tutorials.py
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "tutorials").glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(path):
    return BLOCK.findall(path.read_text())


def test_every_chapter_has_code_and_sections():
    assert len(CHAPTERS) >= 9
    for chapter in CHAPTERS:
        text = chapter.read_text()
        assert python_blocks(chapter) or chapter.name.startswith("99"), chapter.name
        assert re.search(r"^## ", text, re.M), f"{chapter.name} has no ## sections"
        # a bold run-in heading at the start of a paragraph should be a section
        assert not re.search(r"^\*\*[^*\n]+\.\*\* ", text, re.M), chapter.name


@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if python_blocks(c)], ids=lambda c: c.stem)
def test_chapter_runs_as_a_plain_script(chapter, tmp_path):
    script = tmp_path / f"{chapter.stem}.py"
    script.write_text("\n".join(python_blocks(chapter)))
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    run = subprocess.run([sys.executable, script.name], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, f"{chapter.name} failed:\n{run.stderr[-3000:]}"
