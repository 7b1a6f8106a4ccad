"""Exercises of notebook 04-fleet, and the small readers of fleetctl's output it uses too."""

from __future__ import annotations

import re
import time

from labs.checks import exercise, failed, passed
from labs.cluster import Cluster, ClusterError
from labs.exercises.launch import machine_ids
from labs.fleet import glob
from labs.fleet.requirements import Requirements
from labs.fleet.unit import UnitFile

CONTROL = "core-01"          # where the checks run fleetctl
UNIT_DIR = "/home/core"      # where the solutions write their unit files
SETTLE_S = 15                # a unit just started may take a moment to show in list-units
PREFIX = "/_coreos.com/fleet/"


# --- reading fleet's view (fleetctl on a machine) ---------------------------------------------

def fleetctl(cluster: Cluster, args: str, machine: str = CONTROL, check: bool = True):
    return cluster[machine].run(f"fleetctl {args}", check=check, timeout=120)


def unit_files(cluster: Cluster, machine: str = CONTROL) -> dict[str, dict]:
    """`list-unit-files --full`: unit → {hash, dstate, state, target}; target is a machine ID,
    `global` or `-`."""
    rows = {}
    for line in fleetctl(cluster, "list-unit-files --full --no-legend", machine).stdout.splitlines():
        cells = re.split(r"\t+", line)
        if len(cells) == 5:
            rows[cells[0]] = {"hash": cells[1], "dstate": cells[2], "state": cells[3],
                              "target": cells[4].split("/")[0]}
    return rows


def running(cluster: Cluster, machine: str = CONTROL, ids: dict[str, str] | None = None
            ) -> dict[str, list[str]]:
    """`list-units --full`: unit → the machines (core-0N) where it is active/running.
    `ids` ({machine: machine ID}) saves reading them, and names machines that are down."""
    names = {machine_id: name for name, machine_id in (ids or machine_ids(cluster)).items()}
    seen: dict[str, list[str]] = {}
    for line in fleetctl(cluster, "list-units --full --no-legend", machine).stdout.splitlines():
        cells = re.split(r"\t+", line)
        if len(cells) == 4 and cells[2:] == ["active", "running"]:
            machine_id = cells[1].split("/")[0]
            seen.setdefault(cells[0], []).append(names.get(machine_id, machine_id))
    return {unit: sorted(machines) for unit, machines in seen.items()}


def live_machines(cluster: Cluster, machine: str = CONTROL, ids: dict[str, str] | None = None
                  ) -> list[str]:
    """The machines (core-0N) in `fleetctl list-machines`."""
    return sorted(machine_metadata(cluster, machine, ids))


def machine_metadata(cluster: Cluster, machine: str = CONTROL, ids: dict[str, str] | None = None
                     ) -> dict[str, str]:
    """`fleetctl list-machines`: machine (core-0N) → its METADATA column (`-`: none)."""
    names = {machine_id: name for name, machine_id in (ids or machine_ids(cluster)).items()}
    out = fleetctl(cluster, "list-machines --full --no-legend --fields=machine,metadata", machine).stdout
    rows = (re.split(r"\t+", line) for line in out.splitlines())
    return {names.get(cells[0], cells[0]): cells[1] for cells in rows if len(cells) == 2}


def unit_requirements(cluster: Cluster, unit: str, machine: str = CONTROL) -> Requirements:
    """The [X-Fleet] requirements of a unit fleet knows, as fleet reads them."""
    text = fleetctl(cluster, f"cat {unit}", machine).stdout
    return Requirements(UnitFile.parse(text), unit)


