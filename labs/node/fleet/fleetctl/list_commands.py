"""list-units, list-unit-files, list-machines: fleet's tables, byte for byte (Go's tabwriter)."""

from .invocation import registry_errors

LIST_UNITS_FIELDS = ("unit", "load", "active", "sub", "machine", "hash")
LIST_UNIT_FILES_FIELDS = ("unit", "global", "dstate", "state", "target", "tmachine", "hash", "desc")
LIST_MACHINES_FIELDS = ("machine", "ip", "metadata")


def _columns(ctl, flags, valid):
    """The selected columns, or None after printing the error."""
    if flags["fields"] == "":
        ctl.warn("Must define output format")
        return None
    columns = flags["fields"].split(",")
    for column in columns:
        if column not in valid:
            ctl.warn('Invalid key in output format: "%s"' % column)
            return None
    return columns


def _read(ctl, *reads):
    """Call each registry read; None after printing the list commands' error."""
    try:
        return [read() for read in reads]
    except registry_errors() as error:
        ctl.warn("Error retrieving list of units from repository: %s" % error)
        return None


def _legend(flags, columns):
    return [] if flags["no-legend"] else ["\t".join(columns).upper()]


def list_units(ctl, flags, args):
    """List the state of every unit loaded on a machine of the cluster, one row per
unit and machine (global units have one row on every machine).

For easily parsable output, you can remove the column headers:
fleetctl list-units --no-legend

Output the list without ellipses:
fleetctl list-units --full

Or, choose the columns to display:
fleetctl list-units --fields=unit,machine"""
    columns = _columns(ctl, flags, LIST_UNITS_FIELDS)
    if columns is None:
        return 1
    read = _read(ctl, ctl.registry.unit_states, ctl.machines)
    if read is None:
        return 1
    states = read[0]
    full = flags["full"]
    rows = _legend(flags, columns)
    for state in states:
        cells = {
            "unit": state.unit_name,
            "load": state.load_state,
            "active": state.active_state,
            "sub": state.sub_state,
            "machine": ctl.machine_legend(state.machine_id, full) if state.machine_id else "",
            "hash": state.unit_hash if full else state.unit_hash[:7],
        }
        rows.append("\t".join(cells[c] or "-" for c in columns))
    ctl.table(rows)
    return 0


def list_unit_files(ctl, flags, args):
    """List the units that exist in the cluster: their hash, desired state (DSTATE),
current state (STATE) and the machine they are scheduled to (TARGET)."""
    columns = _columns(ctl, flags, LIST_UNIT_FILES_FIELDS)
    if columns is None:
        return 1
    if "tmachine" in columns:
        ctl.warn('WARNING: The "tmachine" field is deprecated. Use "target" instead')
    read = _read(ctl, ctl.registry.units, ctl.registry.unit_states, ctl.machines)
    if read is None:
        return 1
    units, states = read[:2]
    full = flags["full"]
    rows = _legend(flags, columns)
    for unit in units:
        if unit.is_global:
            target = "global"
        elif unit.target_machine:
            target = ctl.machine_legend(unit.target_machine, full)
        else:
            target = "-"
        cells = {
            "unit": unit.name,
            "global": "true" if unit.is_global else "false",
            "dstate": unit.target_state or "-",
            "state": (None if unit.is_global else unit.current_state(states)) or "-",
            "target": target,
            "tmachine": target,
            "hash": unit.hash if full else unit.hash[:7],
            "desc": unit.unit_file.description() or "-",
        }
        rows.append("\t".join(cells[c] for c in columns))
    ctl.table(rows)
    return 0


def list_machines(ctl, flags, args):
    """List the machines of the cluster: only machines whose fleetd is alive appear.

For easily parsable output, you can remove the column headers:
fleetctl list-machines --no-legend"""
    columns = _columns(ctl, flags, LIST_MACHINES_FIELDS)
    if columns is None:
        return 1
    try:
        machines = ctl.registry.machines()
    except registry_errors() as error:
        ctl.warn("Error retrieving list of active machines from fleet API (%s)" % error)
        ctl.warn("Possible issues:")
        ctl.warn("  etcd is unhealthy and/or lost quorum")
        ctl.warn("  connection cannot be established to any etcd servers")
        return 1
    rows = _legend(flags, columns)
    for machine in machines:
        cells = {
            "machine": machine.id if flags["full"] else machine.short_id() + "...",
            "ip": machine.public_ip or "-",
            "metadata": ",".join("%s=%s" % kv for kv in sorted(machine.metadata.items())) or "-",
        }
        rows.append("\t".join(cells[c] for c in columns))
    ctl.table(rows)
    return 0
