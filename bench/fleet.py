"""How fast fleet reacts on the lab: migrations, a 100-unit start, engine failover.

Runs on the cluster of $LAB_HOME; without it, boots a lab of its own
(LAB_HOME=<project>/.lab-bench-fleet) and removes it at the end (--keep keeps it).
Everything it changes is restored (units destroyed, fleetd restarted, halted machine
resumed). Prints one `name=value` line per figure, seconds; the failure drills run
--runs times (default 3) and print their median, and their maximum as `<name>_max_s`:

    agent_ttl_s, engine_reconcile_interval_s, engine_lease_ttl_s   the timers in force
    migrate_after_stop_s        `systemctl stop fleet` on a unit's machine → active elsewhere
    migrate_after_kill_s        kill -9 of that fleetd (no purge: bound by the TTL)
    engine_failover_s           kill -9 of the leader's fleetd → another machine holds the lease
    start_100_units_s           `fleetctl start --no-block` of 100 small units → all active
    migrate_after_halt_s        a unit's machine goes down (`lab halt`; timed from docker's kill
                                of its container) → the unit active elsewhere
    migrate_after_lab_halt_command_s   the same, timed from running `lab halt` (adds Vagrant's
                                ~20 s before it stops the container)

Targets (2-core host, agent_ttl 5 s): halt <= 15 s, graceful stop <= 5 s, 100 units <= 60 s.

    .venv/bin/python bench/fleet.py [--keep] [--skip-halt] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWN_LAB = "LAB_HOME" not in os.environ
os.environ.setdefault("LAB_HOME", str(ROOT / ".lab-bench-fleet"))
sys.path.insert(0, str(ROOT))

from labs.launcher import lifecycle, settings as lab_settings  # noqa: E402
from labs.node.fleet.config import load_config  # noqa: E402

from tests.integration.fleet_fixtures import LAB, PROJECT, Fleet, Units, wait_for  # noqa: E402

POLL = 0.1


def say(name: str, value: float) -> None:
    print(f"{name}={value:.1f}", flush=True)


def timers(fleet: Fleet):
    """fleetd's configuration as core-01's fleetd sees it: fleet.conf overlaid by its FLEET_* env."""
    conf = fleet.ssh("core-01", "cat /etc/fleet/fleet.conf").stdout
    environ_text = fleet.ssh("core-01", "sudo cat /proc/$(systemctl show -p MainPID --value fleet.service)"
                                        "/environ | tr '\\0' '\\n'").stdout
    environ = dict(line.split("=", 1) for line in environ_text.splitlines() if "=" in line)
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as conf_file:
        conf_file.write(conf)
        conf_file.flush()
        return load_config(conf_file.name, environ)


def active_elsewhere(fleet: Fleet, unit: str, old: str) -> bool:
    """One list-units call: is `unit` active/running on a machine other than `old`?"""
    return any(name == unit and mid != old and active == "active"
               for name, mid, active, _ in fleet.unit_rows())


def place_one(fleet: Fleet, units: Units, base: str) -> tuple[str, str]:
    name = units.name(base)
    units.service(name)
    result = units.fleetctl("start", name)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return name, fleet.wait_active(name)


def use_control_other_than(fleet: Fleet, machine_id: str) -> None:
    fleet.control = next(m.name for m in fleet.machines if m.id != machine_id)


def migrate_after_fleetd_ends(fleet: Fleet, units: Units, how: str) -> float:
    """A unit's machine loses its fleetd (`stop`: graceful, purges; `kill`: kill -9, bound by
    the TTL) → seconds until the unit is active on another machine."""
    name, where = place_one(fleet, units, how)
    victim = fleet.by_id[where]
    use_control_other_than(fleet, where)
    end_fleetd = fleet.stop_fleet if how == "stop" else fleet.kill_fleet
    try:
        started = time.monotonic()
        end_fleetd(victim.name)
        wait_for(lambda: active_elsewhere(fleet, name, where), 90, "migration", POLL)
        return time.monotonic() - started
    finally:
        fleet.start_fleet(victim.name)
        fleet.wait_machines()
        fleet.control = "core-01"


def engine_failover(fleet: Fleet) -> float:
    old = fleet.leader()
    victim = fleet.by_id[old]
    use_control_other_than(fleet, old)
    try:
        started = time.monotonic()
        fleet.kill_fleet(victim.name)
        wait_for(lambda: fleet.leader() not in (None, old), 90, "a new leader", POLL)
        return time.monotonic() - started
    finally:
        fleet.start_fleet(victim.name)
        fleet.wait_machines()
        fleet.control = "core-01"


def start_100_units(fleet: Fleet, units: Units) -> float:
    names = [units.name(f"u{i:03d}") for i in range(100)]
    body = "[Unit]\nDescription=bench\n\n[Service]\nExecStart=/bin/sleep infinity\n"
    script = "".join(f"printf %s {shlex.quote(body)} > {units.dir}/{name}\n" for name in names)
    fleet.ssh(units.machine, script)
    units.names.update(names)
    started = time.monotonic()
    result = units.fleetctl("start", "--no-block", *names, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)

    def all_active():
        return sum(1 for name, _, active, _ in fleet.unit_rows()
                   if name in names and active == "active") == len(names)

    wait_for(all_active, 300, "100 units active", 0.5)
    return time.monotonic() - started


def migrate_after_halt(fleet: Fleet, units: Units) -> tuple[float, float]:
    """(from the machine going down, from `lab halt` being run) to the unit active elsewhere.

    `lab halt` spends most of its time in Vagrant before the container is even told to stop;
    the first figure starts at docker's `kill` event for the machine's container instead.
    """
    name, where = place_one(fleet, units, "halt")
    victim = fleet.by_id[where]
    use_control_other_than(fleet, where)
    events = subprocess.Popen(["docker", "events", "--filter", "container=" + fleet.settings.container_name(
        victim.name), "--filter", "event=kill", "--format", "{{.TimeNano}}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    halt = None
    try:
        started = time.time()
        halt = subprocess.Popen([LAB, "halt", victim.name], env=fleet.lab_env, cwd=PROJECT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: active_elsewhere(fleet, name, where), 120, "migration", POLL)
        done = time.time()
        halt.wait(timeout=300)
        events.terminate()
        killed = events.communicate(timeout=30)[0].split()
        down = int(killed[0]) / 1e9 if killed else started
        return done - down, done - started
    finally:
        if events.poll() is None:
            events.terminate()
            events.wait(timeout=30)
        if halt is not None and halt.poll() is None:
            halt.wait(timeout=300)
        fleet.lab("resume", victim.name)
        fleet.control = "core-01"
        fleet.wait_machines()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", action="store_true", help="keep a lab this script booted")
    parser.add_argument("--skip-halt", action="store_true", help="no `lab halt` drill (the slowest)")
    parser.add_argument("--runs", type=int, default=3,
                        help="repetitions of each failure drill (median and max are printed)")
    args = parser.parse_args()
    settings = lab_settings.load()
    lifecycle.up(settings)
    fleet = Fleet(settings)
    try:
        fleet.wait_machines()
        config = timers(fleet)
        say("agent_ttl_s", config.agent_ttl)
        say("engine_reconcile_interval_s", config.engine_reconcile_interval)
        say("engine_lease_ttl_s", 5 * config.engine_reconcile_interval)
        drills = [("migrate_after_stop_s", args.runs,
                   lambda u: migrate_after_fleetd_ends(fleet, u, "stop")),
                  ("migrate_after_kill_s", args.runs,
                   lambda u: migrate_after_fleetd_ends(fleet, u, "kill")),
                  ("engine_failover_s", args.runs, lambda u: engine_failover(fleet)),
                  ("start_100_units_s", 1, lambda u: start_100_units(fleet, u))]
        for figure, runs, drill in drills:
            samples = []
            for _ in range(runs):
                units = Units(fleet)
                try:
                    samples.append(drill(units))
                finally:
                    units.cleanup()
            say(figure, statistics.median(samples))
            if runs > 1:
                say(figure.removesuffix("_s") + "_max_s", max(samples))
        if not args.skip_halt:
            units = Units(fleet)
            try:
                from_down, from_command = migrate_after_halt(fleet, units)
                say("migrate_after_halt_s", from_down)
                say("migrate_after_lab_halt_command_s", from_command)
            finally:
                units.cleanup()
    finally:
        fleet.close()
        if OWN_LAB and not args.keep:
            lifecycle.down(settings)


if __name__ == "__main__":
    main()
