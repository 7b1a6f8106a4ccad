"""fleet as the notebooks and the checks see it: what fleetctl's tables show, read into dicts,
and waits.

    from labs.exercises import fleet_state as fl
    fl.running(cluster)                               # {unit: [machines where it runs]}
    fl.wait_for_counts(cluster, {"monitor.service": 3})   # until it runs on 3 machines

Notebook 04 uses these as `fl`; the exercises of labs.exercises.fleet check with them. They
read fleetd's API on a machine (`curl` on /var/run/fleet.sock), which is what fleetctl reads
for list-units, list-unit-files and list-machines: the waits look every second, and a
`fleetctl` would start a Python each time (about 60 ms of the machine's CPU, 8 ms for curl).
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from labs.cluster import Cluster, ClusterError
from labs.exercises.common import CORE_01, machine_ids, settled
from labs.node.fleet.apiclient import machines_from_json, unit_states_from_json, units_from_json
from labs.node.fleet.requirements import Requirements
from labs.node.fleet.unit import UnitFile

CONTROL = CORE_01            # where the checks read fleet's state and run fleetctl
UNIT_DIR = "/home/core"      # where the solutions write their unit files
SETTLE_S = 15                # a unit just started may take a moment to show in list-units
PREFIX = "/_coreos.com/fleet/"


# --- reading fleet's view (its API on a machine) ---------------------------------------------

FLEET_API = ("curl --silent --show-error --fail-with-body --unix-socket /var/run/fleet.sock "
             "http://fleet/fleet/v1/")


def fleetctl(cluster: Cluster, args: str, machine: str = CONTROL, check: bool = True):
    return cluster[machine].run(f"fleetctl {args}", check=check, timeout=120)


def fleet_api(cluster: Cluster, resource: str, machine: str = CONTROL) -> dict:
    """GET fleetd's API on `machine`; a failure (503 while fleetd registers, no fleetd) raises
    with fleet's own message, as fleetctl would print it."""
    result = cluster[machine].run(FLEET_API + resource, check=False, timeout=120)
    if not result.ok:
        raise ClusterError(f"fleet's API on {machine} ({resource}): "
                           f"{(result.stdout or result.stderr).strip()[-300:]}",
                           f"is fleetd running there? `systemctl status fleet` on {machine}")
    return json.loads(result.stdout)


def unit_files(cluster: Cluster, machine: str = CONTROL) -> dict[str, dict]:
    """What `list-unit-files --full` shows: unit → {hash, dstate, state, target}; target is a
    machine ID, `global` or `-`."""
    pages = [fleet_api(cluster, "units", machine)]
    while token := pages[-1].get("nextPageToken"):
        pages.append(fleet_api(cluster, "units?" + urlencode({"nextPageToken": token}), machine))
    return {unit.name: {"hash": unit.hash, "dstate": unit.target_state or "-",
                        "state": (None if unit.is_global else unit.current_state([])) or "-",
                        "target": "global" if unit.is_global else unit.target_machine or "-"}
            for unit in units_from_json(pages)}


def running(cluster: Cluster, machine: str = CONTROL, ids: dict[str, str] | None = None
            ) -> dict[str, list[str]]:
    """What `list-units` shows: unit → the machines (core-0N) where it is active/running.
    `ids` ({machine: machine ID}) saves reading them, and names machines that are down."""
    names = {machine_id: name for name, machine_id in (ids or machine_ids(cluster)).items()}
    seen: dict[str, list[str]] = {}
    for state in unit_states_from_json(fleet_api(cluster, "state", machine)):
        if (state.active_state, state.sub_state) == ("active", "running"):
            seen.setdefault(state.unit_name, []).append(names.get(state.machine_id, state.machine_id))
    return {unit: sorted(machines) for unit, machines in seen.items()}


def live_machines(cluster: Cluster, machine: str = CONTROL, ids: dict[str, str] | None = None
                  ) -> list[str]:
    """The machines (core-0N) in `fleetctl list-machines`."""
    return sorted(machine_metadata(cluster, machine, ids))


def machine_metadata(cluster: Cluster, machine: str = CONTROL, ids: dict[str, str] | None = None
                     ) -> dict[str, str]:
    """What `fleetctl list-machines` shows: machine (core-0N) → its METADATA column (`-`: none)."""
    names = {machine_id: name for name, machine_id in (ids or machine_ids(cluster)).items()}
    return {names.get(found.id, found.id):
            ",".join("%s=%s" % pair for pair in sorted(found.metadata.items())) or "-"
            for found in machines_from_json(fleet_api(cluster, "machines", machine))}


