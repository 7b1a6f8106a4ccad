"""A student works through the course in the classroom: the same notebooks, from their own copy,
on their own cluster -- with no Docker of their own (the broker runs their `lab` and `vagrant`
commands), their own SSH key, and their progress in their own home."""

from __future__ import annotations

import json


def test_a_student_runs_every_notebook_from_their_copy(students):
    a = students[0]
    course = a.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "notebooks",
                   "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=600",
                   timeout=3600, LABS_SOLVE="1")
    assert course.returncode == 0, course.stdout[-6000:]
    progress = json.loads(a.run("cat", str(a.lab_home / "progress.json")).stdout)
    assert progress["exercises"], "the exercises were recorded in the student's own progress"
