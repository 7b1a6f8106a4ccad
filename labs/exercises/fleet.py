"""Exercises of notebook 04-fleet, and what the notebook leaves behind.

The readers of fleetctl's output and the waits they use are in labs.exercises.fleet_state.
"""

from __future__ import annotations

from labs import lesson
from labs.checks import exercise, failed, passed
from labs.exercises.common import CORE_03, machine_ids, settled
from labs.exercises.fleet_state import (UNIT_DIR, SETTLE_S, _settled_placement, containers_named,
                                        destroy, live_machines, machine_metadata,
                                        metadata_matches, running, start_unit, unit_files,
                                        unit_requirements, wait_containers, wait_elsewhere,
                                        wait_for_counts, wait_machine_gone, wait_until)

UNITS = ["hello.service", "hello@.service", "hello@1.service", "hello@2.service", "db.service",
         "web@.service", "web@1.service", "web@2.service", "web@3.service", "web@4.service",
         "web-announce@.service", "web-announce@1.service", "web-announce@2.service",
         "web-announce@3.service", "monitor.service", "ssd-check.service",
         "pinned.service", "worker@.service", "worker@1.service", "worker@2.service",
         "backup.service"]
METADATA_DROPIN = "/etc/systemd/system/fleet.service.d/30-metadata.conf"
LABELS = {"core-01": "region=east,disk=hdd", "core-02": "region=east,disk=ssd",
          "core-03": "region=west,disk=ssd"}


@lesson.cleanup("04-fleet")
def forget_this_notebook(cluster):
    """fleetd up everywhere, without this notebook's metadata; none of its units, files,
    containers or keys."""
    cluster.run_all("sudo systemctl start fleet.service")          # "Break it" stops one
    wait_until(lambda: len(live_machines(cluster)) == len(cluster.machines), "every machine in fleet")
    destroy(cluster, UNITS)
    cluster.run_all(f"rm -f {' '.join(UNITS)}; docker rm -f hello hello-1 hello-2 >/dev/null 2>&1; true")
    cluster.run_all(f"if [ -e {METADATA_DROPIN} ]; then sudo rm {METADATA_DROPIN} && "
                    "sudo systemctl daemon-reload && sudo systemctl restart fleet.service; fi")
    cluster[cluster.machines[0]].run("ETCDCTL_API=2 etcdctl rm --recursive /services/web", check=False)
    wait_until(lambda: not any("region=" in m for m in machine_metadata(cluster).values())
               and len(machine_metadata(cluster)) == len(cluster.machines),
               "every machine in fleet, without this notebook's metadata")


def give_metadata(cluster) -> None:
    """Step 1's labels, for the exercises' tests (the notebook's cell does the same)."""
    for machine, labels in LABELS.items():
        cluster[machine].run(f"sudo mkdir -p {METADATA_DROPIN.rsplit('/', 1)[0]} && printf "
                             f"'[Service]\\nEnvironment=FLEET_METADATA=%s\\n' '{labels}' | sudo tee "
                             f"{METADATA_DROPIN} >/dev/null && sudo systemctl daemon-reload && "
                             f"sudo systemctl restart fleet.service")
    wait_until(lambda: all("region=" in m for m in machine_metadata(cluster).values())
               and len(machine_metadata(cluster)) == len(cluster.machines), "step 1's metadata")


def ensure_metadata(cluster) -> None:
    """Step 1's labels, when a machine lacks them (a solution run without the notebook's step 1)."""
    if not all("region=" in m for m in machine_metadata(cluster).values()):
        give_metadata(cluster)


DB_UNIT = """[Unit]
Description=A database that wants a fast disk, in the east

[Service]
ExecStart=/bin/sh -c "while true; do echo db on %H; sleep 10; done"

[X-Fleet]
MachineMetadata=region=east
MachineMetadata=disk=ssd
"""

REDO = ("a unit's text cannot change: `fleetctl destroy` it, fix the file, `fleetctl start` "
        "it again")


