"""The few `vagrant` and `docker` commands a student may have run on their own lab, as root.

Notebook 01 shows the 2015 workflow on the host: `vagrant status`, `vagrant ssh-config`,
`docker version`, `docker inspect core-01's container`, and `vagrant provision` after editing
user-data. A student has no Docker access, so the classroom's `vagrant` and `docker` commands
(classroom/bin) ask the broker, which runs exactly these -- read-only, on the caller's own lab
and containers -- and `vagrant provision` with the text of the student's user-data, checked
first; nothing else.
"""

from __future__ import annotations

import re

from labs.errors import LabError
from labs.launcher.settings import LABEL, SENT_USER_DATA, LabSettings

MACHINE = re.compile(r"^[a-z]+-\d\d$")
VAGRANT = {"status": {"--machine-readable"}, "ssh-config": set()}
FORMAT_OPTIONS = {"--format", "-f"}
MAX_USER_DATA = 64 * 1024      # bytes: a cloud-config is a page or two


def refuse(command: list[str], why: str) -> LabError:
    return LabError(f"`{' '.join(command)}` is not available in the classroom: {why}",
                    "on your machines everything works: `lab ssh core-01`, then the command")


def vagrant_args(lab: LabSettings, args: list[str]) -> list[str]:
    command = ["vagrant", *args]
    if not args or args[0] not in VAGRANT:
        raise refuse(command, "your lab is run for you (`vagrant status`, `vagrant ssh-config`, "
                              "`vagrant ssh`, `vagrant up`, `vagrant halt` and `vagrant provision` work)")
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


def provision(lab: LabSettings, user_data: str, machines: list[str]) -> dict:
    """`vagrant provision [MACHINES]` from the student's edited user-data (its text, read by their
    own `vagrant` command). Checked first, as `lab up` checks it: a broken one, its lines and
    keys named, changes nothing. A valid one becomes the lab's user-data (SENT_USER_DATA)."""
    from labs.launcher.vagrant import vagrant
    from labs.node import cloudconfig

    command = ["vagrant", "provision", *machines]
    for machine in machines:
        if not MACHINE.match(machine):
            raise refuse(command, f"{machine!r} is not one of your machines")
    if not isinstance(user_data, str) or len(user_data.encode()) > MAX_USER_DATA:
        raise refuse(command, f"your user-data must be text of at most {MAX_USER_DATA} bytes")
    findings = cloudconfig.validate(user_data)
    if any(entry.kind == "error" for entry in findings):
        raise LabError("vagrant/user-data is not a valid cloud-config; nothing was provisioned:\n"
                       + "\n".join(f"  {entry}" for entry in findings),
                       "fix those lines (check with `lab validate`), then provision again")
    lab.path(SENT_USER_DATA).write_text(user_data)
    done = vagrant(lab, "provision", *machines, capture=True, check=False)
    warnings = "".join(f"==> lab: vagrant/user-data: {entry}\n" for entry in findings)
    return {"output": warnings + done.stdout, "status": done.returncode}


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
