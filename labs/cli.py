"""`lab`: what Vagrant does not do for the course's cluster.

    lab up | status | ssh core-01 [-- -A] | halt core-02 | resume core-02 | reset | down
    lab discovery new --size 3
    lab validate [vagrant/user-data]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from labs import provision, settings as lab_settings
from labs.dockerhost import ensure_engine
from labs.errors import LabError

# Commands that talk to the Docker engine start it first when we may (root); `up` and `down`
# do so inside provision, because the tests and notebooks call them directly.
ENGINE_COMMANDS = {"status", "ssh", "halt", "resume", "reset"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("up", help="build what is missing, boot the cluster, wait until healthy")
    commands.add_parser("status", help="one line per machine: state, IP, etcd, docker, failed units")
    ssh = commands.add_parser("ssh", help="log in to a machine (arguments after -- go to ssh)")
    ssh.add_argument("machine")
    ssh.add_argument("ssh_args", nargs=argparse.REMAINDER)
    for name, text in (("halt", "stop machines (a failure drill)"),
                       ("resume", "start halted machines again and wait until they rejoined")):
        commands.add_parser(name, help=text).add_argument("machines", nargs="+", metavar="machine")
    commands.add_parser("reset", help="back to a clean, freshly formed cluster")
    commands.add_parser("down", help="remove every container, network and volume of this lab")
    discovery = commands.add_parser("discovery", help="the lab's etcd discovery service")
    discovery_commands = discovery.add_subparsers(dest="discovery_command", required=True)
    new = discovery_commands.add_parser("new", help="print a fresh discovery URL")
    new.add_argument("--size", type=int, default=3)
    validate = commands.add_parser("validate", help="validate a cloud-config like coreos-cloudinit")
    validate.add_argument("file", nargs="?", default=str(lab_settings.VAGRANT_DIR / "user-data"))
    for name in ("settings", "prepare"):   # used by the Vagrantfile
        commands.add_parser(name, help=argparse.SUPPRESS).add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except LabError as error:
        print(f"lab: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def run(args: argparse.Namespace) -> int:
    if args.command == "validate":
        return validate(args.file)
    settings = lab_settings.load()
    if args.command in ENGINE_COMMANDS:
        ensure_engine(settings.path())
    if args.command == "settings":
        print(json.dumps(provision.settings_json(settings)))
    elif args.command == "prepare":
        with redirect_logs_to_stderr():
            data = provision.prepare(settings)
        print(json.dumps(data))
    elif args.command == "up":
        provision.up(settings)
        print_status(settings)
    elif args.command == "status":
        print_status(settings)
    elif args.command == "ssh":
        return ssh(settings, args.machine, args.ssh_args)
    elif args.command == "halt":
        provision.halt(settings, *args.machines)
    elif args.command == "resume":
        provision.resume(settings, *args.machines)
    elif args.command == "reset":
        provision.reset(settings)
    elif args.command == "down":
        provision.down(settings)
    elif args.command == "discovery":
        from labs.discovery import new_url
        with redirect_logs_to_stderr():
            provision.prepare(settings)
        print(new_url(settings.discovery_host_url, args.size))
    return 0


def validate(path: str) -> int:
    from labs.cloudinit import main as cloudinit_main
    return cloudinit_main(["-validate", "--from-file", path])


class redirect_logs_to_stderr:
    """Keep stdout clean for JSON while progress still reaches the terminal."""

    def __enter__(self):
        self.stdout = sys.stdout
        sys.stdout = sys.stderr

    def __exit__(self, *exc):
        sys.stdout = self.stdout


def print_status(settings: lab_settings.LabSettings) -> None:
    rows = [("MACHINE", "STATE", "IP", "ETCD MEMBER", "ETCD LEADER", "DOCKER", "FAILED UNITS")]
    for item in provision.facts(settings):
        f = item.facts
        state = f.get("system", item.state) if item.state == "running" else item.state
        rows.append((item.name, state, f.get("ip", "-") or "-",
                     (f.get("etcd_member") or "-")[:12], (f.get("etcd_leader") or "-")[:12],
                     (f"{f['containers']} running" if f.get("docker") else "-"),
                     ",".join(f.get("failed_units", [])) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def ssh(settings: lab_settings.LabSettings, machine: str, ssh_args: list[str]) -> int:
    config = settings.path("ssh_config")
    if not config.exists():
        raise LabError("the cluster has no ssh_config yet", "run `lab up` (or `make cluster`)")
    provision.require_machines(settings, [machine])
    options, command = split_ssh_args(ssh_args[1:] if ssh_args[:1] == ["--"] else ssh_args)
    os.execvp("ssh", ["ssh", "-F", str(config), *options, machine, *command])


SSH_OPTIONS_WITH_VALUE = set("BbcDEeFIiJLlmOopQRSWw")


def split_ssh_args(args: list[str]) -> tuple[list[str], list[str]]:
    """`-A -o X=y hostname` -> options for ssh (before the machine) and the remote command."""
    options: list[str] = []
    rest = list(args)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        options.append(option)
        if len(option) == 2 and option[1] in SSH_OPTIONS_WITH_VALUE and rest:
            options.append(rest.pop(0))
    return options, rest


if __name__ == "__main__":
    sys.exit(main())
