"""`fleetctl`: fleet's command line, talking to fleetd's API (default) or to etcd directly
(`--driver=etcd`).

Commands, flags, messages, exit codes and list formats follow fleet v1.0.0
(spec §4). Global flags come before the command and can also be set as
FLEETCTL_<FLAG> environment variables; command names may be abbreviated to
any unique prefix, as cobra allowed.
"""

import json
import os
import sys
import time

import etcd

from . import transport
from .apiclient import APIRegistry, APIRequestError
from .etcdclient import FailoverClient
from .machine import MACHINE_ID_PATH
from .names import NameInfo, mangle_name, name_error
from .registry import DEFAULT_PREFIX, Registry
from .requirements import options_error, unknown_key_warnings
from .schema import FLEET_VERSION, INACTIVE, LAUNCHED, LOADED
from .tabwriter import format_table
from .unit import UnitFile, UnitFileError

# What a failed registry question raises, whichever the driver.
REGISTRY_ERRORS = (etcd.EtcdException, APIRequestError)

POLL_INTERVAL = 0.25  # one wait "attempt" polls every 250 ms ...
ATTEMPT_DURATION = 2.0  # ... for 2 s
SYSTEMD_ACTIVE_WINDOW = 2.0

GLOBAL_FLAGS = {
    "endpoint": ("unix:///var/run/fleet.sock", str),
    "driver": ("API", str),
    "etcd-key-prefix": (DEFAULT_PREFIX, str),
    "request-timeout": (3.0, float),
    "ca-file": ("", str), "cert-file": ("", str), "key-file": ("", str),
    "tunnel": ("", str),
    "ssh-username": ("core", str),
    "ssh-timeout": (10.0, float),
    "known-hosts-file": ("~/.fleetctl/known_hosts", str),
    "strict-host-key-checking": (True, bool),
    "debug": (False, bool),
    "version": (False, bool),
    "help": (False, bool),
}
GLOBAL_SHORTHANDS = {"v": "version", "h": "help"}

BLOCKING_FLAGS = {"block-attempts": (0, int), "no-block": (False, bool)}
LIST_FLAGS = {"full": (False, bool), "no-legend": (False, bool)}


class UsageError(Exception):
    """Bad flags or command: printed, exit 2 (Go's flag package)."""


def parse_flags(args, spec, shorthands, stop_at_first_positional):
    """Go-style flags (`-f`, `--f`, `--f=v`, `--f v`) → (values, names given, positional args)."""
    values = {name: default for name, (default, _) in spec.items()}
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
            if stop_at_first_positional:
                positional += args[index:]
                break
            continue
        name, has_value, value = arg.lstrip("-").partition("=")
        name = shorthands.get(name, name)
        if name not in spec:
            raise UsageError("flag provided but not defined: -%s" % name)
        kind = spec[name][1]
        given.add(name)
        if kind is bool:
            values[name] = _parse_bool(value) if has_value else True
            continue
        if not has_value:
            if index >= len(args):
                raise UsageError("flag needs an argument: -%s" % name)
            value = args[index]
            index += 1
        try:
            values[name] = kind(value)
        except ValueError:
            raise UsageError('invalid value "%s" for flag -%s' % (value, name))
    return values, given, positional


def _parse_bool(value):
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise UsageError('invalid boolean value "%s"' % value)


class Command:
    """One fleetctl subcommand: its flags and the method that runs it."""

    def __init__(self, name, run, flags=None, shorthands=None, stop_at_first_positional=False, summary=""):
        self.name = name
        self.run = run
        self.flags = flags or {}
        self.shorthands = shorthands or {}
        self.stop_at_first_positional = stop_at_first_positional
        self.summary = summary