def wait_until(condition, what: str, timeout: float = 60, interval: float = 0.5):
    """Poll `condition()` until it is truthy; its value. Fails after `timeout` seconds.

    A command that fails meanwhile counts as "not yet" (fleetctl answers 503 while its
    fleetd registers); the last such error is reported if the time runs out."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = condition()
        except ClusterError as error:
            value, last_error = None, error
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"; last error: {str(last_error).splitlines()[0]}" if last_error else ""
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


def _settled(condition, timeout: float = SETTLE_S):
    """`condition()` once true, or its last (false) value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def _settled_placement(cluster: Cluster, unit: str, good, timeout: float = SETTLE_S) -> list[str]:
    """Where `unit` runs, once `good(machines)` holds, or as it is after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        where = running(cluster).get(unit, [])
        if good(where) or time.monotonic() > deadline:
            return where
        time.sleep(0.5)


def destroy(cluster: Cluster, units: list[str], machine: str = CONTROL, timeout: float = 60) -> None:
    """Destroy `units` and wait until no machine runs them.

    Units no machine took (TARGET `-`) go first: `unload` skips them, and they would take
    the machines the others free. The others are unloaded first (that wakes every agent at
    once). fleet's engine may still place a unit while it is being destroyed; its `target`
    key then outlives the unit and would place the next unit of that name at once (the
    etcd v2 write re-creates the deleted directory), so such leftovers are removed too.
    """
    files = wait_until(lambda: [unit_files(cluster, machine)], "fleet to answer", timeout)[0]
    known = [unit for unit in units if unit in files]
    waiting = [unit for unit in known if files[unit]["target"] == "-"]
    placed = [unit for unit in known if unit not in waiting]
    if waiting:
        fleetctl(cluster, "destroy " + " ".join(waiting), machine, check=False)
    if placed:
        fleetctl(cluster, "unload --no-block " + " ".join(placed), machine, check=False)
        fleetctl(cluster, "destroy " + " ".join(placed), machine, check=False)
    wanted = set(units)

    def gone():
        if wanted & set(running(cluster, machine)):
            return False
        local = cluster.run_all("ls /run/fleet/units 2>/dev/null; true")
        return not any(wanted & set(result.stdout.split()) for result in local.values())
    wait_until(gone, f"{', '.join(units)} to stop on every machine", timeout)
    jobs = cluster[machine].run(f"ETCDCTL_API=2 etcdctl ls {PREFIX}job", check=False).stdout.split()
    left = set(unit_files(cluster, machine))
    for key in jobs:
        name = key.rsplit("/", 1)[-1]
        if name in wanted and name not in left:
            cluster[machine].run(f"ETCDCTL_API=2 etcdctl rm --recursive {key}", check=False)


def start_unit(cluster: Cluster, unit: str, text: str, machine: str = CONTROL,
               instances: tuple[str, ...] = ()) -> None:
    """Write `unit` into the home directory of `machine` and `fleetctl start` it; a template
    is submitted, and its `instances` started."""
    cluster[machine].run(f"cat > {UNIT_DIR}/{unit}", input=text)
    if instances:
        fleetctl(cluster, f"submit {UNIT_DIR}/{unit}", machine)
    fleetctl(cluster, f"start {' '.join(f'{UNIT_DIR}/{name}' for name in instances or (unit,))}",
             machine)


# --- pin a unit to one machine -----------------------------------------------------------------

PINNED_UNIT = """[Unit]
Description=Runs on {machine} only

[Service]
ExecStart=/bin/sh -c "while true; do echo pinned to %H; sleep 10; done"

[X-Fleet]
MachineID={machine_id}
"""


@exercise("fleet-pin", "Pin a unit to one machine", "04-fleet", unit="pinned.service",
          machine="core-02")
def fleet_pin(cluster, unit, machine):
    ids = machine_ids(cluster)
    want = ids[machine]
    files = unit_files(cluster)
    if unit not in files:
        return failed(f"fleet does not know {unit} yet: write it with `[X-Fleet]` "
                      f"`MachineID=<{machine}'s machine ID>` (`cat /etc/machine-id` on {machine}, "
                      f"or `fleetctl list-machines --full`), then `fleetctl start {unit}`")
    pinned_to = unit_requirements(cluster, unit).machine_id
    where = running(cluster).get(unit, [])
    redo = (f"a unit's text cannot change: `fleetctl destroy {unit}`, fix the file, "
            f"`fleetctl start {unit}` again")
    if not pinned_to:
        placed = (f"it runs on {machine} only because that machine had the fewest units"
                  if where == [machine] else
                  f"fleet put it on {', '.join(where) or 'no machine yet'}")
        return failed(f"{unit} has no `MachineID=` under `[X-Fleet]`, so it is not pinned: "
                      f"{placed}; {redo}")
    if pinned_to not in (want, want[:8]):
        owner = [name for name, machine_id in ids.items() if machine_id.startswith(pinned_to)]
        return failed(f"{unit} is pinned to {pinned_to}, the ID of "
                      f"{owner[0] if owner else 'no machine of this cluster'}, not of {machine} "
                      f"({want}); {redo}")
    if files[unit]["dstate"] != "launched":
        return failed(f"{unit} is pinned to {machine}, but its desired state is "
                      f"{files[unit]['dstate']}: `fleetctl start {unit}`")
    where = _settled_placement(cluster, unit, lambda machines: machines == [machine])
    if where != [machine]:
        return failed(f"{unit} is pinned to {machine} and started, but list-units shows it "
                      f"{'running on ' + ', '.join(where) if where else 'running nowhere'}: "
                      f"`systemctl status {unit}` on {machine} says why (its ExecStart must keep "
                      f"running)")
    return passed(f"{unit} runs on {machine}, pinned with MachineID={pinned_to}")


@fleet_pin.solution
def _(cluster, unit, machine):
    destroy(cluster, [unit])
    machine_id = machine_ids(cluster)[machine]
    start_unit(cluster, unit, PINNED_UNIT.format(machine=machine, machine_id=machine_id))


@fleet_pin.reset
def _(cluster, unit, machine):
    destroy(cluster, [unit])
    cluster.run_all(f"rm -f {UNIT_DIR}/{unit}", check=False)


# --- instances that never share a machine -------------------------------------------------------

SPREAD_TEMPLATE = """[Unit]
Description=Worker %i

[Service]
ExecStart=/bin/sh -c "while true; do echo worker %i on %H; sleep 10; done"