# --- pin a unit by what the machine is, not by its ID -----------------------------------------------

PINNED_UNIT = """[Unit]
Description=Runs in the west only

[Service]
ExecStart=/bin/sh -c "while true; do echo pinned to %H; sleep 10; done"

[X-Fleet]
MachineMetadata=region=west
"""


@exercise("fleet-pin", "Pin a unit by what the machine is", "04-fleet", unit="pinned.service",
          machine=CORE_03)
def fleet_pin(cluster, unit, machine):
    show = f"{UNIT_DIR}/{unit} with\n[X-Fleet]\nMachineMetadata=region=west\nthen fleetctl start {unit}"
    files = unit_files(cluster)
    if unit not in files:
        return failed(f"fleet does not know {unit} yet: write it (step 2) with an [X-Fleet] "
                      f"section (step 4), then start it", show)
    wanted = unit_requirements(cluster, unit)
    if wanted.machine_id:
        return failed(f"{unit} is pinned by MachineID={wanted.machine_id[:12]}…: a machine "
                      f"that is rebuilt gets a new ID, and the unit would wait for a machine "
                      f"that never comes back. Pin it by what {machine} is — its labels (step "
                      f"1's table). {REDO}", show)
    if not wanted.metadata:
        return failed(f"{unit} has no MachineMetadata=, so any machine may take it: step 1's "
                      f"table says which labels only {machine} has. {REDO}", show)
    matching = metadata_matches(cluster, unit)
    if matching != [machine]:
        return failed(f"{unit}'s MachineMetadata= matches {', '.join(matching) or 'no machine'}, "
                      f"not {machine} alone: which label does only {machine} have? {REDO}", show)
    if files[unit]["dstate"] != "launched":
        return failed(f"{unit} is pinned right, but its desired state is "
                      f"{files[unit]['dstate']}: it is not started", f"fleetctl start {unit}")
    where = _settled_placement(cluster, unit, lambda machines: machines == [machine])
    if where != [machine]:
        return failed(f"{unit} is pinned to {machine} and started, but list-units shows it "
                      f"{'running on ' + ', '.join(where) if where else 'running nowhere'}: "
                      f"`fleetctl status {unit}` on {machine} says why (its ExecStart must keep "
                      f"running)", show)
    labels = ", ".join(f"{k}={'|'.join(sorted(v))}" for k, v in wanted.metadata.items())
    return passed(f"{unit} runs on {machine}, the only machine with {labels}: pinned by what it "
                  f"is, so a rebuilt {machine} with the same labels would get it back")


@fleet_pin.solution
def _(cluster, unit, machine):
    ensure_metadata(cluster)
    destroy(cluster, [unit])
    start_unit(cluster, unit, PINNED_UNIT)


@fleet_pin.reset
def _(cluster, unit, machine):
    destroy(cluster, [unit])
    cluster.run_all(f"rm -f {UNIT_DIR}/{unit}", check=False)


# --- workers on the SSD machines, never two on one -------------------------------------------------

WORKER_TEMPLATE = """[Unit]
Description=Worker %i

[Service]
ExecStart=/bin/sh -c "while true; do echo worker %i on %H; sleep 10; done"

[X-Fleet]
Conflicts=worker@*.service
MachineMetadata=disk=ssd
"""


def _instances(template: str, count: int) -> list[str]:
    prefix, _, suffix = template.partition("@.")
    return [f"{prefix}@{n}.{suffix}" for n in range(1, count + 1)]


@exercise("fleet-spread", "Workers on the SSDs, never two on one machine", "04-fleet",
          template="worker@.service", count=2)