class Fleetctl:
    """State of one fleetctl invocation: options, registry, output streams."""

    def __init__(self, options, stdout, stderr, machine_id_path=MACHINE_ID_PATH, run_command=transport.run):
        self.options = options
        self.out = stdout
        self.err = stderr
        self.machine_id_path = machine_id_path
        self.run_command = run_command
        self.registry = None
        self.tunnel = None
        self.command = ""
        self._machines = None

    # --- plumbing -------------------------------------------------------

    def say(self, text):
        self.out.write(text + "\n")
        self.out.flush()

    def warn(self, text):
        self.err.write(text + "\n")
        self.err.flush()

    def table(self, lines):
        self.out.write(format_table("".join(line + "\n" for line in lines)))
        self.out.flush()

    def ssh_options(self):
        return transport.SSHOptions(self.options["ssh-username"], self.options["ssh-timeout"],
                                    self.options["strict-host-key-checking"], self.options["known-hosts-file"])

    def connect(self):
        """Open the registry: fleetd's API, or etcd with `--driver=etcd`; through an SSH
        tunnel when --tunnel is given (to the remote socket for a unix:// endpoint)."""
        endpoint = self.options["endpoint"].split(",")[0].strip()
        driver = self.options["driver"].lower()
        if driver not in ("api", "etcd"):
            raise ValueError("unrecognized driver %s" % json.dumps(self.options["driver"]))
        if self.options["tunnel"]:
            if endpoint.startswith("unix://"):
                remote_host, remote_port = endpoint[len("unix://"):], None
            else:
                remote_host, remote_port = transport.split_host_port(
                    endpoint.split("://")[-1], 2379 if driver == "etcd" else 80)
            self.tunnel = transport.Tunnel(self.options["tunnel"], remote_host, remote_port,
                                           self.ssh_options())
            endpoint = self.tunnel.local_url
        if driver == "api":
            self.registry = APIRegistry(endpoint, self.options["request-timeout"])
        else:
            client = FailoverClient([endpoint], self.options["request-timeout"])
            self.registry = Registry(client, self.options["etcd-key-prefix"])

    @property
    def driver_name(self):
        return "etcd" if self.options["driver"].lower() == "etcd" else "fleet API"

    def close(self):
        if self.tunnel is not None:
            self.tunnel.close()

    def machines(self):
        """Live machines, read once per invocation (fleet's cachedMachineState)."""
        if self._machines is None:
            self._machines = {m.id: m for m in self.registry.machines()}
        return self._machines

    def machine_legend(self, machine_id, full, with_ip=True):
        """`<id8>...` (full ID with --full), plus `/<PublicIP>` when known."""
        legend = machine_id if full else machine_id[:8] + "..."
        machine = self.machines().get(machine_id)
        if with_ip and machine is not None and machine.public_ip:
            legend += "/" + machine.public_ip
        return legend

    # --- creating units -------------------------------------------------

    def lazy_create_units(self, args, replace, block_attempts):
        """Make sure every unit exists in the registry (spec §4.3 creation path)."""
        created = []
        for arg in args:
            name = mangle_name(arg)
            try:
                existing = self.registry.unit(name)
            except REGISTRY_ERRORS as error:
                raise CommandError("error retrieving Unit(%s) from Registry: %s" % (name, error))
            if existing is not None and not self._should_replace(arg, existing, replace):
                continue
            unit_file = self._unit_file_for(arg, name)
            self._create_unit(name, unit_file)
            created.append(name)
        failed = self.wait_for_states(created, INACTIVE, block_attempts, verb=None,
                                      error_prefix="Error waiting on unit creation: ")
        if failed:
            raise CommandError("One or more errors creating units")

    def _should_replace(self, arg, existing, replace):
        """Compare the registry's unit with the local file; warn, or decide to replace."""
        local_path, template = arg, False
        if not os.path.exists(local_path):
            info = NameInfo.of(os.path.basename(arg))
            if not info.is_instance():
                return False
            local_path, template = os.path.join(os.path.dirname(arg), info.template), True
            if not os.path.exists(local_path):
                return False
        try:
            local = UnitFile.parse(open(local_path).read())
        except (OSError, UnitFileError):
            return False
        different = local.hash() != existing.hash
        if not replace:
            if different:
                self.warn("WARNING: Unit %s in registry differs from local %sunit file %s. Add --replace to override."
                          % (existing.name, "template " if template else "", arg))
            return False
        if not different:
            self.say("Found same Unit(%s) in Registry, nothing to do" % existing.name)
            return False
        allowed = {"submit": (INACTIVE,), "load": (INACTIVE, LOADED), "start": (INACTIVE, LOADED, LAUNCHED)}
        if existing.target_state in allowed.get(self.command, ()):
            return True
        self.warn("Warning: can not replace Unit(%s) in state '%s', use the appropriate command"
                  % (existing.name, existing.target_state))
        return False

    def _unit_file_for(self, arg, name):
        """The local file, else the template from the registry, else from disk."""
        if os.path.exists(arg):
            return self._read_unit_file(arg, "failed getting Unit(%s) from file" % name)
        info = NameInfo.of(name)
        if not info.is_instance():
            raise CommandError("unable to find Unit(%s) in Registry or on filesystem" % name)
        template = self.registry.unit(info.template)
        if template is not None:
            return template.unit_file
        template_path = os.path.join(os.path.dirname(arg), info.template)
        if not os.path.exists(template_path):
            raise CommandError("unable to find template Unit(%s) in Registry or on filesystem" % info.template)
        return self._read_unit_file(template_path, "unable to load template Unit(%s) from file" % info.template)

    @staticmethod
    def _read_unit_file(path, context):
        try:
            with open(path) as unit_file:
                return UnitFile.parse(unit_file.read())
        except (OSError, UnitFileError) as error:
            raise CommandError("%s: %s" % (context, error))

    def _create_unit(self, name, unit_file):
        problem = name_error(name) or options_error(unit_file)
        if problem:
            raise CommandError(problem)
        for warning in unknown_key_warnings(name, unit_file):
            self.warn(warning)
        self.registry.create_unit(name, unit_file)

    def set_target_states(self, args, state):
        """Set the desired state of each named unit; the units actually changed."""
        triggered = []
        for arg in args:
            name = mangle_name(arg)
            unit = self.registry.unit(name)
            if unit is None:
                raise CommandError("unable to find unit %s" % name)
            if unit.target_state == state:
                continue
            if state != INACTIVE and NameInfo.of(name).is_template():
                raise CommandError('cannot activate template "%s"' % name)
            self.registry.set_target_state(name, state)
            triggered.append(unit)
        return triggered

    # --- waiting --------------------------------------------------------

    def wait_for_states(self, names, state, block_attempts, verb, error_prefix="Error waiting for units: "):
        """Poll until each unit reports `state`; True if any timed out.

        block_attempts < 0 (--no-block) prints `Triggered unit <u> <verb>`
        instead; 0 waits forever; N gives up after N attempts of 2 s.
        """
        if block_attempts < 0:
            for name in names:
                self.say("Triggered unit %s %s" % (name, verb))
            return False
        pending = list(names)
        deadline = None if block_attempts == 0 else time.monotonic() + block_attempts * ATTEMPT_DURATION
        while pending:
            for name in list(pending):
                if self._report_if_in_state(name, state):
                    pending.remove(name)
            if not pending:
                break
            if deadline is not None and time.monotonic() >= deadline:
                for name in pending:
                    self.warn("%stimed out waiting for unit %s to report state %s" % (error_prefix, name, state))
                return True
            time.sleep(POLL_INTERVAL)
        return False

    def _report_if_in_state(self, name, state):
        """fleet's assertUnitState: global units are judged by their desired state."""
        try:
            unit = self.registry.unit(name)
            current = None if unit is None else unit.current_state(self.registry.unit_states())
        except REGISTRY_ERRORS:
            return False
        if unit is None:
            return False
        reached = unit.target_state if unit.is_global else current
        if reached != state:
            return False
        message = "Unit %s %s" % (name, current or "")
        if unit.target_machine:
            self._machines = None  # a new machine may have joined since the last look
            if unit.target_machine in self.machines():
                message += " on " + self.machine_legend(unit.target_machine, full=False)
        self.say(message)
        return True

    def wait_for_systemd_active(self, names, block_attempts):
        """After `start`: each unit must be active/loaded in systemd within 2 s."""
        if block_attempts < 0:
            for name in names:
                self.say("Triggered unit %s start" % name)
            return False
        failed = False
        for name in names:
            deadline = time.monotonic() + SYSTEMD_ACTIVE_WINDOW
            while True:
                problem = self._systemd_problem(name)
                if problem is None:
                    break
                if time.monotonic() >= deadline:
                    self.warn("Error waiting for units: Failed to find an active unit %s within %ds, err: %s"
                              % (name, SYSTEMD_ACTIVE_WINDOW, problem))
                    failed = True
                    break
                time.sleep(POLL_INTERVAL)
        if failed:
            self.warn("Error waiting for systemd unit states, err: one or more units failed to become active")
        return failed

    def _systemd_problem(self, name):
        unit = self.registry.unit(name)
        if unit is None:
            return "unit %s not found" % name
        for state in self.registry.unit_states():
            if state.unit_name == name and state.machine_id == unit.target_machine:
                if state.active_state == "active" and state.load_state == "loaded":
                    return None
                return "unit %s is %s/%s" % (name, state.load_state, state.active_state)
        return "no state reported for unit %s" % name

    # --- commands -------------------------------------------------------

    def cmd_submit(self, flags, args):
        if not args:
            self.warn("No units given")
            return 0
        try:
            self.lazy_create_units(args, flags["replace"], flags.get("block-attempts", 0))
        except (CommandError, *REGISTRY_ERRORS) as error:
            self.warn("Error creating units: %s" % error)
            return 1
        return 0

    def _load_or_start(self, flags, args, state, verb):
        if not args:
            self.warn("No units given")
            return 0
        try:
            self.lazy_create_units(args, flags["replace"], flags["block-attempts"])
        except (CommandError, *REGISTRY_ERRORS) as error:
            self.warn("Error creating units: %s" % error)
            return 1
        try:
            triggered = self.set_target_states(args, state)
        except (CommandError, *REGISTRY_ERRORS) as error:
            self.warn("Error %s units: %s" % ("loading" if verb == "load" else "starting", error))
            return 1
        attempts = block_attempts(flags)
        waiting = []
        for unit in triggered:
            if unit.is_global:
                self.say("Triggered global unit %s %s" % (unit.name, verb))
            else:
                waiting.append(unit.name)
        if self.wait_for_states(waiting, state, attempts, verb):
            self.warn("Error waiting for unit states, exit status: 1")
            return 1
        if verb == "start" and self.wait_for_systemd_active(waiting, attempts):
            return 1
        return 0

    def cmd_load(self, flags, args):
        return self._load_or_start(flags, args, LOADED, "load")

    def cmd_start(self, flags, args):
        return self._load_or_start(flags, args, LAUNCHED, "start")

    def _find_units(self, args):
        """Registry units named by `args` (mangled), unknown names skipped."""
        units = {u.name: u for u in self.registry.units()}
        return [units[name] for name in (mangle_name(a) for a in args) if name in units]

    def cmd_stop(self, flags, args):
        if not args:
            self.warn("No units given")
            return 0
        units = self._find_units(args)
        if not units:
            self.warn("Units not found in registry")
            return 0
        states = self.registry.unit_states()
        stopping = []
        for unit in units:
            if not unit.is_global:
                current = unit.current_state(states)
                if current == INACTIVE:
                    self.warn("Unable to stop unit %s in state %s" % (unit.name, INACTIVE))
                    return 1
                if current == LOADED:
                    continue
            self.registry.set_target_state(unit.name, LOADED)
            if unit.is_global:
                self.say("Triggered global unit %s stop" % unit.name)
            else:
                stopping.append(unit.name)
        if self.wait_for_states(stopping, LOADED, block_attempts(flags), "stop"):
            self.warn("Failed to stop units %s. exit: 1" % go_list(stopping))
            return 1
        self.warn("Successfully stopped units %s." % go_list(stopping))
        return 0

    def cmd_unload(self, flags, args):
        if not args:
            self.warn("No units given")
            return 0
        units = self._find_units(args)
        if not units:
            self.warn("Units not found in registry")
            return 0
        states = self.registry.unit_states()
        unloading = []
        for unit in units:
            if not unit.is_global and unit.current_state(states) == INACTIVE:
                continue
            self.registry.set_target_state(unit.name, INACTIVE)
            if unit.is_global:
                self.say("Triggered global unit %s unload" % unit.name)
            else:
                unloading.append(unit.name)
        if self.wait_for_states(unloading, INACTIVE, block_attempts(flags), "unload"):
            self.warn("Failed to unload units %s. exit: 1" % go_list(unloading))
            return 1
        self.warn("Successfully unloaded units %s." % go_list(unloading))
        return 0

    def cmd_restart(self, flags, args):
        """stop → wait `loaded` → start → wait `launched` (spec §4.3 `restart`)."""
        if not args:
            self.warn("No units given")
            return 0
        units = self._find_units(args)
        if not units:
            self.warn("Units not found in registry")
            return 0
        states = self.registry.unit_states()
        attempts = block_attempts(flags)
        to_stop = []
        for unit in units:
            current = unit.target_state if unit.is_global else unit.current_state(states)
            if current == INACTIVE:
                self.warn("Unable to restart unit %s in state %s" % (unit.name, INACTIVE))
                return 1
            if current == LAUNCHED:
                to_stop.append(unit)
        for unit in to_stop:
            self.registry.set_target_state(unit.name, LOADED)
        if self.wait_for_states([u.name for u in to_stop if not u.is_global], LOADED, attempts, "stop"):
            return 1
        starting = []
        for unit in units:
            self.registry.set_target_state(unit.name, LAUNCHED)
            if unit.is_global:
                self.say("Triggered global unit %s start" % unit.name)
            else:
                starting.append(unit.name)
        if self.wait_for_states(starting, LAUNCHED, attempts, "start"):
            return 1
        return 0

    def cmd_destroy(self, flags, args):
        if not args:
            self.warn("No units given")
            return 0
        exit_code = 0
        for unit in self._find_units(args):
            try:
                self.registry.destroy_unit(unit.name)
            except REGISTRY_ERRORS as error:
                self.warn("Error destroying units: %s" % error)
                exit_code = 1
                continue
            self.say("Destroyed %s" % unit.name)
        return exit_code

    def cmd_cat(self, flags, args):
        if len(args) != 1:
            self.warn("One unit file must be provided")
            return 1
        name = mangle_name(args[0])
        unit = self.registry.unit(name)
        if unit is None:
            self.warn("Unit %s not found" % name)
            return 1
        self.out.write(unit.unit_file.canonical_text())
        self.out.flush()
        return 0

    def _list_fields(self, flags, valid):
        """The selected columns, or None after printing the error."""
        if flags["fields"] == "":
            self.warn("Must define output format")
            return None
        columns = flags["fields"].split(",")
        for column in columns:
            if column not in valid:
                self.warn('Invalid key in output format: "%s"' % column)
                return None
        return columns

    def cmd_list_units(self, flags, args):
        columns = self._list_fields(flags, ("unit", "load", "active", "sub", "machine", "hash"))
        if columns is None:
            return 1
        try:
            states = self.registry.unit_states()
            self.machines()
        except REGISTRY_ERRORS as error:
            self.warn("Error retrieving list of units from repository: %s" % error)
            return 1
        full = flags["full"]
        rows = [] if flags["no-legend"] else ["\t".join(columns).upper()]
        for state in states:
            cells = {
                "unit": state.unit_name,
                "load": state.load_state,
                "active": state.active_state,
                "sub": state.sub_state,
                "machine": self.machine_legend(state.machine_id, full) if state.machine_id else "",
                "hash": state.unit_hash if full else state.unit_hash[:7],
            }
            rows.append("\t".join(cells[c] or "-" for c in columns))
        self.table(rows)
        return 0

    def cmd_list_unit_files(self, flags, args):
        valid = ("unit", "global", "dstate", "state", "target", "tmachine", "hash", "desc")
        columns = self._list_fields(flags, valid)
        if columns is None:
            return 1
        if "tmachine" in columns:
            self.warn('WARNING: The "tmachine" field is deprecated. Use "target" instead')
        try:
            units = self.registry.units()
            states = self.registry.unit_states()
            self.machines()
        except REGISTRY_ERRORS as error:
            self.warn("Error retrieving list of units from repository: %s" % error)
            return 1
        full = flags["full"]
        rows = [] if flags["no-legend"] else ["\t".join(columns).upper()]
        for unit in units:
            is_global = unit.is_global
            if is_global:
                target = "global"
            elif unit.target_machine:
                target = self.machine_legend(unit.target_machine, full)
            else:
                target = "-"
            cells = {
                "unit": unit.name,
                "global": "true" if is_global else "false",
                "dstate": unit.target_state or "-",
                "state": (None if is_global else unit.current_state(states)) or "-",
                "target": target,
                "tmachine": target,
                "hash": unit.hash if full else unit.hash[:7],
                "desc": unit.unit_file.description() or "-",
            }
            rows.append("\t".join(cells[c] for c in columns))
        self.table(rows)
        return 0

    def cmd_list_machines(self, flags, args):
        columns = self._list_fields(flags, ("machine", "ip", "metadata"))
        if columns is None:
            return 1
        try:
            machines = self.registry.machines()
        except REGISTRY_ERRORS as error:
            self.warn("Error retrieving list of active machines from fleet API (%s)" % error)
            self.warn("Possible issues:")
            self.warn("  etcd is unhealthy and/or lost quorum")
            self.warn("  connection cannot be established to any etcd servers")
            return 1
        rows = [] if flags["no-legend"] else ["\t".join(columns).upper()]
        for machine in machines:
            cells = {
                "machine": machine.id if flags["full"] else machine.short_id() + "...",
                "ip": machine.public_ip or "-",
                "metadata": ",".join("%s=%s" % kv for kv in sorted(machine.metadata.items())) or "-",
            }
            rows.append("\t".join(cells[c] for c in columns))
        self.table(rows)
        return 0

    # --- commands on a unit's machine ------------------------------------

    def local_machine_id(self):
        try:
            with open(self.machine_id_path) as machine_id_file:
                return machine_id_file.read().strip()
        except OSError:
            return ""

    def run_on_machine(self, machine_id, command, ssh_port=22, forward_agent=False):
        """Run `command` locally if `machine_id` is this host, else over SSH to its IP."""
        if machine_id == self.local_machine_id() and not self.options["tunnel"]:
            if not command:
                command = [os.environ.get("SHELL", "/bin/sh")]
            return self.run_command(command)
        machine = self.machines().get(machine_id)
        if machine is None or not machine.public_ip:
            self.warn("Error running remote command: machine %s has no known address" % machine_id)
            return 1
        via = transport.split_host_port(self.options["tunnel"])[0] if self.options["tunnel"] else None
        argv = transport.remote_command(machine.public_ip, command, self.ssh_options(), ssh_port,
                                        forward_agent, via)
        return self.run_command(argv)

    def cmd_status(self, flags, args):
        for index, arg in enumerate(args):
            name = mangle_name(arg)
            unit = self.registry.unit(name)
            if unit is None:
                self.warn("Unit %s does not exist." % name)
                return 1
            if unit.is_global:
                continue
            if unit.current_state(self.registry.unit_states()) == INACTIVE:
                self.warn("Unit %s does not appear to be loaded." % name)
                return 1
            if index != 0:
                self.say("")
            exit_code = self.run_on_machine(unit.target_machine, ["systemctl", "status", "-l", name],
                                            flags["ssh-port"])
            if exit_code != 0:
                return exit_code
        return 0

    def cmd_journal(self, flags, args):
        if len(args) != 1:
            self.warn("One unit file must be provided.")
            return 1
        name = mangle_name(args[0])
        unit = self.registry.unit(name)
        if unit is None:
            self.warn("Unit %s does not exist." % name)
            return 1
        if unit.is_global:
            self.warn("Unable to retrieve journal of global unit %s." % name)
            return 1
        if unit.current_state(self.registry.unit_states()) == INACTIVE:
            self.warn("Unit %s does not appear to be running." % name)
            return 1
        command = ["journalctl", "--unit", name, "--no-pager", "-n", str(flags["lines"]),
                   "--output", flags["output"]]
        if flags["sudo"]:
            command.insert(0, "sudo")
        if flags["follow"]:
            command.append("-f")
        return self.run_on_machine(unit.target_machine, command, flags["ssh-port"])

    def cmd_ssh(self, flags, args):
        target = flags["machine"] or flags["unit"] or (args[0] if args else "")
        command = args if (flags["machine"] or flags["unit"]) else args[1:]
        if not target:
            self.warn("Unable to proceed: Provide one machine or unit.")
            return 1
        try:
            machine_id = self._ssh_machine(target, by_machine=not flags["unit"], by_unit=not flags["machine"])
        except CommandError as error:
            self.warn("Unable to proceed: %s" % error)
            return 1
        return self.run_on_machine(machine_id, command, flags["ssh-port"], flags["forward-agent"])

    def _ssh_machine(self, target, by_machine, by_unit):
        """Machine ID for a unique machine-ID prefix or a unit name."""
        machine_ids = [m for m in sorted(self.machines()) if m.startswith(target)] if by_machine else []
        if len(machine_ids) > 1:
            raise CommandError("found more than one machine")
        unit = self.registry.unit(mangle_name(target)) if by_unit else None
        if machine_ids and unit is not None:
            raise CommandError("ambiguous argument, both machine and unit found for %s" % target)
        if machine_ids:
            return machine_ids[0]
        if unit is not None:
            if unit.is_global:
                raise CommandError("Unable to connect to global unit %s." % unit.name)
            if not unit.target_machine:
                raise CommandError("Unit %s does not appear to be running." % unit.name)
            return unit.target_machine
        raise CommandError("machine does not exist" if not by_unit else
                           "could not find matching unit or machine")

    def cmd_verify(self, flags, args):
        self.warn("WARNING: The signed/verified units feature is DEPRECATED and cannot be used.")
        return 2

    def cmd_version(self, flags, args):
        self.say("fleetctl version %s" % FLEET_VERSION)
        return 0

    def cmd_help(self, flags, args):
        self.say("NAME:\n\tfleetctl - fleetctl is a command-line interface to fleet, the cluster-wide CoreOS init system."
                 "\n\nUSAGE:\n\tfleetctl [global options] <command> [command options] [arguments...]"
                 "\n\nCOMMANDS:")
        self.table(["\t%s\t%s" % (c.name, c.summary) for c in COMMANDS])
        return 0


