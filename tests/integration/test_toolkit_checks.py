"""Every exercise: its check fails (with a specific hint) on the unsolved state, and passes
after its reference solution; passing is recorded in progress.json."""

from __future__ import annotations

import json

import pytest

from labs import checks
from tests.integration.toolkit_fixtures import cluster  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration

HINTS = {   # what the hint says on the unsolved state
    "etcd-key": "does not exist yet",
    "etcd-ttl": "there is no key /workshop/session",
    "docker-web": "no container named 'web' on core-02",
    "systemd-hello": "does not know hello.service",
    "bridge-by-hand": "has no interface br-lab",
    "etcd-services": "nothing is registered under /workshop/web yet",
    "docker-announce": "no container named 'announcer' on core-03",
    "docker-image-copy": "core-03 has no image lab/hello:1",
    "welcome-file": "there is no /home/core/hello.txt on core-02",
    "welcome-find-machine": "no machine has /home/core/found-me",
    "launch-user-data": "user-data.fixed yet",
    "launch-leader": "there is no key /workshop/leader",
    "systemd-dropin": "does not know quitter.service",
    "systemd-timer": "does not know stamp.timer",
    "net-veth": "there is no running container named 'probe' on core-02",
    "fleet-pin": "fleet does not know pinned.service yet",
    "fleet-spread": "fleet does not know worker@1.service",
    "fleet-global": "fleet does not know everywhere.service yet",
}
checks.load_exercises()


@pytest.fixture
def progress_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_HOME", str(tmp_path))
    monkeypatch.delenv(checks.SOLVE_ENV, raising=False)
    return tmp_path


def test_every_exercise_has_a_hint_here():
    assert sorted(checks.EXERCISES) == sorted(HINTS)


@pytest.mark.parametrize("exercise_id", sorted(HINTS))
def test_check_fails_unsolved_and_passes_solved(cluster, progress_home, exercise_id):
    entry = checks.EXERCISES[exercise_id]
    entry.reset(cluster, **entry.params)
    try:
        unsolved = checks.check(exercise_id, cluster)
        assert not unsolved.ok and str(unsolved).startswith("✘")
        assert HINTS[exercise_id] in unsolved.message
        assert not (progress_home / "progress.json").exists()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(checks.SOLVE_ENV, "1")          # what the test suite sets
            solved = checks.check(exercise_id, cluster)
        assert solved.ok and str(solved).startswith("✔") and solved.solved_by_solution
        recorded = json.loads((progress_home / "progress.json").read_text())["exercises"]
        assert recorded[exercise_id]["by"] == "reference solution"
        table = checks.progress()
        assert table.done == 1 and f"✔ {entry.notebook}" in str(table)
    finally:
        entry.reset(cluster, **entry.params)


def test_wrong_value_gets_a_specific_hint(cluster, progress_home):
    cluster["core-02"].run("ETCDCTL_API=2 etcdctl set /workshop/alice x")
    try:
        result = checks.check("etcd-key", cluster)
        assert result.message == "the key /workshop/alice exists but holds 'x', expected 'hello etcd'"
    finally:
        cluster["core-02"].run("ETCDCTL_API=2 etcdctl rm /workshop/alice", check=False)


def test_solution_that_does_not_pass_raises_under_labs_solve(cluster, progress_home, monkeypatch):
    monkeypatch.setenv(checks.SOLVE_ENV, "1")
    monkeypatch.setitem(checks.EXERCISES, "broken", checks.Exercise(
        "broken", "A broken exercise", "99-test", check=lambda c: checks.failed("never"),
        solve=lambda c: None, reset=lambda c: None))
    with pytest.raises(checks.CheckFailed, match="even after the reference solution"):
        checks.check("broken", cluster)
