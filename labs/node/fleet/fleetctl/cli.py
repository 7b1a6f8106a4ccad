"""fleetctl's entry point: the command table, command-line parsing, and running one command.

Commands, flags, messages, exit codes and list formats follow fleet v1.0.0
(docs/fleet.md §4). A new command is one function (its docstring is its help
text) and one row in COMMANDS. Command names may be shortened to any unique
prefix, as cobra allowed.
"""

import inspect
import logging
import os
import sys
from dataclasses import dataclass
from typing import Callable

from .. import transport
from ..machine import MACHINE_ID_PATH
from ..schema import FLEET_VERSION
from . import list_commands, remote_commands, unit_commands
from .flags import GLOBAL_FLAGS, SSH_PORT, Flag, FlagError, blocking, global_options, list_flags, parse_flags, replacing
from .invocation import Invocation, registry_errors
from .usage import command_usage, root_usage


@dataclass(frozen=True)
class Command:
    """One fleetctl subcommand: its help, its flags and the function that runs it."""

    name: str
    run: Callable
    summary: str
    use: str  # the arguments, as the USAGE line shows them
    flags: tuple = ()
    interspersed: bool = True  # False: the first argument ends the flags (ssh's remote command)
    offline: bool = False  # runs without a registry
    deprecated: str = ""
    help_text: str = ""  # DESCRIPTION, when not the function's docstring

    @property
    def description(self):
        return self.help_text or inspect.getdoc(self.run) or ""


class CommandLineError(Exception):
    """A command line fleetctl cannot run: what cobra says, and whose usage to show."""

    def __init__(self, message, command=None, unknown_command=False):
        super().__init__(message)
        self.command = command
        self.unknown_command = unknown_command


def verify(ctl, flags, args):
    ctl.warn("WARNING: The signed/verified units feature is DEPRECATED and cannot be used.")
    return 2


def version(ctl, flags, args):
    """Print the version and exit"""
    ctl.say("fleetctl version %s" % FLEET_VERSION)
    return 0


def help_(ctl, flags, args):
    command = find_command(args[0]) if args else None
    if args and command is None:
        ctl.err.write("Unknown help topic [`%s`]." % "` `".join(args))
        ctl.out.write(root_usage(COMMANDS))
    else:
        ctl.out.write(command_usage(command) if command else root_usage(COMMANDS))
    ctl.out.flush()
    return 0


COMMANDS = (
    Command("cat", unit_commands.cat, "Output the contents of a submitted unit", "cat UNIT"),
    Command("destroy", unit_commands.destroy, "Destroy one or more units in the cluster", "destroy UNIT...",
            blocking("destroyed")),
    Command("fd-forward", remote_commands.fd_forward, "Proxy stdin and stdout to a unix domain socket",
            "fd-forward SOCKET", offline=True),
    Command("help", help_, "Help about any command", "help [command]", offline=True,
            help_text="Help provides help for any command in the application.\n"
                      "    Simply type fleetctl help [path to command] for full details."),
    Command("journal", remote_commands.journal, "Print the journal of a unit in the cluster to stdout",
            "journal [--lines=N] [--ssh-port=N] [-f|--follow] [--output=STRING] <unit>",
            (Flag("lines", 10, int, "Number of recent log lines to return"),
             Flag("follow", False, bool, "Continuously print new entries as they are appended to the journal.",
                  ("f",)),
             Flag("sudo", False, bool, "Execute journal command with sudo"),
             Flag("output", "short", str, "Output mode. This will be passed unaltered to journalctl on the "
                  "remote host, and hence supports the same modes as that command.")) + SSH_PORT),
    Command("list-machines", list_commands.list_machines, "Enumerate the current hosts in the cluster",
            "list-machines [-l|--full] [--no-legend]",
            list_flags("machine,ip,metadata", list_commands.LIST_MACHINES_FIELDS, "Machine")),
    Command("list-unit-files", list_commands.list_unit_files, "List the units that exist in the cluster.",
            "list-unit-files [--fields]",
            list_flags("unit,hash,dstate,state,target", list_commands.LIST_UNIT_FILES_FIELDS, "Unit file",
                       with_short_full=False)),
    Command("list-units", list_commands.list_units, "List the current state of units in the cluster",
            "list-units [--no-legend] [-l|--full] [--fields]",
            list_flags("unit,machine,active,sub", list_commands.LIST_UNITS_FIELDS, "Unit")),
    Command("load", unit_commands.load,
            "Schedule one or more units in the cluster, first submitting them if necessary.",
            "load [--no-block|--block-attempts=N] UNIT...", blocking("loaded") + replacing("old scheduled")),
    Command("restart", unit_commands.restart,
            "Instruct systemd to rolling restart one or more units in the cluster.",
            "restart [--block-attempts=N] UNIT...", blocking("stopped/started")[:1]),
    Command("ssh", remote_commands.ssh, "Open interactive shell on a machine in the cluster",
            "ssh [-A|--forward-agent] [--ssh-port=N] [--machine|--unit] {MACHINE|UNIT}",
            (Flag("machine", "", str, "Open SSH connection to a specific machine."),
             Flag("unit", "", str, "Open SSH connection to machine running provided unit."),
             Flag("forward-agent", False, bool, "Forward local ssh-agent to target machine.", ("A",)))
            + SSH_PORT, interspersed=False),
    Command("start", unit_commands.start, "Instruct systemd to start one or more units in the cluster, "
            "first submitting and loading if necessary.", "start [--no-block|--block-attempts=N] UNIT...",
            blocking("launched") + replacing("already started")),
    Command("status", remote_commands.status, "Output the status of one or more units in the cluster",
            "status [--ssh-port=N] UNIT...", SSH_PORT),
    Command("stop", unit_commands.stop, "Instruct systemd to stop one or more units in the cluster.",
            "stop [--no-block|--block-attempts=N] UNIT...", blocking("stopped")),
    Command("submit", unit_commands.submit, "Upload one or more units to the cluster without starting them",
            "submit UNIT...", replacing("old submitted")),
    Command("unload", unit_commands.unload, "Unschedule one or more units in the cluster.", "unload UNIT...",
            blocking("inactive")),
    Command("verify", verify, "", "verify UNIT", offline=True, deprecated="DEPRECATED - No longer works"),
    Command("version", version, "Print the version and exit", "version", offline=True),
)
HELP = next(c for c in COMMANDS if c.name == "help")
VERSION = next(c for c in COMMANDS if c.name == "version")


