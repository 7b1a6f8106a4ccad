"""Fixtures of the integration tests; `lab_cluster` (the project's conftest.py) boots the cluster.

- `cluster`: the notebooks' view of the live cluster, built only from its ssh_config;
- `fleet`: the live cluster as fleet tests see it (tests/integration/fleet_fixtures.py);
- `units`: a per-test unit tracker that leaves the cluster as it found it;
- `progress_home`: a progress file of the test's own, and exercises left unsolved by `check`;
- `clean`: the cluster with the exercises of the test module's NOTEBOOK reset, before and after.
"""

from __future__ import annotations

import pytest

from tests.integration.fleet_fixtures import Fleet, Units


@pytest.fixture(scope="session")
def cluster(lab_cluster):
    from labs import Cluster
    with Cluster.from_ssh_config(lab_cluster.path("ssh_config")) as cluster:
        yield cluster


@pytest.fixture
def progress_home(tmp_path, monkeypatch):
    """Checks record into a progress file of this test's own; LABS_SOLVE is off."""
    from labs import checks, progress
    monkeypatch.setattr(progress, "default_path", lambda: tmp_path / "progress.json")
    monkeypatch.delenv(checks.SOLVE_ENV, raising=False)
    return tmp_path


@pytest.fixture
def clean(request, cluster, progress_home):
    from labs import checks
    entries = checks.exercises_of(request.module.NOTEBOOK)
    for entry in entries:
        entry.reset(cluster, **entry.params)
    yield cluster
    for entry in entries:
        entry.reset(cluster, **entry.params)


@pytest.fixture(scope="session")
def fleet(lab_cluster):
    f = Fleet(lab_cluster)
    try:
        f.wait_machines()
        yield f
    finally:
        f.close()


@pytest.fixture
def units(fleet):
    """Per-test unit tracker; afterwards every fleetd runs, no metadata, no units of the test."""
    for machine in fleet.machines:
        fleet.ensure_fleet_running(machine.name)
    fleet.wait_machines()
    tracker = Units(fleet)
    try:
        yield tracker
    finally:
        for machine in fleet.machines:
            fleet.ensure_fleet_running(machine.name)
        fleet.clear_metadata()
        fleet.wait_machines()
        tracker.cleanup()
