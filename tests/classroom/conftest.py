"""A real classroom for the classroom's tests: two student accounts and a teacher made with
useradd, the broker, the firewall and JupyterHub started by `labs.classroom.setup`, and both
students' clusters booted through the broker by the students themselves. Everything is
removed at the end (clusters, accounts, homes, group, firewall rules).

Run with `make test-classroom` (as root; the classroom's venv, made with the system python3,
is what students can run). Under another interpreter or user the tests are skipped. While
working on the tests, CLASSROOM_REUSE=/some/dir/classroom.json keeps the classroom (made on the
first run) for the next; remove it with `python -m labs.classroom.setup --config ... down
--remove-students`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
CLASSROOM_VENV = PROJECT / ".venv-classroom"
LAB = str(CLASSROOM_VENV / "bin" / "lab")


def pytest_collection_modifyitems(config, items):
    reason = None
    if os.geteuid() != 0:
        reason = "the classroom's tests make Unix accounts and firewall rules: run them as root"
    elif Path(sys.prefix).resolve() != CLASSROOM_VENV.resolve():
        reason = "run with the classroom's venv, which students can read: `make test-classroom`"
    if reason:
        for item in items:
            if Path(__file__).parent in item.path.parents:
                item.add_marker(pytest.mark.skip(reason=reason))


def free_ports(count: int) -> int:
    """The first of COUNT consecutive free ports on this host."""
    for base in range(18000, 30000, 10):
        if all(port_free(p) for p in range(base, base + count)):
            return base
    raise RuntimeError("no free ports")


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))
            return True
        except OSError:
            return False


class Student:
    """One student: run commands as them, as their JupyterLab would."""

    def __init__(self, name: str, room):
        import pwd
        self.name = name
        self.entry = pwd.getpwnam(name)
        self.home = Path(self.entry.pw_dir)
        self.lab_home = self.home / ".lab"
        self.room = room

    @property
    def uid(self) -> int:
        return self.entry.pw_uid

    def env(self, **extra) -> dict:
        return {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name,
                "LAB_HOME": str(self.lab_home), "PYTHONPATH": str(PROJECT),
                "PATH": f"{PROJECT / 'classroom' / 'bin'}:{CLASSROOM_VENV / 'bin'}:"
                        "/usr/local/bin:/usr/bin:/bin", **extra}

    def run(self, *argv: str, timeout: float = 600, input: str | None = None,
            **env) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), user=self.uid, group=self.entry.pw_gid,
                              extra_groups=list(self.groups()), env=self.env(**env),
                              cwd=self.home, capture_output=True, text=True, timeout=timeout,
                              input=input)

    def popen(self, *argv: str, **env) -> subprocess.Popen:
        """ARGV as the student, in the background; stdout and stderr together."""
        return subprocess.Popen(list(argv), user=self.uid, group=self.entry.pw_gid,
                                extra_groups=list(self.groups()), env=self.env(**env),
                                cwd=self.home, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def groups(self) -> list[int]:
        return os.getgrouplist(self.name, self.entry.pw_gid)

    def lab(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run(LAB, *args, **kw)

    def python(self, code: str, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run(str(CLASSROOM_VENV / "bin" / "python"), "-c", code, *args, **kw)

    def settings(self):
        from labs.launcher import settings
        return settings.load(self.room.config.lab_state(self.name))


class Room:
    def __init__(self, config, config_path: Path, base: Path):
        self.config = config
        self.config_path = config_path
        self.base = base
        self.students = [Student(name, self) for name in config.students]
        self.teacher = config.teachers[0]


@pytest.fixture(scope="session")
def room():
    from labs.classroom import config as classroom_config, setup
    from labs.classroom.config import Classroom

    reuse = os.environ.get("CLASSROOM_REUSE")   # a test classroom kept from an earlier run
    if reuse:
        config_path = Path(reuse)
        if config_path.exists():
            yield Room(classroom_config.load(config_path), config_path, config_path.parent)
            return
    tag = f"{os.getpid() % 10000:04d}"
    base = Path(tempfile.mkdtemp(prefix="coreos-lab-classroom-", dir="/tmp"))
    base.chmod(0o755)                       # students reach the broker's socket in here
    config = Classroom(students=[f"ct{tag}a", f"ct{tag}b"], teachers=[f"ct{tag}t"],
                       root=str(base / "root"), socket=str(base / "run" / "broker.sock"),
                       group=f"ct{tag}", hub_port=free_ports(4), hub_ip="127.0.0.1")
    config_path = Path(reuse) if reuse else base / "classroom.json"
    config.save(config_path)
    roster = base / "roster.txt"
    roster.write_text("".join(f"{name}\n" for name in config.students))
    try:
        setup.up(roster, config.teachers, config.hub_port, config_path)
        yield Room(config, config_path, base)
    finally:
        if not reuse:
            setup.down(config_path, remove_students=True)
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def students(room):
    """Both students, each with a healthy cluster they started themselves (`lab up`)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        ups = list(pool.map(lambda s: s.lab("up"), room.students))
    for student, up in zip(room.students, ups):
        assert up.returncode == 0, f"{student.name}: lab up failed:\n{up.stdout}\n{up.stderr}"
    return room.students


def containers(settings) -> dict[str, str]:
    """{container: started-at} of a lab: what must not change when another student attacks."""
    from labs.launcher.dockerhost import docker
    from labs.launcher.settings import LABEL

    names = docker("ps", "-aq", "--filter", f"label={LABEL}={settings.name}").stdout.split()
    out = docker("inspect", "--format", "{{.Name}} {{.State.Status}} {{.State.StartedAt}}",
                 *names).stdout
    return dict(line.split(" ", 1) for line in out.splitlines())


def etcd_get(student: Student, key: str) -> str:
    done = student.run("ssh", "-F", str(student.lab_home / "ssh_config"), "core-01",
                       f"etcdctl get {key}", timeout=60)
    return done.stdout.strip() if done.returncode == 0 else f"<error: {done.stderr.strip()}>"


@pytest.fixture
def victim(students):
    """Student B, checked unchanged after the test: same containers, still healthy, data kept."""
    from labs.launcher import lifecycle

    b = students[1]
    marker = f"written by {b.name} before the attack"
    set_key = b.run("ssh", "-F", str(b.lab_home / "ssh_config"), "core-01",
                    f"etcdctl set /classroom/mine '{marker}'", timeout=60)
    assert set_key.returncode == 0, set_key.stderr
    before = containers(b.settings())
    yield b
    assert containers(b.settings()) == before, "the other student's machines changed"
    assert lifecycle.healthy(b.settings()), "the other student's cluster is not healthy"
    assert etcd_get(b, "/classroom/mine") == marker


def json_request(who: Student, op: str, **fields) -> subprocess.CompletedProcess:
    """A raw request to the broker, sent by WHO's own process."""
    code = ("import json, sys\n"
            "from labs.launcher.brokered import request\n"
            "from labs.errors import LabError\n"
            f"fields = json.loads({json.dumps(json.dumps(fields))})\n"
            "try:\n"
            f"    print(json.dumps(request(sys.argv[1], {op!r}, echo=lambda line: None, **fields)))\n"
            "except LabError as error:\n"
            "    print('refused:', error, file=sys.stderr); sys.exit(1)\n")
    return who.run(str(CLASSROOM_VENV / "bin" / "python"), "-c", code, who.room.config.socket)