def find_command(word):
    """Exact name, else the one command the word is a prefix of (cobra's prefix matching)."""
    for command in COMMANDS:
        if command.name == word:
            return command
    matches = [c for c in COMMANDS if c.name.startswith(word)]
    return matches[0] if len(matches) == 1 else None


def _command_word(argv):
    """Index of the first argument that is not a global flag or its value (cobra's Find), or None."""
    takes_value = {name for flag in GLOBAL_FLAGS if flag.kind is not bool for name in (flag.name,) + flag.aliases}
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            return None
        if not arg.startswith("-") or arg == "-":
            return index
        name, has_value, _ = arg.lstrip("-").partition("=")
        index += 2 if name in takes_value and not has_value else 1
    return None


def _suggestions(word):
    """cobra's "Did you mean this?" list: commands within Levenshtein distance 2, or starting with `word`."""
    names = [c.name for c in COMMANDS if c is not HELP and not c.deprecated]
    close = [n for n in names if _distance(word.lower(), n.lower()) <= 2 or n.lower().startswith(word.lower())]
    return "\n\nDid you mean this?\n" + "".join("\t%s\n" % name for name in close) if close else ""


def _distance(a, b):
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def parse_command_line(argv, environ):
    """(global options, command, command flags, args); global flags may come before or
    after the command (cobra's persistent flags), FLEETCTL_<FLAG> fills those given
    nowhere. `fleetctl` alone, `--help` without a command and `help` are the help command."""
    index = _command_word(argv)
    command = None
    if index is not None:
        command = find_command(argv[index])
        if command is None:
            raise CommandLineError('unknown command "%s" for "fleetctl"%s' % (argv[index], _suggestions(argv[index])),
                                   unknown_command=True)
        argv = argv[:index] + argv[index + 1:]
    try:
        flags, given, args = parse_flags(argv, GLOBAL_FLAGS + (command.flags if command else ()),
                                         command.interspersed if command else True)
        options = global_options(flags, given, environ)
    except FlagError as error:
        raise CommandLineError(str(error), command) from None
    if options["version"]:
        command = VERSION
    if command is None:
        command, args = HELP, []
    return options, command, flags, args


def main(argv=None, stdout=None, stderr=None, environ=None, machine_id_path=MACHINE_ID_PATH,
         run_command=transport.run):
    argv = sys.argv[1:] if argv is None else list(argv)
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    environ = os.environ if environ is None else environ
    try:
        options, command, flags, args = parse_command_line(argv, environ)
    except CommandLineError as error:
        return _refuse(error, stdout, stderr)
    if flags["help"]:
        stdout.write(command_usage(command) if command is not HELP else root_usage(COMMANDS))
        return 0
    if command.deprecated:
        stderr.write('Command "%s" is deprecated, %s\n' % (command.name, command.deprecated))
    if flags.get("sign"):
        stderr.write("WARNING: The signed/verified units feature is DEPRECATED and cannot be used.\n")
        return 2
    ctl = Invocation(options, stdout, stderr, machine_id_path, run_command)
    ctl.command = command.name
    debug = _debug_log(stderr) if options["debug"] else None
    try:
        if not command.offline:
            try:
                ctl.connect()
            except (OSError, ValueError) as error:
                stderr.write("Unable to initialize client: %s\n" % error)
                return 1
        try:
            return command.run(ctl, flags, args)
        except registry_errors() as error:
            stderr.write("Error communicating with %s: %s\n" % (ctl.driver_name, error))
            return 1
    except KeyboardInterrupt:
        return 130
    finally:
        ctl.close()
        if debug is not None:
            logging.getLogger("fleetctl").removeHandler(debug)


def _refuse(error, stdout, stderr):
    """What v1.0.0 prints for a command line cobra refuses; it then exits 0 (docs/fleet.md §4.1)."""
    stderr.write("Error: %s\n" % error)
    if error.unknown_command:
        stderr.write("Run 'fleetctl --help' for usage.\n")
    else:
        stdout.write(command_usage(error.command) if error.command else root_usage(COMMANDS))
        stderr.write("\n")
    stderr.write("cannot execute cmdFleet: %s\n" % error)
    return 0


def _debug_log(stream):
    """--debug: fleetctl's debug lines on stderr."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s DEBUG %(message)s", "%Y/%m/%d %H:%M:%S"))
    logger = logging.getLogger("fleetctl")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return handler
