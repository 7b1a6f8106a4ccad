"""Notebooks are committed without outputs, numbered NN-topic, and open with objectives."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_has_no_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    dirty = [i for i, cell in enumerate(cells) if cell["cell_type"] == "code"
             and (cell.get("outputs") or cell.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; strip them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_numbered_and_states_objectives(path):
    assert re.fullmatch(r"\d\d-[a-z0-9-]+\.ipynb", path.name)
    first = "".join(json.loads(path.read_text())["cells"][0]["source"])
    assert "Objectives" in first and re.search(r"\d+ min", first)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_nbval_markers_are_cell_tags_not_comments(path):
    cells = json.loads(path.read_text())["cells"]
    visible = [i for i, cell in enumerate(cells) if re.search(r"#\s*NBVAL_", "".join(cell["source"]))]
    assert not visible, f"{path.name}: cells {visible} carry an NBVAL comment; tag them instead"


def test_each_notebook_checks_every_one_of_its_exercises():
    """`make test` proves every reference solution by running the notebooks with LABS_SOLVE=1:
    that holds only if each exercise's check is called in its notebook."""
    from labs import checks
    checks.load_exercises()
    for entry in checks.EXERCISES.values():
        path = next(p for p in NOTEBOOKS if p.stem == entry.notebook)
        source = "".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"])
        assert f'check("{entry.id}"' in source, f"{path.name} never checks {entry.id!r}"


def test_every_exercise_has_the_hint_its_unsolved_check_must_give():
    """tests/course/unsolved_notebooks.py looks for each check's hint in tests/course/hints.py
    (and test_toolkit_checks for the reset states the notebooks do not show)."""
    from labs import checks
    from tests.course import hints
    checks.load_exercises()
    assert sorted(hints.UNSOLVED) == sorted(checks.EXERCISES)
    assert set(hints.RESET) <= set(checks.EXERCISES)
