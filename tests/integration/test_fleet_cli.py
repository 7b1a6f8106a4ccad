"""fleet on the live cluster: unit files, fleetctl's output and the unit lifecycle.

Acceptance scenarios 1-4, 12, 13 and 15 of docs/fleet.md §7, run with the
machines' own fleetctl over SSH. Machines are numbered m1 < m2 < m3 by machine ID,
as in docs/fleet.md §7 (not by lab name).
"""

from __future__ import annotations

import hashlib
import json
import re


from tests.integration.fleet_fixtures import lines, wait_for

HELLO_RAW = """# hello.service: not in canonical form
; a comment of the other kind
[Unit]
Description = Hello World

  # an indented comment
[Service]
ExecStart = /bin/sh -c "while true; do echo hello; sleep 1; done"

[Unit]
After=network.target
"""
# Computed by hand from docs/fleet.md §3.1: [Unit] merged at its first position, options in file
# order, names and values trimmed, one blank line between sections, none at the end.
HELLO_CANONICAL = ("[Unit]\nDescription=Hello World\nAfter=network.target\n\n"
                   "[Service]\nExecStart=/bin/sh -c \"while true; do echo hello; sleep 1; done\"\n")
HELLO2_CANONICAL = ("[Unit]\nDescription=Hello again\n\n"
                    "[Service]\nExecStart=/bin/sh -c \"while true; do echo hello2; sleep 1; done\"\n")


def cells(line: str) -> list[str]:
    return re.split(r"\t+", line)


def test_canonical_form_hash_and_cat(fleet, units):
    """Scenario 1: submit prints `inactive`, HASH = SHA1 of the canonical text, etcd layout, cat."""
    hello, hello2 = units.name("hello"), units.name("hello2")
    units.write(hello, HELLO_RAW)
    units.write(hello2, HELLO2_CANONICAL)
    digest = hashlib.sha1(HELLO_CANONICAL.encode()).hexdigest()

    result = units.fleetctl("submit", hello)
    assert (result.returncode, result.stdout) == (0, f"Unit {hello} inactive\n"), result.stderr
    assert units.fleetctl("submit", hello2).returncode == 0

    out = fleet.fleetctl("list-unit-files", "--no-legend").stdout
    row = [cells(line) for line in lines(out) if cells(line)[0] == hello]
    assert row == [[hello, digest[:7], "inactive", "inactive", "-"]]

    body = fleet.etcd_get(f"unit/{digest}")
    assert body is not None and json.loads(body["value"]) == {"Raw": HELLO_CANONICAL}
    assert body["value"] == json.dumps({"Raw": HELLO_CANONICAL}, separators=(",", ":"))
    job = fleet.etcd_get(f"job/{hello}/object")
    assert json.loads(job["value"]) == {"Name": hello, "UnitHash": list(bytes.fromhex(digest))}
    assert fleet.etcd_get(f"job/{hello}/target-state")["value"] == "inactive"

    # cat: the canonical text, no added newline; equal to the file only if it was canonical
    cat = fleet.fleetctl("cat", hello)
    assert (cat.returncode, cat.stdout) == (0, HELLO_CANONICAL)
    assert cat.stdout != HELLO_RAW
    assert fleet.fleetctl("cat", hello2).stdout == HELLO2_CANONICAL
    assert fleet.ssh("core-01", f"cat {units.dir}/{hello2}").stdout == HELLO2_CANONICAL


def test_list_machines_format(fleet, units):
    """Scenario 2: header, rows sorted by ID, merged metadata sorted by key, `-` without any."""
    m1 = fleet.machines[0]
    fleet.set_metadata(m1.id, "region", "us-west")
    fleet.set_metadata(m1.id, "az", "b")
    out = fleet.fleetctl("list-machines", check=True).stdout
    expected = "MACHINE\t\tIP\t\tMETADATA\n" + "".join(
        f"{m.short}...\t{m.ip}\t{'az=b,region=us-west' if m is m1 else '-'}\n" for m in fleet.machines)
    assert out == expected

    full = fleet.fleetctl("list-machines", "--full", "--no-legend", "--fields=machine", check=True).stdout
    assert full.split("\n")[:-1] == [m.id for m in fleet.machines]
    assert all(re.fullmatch(r"[0-9a-f]{32}", line) for line in full.split())


