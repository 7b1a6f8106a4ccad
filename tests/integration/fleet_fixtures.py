"""Helpers of the fleet integration tests (their fixtures, `fleet` and `units`, are in conftest.py).

Everything runs against the live cluster of $LAB_HOME (`lab_cluster`, conftest.py): commands
go to the machines over the lab's ssh_config, failure drills use `lab halt/resume` and
`systemctl stop/start fleet`. Each test gets a unique unit-name prefix and a `units` tracker
that destroys what it created and waits until no machine runs it any more, so the cluster is
left as found (no units, every fleetd up, no dynamic metadata).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from labs import polling

PROJECT = Path(__file__).resolve().parents[2]
LAB = str(Path(sys.executable).with_name("lab"))
PREFIX = "/_coreos.com/fleet/"
# The acceptance tests' "eventually" is 15 s on fleet's own CI; the lab host has 2 cores
# shared with other clusters, so waits are generous (they return as soon as the condition holds).
EVENTUALLY = 45.0
UNAVAILABLE = "fleet server unable to communicate with etcd"  # the API's 503
API_RESTART_S = 30.0  # how long a restarted fleetd may answer 503 (registration retries)
# fleetctl straight to etcd: the API driver would wake a stopped fleetd through fleet.socket.
ETCD_DRIVER = ("--driver=etcd", "--endpoint=http://127.0.0.1:2379")


def wait_for(condition, timeout: float = EVENTUALLY, what: str = "condition", interval: float = 1.0):
    """Poll until `condition()` is truthy; return its value or fail after `timeout` seconds.

    Once a second: a poll is usually an ssh exec of `fleetctl` (a Python start, about 0.1 s of
    CPU); every 0.3 s, three test labs side by side kept both cores busy. Fleet's own clocks
    (TTL 5 s, agent and engine rounds) are slower than that anyway."""
    return polling.wait_for(condition, timeout, what, interval)


@dataclass(frozen=True)
class Machine:
    name: str   # lab name: core-01
    id: str     # 32-hex /etc/machine-id
    ip: str     # public IP fleet announces

    @property
    def short(self) -> str:
        return self.id[:8]

    @property
    def legend(self) -> str:
        """How fleetctl shows it in list-units / start output (without --full)."""
        return f"{self.id[:8]}.../{self.ip}"


class Fleet:
    """The live cluster as fleet tests see it."""

    def __init__(self, settings):
        self.settings = settings
        self.ssh_config = str(settings.path("ssh_config"))
        self.lab_env = dict(os.environ, LAB_HOME=str(settings.state))
        self.control = "core-01"  # where fleetctl and etcd queries run (changed while it is halted)
        self.driver_flags: tuple[str, ...] = ()  # fleetctl's default driver: fleetd's API
        self.fleetd_down: set[str] = set()  # machines whose fleetd a test stopped or killed
        # One multiplexed SSH connection per machine: a command costs ~20 ms instead of ~400 ms.
        control_path = str(settings.path("ssh-mux-%C"))
        self.mux = ["-o", "ControlMaster=auto", "-o", f"ControlPath={control_path}",
                    "-o", "ControlPersist=60"] if len(control_path) + 40 < 100 else []
        names = sorted(m for m in self._lab_machine_names())
        machines = []
        for name in names:
            machine_id = self.ssh(name, "cat /etc/machine-id").stdout.strip()
            ip = settings.machine_ip(int(name.rsplit("-", 1)[1]))
            machines.append(Machine(name, machine_id, ip))
        # m1 < m2 < m3 by machine ID, as docs/fleet.md §7 numbers them
        self.machines = sorted(machines, key=lambda m: m.id)
        self.by_name = {m.name: m for m in machines}
        self.by_id = {m.id: m for m in machines}

    def _lab_machine_names(self):
        """The `Host` entries of the lab's ssh_config (no Vagrant call: it may hold a lock)."""
        text = Path(self.ssh_config).read_text()
        return re.findall(r"^Host\s+(\S+)\s*$", text, flags=re.M)

    # --- running things ---------------------------------------------------

    def ssh(self, machine: str, command: str, *, input: str | None = None, check: bool = True,
            timeout: float = 120, forward_agent: bool = False,
            env: dict | None = None) -> subprocess.CompletedProcess:
        argv = ["ssh", "-F", self.ssh_config]
        if forward_agent:
            argv += ["-A", "-o", "ControlPath=none"]  # the agent of this call, not a master's
        else:
            argv += self.mux
        argv += [machine, command]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout,
                                env=env)
        if check and result.returncode != 0:
            raise AssertionError(f"ssh {machine} {command!r} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def fleetctl(self, *args: str, machine: str = "core-01", check: bool = False,
                 timeout: float = 180, cwd: str | None = None,
                 wait_for_api: bool = True) -> subprocess.CompletedProcess:
        """fleetctl on `machine`. A fleetd that is (re)starting answers 503 until it has
        registered (docs/fleet.md §2.5); with `wait_for_api` such answers are retried for a while."""
        if not self.driver_flags and machine in self.fleetd_down:
            # The API driver would wake that fleetd through fleet.socket: ask a running one.
            machine = next(name for name in sorted(self.by_name) if name not in self.fleetd_down)
        command = "fleetctl " + shlex.join([*self.driver_flags, *args])
        if cwd:
            command = f"cd {shlex.quote(cwd)} && {command}"
        deadline = time.monotonic() + API_RESTART_S
        while True:
            result = self.ssh(machine, command, check=False, timeout=timeout)
            if not (wait_for_api and result.returncode != 0 and UNAVAILABLE in result.stderr
                    and time.monotonic() < deadline):
                break
            time.sleep(0.5)
        if check and result.returncode != 0:
            raise AssertionError(f"ssh {machine} {command!r} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def lab(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """`lab ARGS` for this cluster; retried while Vagrant's global machine index is locked
        by another lab's Vagrant on the same host."""
        for attempt in range(5):
            result = subprocess.run([LAB, *args], env=self.lab_env, cwd=PROJECT, capture_output=True,
                                    text=True, timeout=timeout)
            if result.returncode == 0:
                return result
            if "locked" not in result.stderr + result.stdout or attempt == 4:
                raise AssertionError(f"lab {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
            time.sleep(3)
        raise AssertionError("unreachable")

    # --- etcd -------------------------------------------------------------

    def etcd_get(self, key: str, recursive: bool = False, machine: str | None = None):
        """The v2 node for P/<key> (a dict), or None if absent."""
        url = "http://127.0.0.1:2379/v2/keys" + PREFIX + key.lstrip("/")
        if recursive:
            url += "?recursive=true&sorted=true"
        out = self.ssh(machine or self.any_running(), f"curl -s {shlex.quote(url)}").stdout
        data = json.loads(out)
        return data.get("node")

    def etcd_set(self, key: str, value: str, machine: str | None = None) -> None:
        url = "http://127.0.0.1:2379/v2/keys" + PREFIX + key.lstrip("/")
        self.ssh(machine or self.any_running(),
                 f"curl -sf -X PUT {shlex.quote(url)} --data-urlencode value={shlex.quote(value)} >/dev/null")

    def etcd_delete(self, key: str, recursive: bool = False, machine: str | None = None) -> None:
        url = "http://127.0.0.1:2379/v2/keys" + PREFIX + key.lstrip("/")
        if recursive:
            url += "?recursive=true"
        self.ssh(machine or self.any_running(), f"curl -s -X DELETE {shlex.quote(url)} >/dev/null")

    def any_running(self) -> str:
        return self.control

    def close(self) -> None:
        """End the multiplexing masters (they would exit by themselves after 60 s idle)."""
        if self.mux:
            for machine in self.machines:
                subprocess.run(["ssh", "-F", self.ssh_config, *self.mux, "-O", "exit", machine.name],
                               capture_output=True, timeout=30)

    # --- fleet's view -----------------------------------------------------

    def live_machine_ids(self, machine: str | None = None) -> list[str]:
        out = self.fleetctl("list-machines", "--full", "--no-legend", "--fields=machine",
                            machine=machine or self.any_running(), check=True).stdout
        return out.split()

    def unit_files(self, machine: str | None = None) -> dict[str, dict]:
        """list-unit-files --full: name → {hash, dstate, state, target (machine ID, '-', 'global')}."""
        out = self.fleetctl("list-unit-files", "--full", "--no-legend",
                            machine=machine or self.any_running(), check=True).stdout
        rows = {}
        for line in out.splitlines():
            cells = re.split(r"\t+", line)
            if len(cells) != 5:
                continue
            target = cells[4].split("/")[0]
            rows[cells[0]] = {"hash": cells[1], "dstate": cells[2], "state": cells[3], "target": target}
        return rows

    def unit_rows(self, machine: str | None = None) -> list[tuple[str, str, str, str]]:
        """list-units --full: (unit, machine ID, active, sub) rows."""
        out = self.fleetctl("list-units", "--full", "--no-legend",
                            machine=machine or self.any_running(), check=True).stdout
        rows = []
        for line in out.splitlines():
            cells = re.split(r"\t+", line)
            if len(cells) == 4:
                rows.append((cells[0], cells[1].split("/")[0], cells[2], cells[3]))
        return rows

    def active_on(self, unit: str, machine: str | None = None) -> list[str]:
        """Machine IDs where list-units shows `unit` active/running."""
        return [mid for name, mid, active, sub in self.unit_rows(machine)
                if name == unit and active == "active" and sub == "running"]

    def wait_active(self, unit: str, timeout: float = EVENTUALLY, machine: str | None = None,
                    not_on: str | None = None) -> str:
        """The one machine ID running `unit` (list-units and unit-files agree), once it is so."""
        def placed():
            running = [m for m in self.active_on(unit, machine) if m != not_on]
            files = self.unit_files(machine)
            row = files.get(unit)
            if len(running) == 1 and row and row["target"] == running[0] and row["state"] == "launched":
                return running[0]
            return None
        return wait_for(placed, timeout, f"{unit} active on one machine")

    def systemd_active(self, machine: str, unit: str) -> str:
        return self.ssh(machine, f"systemctl is-active {shlex.quote(unit)}", check=False).stdout.strip()

    def wait_stopped(self, machine: str, unit: str, timeout: float = 30) -> None:
        """Until `unit` is no longer active on `machine`. A purge (or the agent) queues the stop
        (`systemctl stop --no-block`, as fleet's StopUnit without a result channel) and fleetd
        may exit before systemd has run that job: on a busy host, `is-active` still said
        "active" right after `systemctl stop fleet` (docs/flakes.md, row 22)."""
        wait_for(lambda: self.systemd_active(machine, unit) != "active", timeout,
                 what=f"{unit} stopped on {machine}")

    def local_units(self, machine: str) -> list[str]:
        out = self.ssh(machine, "ls /run/fleet/units 2>/dev/null || true").stdout
        return out.split()

    # --- failure drills ---------------------------------------------------

    def stop_fleet(self, machine: str) -> None:
        self.fleetd_down.add(machine)
        self.ssh(machine, "sudo systemctl stop fleet.service")

    def kill_fleet(self, machine: str) -> None:
        """A crash: SIGKILL fleetd, and keep systemd from restarting it until start_fleet."""
        self.fleetd_down.add(machine)
        self.ssh(machine, "sudo systemctl kill -s KILL fleet.service; sudo systemctl stop fleet.service")

    def start_fleet(self, machine: str) -> None:
        self.ssh(machine, "sudo systemctl start fleet.service")
        self.fleetd_down.discard(machine)

    def ensure_fleet_running(self, machine: str) -> None:
        if self.ssh(machine, "systemctl is-active fleet.service", check=False).stdout.strip() != "active":
            self.start_fleet(machine)
        self.fleetd_down.discard(machine)

    def wait_machines(self, count: int | None = None, timeout: float = 90) -> list[str]:
        count = len(self.machines) if count is None else count
        return wait_for(lambda: (ids := self.live_machine_ids()) and len(ids) == count and ids,
                        timeout, f"{count} machines in list-machines")

    def leader(self) -> str | None:
        node = self.etcd_get("lease/engine-leader")
        return json.loads(node["value"])["MachineID"] if node else None

    # --- dynamic metadata (what PATCH /fleet/v1/machines writes) ----------

    def set_metadata(self, machine_id: str, key: str, value: str) -> None:
        self.etcd_set(f"machines/{machine_id}/metadata/{key}", value)

    def clear_metadata(self) -> None:
        for machine in self.machines:
            self.etcd_delete(f"machines/{machine.id}/metadata", recursive=True)


class Units:
    """Unit files of one test: unique names, written to a scratch dir on every machine (fleetctl
    may have to run elsewhere when a test stops a machine's fleetd), destroyed after."""

    def __init__(self, fleet: Fleet, machine: str = "core-01"):
        self.fleet = fleet
        self.machine = machine
        self.prefix = "it" + uuid.uuid4().hex[:6]
        self.dir = f"/home/core/{self.prefix}"
        self.names: set[str] = set()
        for name in fleet.by_name:
            fleet.ssh(name, f"mkdir -p {self.dir}")

    def name(self, base: str) -> str:
        """`<prefix>-<base>`, with `.service` unless base has a unit suffix."""
        name = f"{self.prefix}-{base}"
        suffixes = (".service", ".socket", ".timer", ".path", ".mount", ".target")
        return name if name.endswith(suffixes) else name + ".service"

    def write(self, name: str, text: str, machine: str | None = None) -> str:
        """Write a unit file into the scratch dir of `machine` (default: of every machine)."""
        path = f"{self.dir}/{name}"
        for target in [machine] if machine else self.fleet.by_name:
            self.fleet.ssh(target, f"cat > {shlex.quote(path)}", input=text)
        self.names.add(name)
        return path

    def service(self, name: str, xfleet: str = "", message: str = "hello", machine: str | None = None) -> str:
        """A small unit printing a line per second (fleet's functional fixtures), optional [X-Fleet]."""
        text = ("[Unit]\nDescription=%s\n\n[Service]\n"
                "ExecStart=/bin/sh -c \"while true; do echo %s; sleep 1; done\"\n" % (name, message))
        if xfleet:
            text += "\n[X-Fleet]\n" + xfleet.strip() + "\n"
        return self.write(name, text, machine)

    def fleetctl(self, *args: str, machine: str | None = None, check: bool = False, timeout: float = 180):
        """fleetctl run in the scratch dir (so unit files are found by name)."""
        for arg in args:
            if arg.startswith(self.prefix):
                self.names.add(arg)
        return self.fleet.fleetctl(*args, machine=machine or self.machine, check=check, timeout=timeout,
                                   cwd=self.dir)

    def cleanup(self) -> None:
        fleet = self.fleet
        control = fleet.any_running()
        registered = [n for n in fleet.unit_files(control) if n.startswith(self.prefix)]
        if registered:
            # unload first: a target-state change wakes engine and agents at once, while
            # destroy alone (a directory delete) waits for the agents' periodic reconcile
            fleet.fleetctl("unload", "--no-block", *registered, machine=control)
            fleet.fleetctl("destroy", *registered, machine=control)
        wait_for(lambda: not any(r[0].startswith(self.prefix) for r in fleet.unit_rows(control)),
                 EVENTUALLY, f"units of {self.prefix} gone from list-units")
        for machine in fleet.machines:
            wait_for(lambda: not any(n.startswith(self.prefix) for n in fleet.local_units(machine.name)),
                     EVENTUALLY, f"units of {self.prefix} gone from {machine.name}")
        for name in fleet.by_name:
            fleet.ssh(name, f"rm -rf {self.dir}", check=False)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# --- fleet's HTTP API (labs.node.fleet.api): served on the socket systemd passes to fleetd ------


class FleetAPI:
    """`curl --unix-socket /var/run/fleet.sock` on one machine: fleetd's API on fleet.socket."""

    def __init__(self, fleet: Fleet, machine: str):
        self.fleet = fleet
        self.machine = machine

    def wait_ready(self) -> None:
        wait_for(lambda: self.call("GET", "/machines")[0] == 200, 60, f"the API on {self.machine}")

    def call(self, method: str, path: str, body=None, content_type: str = "application/json"):
        """(HTTP status, decoded JSON body or None)."""
        command = (f"sudo curl -s --max-time 20 --unix-socket /var/run/fleet.sock -X {method} "
                   f"-w '\\n%{{http_code}}' ")
        if body is not None:
            command += f"-H 'Content-Type: {content_type}' --data-binary @- "
        command += shlex.quote("http://localhost/fleet/v1" + path)
        out = self.fleet.ssh(self.machine, command, input=None if body is None else json.dumps(body),
                             check=False).stdout
        text, _, status = out.rpartition("\n")
        return int(status or 0), (json.loads(text) if text.strip() else None)
