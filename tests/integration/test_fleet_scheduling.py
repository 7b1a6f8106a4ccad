"""fleet on the live cluster: where units run — global units, [X-Fleet] constraints, pinning.

Acceptance scenarios 5-9 and 11 of docs/fleet.md §7. Machine metadata is set the
way `PATCH /fleet/v1/machines` does it (a `P/machines/<id>/metadata/<key>` key), and
removed again after each test. Where docs/fleet.md §7 adds a 4th machine, the lab (3 machines)
brings one back instead: a fleetd that rejoins picks its global units up on its own.
"""

from __future__ import annotations

import re
import time

from tests.integration.fleet_fixtures import wait_for


def rows_of(fleet, unit):
    return sorted((mid, active, sub) for name, mid, active, sub in fleet.unit_rows() if name == unit)


def test_global_unit_runs_everywhere_and_on_rejoin(fleet, units):
    """Scenario 5: one row per machine; STATE `-`, TARGET `global`; a rejoining machine runs it again."""
    name = units.name("global")
    units.service(name, "Global=true")
    result = units.fleetctl("start", name)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Unit {name} \nTriggered global unit {name} start\n"
    everywhere = sorted((m.id, "active", "running") for m in fleet.machines)
    wait_for(lambda: rows_of(fleet, name) == everywhere, what="the global unit on all 3 machines")
    row = fleet.unit_files()[name]
    assert (row["dstate"], row["state"], row["target"]) == ("launched", "-", "global")

    leaving = fleet.machines[1]
    fleet.stop_fleet(leaving.name)
    fleet.wait_stopped(leaving.name, name)
    wait_for(lambda: leaving.id not in [r[0] for r in rows_of(fleet, name)], what="its row gone")
    fleet.start_fleet(leaving.name)
    wait_for(lambda: rows_of(fleet, name) == everywhere, what="the rejoined machine running it again")
    assert fleet.systemd_active(leaving.name, name) == "active"


def test_global_unit_with_machine_metadata(fleet, units):
    """Scenario 6 (docs example): AND across keys, OR within a key → 1st and 3rd machine only."""
    m1, m2, m3 = fleet.machines
    for machine, metadata in ((m1, {"diskType": "SSD", "region": "us-east-1"}),
                              (m2, {"region": "us-east-1"}),
                              (m3, {"diskType": "SSD", "region": "us-west-1"})):
        for key, value in metadata.items():
            fleet.set_metadata(machine.id, key, value)
    name = units.name("global-meta")
    units.service(name, 'Global=true\nMachineMetadata="region=us-east-1" "diskType=SSD"\n'
                        "MachineMetadata=region=us-west-1")
    assert units.fleetctl("start", name).returncode == 0
    expected = sorted((m.id, "active", "running") for m in (m1, m3))
    wait_for(lambda: rows_of(fleet, name) == expected, what="the unit on m1 and m3")
    time.sleep(3)  # more than an agent interval: m2 still does not run it
    assert rows_of(fleet, name) == expected
    assert fleet.systemd_active(m2.name, name) != "active"


def test_machine_metadata_filter_and_dynamic_metadata(fleet, units):
    """Scenario 7: metadata decides the machine; unschedulable waits until metadata appears."""
    m1, m2, m3 = fleet.machines
    fleet.set_metadata(m2.id, "region", "us-west")
    west = units.name("west")
    units.service(west, "MachineMetadata=region=us-west")
    result = units.fleetctl("start", west)
    assert result.returncode == 0, result.stderr
    assert f"launched on {m2.legend}" in result.stdout

    eu = units.name("eu")
    units.service(eu, "MachineMetadata=region=eu")
    blocked = units.fleetctl("start", "--block-attempts=3", eu)
    assert blocked.returncode == 1
    assert f"timed out waiting for unit {eu} to report state launched" in blocked.stderr
    row = fleet.unit_files()[eu]
    assert (row["dstate"], row["state"], row["target"]) == ("launched", "inactive", "-")

    fleet.set_metadata(m3.id, "region", "eu")  # what PATCH /fleet/v1/machines op=add writes
    assert fleet.wait_active(eu) == m3.id
    machines = fleet.fleetctl("list-machines", "--no-legend", check=True).stdout
    assert f"{m3.short}...\t{m3.ip}\tregion=eu\n" in machines


