"""06-networking's repair check on the live cluster: plausible wrong repairs fail with a hint
that points the way, the right one passes."""

from __future__ import annotations

import pytest

from labs import checks
from labs.exercises.common import CORE_01

pytestmark = pytest.mark.integration


@pytest.fixture
def broken(cluster, progress_home):
    checks.load_exercises()
    entry = checks.EXERCISES["net-docker0-back"]
    entry.reset(cluster, **entry.params)
    entry.breaks(cluster, **entry.params)
    yield cluster
    entry.solve(cluster, **entry.params)
    entry.reset(cluster, **entry.params)


def test_an_address_with_the_wrong_prefix_fails(broken):
    broken[CORE_01].run("sudo ip addr add 172.17.0.1/24 dev docker0")
    try:
        result = checks.check("net-docker0-back", broken)
        assert not result.ok and "docker0 on core-01 has 172.17.0.1/24" in result.message
    finally:
        broken[CORE_01].run("sudo ip addr del 172.17.0.1/24 dev docker0", check=False)


def test_restarting_docker_stops_the_containers_and_fails(broken):
    broken[CORE_01].run("sudo systemctl restart docker.service", timeout=120)
    result = checks.check("net-docker0-back", broken)
    assert not result.ok and "net-a does not run on core-01 any more" in result.message


def test_the_address_put_back_passes(broken):
    broken[CORE_01].run("sudo ip addr add 172.17.0.1/16 dev docker0")
    assert checks.check("net-docker0-back", broken).ok
