"""What fleetctl does to units: create them lazily, retarget their desired state, wait for states.

The creation path, the waits and their messages follow fleet v1.0.0's
`fleetctl/fleetctl.go` (docs/fleet.md, "fleetctl").
"""

import logging
import os
import time

from ..names import NameInfo, mangle_name, name_error, with_default_type
from ..requirements import options_error, unknown_key_warnings
from ..schema import INACTIVE, LAUNCHED, LOADED
from ..unit import UnitFile, UnitFileError
from .invocation import CommandError, registry_errors

POLL_INTERVAL = 0.25  # one wait "attempt" polls every 250 ms ...
ATTEMPT_DURATION = 2.0  # ... for 2 s
SYSTEMD_ACTIVE_WINDOW = 2.0
log = logging.getLogger("fleetctl")  # on stderr with --debug
# The desired states `--replace` may recreate a unit from, per command.
REPLACEABLE = {"submit": (INACTIVE,), "load": (INACTIVE, LOADED), "start": (INACTIVE, LOADED, LAUNCHED)}


def block_attempts(flags):
    """-1 for --no-block, 0 to wait forever, else the number of attempts."""
    if flags.get("no-block"):
        return -1
    return max(0, flags.get("block-attempts", 0))


def go_list(names):
    """Go's %v of a []string."""
    return "[%s]" % " ".join(names)


# --- creating ----------------------------------------------------------------

def lazy_create_units(ctl, args, replace, attempts):
    """Make sure every unit exists in the registry (fleet's lazyCreateUnits)."""
    created = []
    for arg in map(with_default_type, args):
        name = mangle_name(arg)
        try:
            existing = ctl.registry.unit(name)
        except registry_errors() as error:
            raise CommandError("error retrieving Unit(%s) from Registry: %s" % (name, error))
        if existing is not None and not _should_replace(ctl, arg, existing, replace):
            log.debug("Found Unit(%s) in Registry, no need to recreate it", name)
            continue
        log.debug("Looking for Unit(%s) or its corresponding template", name)
        _create_unit(ctl, name, _unit_file_for(ctl, arg, name))
        log.debug("Created Unit(%s) in Registry", name)
        created.append(name)
    if wait_for_states(ctl, created, INACTIVE, attempts, verb=None, creating=True):
        raise CommandError("One or more errors creating units")


def _should_replace(ctl, arg, existing, replace):
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
            ctl.warn("WARNING: Unit %s in registry differs from local %sunit file %s. Add --replace to override."
                     % (existing.name, "template " if template else "", arg))
        return False
    if not different:
        ctl.say("Found same Unit(%s) in Registry, nothing to do" % existing.name)
        return False
    if existing.target_state in REPLACEABLE.get(ctl.command, ()):
        return True
    ctl.warn("Warning: can not replace Unit(%s) in state '%s', use the appropriate command"
             % (existing.name, existing.target_state))
    return False


def _unit_file_for(ctl, arg, name):
    """The local file, else the template from the registry, else from disk."""
    if os.path.exists(arg):
        return _read_unit_file(arg, "failed getting Unit(%s) from file" % name)
    info = NameInfo.of(name)
    if not info.is_instance():
        raise CommandError("unable to find Unit(%s) in Registry or on filesystem" % name)
    template = ctl.registry.unit(info.template)
    if template is not None:
        return template.unit_file
    template_path = os.path.join(os.path.dirname(arg), info.template)
    if not os.path.exists(template_path):
        raise CommandError("unable to find template Unit(%s) in Registry or on filesystem" % info.template)
    return _read_unit_file(template_path, "unable to load template Unit(%s) from file" % info.template)


def _read_unit_file(path, context):
    try:
        with open(path) as unit_file:
            return UnitFile.parse(unit_file.read())
    except (OSError, UnitFileError) as error:
        raise CommandError("%s: %s" % (context, error))


def _create_unit(ctl, name, unit_file):
    problem = name_error(name) or options_error(unit_file)
    if problem:
        raise CommandError(problem)
    for warning in unknown_key_warnings(name, unit_file):
        ctl.warn(warning)
    ctl.registry.create_unit(name, unit_file)


# --- finding and retargeting -------------------------------------------------------