class CommandError(Exception):
    """A failure fleetctl reports with a command-specific prefix."""


def block_attempts(flags):
    """-1 for --no-block, 0 to wait forever, else the number of attempts."""
    if flags.get("no-block"):
        return -1
    return max(0, flags.get("block-attempts", 0))


def go_list(names):
    """Go's %v of a []string."""
    return "[%s]" % " ".join(names)


def _command_table():
    creation = {"replace": (False, bool), "sign": (False, bool)}
    list_full = dict(LIST_FLAGS)
    ssh_port = {"ssh-port": (22, int)}
    return [
        Command("cat", Fleetctl.cmd_cat, summary="Output the contents of a submitted unit"),
        Command("destroy", Fleetctl.cmd_destroy, dict(BLOCKING_FLAGS), summary="Destroy one or more units in the cluster"),
        Command("help", Fleetctl.cmd_help, summary="Show a list of commands or help for one command"),
        Command("journal", Fleetctl.cmd_journal,
                {"lines": (10, int), "follow": (False, bool), "sudo": (False, bool), "output": ("short", str),
                 **ssh_port}, {"f": "follow", "l": "lines", "n": "lines"},
                summary="Print the journal of a unit in the cluster to stdout"),
        Command("list-machines", Fleetctl.cmd_list_machines, {**list_full, "fields": ("machine,ip,metadata", str)},
                {"l": "full"}, summary="Enumerate the current hosts in the cluster"),
        Command("list-unit-files", Fleetctl.cmd_list_unit_files,
                {**list_full, "fields": ("unit,hash,dstate,state,target", str)},
                summary="List the units that exist in the cluster."),
        Command("list-units", Fleetctl.cmd_list_units, {**list_full, "fields": ("unit,machine,active,sub", str)},
                {"l": "full"}, summary="List the current state of units in the cluster"),
        Command("load", Fleetctl.cmd_load, {**BLOCKING_FLAGS, **creation},
                summary="Schedule one or more units in the cluster, first submitting them if necessary."),
        Command("restart", Fleetctl.cmd_restart, dict(BLOCKING_FLAGS), summary="Instruct systemd to restart one or more units in the cluster."),
        Command("ssh", Fleetctl.cmd_ssh,
                {"machine": ("", str), "unit": ("", str), "forward-agent": (False, bool), **ssh_port},
                {"A": "forward-agent"}, stop_at_first_positional=True,
                summary="Open interactive shell on a machine in the cluster"),
        Command("start", Fleetctl.cmd_start, {**BLOCKING_FLAGS, **creation},
                summary="Instruct systemd to start one or more units in the cluster, first submitting and loading if necessary."),
        Command("status", Fleetctl.cmd_status, dict(ssh_port), summary="Output the status of one or more units in the cluster"),
        Command("stop", Fleetctl.cmd_stop, dict(BLOCKING_FLAGS), summary="Instruct systemd to stop one or more units in the cluster."),
        Command("submit", Fleetctl.cmd_submit, dict(creation), summary="Upload one or more units to the cluster without starting them"),
        Command("unload", Fleetctl.cmd_unload, dict(BLOCKING_FLAGS), summary="Unschedule one or more units in the cluster."),
        Command("verify", Fleetctl.cmd_verify, summary="DEPRECATED - No longer works"),
        Command("version", Fleetctl.cmd_version, summary="Print the version and exit"),
    ]