def fleet_spread(cluster, template, count):
    instances = _instances(template, count)
    show = (f"{UNIT_DIR}/{template} with\n[X-Fleet]\nConflicts=worker@*.service\n"
            f"MachineMetadata=disk=ssd\nthen fleetctl start {' '.join(instances)}")
    files = unit_files(cluster)
    missing = [unit for unit in instances if unit not in files]
    if missing:
        return failed(f"fleet does not know {', '.join(missing)} yet: instances come from a "
                      f"template (step 3)", show)
    from labs.node.fleet import glob
    for unit in instances:
        wanted = unit_requirements(cluster, unit)
        others = [other for other in instances if other != unit]
        if not all(any(glob.match(pattern, other) for pattern in wanted.conflicts)
                   for other in others):
            return failed(f"{unit} does not conflict with {', '.join(others)}: where they land "
                          f"would be luck, not a rule (step 4, Conflicts=). {REDO} — the "
                          f"instances and the template", show)
        matching = metadata_matches(cluster, unit)
        if sorted(matching) != sorted(m for m, labels in machine_metadata(cluster).items()
                                      if "disk=ssd" in labels) or not wanted.metadata:
            return failed(f"{unit} may run on {', '.join(matching) or 'no machine'}: the workers "
                          f"need the machines with an SSD, and only those (step 1's labels). "
                          f"{REDO}", show)
    idle = [unit for unit in instances if files[unit]["dstate"] != "launched"]
    if idle:
        return failed(f"{', '.join(idle)} {'is' if len(idle) == 1 else 'are'} not started",
                      f"fleetctl start {' '.join(idle)}")

    def placement():
        now = running(cluster)
        where = {unit: now.get(unit, []) for unit in instances}
        return where if all(len(machines) == 1 for machines in where.values()) else None
    where = settled(placement, SETTLE_S) or {unit: running(cluster).get(unit, []) for unit in instances}
    stopped = [unit for unit, machines in where.items() if len(machines) != 1]
    if stopped:
        return failed(f"{', '.join(stopped)} run on no machine: `fleetctl list-unit-files` shows "
                      f"TARGET `-` when no machine may take a unit", show)
    machines = [machines[0] for machines in where.values()]
    if len(set(machines)) != len(machines):
        return failed(f"two workers share a machine: {where}", show)
    return passed(", ".join(f"{unit} on {machines[0]}" for unit, machines in where.items())
                  + ": on the SSD machines, never two on one")


@fleet_spread.solution
def _(cluster, template, count):
    ensure_metadata(cluster)
    destroy(cluster, _instances(template, count) + [template])
    start_unit(cluster, template, WORKER_TEMPLATE, instances=tuple(_instances(template, count)))


@fleet_spread.reset
def _(cluster, template, count):
    destroy(cluster, _instances(template, count) + [template])
    cluster.run_all(f"rm -f {UNIT_DIR}/{template}", check=False)


# --- a unit that follows another ------------------------------------------------------------------

BACKUP_UNIT = """[Unit]
Description=Backs up the database, on its machine

[Service]
ExecStart=/bin/sh -c "while true; do echo backing up db on %H; sleep 10; done"

[X-Fleet]
MachineOf=db.service
"""


@exercise("fleet-follow", "A unit that follows another", "04-fleet", unit="backup.service",
          leader="db.service")
def fleet_follow(cluster, unit, leader):
    show = f"{UNIT_DIR}/{unit} with\n[X-Fleet]\nMachineOf={leader}\nthen fleetctl start {unit}"
    files = unit_files(cluster)
    if leader not in files:
        return failed(f"fleet does not know {leader}: step 4 starts it; run that cell first")
    if unit not in files:
        return failed(f"fleet does not know {unit} yet: write it and start it (step 2)", show)
    wanted = unit_requirements(cluster, unit)
    if leader not in wanted.peers:
        how = ("pinned by MachineID to where it runs now" if wanted.machine_id else
               "restricted by MachineMetadata= to the machines it may use" if wanted.metadata else
               "free to go anywhere")
        return failed(f"{unit} is {how}: when {leader} moves to another machine, {unit} stays "
                      f"behind. The sidekick of step 4 was tied to its service by another "
                      f"option. {REDO}", show)
    if files[unit]["dstate"] != "launched":
        return failed(f"{unit} follows {leader}, but is not started", f"fleetctl start {unit}")
    home = running(cluster).get(leader, [])
    where = _settled_placement(cluster, unit, lambda machines: machines == home and home)
    if not home or where != home:
        return failed(f"{unit} follows {leader} (on {', '.join(home) or 'no machine'}), but runs "
                      f"on {', '.join(where) or 'no machine'}: its ExecStart must keep running",
                      show)
    return passed(f"{unit} runs on {home[0]}, the machine of {leader}, and will move with it "
                  f"(MachineOf={leader})")


