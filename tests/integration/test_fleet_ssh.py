"""fleetctl's SSH features on the live cluster: `--tunnel` from the host, `ssh`, `status`, `journal`.

From the host, fleetctl runs as `python -m labs.node.fleet.fleetctl --tunnel core-01` with
FLEETCTL_SSH_CONFIG=<lab>/ssh_config (the lab's host aliases, ports, key and pinned host
keys). Commands on other machines authenticate with an ssh-agent, as fleetctl always did:
the test starts its own agent holding the lab's key and kills it afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from tests.integration.fleet_fixtures import PROJECT, wait_for


def host_fleetctl(fleet, *args, env=None, cwd=None, timeout=120):
    environ = dict(os.environ, FLEETCTL_SSH_CONFIG=fleet.ssh_config, PYTHONPATH=str(PROJECT))
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "labs.node.fleet.fleetctl", "--tunnel", "core-01", *args],
                          env=environ, cwd=cwd or PROJECT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def agent(fleet, tmp_path):
    """An ssh-agent of our own holding the lab's key: {SSH_AUTH_SOCK, SSH_AGENT_PID}."""
    identity = re.search(r"^\s*IdentityFile\s+(\S+)", open(fleet.ssh_config).read(), re.M).group(1)
    socket_path = str(tmp_path / "agent.sock")
    out = subprocess.run(["ssh-agent", "-s", "-a", socket_path], capture_output=True, text=True,
                         check=True).stdout
    pid = int(re.search(r"SSH_AGENT_PID=(\d+)", out).group(1))
    env = {"SSH_AUTH_SOCK": socket_path, "SSH_AGENT_PID": str(pid)}
    try:
        subprocess.run(["ssh-add", identity], env=dict(os.environ, **env), capture_output=True, check=True)
        yield env
    finally:
        os.kill(pid, signal.SIGTERM)