[X-Fleet]
Conflicts={prefix}@*.service
"""


def _instances(template: str, count: int) -> list[str]:
    prefix, _, suffix = template.partition("@.")
    return [f"{prefix}@{n}.{suffix}" for n in range(1, count + 1)]


@exercise("fleet-spread", "Instances that never share a machine", "04-fleet",
          template="worker@.service", count=3)
def fleet_spread(cluster, template, count):
    instances = _instances(template, count)
    files = unit_files(cluster)
    missing = [unit for unit in instances if unit not in files]
    if missing:
        return failed(f"fleet does not know {', '.join(missing)} yet: submit a template "
                      f"{template}, then `fleetctl start {' '.join(instances)}`")
    for unit in instances:
        others = [other for other in instances if other != unit]
        conflicts = unit_requirements(cluster, unit).conflicts
        if not all(any(glob.match(pattern, other) for pattern in conflicts) for other in others):
            return failed(f"{unit} does not conflict with {', '.join(others)}: without "
                          f"`Conflicts=` under `[X-Fleet]` they share machines whenever that is "
                          f"least loaded. A unit's text cannot change: `fleetctl destroy` the "
                          f"instances and the template, add `Conflicts=` with a glob that matches "
                          f"every instance, start them again")
    idle = [unit for unit in instances if files[unit]["dstate"] != "launched"]
    if idle:
        return failed(f"{', '.join(idle)} {'is' if len(idle) == 1 else 'are'} not started: "
                      f"`fleetctl start {' '.join(idle)}`")

    def placement():
        now = running(cluster)
        where = {unit: now.get(unit, []) for unit in instances}
        return where if all(len(machines) == 1 for machines in where.values()) else None
    where = _settled(placement) or {unit: running(cluster).get(unit, []) for unit in instances}
    stopped = [unit for unit, machines in where.items() if len(machines) != 1]
    if stopped:
        return failed(f"{', '.join(stopped)} run on no machine: `fleetctl list-unit-files` shows "
                      f"TARGET `-` when no machine may take a unit (with {count} instances that "
                      f"conflict, every machine may hold only one), and `fleetctl status` on its "
                      f"machine says why a started unit is not running")
    machines = [machines[0] for machines in where.values()]
    if len(set(machines)) != len(machines):
        return failed(f"two instances share a machine: {where}")
    return passed(", ".join(f"{unit} on {machines[0]}" for unit, machines in where.items())
                  + ": never two on one machine")


@fleet_spread.solution
def _(cluster, template, count):
    destroy(cluster, _instances(template, count) + [template])
    prefix = template.partition("@")[0]
    start_unit(cluster, template, SPREAD_TEMPLATE.format(prefix=prefix),
               instances=tuple(_instances(template, count)))


@fleet_spread.reset
def _(cluster, template, count):
    destroy(cluster, _instances(template, count) + [template])
    cluster.run_all(f"rm -f {UNIT_DIR}/{template}", check=False)


# --- one copy on every machine ----------------------------------------------------------------

GLOBAL_UNIT = """[Unit]
Description=One copy on every machine

[Service]
ExecStart=/bin/sh -c "while true; do echo everywhere, here on %H; sleep 10; done"

[X-Fleet]
Global=true
"""


@exercise("fleet-global", "A unit on every machine", "04-fleet", unit="everywhere.service")
def fleet_global(cluster, unit):
    files = unit_files(cluster)
    if unit not in files:
        return failed(f"fleet does not know {unit} yet: write it with `Global=true` under "
                      f"`[X-Fleet]`, then `fleetctl start {unit}`")
    row = files[unit]
    if row["target"] != "global":
        return failed(f"{unit} is a standard unit, which fleet places on one machine, not a "
                      f"global one: a unit's text cannot change: `fleetctl destroy {unit}`, add "
                      f"`Global=true` under `[X-Fleet]`, `fleetctl start {unit}` again")
    if row["dstate"] != "launched":
        return failed(f"{unit} is global, but its desired state is {row['dstate']}: "
                      f"`fleetctl start {unit}`")
    machines = live_machines(cluster)
    where = _settled_placement(cluster, unit, lambda where: set(where) >= set(machines))
    missing = sorted(set(machines) - set(where))
    if missing:
        wanted = unit_requirements(cluster, unit).metadata
        why = (f"its `MachineMetadata=` ({', '.join(f'{k}={v}' for k, vs in wanted.items() for v in sorted(vs))}) "
               f"keeps it off machines without that metadata: destroy it and start it again without"
               if wanted else
               f"`systemctl status {unit}` on {missing[0]} says why (its ExecStart must keep running)")
        return failed(f"{unit} is global but not running on {', '.join(missing)}: {why}")
    return passed(f"{unit} runs on every machine fleet knows: {', '.join(sorted(where))}")


@fleet_global.solution
def _(cluster, unit):
    destroy(cluster, [unit])
    start_unit(cluster, unit, GLOBAL_UNIT)


@fleet_global.reset
def _(cluster, unit):
    destroy(cluster, [unit])
    cluster.run_all(f"rm -f {UNIT_DIR}/{unit}", check=False)