def test_conflicts(fleet, units):
    """Scenario 8: 5 mutually conflicting units → 3 run on distinct machines, 2 wait."""
    names = [units.name(f"conflict.{i}") for i in range(5)]
    pattern = units.name("conflict.*")
    for name in names:
        units.service(name, f"Conflicts={pattern}")
    result = units.fleetctl("start", "--no-block", *names)
    assert result.returncode == 0, result.stderr

    def settled():
        files = fleet.unit_files()
        running = [n for n in names if files.get(n, {}).get("state") == "launched"]
        active = {n: fleet.active_on(n) for n in running}
        return len(running) == 3 and all(len(v) == 1 for v in active.values()) and (files, active)

    files, active = wait_for(settled, what="3 conflict units active")
    assert set(files) >= set(names)
    assert sorted(m for v in active.values() for m in v) == sorted(m.id for m in fleet.machines)
    waiting = [n for n in names if n not in active]
    assert [(files[n]["dstate"], files[n]["state"], files[n]["target"]) for n in waiting] == \
        [("launched", "inactive", "-")] * 2


def test_one_way_conflict(fleet, units):
    """Scenario 8, one-way: on one machine, the conflicting unit blocks hello until it is destroyed."""
    only = fleet.machines[0]
    fleet.set_metadata(only.id, "it-onebox", units.prefix)
    hello = units.name("hello")
    blocker = units.name("conflicts-with-hello")
    units.service(blocker, f"Conflicts={hello}\nMachineMetadata=it-onebox={units.prefix}")
    units.service(hello, f"MachineMetadata=it-onebox={units.prefix}")
    assert units.fleetctl("start", blocker).returncode == 0
    assert units.fleetctl("start", "--no-block", hello).returncode == 0
    time.sleep(4)  # two engine intervals: hello must still not be placed
    files = fleet.unit_files()
    assert (files[hello]["state"], files[hello]["target"]) == ("inactive", "-")
    assert fleet.active_on(blocker) == [only.id]
    assert fleet.fleetctl("destroy", blocker).stdout == f"Destroyed {blocker}\n"
    assert fleet.wait_active(hello) == only.id


def test_machine_of_colocation_and_joint_migration(fleet, units):
    """Scenario 9: pong.N follows ping.N; stopping ping.1's fleetd moves both together."""
    pings = [units.name(f"ping.{i}") for i in range(3)]
    pongs = [units.name(f"pong.{i}") for i in range(3)]
    for ping, pong in zip(pings, pongs):
        units.service(ping)
        units.service(pong, f"MachineOf={ping}")
    result = units.fleetctl("start", *pings, *pongs)
    assert result.returncode == 0, result.stderr
    where = {}
    for ping, pong in zip(pings, pongs):
        where[ping] = fleet.wait_active(ping)
        assert fleet.wait_active(pong) == where[ping]

    old = fleet.by_id[where[pings[1]]]
    try:
        fleet.stop_fleet(old.name)

        def moved():
            a = fleet.active_on(pings[1])
            b = fleet.active_on(pongs[1])
            return len(a) == 1 and a == b and a[0] != old.id and a[0]

        new = wait_for(moved, what="ping.1 and pong.1 on one new machine")
        assert new in fleet.by_id
        for name in (pings[1], pongs[1]):
            fleet.wait_stopped(old.name, name)
    finally:
        fleet.start_fleet(old.name)


def test_machine_id_pinning(fleet, units):
    """Scenario 11: MachineID (and MachineID=%i in a template) pins; the unit waits for its machine."""
    m2 = fleet.machines[1]
    pinned = units.name("pinned")
    units.service(pinned, f"MachineID={m2.id}")
    template = units.name("pin@")
    units.service(template, "MachineID=%i")
    instance = units.name(f"pin@{m2.id}")
    result = units.fleetctl("start", pinned, instance)
    assert result.returncode == 0, result.stderr
    assert fleet.wait_active(pinned) == m2.id
    assert fleet.wait_active(instance) == m2.id

    try:
        fleet.stop_fleet(m2.name)

        def waiting():
            files = fleet.unit_files()
            return all((files[n]["dstate"], files[n]["state"], files[n]["target"]) ==
                       ("launched", "inactive", "-") for n in (pinned, instance)) and files

        wait_for(waiting, what="pinned units unscheduled")
        time.sleep(4)  # two engine intervals: still nowhere else
        assert [r for r in fleet.unit_rows() if r[0] in (pinned, instance)] == []
        assert waiting()
    finally:
        fleet.start_fleet(m2.name)
    assert fleet.wait_active(pinned) == m2.id
    assert fleet.wait_active(instance) == m2.id
    assert re.search(rf"{re.escape(pinned)}\t+{m2.short}\.\.\./", fleet.fleetctl("list-units").stdout)