def test_tunnel_from_the_host(fleet, units, tmp_path):
    """`fleetctl --tunnel core-01` on the host: same list-machines bytes; start a host-side file."""
    on_machine = fleet.fleetctl("list-machines", check=True).stdout
    through = host_fleetctl(fleet, "list-machines")
    assert (through.returncode, through.stdout) == (0, on_machine), through.stderr

    name = units.name("tunneled")
    (tmp_path / name).write_text("[Service]\nExecStart=/bin/sh -c \"while true; do echo tunneled; sleep 1; "
                                 "done\"\n")
    started = host_fleetctl(fleet, "start", name, cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    machine = fleet.by_id[fleet.wait_active(name)]
    assert started.stdout.splitlines()[-1] == f"Unit {name} launched on {machine.legend}"
    files = host_fleetctl(fleet, "list-unit-files", "--no-legend").stdout
    assert re.search(rf"^{re.escape(name)}\t+[0-9a-f]{{7}}\tlaunched\tlaunched\t{re.escape(machine.legend)}$",
                     files, re.M)


def test_ssh_status_and_journal(fleet, units, agent):
    """`fleetctl ssh` by machine-ID prefix and by unit, `status`, `journal`; from the host through
    the tunnel and on a machine with the agent forwarded (`ssh -A`, then `fleetctl ssh -A`)."""
    name = units.name("hello")
    units.service(name, message="hello-journal")
    assert units.fleetctl("start", name).returncode == 0
    where = fleet.by_id[fleet.wait_active(name)]
    other = next(m for m in fleet.machines if m.name != "core-01")
    no_check = "--strict-host-key-checking=false"  # the host does not know the machines' IPs

    by_machine = host_fleetctl(fleet, no_check, "ssh", other.id[:6], "hostname", env=agent)
    assert (by_machine.returncode, by_machine.stdout) == (0, other.name + "\n"), by_machine.stderr
    by_unit = host_fleetctl(fleet, no_check, "ssh", name, "cat /etc/machine-id", env=agent)
    assert by_unit.stdout.strip() == where.id
    exit_code = host_fleetctl(fleet, no_check, "ssh", other.id[:6], "exit 3", env=agent)
    assert exit_code.returncode == 3
    status = host_fleetctl(fleet, no_check, "status", name, env=agent)
    assert status.returncode == 0, status.stderr
    assert "Active: active (running)" in status.stdout

    # on core-01 with the agent forwarded: host keys come from the machines' ssh_known_hosts
    env = dict(os.environ, **agent)
    remote = fleet.ssh("core-01", f"fleetctl ssh {other.id[:8]} hostname", forward_agent=True, env=env)
    assert remote.stdout == other.name + "\n"
    forwarded = fleet.ssh("core-01", f"fleetctl ssh -A {other.id[:8]} ssh-add -l", forward_agent=True,
                          env=env, check=False)
    # the key reached core-01 and, through `fleetctl ssh -A`, the next machine
    assert forwarded.returncode == 0 and "SHA256:" in forwarded.stdout, forwarded.stdout + forwarded.stderr
    journal = fleet.ssh("core-01", f"fleetctl journal --lines=5 {name}", forward_agent=True, env=env)
    assert "hello-journal" in journal.stdout

    unknown = fleet.fleetctl("ssh", "nosuchmachine-or-unit")
    assert (unknown.returncode, unknown.stderr) == (1, "Unable to proceed: could not find matching unit or machine\n")


def test_ssh_argument_naming_both_a_machine_and_a_unit(fleet, units):
    """A unit named like a machine-ID prefix: fleet refuses to guess (issue 10, item 7)."""
    machine = fleet.by_name["core-02"]
    name = f"{machine.short}.service"
    units.service(name)
    try:
        assert units.fleetctl("start", name).returncode == 0
        ambiguous = fleet.fleetctl("ssh", machine.short, "hostname")
        assert (ambiguous.returncode, ambiguous.stderr) == (1, (
            f"Unable to proceed: ambiguous argument, both machine and unit found for `{machine.short}`.\n"
            "Please use flag `-m` or `-u` to refine the search\n"))
    finally:
        fleet.fleetctl("destroy", name)
        wait_for(lambda: not any(row[0] == name for row in fleet.unit_rows()), what=f"{name} gone")


def test_tunnel_asks_before_trusting_an_unknown_host_and_remembers_it(fleet, agent, tmp_path):
    """From the host, without the lab's ssh_config: the first --tunnel to a machine shows its key
    and asks, as fleet's HostKeyChecker did; yes saves it, no refuses (issue 10, item 4)."""
    core01 = fleet.by_name["core-01"]
    known_hosts = tmp_path / "fleetctl" / "known_hosts"
    env = {k: v for k, v in os.environ.items() if k != "FLEETCTL_SSH_CONFIG"}
    env.update(agent, PYTHONPATH=str(PROJECT))
    command = [sys.executable, "-m", "labs.node.fleet.fleetctl", "--tunnel", core01.ip,
               "--known-hosts-file", str(known_hosts), "list-machines"]

    def fleetctl(answer):
        return subprocess.run(command, input=answer, env=env, cwd=PROJECT, capture_output=True, text=True,
                              timeout=120)

    question = (rf"^The authenticity of host '{re.escape(core01.ip)}' can't be established\.\n"
                r"(\S+) key fingerprint is ([0-9a-f]{2}(:[0-9a-f]{2}){15})\.\n"
                r"Are you sure you want to continue connecting \(yes/no\)\? ")
    refused = fleetctl("no\n")
    assert refused.returncode == 1 and not known_hosts.exists()
    assert re.match(question + "Host key verification failed\\.\n"
                    "Unable to initialize client: failed initializing SSH client: unauthorized host\n$",
                    refused.stderr), refused.stderr
    trusted = fleetctl("yes\n")
    assert (trusted.returncode, trusted.stdout) == (0, fleet.fleetctl("list-machines", check=True).stdout)
    algorithm = re.match(question, trusted.stderr).group(1)
    assert trusted.stderr.endswith(
        f"Warning: Permanently added '{core01.ip}' ({algorithm}) to the list of known hosts.\n")
    assert known_hosts.read_text().startswith(core01.ip + " ")
    again = fleetctl("")
    assert (again.returncode, again.stderr) == (0, "")
