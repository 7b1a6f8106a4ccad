"""fleetctl's flags: the global ones, each command's own, and their parsing.

Parsing follows v1.0.0's cobra/pflag (flags anywhere among the arguments,
`--name=v`, `--name v`, `--` ends the flags, pflag's error texts), and also
takes Go's flag package spelling the 2015 docs used: one dash for any flag
(`-l`, `-A`, `-block-attempts=3`). Every global flag can come from the
environment as FLEETCTL_<FLAG> (dashes → underscores). docs/fleet.md §4.1.
"""

import re
from dataclasses import dataclass

from ..schema import DEFAULT_PREFIX


class FlagError(Exception):
    """A flag pflag would refuse, worded as pflag words it."""


@dataclass(frozen=True)
class Flag:
    name: str
    default: object
    kind: type
    usage: str
    aliases: tuple = ()  # one-letter names fleet declares beside the long one (`--l` for `--full`)


GLOBAL_FLAGS = (
    Flag("endpoint", "unix:///var/run/fleet.sock", str, "Location of the fleet API if --driver=API. "
         "Alternatively, if --driver=etcd, location of the etcd API."),
    Flag("driver", "API", str, 'Adapter used to execute fleetctl commands. Options include "API" and "etcd".'),
    Flag("etcd-key-prefix", DEFAULT_PREFIX, str, "Keyspace for fleet data in etcd (development use only!)"),
    Flag("request-timeout", 3.0, float,
         "Amount of time in seconds to allow a single request before considering it failed."),
    Flag("ca-file", "", str, "Location of TLS CA file used to secure communication with the fleet API or etcd"),
    Flag("cert-file", "", str,
         "Location of TLS cert file used to secure communication with the fleet API or etcd"),
    Flag("key-file", "", str, "Location of TLS key file used to secure communication with the fleet API or etcd"),
    Flag("tunnel", "", str,
         "Establish an SSH tunnel through the provided address for communication with fleet and etcd."),
    Flag("ssh-username", "core", str, "Username to use when connecting to CoreOS instance."),
    Flag("ssh-timeout", 10.0, float,
         "Amount of time in seconds to allow for SSH connection initialization before failing."),
    Flag("known-hosts-file", "~/.fleetctl/known_hosts", str,
         "File used to store remote machine fingerprints. Ignored if strict host key checking is disabled."),
    Flag("strict-host-key-checking", True, bool,
         "Verify host keys presented by remote machines before initiating SSH connections."),
    Flag("debug", False, bool, "Print out more debug information to stderr"),
    Flag("version", False, bool, "Print the version and exit", ("v",)),
    Flag("help", False, bool, "Print usage information and exit", ("h",)),
)


def blocking(waits_for):
    """--block-attempts and --no-block, their usage naming what is waited for."""
    return (Flag("block-attempts", 0, int, "Wait until the units are %s, performing up to N attempts before "
                 "giving up. A value of 0 indicates no limit. Does not apply to global units." % waits_for),
            Flag("no-block", False, bool, "Do not wait until the units are %s before exiting. Always the case "
                 "for global units." % waits_for))


def replacing(what):
    return (Flag("replace", False, bool, "Replace the %s units in the cluster with new versions." % what),
            Flag("sign", False, bool, "DEPRECATED - this option cannot be used"))


SSH_PORT = (Flag("ssh-port", 22, int, "Connect to remote hosts over SSH using this TCP port."),)


def list_flags(default_fields, valid_fields, what, with_short_full=True):
    """--full (with `--l` where fleet has it), --no-legend and --fields for the list commands."""
    return (Flag("full", False, bool, "Do not ellipsize fields on output", ("l",) if with_short_full else ()),
            Flag("no-legend", False, bool, "Do not print a legend (column headers)"),
            Flag("fields", default_fields, str,
                 'Columns to print for each %s. Valid fields are "%s"' % (what, ",".join(valid_fields))))


# --- parsing ------------------------------------------------------------------------