def test_lifecycle_start_stop_unload_destroy(fleet, units):
    """Scenario 3: start → stop → unload → stop fails → destroy, with systemd on the host agreeing."""
    hello = units.name("hello")
    units.service(hello)
    start = units.fleetctl("start", hello)
    assert start.returncode == 0, start.stderr
    match = re.fullmatch(rf"Unit {re.escape(hello)} inactive\nUnit {re.escape(hello)} launched on "
                         r"([0-9a-f]{8})\.\.\./([0-9.]+)\n", start.stdout)
    assert match, start.stdout
    machine = next(m for m in fleet.machines if m.short == match.group(1))
    assert machine.ip == match.group(2)
    assert fleet.unit_rows() == [(hello, machine.id, "active", "running")] or \
        wait_for(lambda: fleet.unit_rows() == [(hello, machine.id, "active", "running")], what="running")
    row = [cells(line) for line in lines(fleet.fleetctl("list-units", "--no-legend").stdout)]
    assert row == [[hello, machine.legend, "active", "running"]]
    assert fleet.ssh(machine.name, f"test -f /run/fleet/units/{hello}", check=False).returncode == 0
    assert fleet.systemd_active(machine.name, hello) == "active"

    stop = fleet.fleetctl("stop", hello)
    assert (stop.returncode, stop.stdout) == (0, f"Unit {hello} loaded on {machine.legend}\n"), stop.stderr
    assert f"Successfully stopped units [{hello}]." in stop.stderr
    wait_for(lambda: fleet.unit_rows() == [(hello, machine.id, "inactive", "dead")], what="inactive dead")
    files = fleet.unit_files()[hello]
    assert (files["dstate"], files["state"]) == ("loaded", "loaded")
    assert fleet.systemd_active(machine.name, hello) == "inactive"

    unload = fleet.fleetctl("unload", hello)
    assert (unload.returncode, unload.stdout) == (0, f"Unit {hello} inactive\n"), unload.stderr
    wait_for(lambda: fleet.unit_rows() == [], what="list-units empty")
    files = fleet.unit_files()[hello]
    assert (files["dstate"], files["state"], files["target"]) == ("inactive", "inactive", "-")
    wait_for(lambda: hello not in fleet.local_units(machine.name), what="unit file removed from the host")

    again = fleet.fleetctl("stop", hello)
    assert again.returncode == 1
    assert f"Unable to stop unit {hello} in state inactive" in again.stderr

    destroy = fleet.fleetctl("destroy", hello)
    assert (destroy.returncode, destroy.stdout) == (0, f"Destroyed {hello}\n")
    assert hello not in fleet.unit_files()
    assert fleet.etcd_get(f"job/{hello}") is None


def test_least_loaded_placement_and_tie_break(fleet, units):
    """Scenario 4: a..f started one after the other go m1 m2 m3 m1 m2 m3."""
    names = [units.name(letter) for letter in "abcdef"]
    for name in names:
        units.service(name)
    placed = []
    for name in names:
        result = units.fleetctl("start", name)
        assert result.returncode == 0, result.stderr
        placed.append(re.search(r"launched on ([0-9a-f]{8})\.\.\.", result.stdout).group(1))
    expected = [m.short for m in fleet.machines] * 2
    assert placed == expected
    files = fleet.unit_files()
    assert [files[n]["target"] for n in names] == [m.id for m in fleet.machines] * 2


