"""Student A against student B: every way in fails with a clear error, and nothing of B's changes.

(The broker's part -- halting, resetting or deleting B's lab, naming B's lab in LAB_HOME -- is
in test_broker.py.) The limits a student's machines run with, and what each test shows:

    memory   512 MiB per machine (--memory, no swap)   a machine that takes more is OOM-killed
    pids     1024 per machine (--pids-limit)          a fork bomb stops at the limit
    CPU      fair shares (Docker's default weights)   (not capped: see the README)
    disk     not capped on ext4 (see the README)
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

PROBE = """
import errno, socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
        print(target, "open")
    except OSError as error:
        print(target, errno.errorcode.get(error.errno, "timeout"), error.strerror or error)
"""


def probe(student, *targets: str) -> dict[str, str]:
    done = student.python(PROBE, *targets)
    assert done.returncode == 0, done.stderr
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in done.stdout.splitlines()}


def machine_targets(settings, ports=(22, 2379, 4001, 2375)) -> list[str]:
    return [f"{settings.machine_ip(i)}:{port}" for i in (1, 2, 3) for port in ports]


def test_bs_machines_are_closed_to_a_by_address(students, victim):
    a = students[0]
    targets = machine_targets(victim.settings())
    for target, outcome in probe(a, *targets).items():
        assert outcome.startswith("EHOSTUNREACH No route to host"), (target, outcome)
    assert set(probe(victim, *targets).values()) == {"open"}, "B reaches their own machines"
    assert set(probe(a, *machine_targets(a.settings())).values()) == {"open"}


def test_bs_published_ports_are_closed_to_a(students, victim):
    a = students[0]
    lab = victim.settings()
    targets = [f"127.0.0.1:{lab.ssh_port(i)}" for i in (1, 2, 3)] + [f"127.0.0.1:{lab.discovery_port}"]
    for target, outcome in probe(a, *targets).items():
        assert outcome.startswith("ECONNREFUSED") or outcome.startswith("ECONNRESET"), (target, outcome)
    assert set(probe(victim, *targets).values()) == {"open"}


def test_bs_machines_are_closed_to_as_machines(students, victim):
    a = students[0]
    lab = victim.settings()
    tried = a.run("ssh", "-F", str(a.lab_home / "ssh_config"), "core-01",
                  f"curl -sS -m 5 http://{lab.machine_ip(1)}:2379/version; echo exit=$?")
    assert "exit=0" not in tried.stdout, tried.stdout
    assert "Failed to connect" in tried.stderr + tried.stdout or "timed out" in tried.stderr + tried.stdout


def vagrant_insecure_key() -> Path:
    found = sorted(Path("/usr/share/rubygems-integration/all/gems").glob("vagrant-*/keys/vagrant"))
    if not found:
        pytest.skip("Vagrant's insecure key is not where Debian's vagrant package puts it")
    return found[0]


def test_no_key_a_holds_opens_bs_machines(students, victim, tmp_path):
    """As A: the port is closed. As root (whom the firewall lets through) with A's keys: sshd
    refuses every one -- B's machines accept B's key only."""
    a = students[0]
    lab = victim.settings()
    keys = {"A's own key": a.lab_home / "id_ed25519", "Vagrant's insecure key": vagrant_insecure_key()}
    for name, key in keys.items():
        as_a = a.run("ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                     "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                     "-p", str(lab.ssh_port(1)), "core@127.0.0.1", "true", timeout=60)
        assert as_a.returncode == 255, (name, as_a.stderr)
        assert "Connection refused" in as_a.stderr or "Connection reset" in as_a.stderr, as_a.stderr
        copy = tmp_path / key.name
        copy.write_bytes(key.read_bytes())
        copy.chmod(0o600)
        as_root = subprocess.run(
            ["ssh", "-i", str(copy), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-p", str(lab.ssh_port(1)), "core@127.0.0.1", "true"],
            capture_output=True, text=True, timeout=60)
        assert as_root.returncode == 255, (name, as_root.stderr)
        assert "Permission denied (publickey)" in as_root.stderr, (name, as_root.stderr)


def test_bs_files_are_closed_to_a(students, victim, room):
    a = students[0]
    for path in (victim.home / "notebooks" / "01-vagrant.ipynb", victim.lab_home / "progress.json",
                 victim.lab_home / "id_ed25519", room.config.lab_state(victim.name) / "id_ed25519"):
        tried = a.run("cat", str(path))
        assert tried.returncode == 1 and "Permission denied" in tried.stderr, (path, tried.stderr)


def test_a_has_no_docker_group_and_no_sudo(students):
    a = students[0]
    groups = a.run("id", "-Gn").stdout.split()
    assert not {"docker", "sudo", "wheel", "admin", "root"} & set(groups), groups
    if shutil.which("sudo"):
        assert a.run("sudo", "-n", "true").returncode != 0


def cgroup_value(settings, machine: str, controller: str, name: str) -> str:
    from labs.launcher.dockerhost import docker
    cid = docker("inspect", "-f", "{{.Id}}", settings.container_name(machine)).stdout.strip()
    return Path(f"/sys/fs/cgroup/{controller}/docker/{cid}/{name}").read_text()


def test_a_fork_bomb_stops_at_the_machines_pids_limit(students, victim):
    a = students[0]
    lab = a.settings()
    machine = lab.container_name("core-02")
    assert cgroup_value(lab, "core-02", "pids", "pids.max").strip() == "1024"
    # as a service with no TasksMax of its own, so that only the machine's limit holds it
    started = a.run("ssh", "-F", str(a.lab_home / "ssh_config"), "core-02",
                    "sudo systemd-run --unit=forkbomb --uid=core -p TasksMax=infinity "
                    "sh -c 'bomb() { bomb | bomb & }; bomb; sleep 600'", timeout=60)
    assert started.returncode == 0, started.stderr
    try:
        deadline = time.monotonic() + 60
        while int(cgroup_value(lab, "core-02", "pids", "pids.current")) < 1000:
            assert time.monotonic() < deadline, "the fork bomb never came near the limit"
            time.sleep(0.5)
        for _ in range(5):                  # held at the limit while B and the host carry on
            assert int(cgroup_value(lab, "core-02", "pids", "pids.current")) <= 1024
            time.sleep(1)
        assert victim.lab("status").returncode == 0
        assert subprocess.run(["true"]).returncode == 0
        log = subprocess.run(["docker", "exec", machine, "journalctl", "-u", "forkbomb",
                              "--no-pager"], capture_output=True, text=True, timeout=60).stdout
        assert "Cannot fork" in log, log[-2000:]
    finally:
        stopped = subprocess.run(["docker", "exec", machine, "systemctl", "kill",
                                  "--signal=SIGKILL", "forkbomb.service"],
                                 capture_output=True, text=True, timeout=120)
        assert stopped.returncode == 0, stopped.stderr
        subprocess.run(["docker", "exec", machine, "systemctl", "reset-failed",
                        "forkbomb.service"], capture_output=True, timeout=60)


def test_a_machine_that_takes_too_much_memory_is_killed_alone(students, victim):
    a = students[0]
    lab = a.settings()
    limit = int(cgroup_value(lab, "core-03", "memory", "memory.limit_in_bytes"))
    assert limit == 512 * 2**20
    hog = a.run("ssh", "-F", str(a.lab_home / "ssh_config"), "core-03",
                "python3 -c 'x = bytearray(700 * 2**20); print(len(x))'; echo exit=$?", timeout=120)
    assert "exit=137" in hog.stdout, hog.stdout + hog.stderr       # SIGKILL by the OOM killer
    assert victim.lab("status").returncode == 0
    again = a.run("ssh", "-F", str(a.lab_home / "ssh_config"), "core-03", "hostname")
    assert again.stdout.strip() == "core-03", "the machine itself lives on"