@fleet_follow.solution
def _(cluster, unit, leader):
    ensure_metadata(cluster)
    if leader not in unit_files(cluster):
        start_unit(cluster, leader, DB_UNIT)
    destroy(cluster, [unit])
    start_unit(cluster, unit, BACKUP_UNIT)


@fleet_follow.reset
def _(cluster, unit, leader):
    destroy(cluster, [unit])
    cluster.run_all(f"rm -f {UNIT_DIR}/{unit}", check=False)


# --- repair: the machine whose fleetd vanished, back -----------------------------------------------

@exercise("fleet-back", "The vanished machine back, one copy running", "04-fleet",
          unit="hello.service", container="hello")
def fleet_back(cluster, unit, container):
    down = [m for m, r in cluster.run_all("systemctl is-active fleet.service", check=False).items()
            if r.stdout.strip() != "active"]
    show = f"%%remote {','.join(down) or 'core-0N'}\nsudo systemctl start fleet.service"
    if down:
        return failed(f"fleetd does not run on {', '.join(down)}: for the cluster that machine is "
                      f"gone, and nobody stops its old copy of {unit}", show)
    ids = machine_ids(cluster)
    live = live_machines(cluster, ids=ids)
    if sorted(live) != sorted(cluster.machines):
        return failed(f"fleetd runs everywhere, but list-machines shows {', '.join(live)}: a "
                      f"fleetd that just started registers within a few seconds; check again",
                      show)
    def one_copy():
        found = containers_named(cluster, container)
        return found if len(found) == 1 else None
    copies = settled(one_copy, SETTLE_S) or containers_named(cluster, container)
    if len(copies) != 1:
        return failed(f"a {container!r} container runs on {', '.join(copies) or 'no machine'}: "
                      f"{unit} should run exactly once", show)
    where = running(cluster, ids=ids).get(unit, [])
    if where != copies:
        return failed(f"the one {container!r} container runs on {copies[0]}, but fleet places "
                      f"{unit} on {', '.join(where) or 'no machine'}", show)
    return passed(f"every machine is in fleet again, and {unit} runs once, on {copies[0]}: the "
                  f"returning fleetd stopped its old copy")


@fleet_back.breaks
def _(cluster, unit, container):
    text = ("[Unit]\nDescription=Hello\nAfter=docker.service\nRequires=docker.service\n\n"
            "[Service]\nExecStart=/usr/bin/docker run --rm --name hello busybox /bin/sh -c "
            "\"trap 'exit 0' TERM; while true; do echo Hello from %H; sleep 1; done\"\n"
            "ExecStop=/usr/bin/docker stop hello\n")
    if unit not in unit_files(cluster):
        start_unit(cluster, unit, text)
    ids = machine_ids(cluster)
    victim = wait_for_counts(cluster, {unit: 1}, ids=ids)[unit][0]
    watcher = next(m for m in cluster.machines if m != victim)
    cluster[victim].run("sudo systemctl kill --signal=KILL fleet.service && "
                        "sudo systemctl stop fleet.service")
    wait_machine_gone(cluster, victim, watcher, ids)
    moved = wait_elsewhere(cluster, unit, victim, watcher, ids)
    wait_containers(cluster, container, sorted({victim, moved[0]}))


@fleet_back.solution
def _(cluster, unit, container):
    cluster.run_all("sudo systemctl start fleet.service")
    wait_until(lambda: len(containers_named(cluster, container)) == 1, "one hello container", 60)


@fleet_back.reset
def _(cluster, unit, container):
    cluster.run_all("sudo systemctl start fleet.service")
