"""fleetd's server loops: losing etcd connectivity must not stop or restart local units."""

import time

import etcd

from fleet_testkit import FakeSystemd, wait_for
from labs.node.fleet.unit import UnitFile

M1 = "1" * 32
BODY = UnitFile.parse("[Service]\nExecStart=/bin/true\n\n[X-Fleet]\nMachineID=%s\n" % M1)


class CuttableClient:
    """Wraps an etcd client; while `cut`, every request fails like a refused connection."""

    def __init__(self, client):
        self.client = client
        self.cut = False

    def __getattr__(self, name):
        method = getattr(self.client, name)

        def call(*args, **kwargs):
            if self.cut:
                raise etcd.EtcdConnectionFailed("connection refused")
            return method(*args, **kwargs)
        return call


def test_connectivity_loss_longer_than_the_ttl_keeps_units_running(cluster, registry):
    """docs/fleet.md §7 scenario 17 on one machine: after the cut, the engine must not see its own
    machine as gone (its heartbeat re-registers first), so nothing is unloaded or restarted."""
    server = cluster.add_machine(M1)
    registry.create_unit("a.service", BODY, "launched")
    systemd = cluster.systemds[M1]
    wait_for(lambda: "a.service" in systemd.active and registry.unit("a.service").job_state_machine == M1,
             message="a.service launched")
    calls_before = list(systemd.calls)
    client = CuttableClient(server.registry.client)
    server.registry.client = client
    client.cut = True
    wait_for(lambda: not server.healthy.is_set(), timeout=cluster.ttl * 2, message="the monitor noticing")
    wait_for(lambda: registry.machines() == [], timeout=cluster.ttl * 3, message="the presence key expiring")
    time.sleep(cluster.interval * 2)
    client.cut = False
    wait_for(server.healthy.is_set, timeout=cluster.ttl * 2, message="the heartbeat getting through")
    assert [m.id for m in registry.machines()] == [M1]
    time.sleep(cluster.interval * 6)  # several engine and agent rounds
    assert systemd.calls == calls_before  # no unload, load or start
    assert "a.service" in systemd.active
    unit = registry.unit("a.service")
    assert (unit.target_machine, unit.job_state_machine) == (M1, M1)


def test_paused_server_does_no_engine_or_agent_work(cluster, registry):
    """While unhealthy, the gated loops skip their rounds (they run again once healthy)."""
    server = cluster.add_machine(M1)
    refresh = server.registry.refresh_machine

    def failing_heartbeat(*args):
        raise etcd.EtcdConnectionFailed("connection refused")

    server.registry.refresh_machine = failing_heartbeat
    wait_for(lambda: not server.healthy.is_set(), timeout=cluster.ttl * 2, message="the monitor noticing")
    registry.create_unit("a.service", BODY, "launched")
    time.sleep(cluster.interval * 3)
    assert registry.unit("a.service").target_machine == ""
    assert cluster.systemds[M1].calls == []
    # the next heartbeat that gets through restores health and wakes both loops
    server.registry.refresh_machine = refresh
    wait_for(lambda: "a.service" in cluster.systemds[M1].active, timeout=cluster.ttl * 3,
             message="a.service launched after the heartbeat")


def test_a_new_target_state_wakes_engine_and_agent_through_the_watch(cluster, registry):
    """fleet's watch on P/job (registry/event.go): a unit is scheduled and started about a second
    after its target state is written, not at the next periodic round, here a minute away. The
    quiet spell first outlasts a few of the watch's polls, which must each be made again."""
    cluster.add_machine(M1, interval=60.0, watch_poll_timeout=0.5)
    time.sleep(2)
    registry.create_unit("a.service", BODY, "launched")
    wait_for(lambda: "a.service" in cluster.systemds[M1].active, timeout=15,
             message="a.service started by a round the watch woke (the periodic ones are 60 s apart)")


class SlowFakeSystemd(FakeSystemd):
    """A systemd whose load and start of the units in `slow` take `delay` seconds each,
    as a `systemctl` stuck behind a slow unit does."""

    def __init__(self, slow, delay):
        super().__init__()
        self.slow = set(slow)
        self.delay = delay

    def load(self, name, text, has_install_section):
        if name in self.slow:
            time.sleep(self.delay)
        super().load(name, text, has_install_section)

    def start(self, name):
        if name in self.slow:
            time.sleep(self.delay)
        super().start(name)


def test_a_long_reconcile_pass_never_lets_other_units_rows_expire(cluster, registry):
    """A reconcile pass longer than the TTL (here 3 TTLs: a slow unit's load and start) must not
    stop the job-state heartbeat and the unit-state publisher: a.service's `states/*` and
    `job-state` keys stay, so list-units and list-unit-files never lose it (issue 10, item 6)."""
    systemd = cluster.systemds[M1] = SlowFakeSystemd({"slow.service"}, delay=cluster.ttl * 1.5)
    cluster.add_machine(M1)
    registry.create_unit("a.service", BODY, "launched")
    wait_for(lambda: [s.unit_name for s in registry.unit_states()] == ["a.service"]
             and registry.unit("a.service").job_state_machine == M1, message="a.service reported")
    registry.create_unit("slow.service", BODY, "launched")
    wait_for(lambda: "slow.service" in systemd.files, timeout=cluster.ttl * 3, message="the slow pass loading")
    gaps = []
    while "slow.service" not in systemd.active:
        rows = [s.unit_name for s in registry.unit_states()]
        if "a.service" not in rows or registry.unit("a.service").job_state_machine != M1:
            gaps.append(rows)
        time.sleep(0.1)
    assert gaps == []
