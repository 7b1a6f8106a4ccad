"""Every notebook, run top to bottom with its exercises left undone, ends without a traceback,
and every check in it says ✘ — politely, with the hint that names what is missing
(tests/course/hints.py) — as a learner who skips them sees it; no exercise is recorded as done.

Not collected by `pytest tests` (its name does not start with test_): the Makefile's
`course-check` runs it after running every notebook twice in a row with the exercises solved.
The executed notebooks are kept under $COURSE_ARTIFACTS (default: <lab state dir>/executed/)
to read what a failing cell printed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labs import progress
from tests.course import hints, runner

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9][0-9]-*.ipynb"))

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def unsolved(lab_cluster, tmp_path_factory):
    """A learner who has solved nothing: LABS_SOLVE off, and a progress file of their own (not
    the one the solved runs filled), for the kernels started here."""
    changed = {"LABS_SOLVE": "0",
               "LABS_PROGRESS": str(tmp_path_factory.mktemp("learner") / "progress.json")}
    before = {name: os.environ.get(name) for name in changed}
    os.environ.update(changed)
    yield
    for name, value in before.items():
        if value is None:
            del os.environ[name]
        else:
            os.environ[name] = value


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_unsolved_notebook_fails_its_checks_politely(lab_cluster, path):
    executed = runner.execute(path, runner.artifacts_dir(lab_cluster.state))
    errors = runner.tracebacks(executed)
    assert not errors, "cells that raised with the exercises left undone:\n" + "\n".join(errors)
    results = runner.check_results(executed)
    assert results, f"{path.name} has no exercise check"
    passing = [f"cell {index}: {text}" for index, _, text in results if not text.startswith("✘")]
    assert not passing, "checks that do not fail on an unsolved exercise:\n" + "\n".join(passing)
    vague = [f"cell {index}: {text}" for index, exercise, text in results
             if hints.UNSOLVED[exercise] not in text]
    assert not vague, "checks without the hint of tests/course/hints.py:\n" + "\n".join(vague)
    done = progress.load()["exercises"]        # the fixture's LABS_PROGRESS: this learner's file
    assert done == {}, f"checks recorded exercises the learner did not do: {sorted(done)}"