def unit_requirements(cluster: Cluster, unit: str, machine: str = CONTROL) -> Requirements:
    """The [X-Fleet] requirements of a unit fleet knows, as fleet reads them."""
    text = fleetctl(cluster, f"cat {unit}", machine).stdout
    return Requirements(UnitFile.parse(text), unit)


def wait_until(condition, what: str, timeout: float = 60, interval: float = 1.0, state=None):
    """Poll `condition()` until it is truthy; its value. Fails after `timeout` seconds.

    A command that fails meanwhile counts as "not yet" (fleetctl answers 503 while its
    fleetd registers); the last such error is reported if the time runs out, and so is what
    `state()` says then (what the cluster looked like), if given."""
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
            if state is not None:
                detail += f"\n{state()}"
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


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


# --- named waits for the notebook's steps ----------------------------------------------------

def wait_for_metadata(cluster: Cluster, ids: dict[str, str], key: str = "region",
                      timeout: float = 60) -> dict[str, str]:
    """Until every machine's METADATA column has `key`; {machine: metadata}."""
    def labelled():
        found = machine_metadata(cluster, ids=ids)
        return found if len(found) == len(ids) and all(key in m for m in found.values()) else None
    return wait_until(labelled, f"fleet to show the {key} of {len(ids)} machines", timeout)


def wait_for_counts(cluster: Cluster, counts: dict[str, int], machine: str = CONTROL,
                    ids: dict[str, str] | None = None, timeout: float = 60) -> dict[str, list[str]]:
    """Until each unit runs on exactly that many machines (list-units from `machine`); then
    {unit: machines} for every unit that runs."""
    def reached():
        now = running(cluster, machine, ids)
        return now if all(len(now.get(unit, [])) == n for unit, n in counts.items()) else None
    wanted = ", ".join(f"{unit} on {n}" for unit, n in counts.items())
    return wait_until(reached, f"{wanted} machine(s)", timeout)


def wait_elsewhere(cluster: Cluster, unit: str, away_from: str, watcher: str,
                   ids: dict[str, str] | None = None, timeout: float = 60) -> list[str]:
    """Until `unit` runs on a machine other than `away_from`, as `watcher` sees it."""
    def moved():
        return [m for m in running(cluster, watcher, ids).get(unit, []) if m != away_from]
    return wait_until(moved, f"{unit} to run elsewhere than {away_from}", timeout)


def wait_machine_gone(cluster: Cluster, gone: str, watcher: str, ids: dict[str, str],
                      timeout: float = 60) -> None:
    """Until `gone` is no longer in `fleetctl list-machines` (its key's TTL ran out)."""
    wait_until(lambda: gone not in live_machines(cluster, watcher, ids),
               f"{gone}'s machine key to expire", timeout)


def containers_named(cluster: Cluster, name: str) -> list[str]:
    """The machines where a container called `name` runs."""
    found = cluster.run_all(f"docker ps -q --filter name=^{name}$", check=False)
    return sorted(machine for machine, result in found.items() if result.stdout.strip())


def wait_containers(cluster: Cluster, name: str, machines: list[str], timeout: float = 60) -> None:
    """Until a container `name` runs on exactly `machines`."""
    wait_until(lambda: containers_named(cluster, name) == sorted(machines),
               f"a {name} container on {', '.join(machines) or 'no machine'} only", timeout)


def wait_for_journal(cluster: Cluster, machine: str, unit: str, text: str,
                     timeout: float = 30) -> str:
    """`fleetctl journal --lines 5 UNIT` on `machine`, once it shows `text`."""
    def shown():
        out = cluster[machine].run(f"fleetctl journal --lines 5 {unit}").stdout
        return out if text in out else None
    return wait_until(shown, f"{text!r} in {unit}'s journal", timeout)


def metadata_matches(cluster: Cluster, unit: str, ids: dict[str, str] | None = None) -> list[str]:
    """The machines whose fleet metadata satisfies the unit's MachineMetadata=."""
    from labs.node.fleet.requirements import metadata_satisfied
    wanted = unit_requirements(cluster, unit).metadata
    result = []
    for name, column in machine_metadata(cluster, ids=ids).items():
        labels = dict(pair.split("=", 1) for pair in column.split(",") if "=" in pair)
        if metadata_satisfied(wanted, labels):
            result.append(name)
    return sorted(result)


def wait_for_key(cluster: Cluster, key: str, machine: str = CONTROL, timeout: float = 30) -> str:
    """The value of etcd key `key` once it exists (read with etcdctl on `machine`)."""
    def value():
        return cluster[machine].run(f"ETCDCTL_API=2 etcdctl get {key}", check=False).stdout.strip()
    return wait_until(value, f"{key} in etcd", timeout)
