"""`make classroom` and `make classroom-down`: the classroom on this server, up or down.

    python -m labs.classroom.setup up --roster classroom/roster.txt [--teacher NAME] [--port 8000]
    python -m labs.classroom.setup down [--remove-students]

`up` is idempotent (run it again after adding names to the roster): it raises the host's
inotify limit, makes the accounts (new passwords go to the teacher-only file), copies the
notebooks, prepares each student's lab and firewall rules, and starts the broker and the hub.
`down` removes every student's cluster and stops the hub and broker; accounts and their
files stay unless `--remove-students`.
"""

from __future__ import annotations

import argparse
import os
import socket
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from labs.classroom import accounts, config as classroom_config, daemons, hub, netfilter, studentlab
from labs.classroom.config import Classroom
from labs.classroom.worker import call as worker_call
from labs.errors import LabError
from labs.launcher import headroom
from labs.launcher.settings import PROJECT_ROOT

SYSCTL_FILE = Path("/etc/sysctl.d/60-coreos-lab.conf")


def say(message: str) -> None:
    print(f"==> classroom: {message}", flush=True)


def require_readable_project() -> None:
    """Students run the course from this checkout: every directory above it must let them in."""
    for directory in [*reversed(PROJECT_ROOT.parents), PROJECT_ROOT]:
        if not directory.stat().st_mode & stat.S_IXOTH:
            raise LabError(f"students cannot reach {PROJECT_ROOT}: {directory} is closed to "
                           "other users", "put the checkout where everyone may read it "
                           "(e.g. /opt/coreos-lab or /srv/coreos-lab)")
    python = Path(sys.executable).resolve()
    for directory in python.parents:
        if not directory.stat().st_mode & stat.S_IXOTH:
            raise LabError(f"students cannot run {python}: {directory} is closed to other users",
                           "make the classroom's venv with the system's python3 (`make classroom` does)")


def raise_inotify_limit() -> None:
    """Every machine takes about 8 of root's inotify instances (labs.launcher.headroom)."""
    current = int(headroom.LIMIT_FILE.read_text())
    if current >= headroom.CLASSROOM_LIMIT:
        return
    subprocess.run(["sysctl", "-q", "-w", f"{headroom.SYSCTL}={headroom.CLASSROOM_LIMIT}"],
                   check=True)
    SYSCTL_FILE.parent.mkdir(parents=True, exist_ok=True)
    SYSCTL_FILE.write_text("# coreos-lab classroom: every lab machine's systemd takes about 8 "
                           "inotify instances of root's\n"
                           f"{headroom.SYSCTL} = {headroom.CLASSROOM_LIMIT}\n")
    say(f"raised {headroom.SYSCTL} from {current} to {headroom.CLASSROOM_LIMIT} (room for "
        f"{headroom.CLASSROOM_LIMIT // headroom.INSTANCES_PER_MACHINE} machines; kept in "
        f"{SYSCTL_FILE})")


def add_people(classroom: Classroom) -> dict[str, str]:
    """Accounts, notebooks and labs for everyone on the roster; the new passwords."""
    accounts.ensure_group(classroom.group)
    new = {}
    for user in classroom.teachers + classroom.students:
        password = accounts.ensure_account(classroom, user, student=user in classroom.students)
        if password:
            new[user] = password
    accounts.record_passwords(classroom, new)
    for student in classroom.students:
        accounts.copy_notebooks(student)
        lab = studentlab.load(classroom, student)
        studentlab.publish(classroom, student, lab)
        netfilter.allow_only_owner(classroom, student, lab)
    return new


def start_broker(classroom: Classroom, config: Path) -> None:
    daemons.start(classroom, "broker", [sys.executable, "-m", "labs.classroom.broker",
                                        "--config", str(config)],
                  env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT)))
    daemons.wait_until(lambda: answers(classroom.socket), 30, "the broker",
                       daemons.log_file(classroom, "broker"))


def answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(path)
            return True
        except OSError:
            return False


def up(roster: Path, teachers: list[str], port: int, config: Path) -> Classroom:
    if os.geteuid() != 0:
        raise LabError("setting up a classroom needs root (accounts, firewall, the broker)",
                       "run it as root: `sudo make classroom ROSTER=...`")
    require_readable_project()
    students = classroom_config.read_roster(roster)
    try:
        classroom = classroom_config.load(config)
        classroom.students = students
        classroom.teachers = teachers or classroom.teachers
        classroom.hub_port = port or classroom.hub_port
    except LabError:
        classroom = Classroom(students=students, teachers=teachers or ["teacher"],
                              hub_port=port or 8000)
    overlap = set(classroom.students) & set(classroom.teachers)
    if overlap:
        raise LabError(f"{', '.join(sorted(overlap))}: on the roster and a teacher",
                       "a teacher has no lab of their own; use another name")
    classroom.save(config)
    raise_inotify_limit()
    new = add_people(classroom)
    say(f"{len(classroom.students)} students, {len(classroom.teachers)} teacher(s); "
        f"{len(new)} new account(s)")
    start_broker(classroom, config)
    say(f"the lab service (broker) listens on {classroom.socket}")
    hub.start(classroom, config)
    say(f"JupyterHub: {hub.url(classroom)}  (teachers: {hub.url(classroom)}services/classroom/)")
    say(f"passwords (root only): {accounts.passwords_file(classroom)}"
        + (" -- hand them out" if new else ""))
    return classroom


def down(config: Path, remove_students: bool) -> None:
    classroom = classroom_config.load(config)
    hub.stop(classroom)
    daemons.stop(classroom, "broker")
    def remove_cluster(student: str) -> None:
        state = classroom.lab_state(student)
        if (state / "settings.json").exists():
            say(f"removing {student}'s cluster")
            outcome = worker_call(str(state), studentlab.engine(classroom, student), "down", [],
                                  lambda line: None)
            if "error" in outcome:
                say(f"{student}: {outcome['error']}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(remove_cluster, classroom.students))
    for student in classroom.students:
        netfilter.remove(classroom, student)
    if remove_students:
        for user in classroom.students + classroom.teachers:
            accounts.remove_account(user)
        accounts.remove_group(classroom.group)
        accounts.passwords_file(classroom).unlink(missing_ok=True)
        say("removed the accounts and their files")
    else:
        say("accounts and their files stay (`make classroom-down REMOVE_STUDENTS=1` removes them)")
    say("the classroom is down")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labs.classroom.setup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=None)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up")
    start.add_argument("--roster", type=Path, required=True)
    start.add_argument("--teacher", action="append", default=[])
    start.add_argument("--port", type=int, default=0)
    stop = commands.add_parser("down")
    stop.add_argument("--remove-students", action="store_true")
    args = parser.parse_args(argv)
    config = args.config or classroom_config.config_file()
    try:
        if args.command == "up":
            up(args.roster, args.teacher, args.port, config)
        else:
            down(config, args.remove_students)
    except LabError as error:
        print(f"classroom: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
