"""status, journal and ssh: commands that run on the machine a unit (or machine ID) names."""

import os
import shlex
import socket
import threading

from .. import transport
from ..names import mangle_name
from ..schema import INACTIVE
from .invocation import CommandError


def run_on_machine(ctl, machine_id, command, ssh_port=22, forward_agent=False):
    """Run the shell command `command` ("" = an interactive shell) on a machine: here if
    it is this very machine (docs/fleet.md §6), else over SSH to its IP. Its exit code."""
    if machine_id == ctl.local_machine_id() and not ctl.options["tunnel"]:
        shell = os.environ.get("SHELL") or "/bin/sh"
        return ctl.run_command([shell, "-c", command] if command else [shell])
    machine = ctl.machines().get(machine_id)
    if machine is None or not machine.public_ip:
        ctl.warn("Error running remote command: machine %s has no known address" % machine_id)
        return 1
    via = transport.split_host_port(ctl.options["tunnel"])[0] if ctl.options["tunnel"] else None
    options = ctl.ssh_options()
    try:
        transport.trust_host(machine.public_ip, ssh_port, options, via, stdin=ctl.stdin, stderr=ctl.err)
    except transport.HostKeyError as error:
        ctl.warn("Unable to SSH to remote host: %s" % error)
        return 1
    argv = transport.remote_command(machine.public_ip, [command] if command else [], options, ssh_port,
                                    forward_agent, via)
    return ctl.run_command(argv)


def status(ctl, flags, args):
    """Print `systemctl status` of one or more units, run on the machine of each unit.

fleetctl runs it here when the unit is on this machine, else over SSH."""
    for index, arg in enumerate(args):
        name = mangle_name(arg)
        unit = ctl.registry.unit(name)
        if unit is None:
            ctl.warn("Unit %s does not exist." % name)
            return 1
        if unit.is_global:
            continue
        if unit.current_state(ctl.registry.unit_states()) == INACTIVE:
            ctl.warn("Unit %s does not appear to be loaded." % name)
            return 1
        if index != 0:
            ctl.say("")
        exit_code = run_on_machine(ctl, unit.target_machine, shlex.join(["systemctl", "status", "-l", name]),
                                   flags["ssh-port"])
        if exit_code != 0:
            return exit_code
    return 0


def journal(ctl, flags, args):
    """Print the journal of a unit by connecting to the machine it runs on.

Read the last 10 lines:
fleetctl journal foo.service

Read the last 100 lines:
fleetctl journal --lines 100 foo.service

This command does not work with global units."""
    if len(args) != 1:
        ctl.warn("One unit file must be provided.")
        return 1
    name = mangle_name(args[0])
    unit = ctl.registry.unit(name)
    if unit is None:
        ctl.warn("Unit %s does not exist." % name)
        return 1
    if unit.is_global:
        ctl.warn("Unable to retrieve journal of global unit %s." % name)
        return 1
    if unit.current_state(ctl.registry.unit_states()) == INACTIVE:
        ctl.warn("Unit %s does not appear to be running." % name)
        return 1
    command = ["journalctl", "--unit", name, "--no-pager", "-n", str(flags["lines"]), "--output", flags["output"]]
    if flags["sudo"]:
        command.insert(0, "sudo")
    if flags["follow"]:
        command.append("-f")
    return run_on_machine(ctl, unit.target_machine, shlex.join(command), flags["ssh-port"])


def ssh(ctl, flags, args):
    """Open an interactive shell on a machine of the cluster, or on the machine
where a unit runs; with more arguments, run them there as a command.

fleetctl tries whether the first argument is a machine (a unique prefix of its ID)
or a unit; --machine and --unit skip that guess.

Open a shell on a machine:
fleetctl ssh 2444264c

Run a command on the machine of a unit, from your computer through a cluster member:
fleetctl --tunnel 10.10.10.10 ssh foo.service -- docker ps

This command does not work with global units."""
    if flags["machine"] and flags["unit"]:
        ctl.warn("Both machine and unit flags provided, please specify only one.")
        return 1
    try:
        if flags["machine"]:
            machine_id = _machine_by_prefix(ctl, flags["machine"])
        elif flags["unit"]:
            machine_id = _machine_of_unit(ctl, flags["unit"])
        else:
            machine_id = _machine_or_unit(ctl, args)
            args = args[1:]
    except CommandError as error:
        ctl.warn("Unable to proceed: %s" % error)
        return 1
    if machine_id is None:
        ctl.warn("Could not determine address of machine.")
        return 1
    # the arguments joined with spaces, run by the machine's shell, as ssh(1) and fleet do
    return run_on_machine(ctl, machine_id, " ".join(args), flags["ssh-port"], flags["forward-agent"])


def _machine_or_unit(ctl, args):
    """fleet's globalMachineLookup: the first argument as a machine-ID prefix or a unit."""
    if not args:
        raise CommandError("one machine or unit must be provided")
    lookup = args[0]
    found = []
    for find in (_machine_by_prefix, _machine_of_unit):
        try:
            found += [machine_id for machine_id in [find(ctl, lookup)] if machine_id]
        except CommandError:
            pass
    if len(found) == 2:
        raise CommandError("ambiguous argument, both machine and unit found for `%s`.\n"
                           "Please use flag `-m` or `-u` to refine the search" % lookup)
    if not found:
        raise CommandError("could not find matching unit or machine")
    return found[0]


def _machine_by_prefix(ctl, prefix):
    matches = [machine_id for machine_id in sorted(ctl.machines()) if machine_id.startswith(prefix)]
    if len(matches) > 1:
        raise CommandError("found more than one machine")
    if not matches:
        raise CommandError("machine does not exist")
    return matches[0]


def _machine_of_unit(ctl, name):
    unit = ctl.registry.unit(mangle_name(name))
    if unit is None:
        raise CommandError("unit does not exist")
    if unit.is_global:
        raise CommandError("global units unsupported")
    return unit.target_machine if unit.target_machine in ctl.machines() else None


def fd_forward(ctl, flags, args):
    """fleetctl utilizes fd-forward when --tunnel is used and --endpoint is a unix socket.
This command is not intended to be called by users directly."""
    if len(args) != 1:
        ctl.warn("Provide a single argument")
        return 1
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(args[0])
    except OSError as error:
        ctl.warn("Failed dialing remote address: dial unix %s: connect: %s"
                 % (args[0], (error.strerror or str(error)).lower()))
        return 0  # as v1.0.0, which returns without setting an exit code here
    replies = threading.Thread(target=_copy, args=(sock.recv, lambda data: os.write(1, data)), daemon=True)
    replies.start()
    _copy(lambda size: os.read(0, size), sock.sendall)
    sock.shutdown(socket.SHUT_WR)  # stdin is done; the answers may still be on their way
    replies.join()
    sock.close()
    return 0


def _copy(read, write):
    while True:
        data = read(65536)
        if not data:
            return
        write(data)
