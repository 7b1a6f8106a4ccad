"""`lab`: what Vagrant does not do for the course's cluster.

    lab up | status | ssh core-01 [-- -A] | halt core-02 | resume core-02 | reset | down
    lab discovery new --size 3
    lab validate [vagrant/user-data]

Each command is one row of COMMANDS: its help, its arguments and the function that runs it
(almost always one call into `lifecycle`). A new command is one new row.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Callable

from labs import facts
from labs.errors import LabError
from labs.launcher import lifecycle, settings as lab_settings, userdata, vagrant as lab_vagrant
from labs.launcher.dockerhost import ensure_engine
from labs.launcher.settings import LabSettings


@dataclass
class Command:
    help: str
    run: Callable[[LabSettings | None, argparse.Namespace], int | None]
    arguments: list[tuple[tuple, dict]] = field(default_factory=list)
    engine: bool = True          # talks to Docker: start the engine first where we may (root)
    json_out: bool = False       # prints JSON for the Vagrantfile: progress goes to stderr
    hidden: bool = False
    lab: bool = True             # acts on this lab (`validate` reads only a file)


def arg(*names, **options) -> tuple[tuple, dict]:
    return names, options


MACHINES = arg("machines", nargs="+", metavar="machine")


def up(lab: LabSettings, args) -> None:
    print(facts.text(facts.rows(lifecycle.up(lab))))


def print_status(lab: LabSettings, args=None) -> None:
    print(facts.text(facts.rows(lifecycle.status(lab))))


def discovery_new(lab: LabSettings, args) -> None:
    url = lifecycle.new_discovery_url(lab, args.size)
    print(url, file=args.stdout)


def write_user_data(lab: LabSettings, args) -> None:
    """The uploaded copy of user-data: with a fresh discovery URL (config.rb, `vagrant up`) or
    with the cluster's own (the Vagrantfile, `vagrant provision` and `vagrant reload`). A
    `vagrant up` that the lab runs again (a machine was locked) keeps the first attempt's token:
    the machines provisioned then have joined it."""
    if args.keep_discovery_url or os.environ.get(lab_vagrant.KEEP_DISCOVERY_ENV) == "1":
        userdata.write_keeping_token(lab)
    elif args.new_discovery_url:
        userdata.write_with_new_token(lab, args.new_discovery_url)
    else:
        raise LabError("`lab user-data` needs --new-discovery-url URL or --keep-discovery-url")


def ssh(lab: LabSettings, args) -> int:
    config = lab.path("ssh_config")
    if not config.exists():
        raise LabError("the cluster has no ssh_config yet", "run `lab up` (or `make cluster`)")
    lifecycle.require_machines(lab, [args.machine])
    rest = args.ssh_args[1:] if args.ssh_args[:1] == ["--"] else args.ssh_args
    options, command = split_ssh_args(rest)
    os.execvp("ssh", ["ssh", "-F", str(config), *options, args.machine, *command])


def classroom(lab: LabSettings | None, args) -> int:
    from labs.classroom.cli import main as class_main
    return class_main(args.class_args)


def validate(lab: LabSettings | None, args) -> int:
    """`lab validate [FILE]`: by default the lab's user-data (a classroom student's own copy)."""
    from labs.node.cloudinit import main as cloudinit_main
    return cloudinit_main(["-validate", "--from-file", args.file or str(lab_settings.load().user_data)])


COMMANDS: dict[str, Command] = {
    "up": Command("build what is missing, boot the cluster, wait until healthy", up, engine=False),
    "status": Command("one line per machine: state, IP, etcd, docker, failed units", print_status),
    "ssh": Command("log in to a machine (arguments after -- go to ssh)", ssh,
                   [arg("machine"), arg("ssh_args", nargs=argparse.REMAINDER)]),
    "halt": Command("stop machines (a failure drill)",
                    lambda lab, a: lifecycle.halt(lab, *a.machines), [MACHINES]),
    "resume": Command("start halted machines again and wait until they rejoined",
                      lambda lab, a: lifecycle.resume(lab, *a.machines), [MACHINES]),
    "reset": Command("back to a clean, freshly formed cluster", lambda lab, a: lifecycle.reset(lab)),
    "down": Command("remove every container, network and volume of this lab",
                    lambda lab, a: lifecycle.down(lab), engine=False),
    "discovery": Command("the lab's etcd discovery service: `discovery new --size N`",
                         discovery_new, [arg("action", choices=["new"]),
                                         arg("--size", type=int, default=3)],
                         engine=False, json_out=True),
    "validate": Command("validate a cloud-config like coreos-cloudinit", validate,
                        [arg("file", nargs="?")], engine=False,
                        lab=False),
    "class": Command("a workshop's classroom, for its teacher: `class status|up|resume|reset|down`",
                     classroom, [arg("class_args", nargs=argparse.REMAINDER)], engine=False,
                     lab=False),
    # asked by the Vagrantfile and config.rb
    "settings": Command("", lambda lab, a: print(json.dumps(lifecycle.vagrant_settings(lab)),
                                                 file=a.stdout),
                        [arg("--json", action="store_true")], engine=False, hidden=True),
    "prepare": Command("", lambda lab, a: print(json.dumps(lifecycle.prepare(lab)), file=a.stdout),
                       [arg("--json", action="store_true")], engine=False, json_out=True,
                       hidden=True),
    "user-data": Command("", write_user_data, [arg("--new-discovery-url"),
                                               arg("--keep-discovery-url", action="store_true")],
                         engine=False, hidden=True),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        # a parser added without help= is left out of `lab --help`
        sub = commands.add_parser(name, **({} if command.hidden else {"help": command.help}))
        for names, options in command.arguments:
            sub.add_argument(*names, **options)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = COMMANDS[args.command]
    args.stdout = sys.stdout
    try:
        if command.json_out:        # keep stdout clean for the JSON; progress still shows
            sys.stdout = sys.stderr
        lab = lab_settings.load() if command.lab else None
        if command.engine and not lab.broker:   # a classroom's broker has the engine
            ensure_engine(lab.path())
        return command.run(lab, args) or 0
    except LabError as error:
        print(f"lab: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        sys.stdout = args.stdout


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
