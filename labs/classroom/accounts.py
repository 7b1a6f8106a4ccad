"""A Unix account per student (and teacher): the classroom's people, as the server knows them.

Students get a home of their own (0700: nobody else reads their notebooks or progress), the
classroom's group (which may talk to the broker) and nothing else: no docker group, no sudo.
Each account's generated password is written once, when the account is made, to a file only
root reads (`<classroom root>/passwords.txt`, 0600); the teacher hands them out.
"""

from __future__ import annotations

import grp
import pwd
import secrets
import subprocess
from pathlib import Path

from labs.classroom.config import Classroom
from labs.errors import LabError
from labs.launcher.settings import PROJECT_ROOT

WORDS = 3                      # a password of three random syllable groups, e.g. "kavo-rilu-mena"


def exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


def run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError(f"`{' '.join(argv[:3])} ...` failed: {done.stderr.strip()}")


def ensure_group(name: str) -> None:
    try:
        grp.getgrnam(name)
    except KeyError:
        run("groupadd", "--system", name)


def new_password() -> str:
    consonants, vowels = "bdfghjkmnprstvz", "aeiou"
    return "-".join("".join(secrets.choice(consonants) + secrets.choice(vowels) for _ in range(2))
                    for _ in range(WORDS)) + str(secrets.randbelow(90) + 10)


def ensure_account(classroom: Classroom, user: str, student: bool) -> str | None:
    """Make USER's account unless it exists; the new password, or None for an existing one."""
    if exists(user):
        entry = pwd.getpwnam(user)
        if entry.pw_uid == 0 or entry.pw_uid < 1000:
            raise LabError(f"{user} is a system account; it cannot join the classroom")
        if student and user not in grp.getgrnam(classroom.group).gr_mem:
            run("usermod", "--append", "--groups", classroom.group, user)
        Path(entry.pw_dir).chmod(0o700)
        return None
    groups = ["--groups", classroom.group] if student else []
    run("useradd", "--create-home", "--shell", "/bin/bash", "--user-group",
        "--key", f"UID_MIN={classroom.first_uid}", "--key", f"GID_MIN={classroom.first_uid}",
        "--comment", "coreos-lab " + ("student" if student else "teacher"), *groups, user)
    Path(pwd.getpwnam(user).pw_dir).chmod(0o700)
    password = new_password()
    subprocess.run(["chpasswd"], input=f"{user}:{password}\n", text=True, check=True,
                   capture_output=True)
    return password


def passwords_file(classroom: Classroom) -> Path:
    return classroom.path / "passwords.txt"


def record_passwords(classroom: Classroom, new: dict[str, str]) -> Path:
    """Append the new accounts' passwords; the file is root's alone (0600)."""
    path = passwords_file(classroom)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    if new:
        with path.open("a") as out:
            for user, password in new.items():
                out.write(f"{user}\t{password}\n")
    return path


def copy_notebooks(student: str) -> None:
    """The course's notebooks into ~/notebooks and its user-data into ~/vagrant (notebook 01
    has them edit it), as the student; their own edits are kept."""
    from labs.classroom.studentlab import run_as

    run_as(student, ["mkdir", "-p", "notebooks", "vagrant"])
    run_as(student, ["cp", "-r", "--no-clobber", f"{PROJECT_ROOT}/notebooks/.", "notebooks/"])
    run_as(student, ["cp", "--no-clobber", f"{PROJECT_ROOT}/vagrant/user-data", "vagrant/"])


def remove_account(user: str) -> None:
    """Delete USER and their home (only when the teacher asks: student files stay otherwise)."""
    if exists(user):
        run("userdel", "--remove", user)


def remove_group(name: str) -> None:
    try:
        grp.getgrnam(name)
    except KeyError:
        return
    run("groupdel", name)