def test_validation_errors(fleet, units):
    """Scenario 12 (fleetctl part): invalid [X-Fleet] combinations never reach etcd."""
    cases = {
        "machineid-conflicts": ("MachineID=x\nConflicts=y*", "MachineID cannot be used with Conflicts"),
        "global-peers": ("Global=true\nMachineOf=other.service", "Global cannot be used with Peers"),
        "conflicts-replaces": ("Conflicts=a*\nReplaces=b.service", "Conflicts cannot be used with Replaces"),
    }
    for base, (xfleet, message) in cases.items():
        name = units.name(base)
        units.service(name, xfleet)
        result = units.fleetctl("submit", name)
        assert result.returncode == 1
        assert result.stderr == f"Error creating units: {message}\n"
        assert fleet.etcd_get(f"job/{name}") is None
    bad = units.fleetctl("submit", "nosuch-file.service")
    assert bad.returncode == 1
    assert "unable to find Unit(nosuch-file.service) in Registry or on filesystem" in bad.stderr


def test_templates(fleet, units):
    """Scenario 13: instances get the template's body and hash; templates cannot run; %i in [X-Fleet]."""
    template = units.name("hello@")
    units.service(template)
    one, two = units.name("hello@1"), units.name("hello@2")
    assert units.fleetctl("submit", template).returncode == 0
    # the instances are made from the registry's template (no local file of theirs exists)
    result = units.fleetctl("start", one, two)
    assert result.returncode == 0, result.stderr
    files = fleet.unit_files()
    assert files[one]["hash"] == files[two]["hash"] == files[template]["hash"]
    assert (files[one]["state"], files[two]["state"]) == ("launched", "launched")
    assert files[template]["dstate"] == "inactive"
    for name in (one, two):
        machine = fleet.by_id[fleet.wait_active(name)]
        assert fleet.systemd_active(machine.name, name) == "active"

    refused = units.fleetctl("start", template)
    assert refused.returncode == 1
    assert f'cannot activate template "{template}"' in refused.stderr

    # MachineMetadata=hostname=%i: the instance named after core-03 lands on core-03
    for machine in fleet.machines:
        fleet.set_metadata(machine.id, "hostname", machine.name)
    meta = units.name("metadata@")
    units.service(meta, "MachineMetadata=hostname=%i")
    target = fleet.by_name["core-03"]
    instance = units.name("metadata@core-03")
    result = units.fleetctl("start", instance)
    assert result.returncode == 0, result.stderr
    assert f"launched on {target.legend}" in result.stdout
    assert fleet.wait_active(instance) == target.id


def test_replace(fleet, units):
    """Scenario 15 (fleetctl part): a changed local file warns; --replace re-creates and re-places it."""
    hello = units.name("hello")
    units.service(hello, message="first")
    assert units.fleetctl("start", hello).returncode == 0
    before = fleet.unit_files()[hello]

    units.service(hello, message="second")
    warned = units.fleetctl("start", hello)
    assert warned.returncode == 0
    assert warned.stdout == ""
    assert warned.stderr == (f"WARNING: Unit {hello} in registry differs from local unit file {hello}. "
                             "Add --replace to override.\n")
    assert fleet.unit_files()[hello] == before

    replaced = units.fleetctl("start", "--replace", hello)
    assert replaced.returncode == 0, replaced.stderr
    out = replaced.stdout.splitlines()
    assert out[0] == f"Unit {hello} inactive"
    assert re.fullmatch(rf"Unit {re.escape(hello)} launched on [0-9a-f]{{8}}\.\.\./[0-9.]+", out[1])
    after = fleet.unit_files()[hello]
    assert after["hash"] != before["hash"]
    assert after["hash"] == fleet.unit_files()[hello]["hash"]
    machine = fleet.by_id[fleet.wait_active(hello)]
    assert machine.id == before["target"]  # least-loaded again: the same, otherwise empty, cluster
    exec_start = fleet.ssh(machine.name, f"systemctl show -p ExecStart {hello}").stdout
    assert "echo second" in exec_start

    same = units.fleetctl("start", "--replace", hello)
    assert same.returncode == 0
    assert same.stdout == f"Found same Unit({hello}) in Registry, nothing to do\n"
