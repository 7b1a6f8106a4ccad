"""fleetctl's help pages, laid out by v1.0.0's usage template (`fleetctl/help.go`).

`fleetctl help`, `fleetctl`, `fleetctl --help`: NAME, USAGE, VERSION, COMMANDS and
OPTIONS; `fleetctl help CMD` and `fleetctl CMD --help`: NAME, USAGE,
DESCRIPTION, OPTIONS and GLOBAL OPTIONS. The text goes through Go's tabwriter,
as fleet's does.
"""

from ..schema import FLEET_VERSION
from ..tabwriter import format_table
from .flags import GLOBAL_FLAGS, flag_usages

ROOT_SUMMARY = "fleetctl is a command-line interface to fleet, the cluster-wide CoreOS init system."


def root_usage(commands):
    text = "NAME:\n\tfleetctl - %s\n\nUSAGE:\n\tfleetctl\n\nVERSION:\n\t%s\n\nCOMMANDS:\n" % (
        ROOT_SUMMARY, FLEET_VERSION)
    text += "".join("\t%s\t%s\n" % (c.name, c.summary) for c in sorted(commands, key=lambda c: c.name))
    text += "\nOPTIONS:\n" + flag_usages(GLOBAL_FLAGS) + "\n"
    return format_table(text)


def command_usage(command):
    text = "NAME:\n\t%s - %s\n\nUSAGE:\n\tfleetctl %s\n" % (command.name, command.summary, command.use)
    description = command.description.strip("\n\t ")
    if description:
        text += "\nDESCRIPTION:\n" + "".join("\t%s\n" % line for line in description.split("\n"))
    if command.flags:
        text += "\nOPTIONS:\n" + flag_usages(command.flags)
    text += "\nGLOBAL OPTIONS:\n" + flag_usages(GLOBAL_FLAGS) + "\n"
    return format_table(text)
