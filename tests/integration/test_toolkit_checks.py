"""A check on the state its exercise's reset leaves, where that is not the state the notebook
shows: it fails with a specific hint (tests/course/hints.py RESET; the hints a learner who
skipped an exercise sees are asserted by tests/course/unsolved_notebooks.py). A check passed by
the reference solution is recorded so in progress.json."""

from __future__ import annotations

import json

import pytest

from labs import checks
from tests.course import hints

pytestmark = pytest.mark.integration

checks.load_exercises()


def recorded_exercises(progress_home) -> dict:
    """What progress.json records (a repair exercise's `breaks` may record the one before it)."""
    path = progress_home / "progress.json"
    return json.loads(path.read_text())["exercises"] if path.exists() else {}


@pytest.fixture(scope="module", autouse=True)
def notebooks_cleaned_up(cluster):
    """What the notebooks and solutions leave (fleet metadata, a db.service, web containers on
    port 8080) goes after the last check (before each notebook's first: come_to_notebook)."""
    from labs import lesson
    yield
    lesson.clean_every_notebook(cluster)


@pytest.fixture(scope="module")
def come_to_notebook(cluster):
    """What `lesson.begin` does when a learner opens another notebook: every notebook's
    leftovers go (04's fleet metadata drop-in would otherwise outrank 01's user-data)."""
    from labs import lesson
    visited: list[str] = []

    def come(notebook: str) -> None:
        if visited[-1:] != [notebook]:
            lesson.start_clean(notebook, cluster)
            visited.append(notebook)
    return come


@pytest.mark.parametrize("exercise_id", sorted(hints.RESET))
def test_check_fails_unsolved_with_its_hint(cluster, progress_home, come_to_notebook, exercise_id):
    """From a reset cluster (a repair exercise: broken), the check says ✘ with the hint that
    names what is missing, and records nothing. That every check passes after its reference
    solution, `make test` proves by running each notebook with LABS_SOLVE=1 (a check that
    still fails there raises CheckFailed)."""
    entry = checks.EXERCISES[exercise_id]
    come_to_notebook(entry.notebook)
    entry.reset(cluster, **entry.params)
    if entry.breaks:                     # a repair exercise: unsolved means broken
        entry.breaks(cluster, **entry.params)
    try:
        unsolved = checks.check(exercise_id, cluster)
        assert not unsolved.ok and str(unsolved).startswith("✘")
        assert hints.RESET[exercise_id] in unsolved.message
        assert exercise_id not in recorded_exercises(progress_home)
    finally:
        if entry.breaks:
            entry.solve(cluster, **entry.params)
        entry.reset(cluster, **entry.params)


def test_a_check_passed_by_the_reference_solution_is_recorded_so(cluster, progress_home,
                                                                 come_to_notebook):
    entry = checks.EXERCISES["welcome-file"]
    come_to_notebook(entry.notebook)
    entry.reset(cluster, **entry.params)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(checks.SOLVE_ENV, "1")          # what the test suite sets
            solved = checks.check("welcome-file", cluster)
        assert solved.ok and str(solved).startswith("✔") and solved.solved_by_solution
        recorded = json.loads((progress_home / "progress.json").read_text())["exercises"]
        assert recorded["welcome-file"]["by"] == "reference solution"
        table = checks.progress()
        assert table.done == len(recorded) == 1 and f"✔ {entry.notebook}" in str(table)
    finally:
        entry.reset(cluster, **entry.params)


def test_solution_that_does_not_pass_raises_under_labs_solve(cluster, progress_home, monkeypatch):
    monkeypatch.setenv(checks.SOLVE_ENV, "1")
    monkeypatch.setitem(checks.EXERCISES, "broken", checks.Exercise(
        "broken", "A broken exercise", "99-test", check=lambda c: checks.failed("never"),
        solve=lambda c: None, reset=lambda c: None))
    with pytest.raises(checks.CheckFailed, match="even after the reference solution"):
        checks.check("broken", cluster)