def find_units(ctl, args):
    """Registry units named by `args` (mangled), unknown names skipped (fleet's findUnits)."""
    units = {u.name: u for u in ctl.registry.units()}
    return [units[name] for name in (mangle_name(a) for a in args) if name in units]


def units_to_retarget(ctl, args, state):
    """For load/start: each named unit whose desired state is not `state` yet."""
    units = []
    for arg in args:
        name = mangle_name(arg)
        unit = ctl.registry.unit(name)
        if unit is None:
            raise CommandError("unable to find unit %s" % name)
        if unit.target_state == state:
            log.debug("Unit(%s) already %s, skipping.", name, state)
            continue
        if state != INACTIVE and NameInfo.of(name).is_template():
            raise CommandError('cannot activate template "%s"' % name)
        units.append(unit)
    return units


def retarget(ctl, units, state, verb, attempts):
    """Set each unit's desired state to `state`: global units are only triggered, the
    others waited for (stop, unload, restart, load and start all end here).
    The wait's error, or None."""
    waiting = []
    for unit in units:
        log.debug("Setting Unit(%s) target state to %s", unit.name, state)
        ctl.registry.set_target_state(unit.name, state)
        if unit.is_global:
            ctl.say("Triggered global unit %s %s" % (unit.name, verb))
        else:
            waiting.append(unit.name)
    return wait_for_states(ctl, waiting, state, attempts, verb)


# --- waiting ----------------------------------------------------------------------

def wait_for_states(ctl, names, state, attempts, verb, creating=False):
    """Poll until each unit reports `state`; the first timeout's error, or None.

    attempts < 0 (--no-block) prints `Triggered unit <u> <verb>` instead;
    0 waits forever; N gives up after N attempts of 2 s. Like fleet, a wait
    reports its first timeout only; the creation wait reports each.
    """
    if attempts < 0:
        for name in names:
            ctl.say("Triggered unit %s %s" % (name, verb))
        return None
    pending = list(names)
    deadline = None if attempts == 0 else time.monotonic() + attempts * ATTEMPT_DURATION
    while pending:
        for name in list(pending):
            if _report_if_in_state(ctl, name, state):
                pending.remove(name)
        if not pending:
            break
        if deadline is not None and time.monotonic() >= deadline:
            errors = ["timed out waiting for unit %s to report state %s" % (name, state) for name in pending]
            for error in errors if creating else errors[:1]:
                ctl.warn("%s: %s" % ("Error waiting on unit creation" if creating else "Error waiting for units",
                                     error))
            return errors[0]
        time.sleep(POLL_INTERVAL)
    return None


def _report_if_in_state(ctl, name, state):
    """fleet's assertUnitState: global units are judged by their desired state."""
    try:
        unit = ctl.registry.unit(name)
        current = None if unit is None else unit.current_state(ctl.registry.unit_states())
    except registry_errors():
        return False
    if unit is None:
        return False
    reached = unit.target_state if unit.is_global else current
    if reached != state:
        return False
    message = "Unit %s %s" % (name, current or "")
    if unit.target_machine:
        # a new machine may have joined since the last look
        if unit.target_machine in ctl.machines(refresh=True):
            message += " on " + ctl.machine_legend(unit.target_machine, full=False)
    ctl.say(message)
    return True


def wait_for_systemd_active(ctl, names, attempts):
    """After `start`: each unit must be active/loaded in systemd within 2 s; the error, or None."""
    if attempts < 0:
        for name in names:
            ctl.say("Triggered unit %s start" % name)
        return None
    for name in names:
        deadline = time.monotonic() + SYSTEMD_ACTIVE_WINDOW
        while not _systemd_active(ctl, name):
            if time.monotonic() >= deadline:
                error = "Failed to find an active unit %s within %ds, err: Failed to fetch states within %ds" % (
                    name, SYSTEMD_ACTIVE_WINDOW, SYSTEMD_ACTIVE_WINDOW)
                ctl.warn("Error waiting for units: %s" % error)
                return error
            time.sleep(POLL_INTERVAL)
    return None


def _systemd_active(ctl, name):
    """fleet's assertSystemdActiveState: the unit's state on its machine is loaded and active."""
    unit = ctl.registry.unit(name)
    if unit is None:
        return False
    return any(state.unit_name == name and state.machine_id == unit.target_machine
               and state.active_state == "active" and state.load_state == "loaded"
               for state in ctl.registry.unit_states())
