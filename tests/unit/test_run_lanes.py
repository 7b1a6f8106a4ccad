"""How many test labs `make test` runs side by side: 4, fewer on a host whose inotify limit
holds fewer (each machine's systemd takes about 8 of root's instances), or LAB_LANES."""

import pytest

from labs.launcher import headroom
from tests import run


@pytest.fixture
def host(monkeypatch):
    """A host with LIMIT inotify instances, USED of them taken; the engine on this host."""
    monkeypatch.delenv("LAB_LANES", raising=False)
    monkeypatch.setattr(headroom, "engine_is_local", lambda: True)

    def with_limit(limit: int, used: int) -> None:
        monkeypatch.setattr(headroom, "measure", lambda: headroom.Headroom(limit, used, exact=True))
    return with_limit


def test_a_roomy_host_runs_four_labs(host):
    host(8192, 40)
    assert run.lane_count() == 4


def test_a_default_host_that_uses_many_instances_runs_fewer(host):
    host(128, 60)             # 68 free: 8 machines, 2 labs of 3
    assert run.lane_count() == 2


def test_a_full_host_still_runs_one_lab(host):
    host(128, 128)            # `lab up` then refuses with the sysctl to run
    assert run.lane_count() == 1


def test_lab_lanes_decides(host, monkeypatch):
    host(128, 120)
    monkeypatch.setenv("LAB_LANES", "3")
    assert run.lane_count() == 3