def parse_flags(args, flags, interspersed=True):
    """`args` against `flags` → (values by name, names given, positional args).

    With `interspersed` false, the first positional argument ends the flags
    (what `ssh` needs for the command it runs).
    """
    by_name = {flag.name: flag for flag in flags}
    by_name.update({alias: flag for flag in flags for alias in flag.aliases})
    values = {flag.name: flag.default for flag in flags}
    given = set()
    positional = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            positional += args[index:]
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            if not interspersed:
                positional += args[index:]
                break
            continue
        long_form = arg.startswith("--")
        name, has_value, value = arg[2 if long_form else 1:].partition("=")
        if long_form and (not name or name.startswith("-")):
            raise FlagError("bad flag syntax: %s" % arg)
        flag = by_name.get(name)
        if flag is None:
            if long_form:
                raise FlagError("unknown flag: --%s" % name)
            raise FlagError("unknown shorthand flag: '%s' in %s" % (name[:1], arg))
        if flag.kind is not bool and not has_value:
            if index >= len(args):
                if long_form or len(name) > 1:
                    raise FlagError("flag needs an argument: %s" % arg)
                raise FlagError("flag needs an argument: '%s' in %s" % (name, arg))
            value = args[index]
            index += 1
        values[flag.name] = convert(flag, value if has_value or flag.kind is not bool else "true", arg)
        given.add(flag.name)
    return values, given, positional


def convert(flag, text, written):
    """A flag's value from text, or pflag's `invalid argument` error (Go's strconv wording)."""
    kind = flag.kind
    if kind is str:
        return text
    parser = {bool: ("ParseBool", _go_bool), int: ("ParseInt", _go_int), float: ("ParseFloat", _go_float)}[kind]
    try:
        return parser[1](text)
    except ValueError:
        raise FlagError('invalid argument "%s" for %s: strconv.%s: parsing "%s": invalid syntax'
                        % (text, written, parser[0], text))


def _go_bool(text):
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(text)


def _go_int(text):
    """strconv.ParseInt(s, 0, 64): 0x, 0 (octal) and decimal."""
    if not re.fullmatch(r"[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", text):
        raise ValueError(text)
    digits = text.lstrip("+-")
    base = 16 if digits[:2].lower() == "0x" else 8 if digits.startswith("0") and len(digits) > 1 else 10
    return int(text, base)


def _go_float(text):
    if not re.fullmatch(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|[iI]nf(inity)?|NaN)", text):
        raise ValueError(text)
    return float(text)


def global_options(values, given, environ):
    """The global flags given on the command line, FLEETCTL_<FLAG> for the others."""
    options = {flag.name: values[flag.name] for flag in GLOBAL_FLAGS}
    for flag in GLOBAL_FLAGS:
        variable = "FLEETCTL_" + flag.name.upper().replace("-", "_")
        if flag.name not in given and environ.get(variable, ""):
            options[flag.name] = convert(flag, environ[variable], variable)
    return options


# --- usage ----------------------------------------------------------------------------

def flag_usages(flags):
    """pflag's FlagUsages: one line per flag (and alias), sorted, usage aligned after the longest."""
    entries = []
    for flag in flags:
        entries.append((flag.name, flag, flag.usage))
        entries += [(alias, flag, "Shorthand for --%s" % flag.name) for alias in flag.aliases]
    lines = []
    for name, flag, usage in sorted(entries, key=lambda entry: entry[0]):
        head = "      --" + name
        type_name = {str: "string", int: "int", float: "float", bool: ""}[flag.kind]
        if type_name:
            head += " " + type_name
        if name == flag.name and flag.default not in ("", 0, False):
            usage += ' (default "%s")' % flag.default if flag.kind is str else " (default %s)" % _go_value(
                flag.default)
        lines.append((head, usage))
    width = max(len(head) for head, _ in lines)
    return "".join("%s %s %s\n" % (head, " " * (width - len(head)), usage) for head, usage in lines)


def _go_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
