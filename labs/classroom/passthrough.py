"""The few `vagrant` and `docker` commands a student may have run on their own lab, as root.

Notebook 01 shows the 2015 workflow on the host: `vagrant status`, `vagrant ssh-config`,
`docker version`, `docker inspect core-01's container`. A student has no Docker access, so
the classroom's `vagrant` and `docker` commands (classroom/bin) ask the broker, which runs
exactly these -- read-only, on the caller's own lab and containers -- and nothing else.
"""

from __future__ import annotations

import re

from labs.errors import LabError
from labs.launcher.settings import LABEL, LabSettings

MACHINE = re.compile(r"^[a-z]+-\d\d$")
VAGRANT = {"status": {"--machine-readable"}, "ssh-config": set()}
FORMAT_OPTIONS = {"--format", "-f"}


def refuse(command: list[str], why: str) -> LabError:
    return LabError(f"`{' '.join(command)}` is not available in the classroom: {why}",
                    "on your machines everything works: `lab ssh core-01`, then the command")


def vagrant_args(lab: LabSettings, args: list[str]) -> list[str]:
    command = ["vagrant", *args]
    if not args or args[0] not in VAGRANT:
        raise refuse(command, "your lab is run for you (`vagrant status`, `vagrant ssh-config`, "
                              "`vagrant ssh`, `vagrant up` and `vagrant halt` work)")
    for arg in args[1:]:
        if arg not in VAGRANT[args[0]] and not MACHINE.match(arg):
            raise refuse(command, f"{arg!r} is not one of your machines")
    return args


def docker_args(lab: LabSettings, args: list[str]) -> list[str]:
    """`docker version`, `docker ps` (your containers) and `docker inspect` of your containers."""
    command = ["docker", *args]
    if not args or args[0] not in ("version", "ps", "inspect"):
        raise refuse(command, "this server's Docker engine runs every student's machines; "
                              "yours have a Docker of their own")
    out, rest = [args[0]], list(args[1:])
    while rest:
        arg = rest.pop(0)
        if arg in FORMAT_OPTIONS and rest:
            out += [arg, rest.pop(0)]
        elif arg.startswith("--format="):
            out.append(arg)
        elif args[0] == "ps" and arg in ("-a", "--all", "-q", "--quiet", "--no-trunc"):
            out.append(arg)
        elif args[0] == "inspect" and not arg.startswith("-"):
            if not arg.startswith(f"{lab.name}-"):
                raise refuse(command, f"{arg} is not one of your lab's containers "
                                      f"(theirs are named {lab.name}-...)")
            out.append(arg)
        else:
            raise refuse(command, f"the option {arg!r} is not offered")
    if args[0] == "ps":
        out += ["--filter", f"label={LABEL}={lab.name}"]
    return out


def run(lab: LabSettings, tool: str, args: list[str]) -> dict:
    """Run the allowed command; its output (stderr folded in) and exit status."""
    if tool == "vagrant":
        from labs.launcher.vagrant import vagrant
        done = vagrant(lab, *vagrant_args(lab, args), capture=True, check=False)
    elif tool == "docker":
        from labs.launcher.dockerhost import docker
        done = docker(*docker_args(lab, args), check=False)
        done.stdout += done.stderr
    else:
        raise LabError(f"unknown tool {tool!r}")
    return {"output": done.stdout, "status": done.returncode}
