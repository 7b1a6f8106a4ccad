"""The classroom's one description, written by `make classroom` and read by every part.

    /etc/coreos-lab/classroom.json   (or $CLASSROOM_CONFIG, e.g. a test classroom)

Everything a student may not touch lives under `root` (root only, 0700): the broker's
state of each student's lab, the passwords file, logs. The students' side is their home.
"""

from __future__ import annotations

import json
import os
import pwd
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labs.errors import LabError

DEFAULT_FILE = Path("/etc/coreos-lab/classroom.json")


def config_file() -> Path:
    return Path(os.environ.get("CLASSROOM_CONFIG") or DEFAULT_FILE)


@dataclass
class Classroom:
    students: list[str]
    teachers: list[str] = field(default_factory=lambda: ["teacher"])
    root: str = "/var/lib/coreos-lab"          # root-only state: labs/<student>, passwords
    socket: str = "/run/coreos-lab/broker.sock"
    group: str = "coreos-students"              # every student; may use the broker's socket
    engines: list[str] = field(default_factory=lambda: [""])   # DOCKER_HOST values; "" = local
    machine_memory: str = "512m"
    machine_pids: int = 1024
    hub_port: int = 8000
    hub_ip: str = ""                            # "" = every interface
    first_uid: int = 20000                      # clear of the machines' uids (core is 1000)

    @property
    def path(self) -> Path:
        return Path(self.root)

    def lab_state(self, student: str) -> Path:
        """The broker's state of STUDENT's lab (settings, key, Vagrant's records): root only."""
        return self.path / "labs" / student

    def home(self, user: str) -> Path:
        try:
            return Path(pwd.getpwnam(user).pw_dir)
        except KeyError:
            raise LabError(f"no account {user!r} on this server") from None

    def student_lab(self, student: str) -> Path:
        """The student's own view of their lab: LAB_HOME in their JupyterLab."""
        return self.home(student) / ".lab"

    def require_student(self, name: str) -> str:
        if name not in self.students:
            raise LabError(f"{name!r} is not a student of this classroom",
                           f"the students are {', '.join(self.students) or 'none yet'}")
        return name

    def save(self, path: Path | None = None) -> None:
        path = path or config_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        path.chmod(0o644)


def load(path: Path | None = None) -> Classroom:
    path = path or config_file()
    try:
        return Classroom(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise LabError(f"no classroom on this server ({path} is missing)",
                       "set one up: `make classroom ROSTER=classroom/roster.txt`") from None


def read_roster(path: Path) -> list[str]:
    """One username per line; blank lines and # comments skipped; names checked."""
    import re

    names = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,30}", name):
            raise LabError(f"{path}:{number}: {name!r} is not a valid username",
                           "lower-case letters, digits, - and _, starting with a letter; "
                           "at most 31 characters")
        if name in names:
            raise LabError(f"{path}:{number}: {name!r} is listed twice")
        names.append(name)
    if not names:
        raise LabError(f"{path} lists no students", "one username per line")
    return names
