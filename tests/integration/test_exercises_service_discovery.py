"""07-service-discovery's checks on the live cluster: plausible wrong answers (the docs' units
with one line missing) fail with a hint that points the way before it names the fix. The
notebook's own units pass in notebook 07's solved run (a check that fails there raises
CheckFailed)."""

from __future__ import annotations

import pytest

from labs import checks
from labs.exercises import service_discovery as sd

pytestmark = pytest.mark.integration

NOTEBOOK = "07-service-discovery"


@pytest.fixture
def greeting(clean):
    clean[sd.fl.CONTROL].run(f"etcdctl set {sd.GREETING_KEY} Hello >/dev/null")
    yield clean
    sd.forget(clean)


def start(cluster, name, text, instances):
    sd._write_and_start(cluster, name, text, instances)


def test_web_without_conflicts_fails_though_fleet_spread_it(greeting):
    start(greeting, "web@.service", sd.WEB_UNIT.replace("[X-Fleet]\nConflicts=web@*.service\n", ""),
          sd.INSTANCES)
    result = checks.check("sd-web", greeting)
    assert not result.ok and "may share a machine" in result.message
    assert "Conflicts=" not in result.message                  # the first hint points the way
    assert "Conflicts=web@*.service" in str(checks.check("sd-web", greeting, hint=2))


def test_sidekick_without_ttl_or_machineof_fails(greeting):
    start(greeting, "web@.service", sd.WEB_UNIT, sd.INSTANCES)
    start(greeting, "web-discovery@.service", sd.DISCOVERY_UNIT.replace(" --ttl 20", ""), sd.SIDEKICKS)
    result = checks.check("sd-sidekick", greeting)
    assert not result.ok and "has no TTL" in result.message
    sd.fl.destroy(greeting, list(sd.SIDEKICKS) + ["web-discovery@.service"])
    start(greeting, "web-discovery@.service",
          sd.DISCOVERY_UNIT.replace("[X-Fleet]\nMachineOf=web@%i.service\n", ""), sd.SIDEKICKS)
    result = checks.check("sd-sidekick", greeting)
    assert not result.ok and "not tied to the machine of web@1" in result.message
    assert "MachineOf=" not in result.message
