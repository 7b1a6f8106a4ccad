"""A student's lab, in two places.

The broker's side, `<classroom root>/labs/<student>/` (root only, 0700): the lab's settings,
its key pair, Vagrant's records and home. A student who could edit these could name another
student's containers, so the lab is run from here.

The student's side, `~/.lab/` (theirs): a copy of what they need to use the lab -- settings
(naming the broker), ssh_config, known_hosts, their key, the uploaded user-data -- beside
what they write themselves (progress.json, exercise files). The copy is written by a process
running as the student (`publish`), so root never writes into a student's home.
"""

from __future__ import annotations

import ipaddress
import json
import os
import pwd
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

from labs.classroom.config import Classroom
from labs.errors import LabError
from labs.launcher import settings as lab_settings
from labs.launcher.settings import LabSettings

SUBNETS = ipaddress.ip_network("10.200.0.0/16")    # classroom labs: clear of single labs' 10.100-199
SHARED = ("ssh_config", "known_hosts", "id_ed25519", "id_ed25519.pub", "user-data")


def load(classroom: Classroom, student: str) -> LabSettings:
    """The broker's settings of STUDENT's lab, made the first time (name, subnet, key, limits)."""
    state = classroom.lab_state(classroom.require_student(student))
    if (state / "settings.json").exists():
        return lab_settings.load(state)
    state.mkdir(parents=True, exist_ok=True)
    for directory in (state.parent.parent, state.parent, state):
        directory.chmod(0o700)
    chosen = lab_settings.load(state)           # a free port block, recorded host-wide
    lab = replace(chosen, name=f"class-{student}", subnet=free_subnet(classroom, student),
                  own_key=True, own_vagrant_home=True, machine_memory=classroom.machine_memory,
                  machine_pids=classroom.machine_pids)
    data = asdict(lab)
    data.pop("state")
    (state / "settings.json").write_text(json.dumps(data, indent=2) + "\n")
    place(classroom, student)
    return lab_settings.load(state)


def free_subnet(classroom: Classroom, student: str) -> str:
    """The first /24 of the classroom range that no other student's lab or docker network uses."""
    taken = set()
    for other in (classroom.path / "labs").glob("*/settings.json"):
        if other.parent.name != student:
            taken.add(json.loads(other.read_text())["subnet"])
    taken |= docker_subnets(classroom)
    for subnet in SUBNETS.subnets(new_prefix=24):
        if str(subnet) not in taken:
            return str(subnet)
    raise LabError(f"no free subnet left in {SUBNETS} for {student}'s lab")


def docker_subnets(classroom: Classroom) -> set[str]:
    from labs.launcher.dockerhost import docker

    found = set()
    for engine in classroom.engines:
        with engine_environment(engine):
            names = docker("network", "ls", "-q", check=False).stdout.split()
            if names:
                out = docker("network", "inspect", "--format",
                             "{{range .IPAM.Config}}{{.Subnet}} {{end}}", *names, check=False)
                found |= set(out.stdout.split())
    return found


class engine_environment:
    """DOCKER_HOST set to ENGINE ("" = the local default engine) for the duration."""

    def __init__(self, engine: str):
        self.engine = engine

    def __enter__(self):
        self.saved = os.environ.pop("DOCKER_HOST", None)
        if self.engine:
            os.environ["DOCKER_HOST"] = self.engine

    def __exit__(self, *exc):
        os.environ.pop("DOCKER_HOST", None)
        if self.saved is not None:
            os.environ["DOCKER_HOST"] = self.saved


def place(classroom: Classroom, student: str) -> str:
    """The Docker engine for a new lab: the one of the classroom's engines with fewest labs."""
    counts = {engine: 0 for engine in classroom.engines}
    for placed in (classroom.path / "labs").glob("*/engine.json"):
        engine = json.loads(placed.read_text())["engine"]
        if engine in counts and placed.parent.name != student:
            counts[engine] += 1
    engine = min(classroom.engines, key=lambda e: (counts[e], classroom.engines.index(e)))
    (classroom.lab_state(student) / "engine.json").write_text(json.dumps({"engine": engine}) + "\n")
    return engine


def engine(classroom: Classroom, student: str) -> str:
    placed = classroom.lab_state(student) / "engine.json"
    return json.loads(placed.read_text())["engine"] if placed.exists() else ""


# --- the student's copy ------------------------------------------------------------------------

def student_view(classroom: Classroom, student: str, lab: LabSettings) -> dict[str, dict | None]:
    """The files of the student's ~/.lab, with the broker's paths replaced by the student's."""
    mine = str(classroom.student_lab(student))
    data = asdict(lab)
    data.pop("state")
    data["broker"] = classroom.socket
    files: dict[str, dict | None] = {
        "settings.json": {"mode": 0o644, "text": json.dumps(data, indent=2) + "\n"}}
    for name in SHARED:
        source = lab.path(name)
        if source.exists():
            text = source.read_text().replace(lab.state, mine)
            files[name] = {"mode": 0o600 if name == "id_ed25519" else 0o644, "text": text}
        else:
            files[name] = None
    return files


def publish(classroom: Classroom, student: str, lab: LabSettings | None = None) -> None:
    """Write the student's copy into ~/.lab, as the student."""
    lab = lab or load(classroom, student)
    run_as(student, [sys.executable, "-m", "labs.classroom.publish",
                     str(classroom.student_lab(student))],
           input=json.dumps(student_view(classroom, student, lab)))


def run_as(user: str, argv: list[str], input: str | None = None,
           extra_env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ARGV as USER (their uid, their group, no other groups), in their home."""
    entry = pwd.getpwnam(user)
    env = {"HOME": entry.pw_dir, "USER": user, "LOGNAME": user, "PATH": os.environ["PATH"],
           "PYTHONPATH": str(lab_settings.PROJECT_ROOT), **(extra_env or {})}
    done = subprocess.run(argv, input=input, user=entry.pw_uid, group=entry.pw_gid,
                          extra_groups=[], umask=0o077, env=env, cwd=entry.pw_dir,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError(f"{Path(argv[0]).name} as {user} failed: {done.stderr.strip()[-500:]}")
    return done