COMMANDS = _command_table()
OFFLINE_COMMANDS = ("help", "version", "verify")


def find_command(word):
    """Exact name, else the one command the word is a prefix of (cobra's prefix matching)."""
    for command in COMMANDS:
        if command.name == word:
            return command
    matches = [c for c in COMMANDS if c.name.startswith(word)]
    return matches[0] if len(matches) == 1 else None


def parse_command_line(argv, environ):
    """(global options, command, command flags, args); global flags may come
    before or after the command (cobra's persistent flags), FLEETCTL_<FLAG>
    fills those given nowhere."""
    options, given, rest = parse_flags(argv, GLOBAL_FLAGS, GLOBAL_SHORTHANDS, stop_at_first_positional=True)
    if options["version"]:
        rest = ["version"]
    if options["help"] or not rest:
        rest = ["help"]
    command = find_command(rest[0])
    if command is None:
        raise UsageError('fleetctl: unknown subcommand: "%s"\nRun \'fleetctl help\' for usage.' % rest[0])
    flags, command_given, args = parse_flags(rest[1:], {**GLOBAL_FLAGS, **command.flags},
                                             {**GLOBAL_SHORTHANDS, **command.shorthands},
                                             command.stop_at_first_positional)
    for name in GLOBAL_FLAGS:
        if name in command_given:
            options[name] = flags[name]
        elif name not in given:
            env_value = environ.get("FLEETCTL_" + name.upper().replace("-", "_"), "")
            if env_value:
                kind = GLOBAL_FLAGS[name][1]
                options[name] = _parse_bool(env_value) if kind is bool else kind(env_value)
    return options, command, flags, args


def main(argv=None, stdout=None, stderr=None, environ=None, machine_id_path=MACHINE_ID_PATH,
         run_command=transport.run):
    argv = sys.argv[1:] if argv is None else list(argv)
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    environ = os.environ if environ is None else environ
    try:
        options, command, flags, args = parse_command_line(argv, environ)
    except (UsageError, ValueError) as error:
        stdout.write("%s\n" % error)
        return 2
    if flags.get("sign"):
        stderr.write("WARNING: The signed/verified units feature is DEPRECATED and cannot be used.\n")
        return 2
    ctl = Fleetctl(options, stdout, stderr, machine_id_path, run_command)
    ctl.command = command.name
    try:
        if command.name not in OFFLINE_COMMANDS:
            try:
                ctl.connect()
            except (OSError, ValueError) as error:
                stderr.write("Unable to initialize client: %s\n" % error)
                return 1
        try:
            return command.run(ctl, flags, args)
        except REGISTRY_ERRORS as error:
            stderr.write("Error communicating with %s: %s\n" % (ctl.driver_name, error))
            return 1
    except KeyboardInterrupt:
        return 130
    finally:
        ctl.close()


if __name__ == "__main__":
    sys.exit(main())
