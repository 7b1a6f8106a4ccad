"""The commands that change units: submit, load, start, stop, unload, restart, destroy, and cat."""

from ..names import mangle_name
from ..schema import INACTIVE, LAUNCHED, LOADED
from .invocation import CommandError, registry_errors
from .units import (
    block_attempts, find_units, go_list, lazy_create_units, retarget, units_to_retarget,
    wait_for_systemd_active,
)


def submit(ctl, flags, args):
    """Upload one or more units to the cluster without starting them. Useful
for validating units before they are started.

Submitting is idempotent: a unit already in the cluster is not submitted again.

Submit a single unit:
fleetctl submit foo.service

Submit a directory of units with glob matching:
fleetctl submit myservice/*"""
    if not args:
        ctl.warn("No units given")
        return 0
    try:
        lazy_create_units(ctl, args, flags["replace"], flags.get("block-attempts", 0))
    except (CommandError, *registry_errors()) as error:
        ctl.warn("Error creating units: %s" % error)
        return 1
    return 0


def load(ctl, flags, args):
    """Load one or more units into systemd on the machines fleet picks, without starting them.

Units are found as files in the current directory (a name without a suffix gets
.service) or among the units already submitted.

For units which are not global, fleetctl waits until they are loaded; --block-attempts
and --no-block change that. Load operations on global units never wait."""
    return _load_or_start(ctl, flags, args, LOADED, "load")


def start(ctl, flags, args):
    """Start one or more units on the cluster, submitting and loading them first if needed.

Units are found as files in the current directory (a name without a suffix gets
.service) or among the units already submitted.

For units which are not global, fleetctl waits until they have started; --block-attempts
and --no-block change that. Start operations on global units never wait.

Start a single unit:
fleetctl start foo.service

Start an entire directory of units with glob matching:
fleetctl start myservice/*

You may filter suitable hosts based on metadata provided by the machine.
Machine metadata is located in the fleet configuration file."""
    return _load_or_start(ctl, flags, args, LAUNCHED, "start")


def _load_or_start(ctl, flags, args, state, verb):
    if not args:
        ctl.warn("No units given")
        return 0
    try:
        lazy_create_units(ctl, args, flags["replace"], flags["block-attempts"])
    except (CommandError, *registry_errors()) as error:
        ctl.warn("Error creating units: %s" % error)
        return 1
    try:
        units = units_to_retarget(ctl, args, state)
    except (CommandError, *registry_errors()) as error:
        ctl.warn("Error %s units: %s" % ("loading" if verb == "load" else "starting", error))
        return 1
    attempts = block_attempts(flags)
    error = retarget(ctl, units, state, verb, attempts)
    if error:
        ctl.warn("Error waiting for unit states, exit status: %s" % error)
        return 1
    error = wait_for_systemd_active(ctl, [u.name for u in units if not u.is_global], attempts) \
        if verb == "start" else None
    if error:
        ctl.warn("Error waiting for systemd unit states, err: %s" % error)
        return 1
    return 0


def _registry_units(ctl, args):
    """The named units found in the registry, or None after saying why there are none."""
    if not args:
        ctl.warn("No units given")
        return None
    units = find_units(ctl, args)
    if not units:
        ctl.warn("Units not found in registry")
        return None
    return units


def stop(ctl, flags, args):
    """Stop one or more units from running in the cluster, but allow them to be
started again in the future.

systemd on the unit's machine stops it, running any ExecStop= of the unit file.

For units which are not global, fleetctl waits until they have stopped; --block-attempts
and --no-block change that. Stop operations on global units never wait.

Stop a single unit:
fleetctl stop foo.service

Stop an entire directory of units with glob matching, without waiting:
fleetctl stop --no-block myservice/*"""
    units = _registry_units(ctl, args)
    if units is None:
        return 0
    states = ctl.registry.unit_states()
    stopping = []
    for unit in units:
        if not unit.is_global:
            current = unit.current_state(states)
            if current == INACTIVE:
                ctl.warn("Unable to stop unit %s in state %s" % (unit.name, INACTIVE))
                return 1
            if current == LOADED:
                continue
        stopping.append(unit)
    return _retarget_and_report(ctl, stopping, LOADED, ("stop", "stopped"), flags)


def unload(ctl, flags, args):
    """Unschedule one or more units: stop them and remove them from their machines,
keeping them in the cluster (their desired state becomes inactive)."""
    units = _registry_units(ctl, args)
    if units is None:
        return 0
    states = ctl.registry.unit_states()
    unloading = [unit for unit in units if unit.is_global or unit.current_state(states) != INACTIVE]
    return _retarget_and_report(ctl, unloading, INACTIVE, ("unload", "unloaded"), flags)


def _retarget_and_report(ctl, units, state, verbs, flags):
    """stop's and unload's ending: retarget, then say on stderr how it went."""
    verb, done = verbs
    names = go_list([unit.name for unit in units if not unit.is_global])
    error = retarget(ctl, units, state, verb, block_attempts(flags))
    if error:
        ctl.warn("Failed to %s units %s. err: %s" % (verb, names, error))
        return 1
    ctl.warn("Successfully %s units %s." % (done, names))
    return 0


def restart(ctl, flags, args):
    """Restart one or more units in the cluster; stopped ones are started.

A launched unit is stopped (fleetctl waits until it is loaded) and started again
(waits until it is launched): stop, wait, start, wait (docs/fleet.md §4.3).

Restart a single unit:
fleetctl restart foo.service"""
    units = _registry_units(ctl, args)
    if units is None:
        return 0
    states = ctl.registry.unit_states()
    for unit in units:
        current = unit.target_state if unit.is_global else unit.current_state(states)
        if current == INACTIVE:
            ctl.warn("Unable to restart unit %s in state %s" % (unit.name, INACTIVE))
            return 1
    attempts = block_attempts(flags)
    running = [u for u in units if not u.is_global and u.current_state(states) == LAUNCHED]
    error = retarget(ctl, running, LOADED, "stop", attempts) or retarget(ctl, units, LAUNCHED, "start", attempts)
    if error:
        ctl.warn("Error waiting for unit states, exit status: %s" % error)
        return 1
    return 0


def destroy(ctl, flags, args):
    """Completely remove one or more running or submitted units from the cluster.

systemd on the unit's machine stops it, running any ExecStop= of the unit file.

Destroyed units are impossible to start unless re-submitted."""
    units = _registry_units(ctl, args)
    if units is None:
        return 0
    exit_code = 0
    for unit in units:
        try:
            ctl.registry.destroy_unit(unit.name)
        except registry_errors() as error:
            ctl.warn("Error destroying units: %s" % error)
            exit_code = 1
            continue
        ctl.say("Destroyed %s" % unit.name)
    return exit_code


def cat(ctl, flags, args):
    """Print the unit file fleet holds for a unit, exactly as stored (its canonical form)."""
    if len(args) != 1:
        ctl.warn("One unit file must be provided")
        return 1
    name = mangle_name(args[0])
    unit = ctl.registry.unit(name)
    if unit is None:
        ctl.warn("Unit %s not found" % name)
        return 1
    ctl.out.write(unit.unit_file.canonical_text())
    ctl.out.flush()
    return 0
