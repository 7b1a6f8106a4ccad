"""`vagrant` and `docker` as a classroom student types them (classroom/bin is first on their PATH).

A student's lab is run by the broker, so these commands go there -- or, for `vagrant ssh`,
straight to the student's machines with the student's own ssh_config and key. Anyone whose
lab has no broker (the teacher, root, a single learner) gets the real command.

    vagrant status | ssh-config | ssh core-01 [-c CMD] [-- ssh args] | up [m..] | halt m.. | destroy
    vagrant provision [m..]     (sends ~/vagrant/user-data, read here, as the student)
    docker version | ps | inspect <your container>
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from labs.errors import LabError

HERE = Path(__file__).resolve().parents[2] / "classroom" / "bin"


def real(tool: str, args: list[str]) -> None:
    """Run the real TOOL: the next one on PATH after classroom/bin."""
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and Path(p).resolve() != HERE)
    found = shutil.which(tool, path=path)
    if found is None:
        raise LabError(f"{tool} is not installed")
    os.execv(found, [tool, *args])


def vagrant(lab, args: list[str]) -> int:
    from labs.launcher import lifecycle

    command = args[0] if args else ""
    if command in ("", "-v", "--version", "version", "validate"):
        real("vagrant", args)
    if command == "ssh":
        return ssh(lab, args[1:])
    if command == "up":
        machines = [a for a in args[1:] if not a.startswith("-")]
        states = lifecycle.require_machines(lab, machines) if machines else {}
        if machines and all(states[m] != "not_created" for m in machines):
            lifecycle.resume(lab, *machines)
        else:
            lifecycle.up(lab)
        return 0
    if command == "halt":
        machines = [a for a in args[1:] if not a.startswith("-")]
        if not machines:
            raise LabError("name the machines to halt: `vagrant halt core-02`")
        lifecycle.halt(lab, *machines)
        return 0
    if command == "destroy":
        lifecycle.down(lab)
        return 0
    if command == "provision":
        return provision(lab, args[1:])
    return passthrough(lab, "vagrant", args)


def provision(lab, args: list[str]) -> int:
    """`vagrant provision [MACHINES]`: the broker gets the text of the student's user-data."""
    try:
        user_data = lab.user_data.read_text()
    except OSError as error:
        raise LabError(f"cannot read {lab.user_data}: {error.strerror}",
                       "your copy of the course's user-data lives there") from None
    return passthrough(lab, "provision", args, user_data=user_data)


def ssh(lab, args: list[str]) -> int:
    """`vagrant ssh MACHINE [-c CMD] [-- ssh args]`: OpenSSH with the lab's ssh_config."""
    from labs.launcher.cli import split_ssh_args

    if not args or args[0].startswith("-"):
        raise LabError("name a machine: `vagrant ssh core-01`")
    machine, rest = args[0], args[1:]
    command: list[str] = []
    if rest[:1] == ["-c"] and len(rest) > 1:
        command, rest = [rest[1]], rest[2:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    options, extra = split_ssh_args(rest)
    config = lab.path("ssh_config")
    if not config.exists():
        raise LabError("your cluster is not up yet", "start it: `lab up`")
    os.execvp("ssh", ["ssh", "-F", str(config), *options, machine, *(command or extra)])


def passthrough(lab, op: str, args: list[str], **fields) -> int:
    """The broker runs OP (`vagrant`, `docker`, `provision`) on the lab; its output and status."""
    from labs.launcher.brokered import request

    result = request(lab.broker, op, lab.state, args, **fields)
    sys.stdout.write(result["output"])
    sys.stdout.flush()
    return result["status"]


def main(argv: list[str]) -> int:
    tool, args = argv[0], argv[1:]
    from labs.launcher import settings

    try:
        lab = settings.load()
        if not lab.broker or args[:1] in (["--help"], ["-h"]):
            real(tool, args)
        if tool == "vagrant":
            return vagrant(lab, args)
        return passthrough(lab, "docker", args)
    except LabError as error:
        print(f"{tool}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
