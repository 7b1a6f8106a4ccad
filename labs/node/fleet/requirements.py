"""The [X-Fleet] section: scheduling requirements and their validation.

Mirrors `job/job.go` (reading the options, expanding %n %N %p %i) and
`api/units.go ValidateOptions` (impossible combinations, exact messages);
docs/fleet.md §3.3–3.5.
"""

from . import glob
from .names import NameInfo

SECTION = "X-Fleet"

MACHINE_ID_KEYS = ("MachineID", "X-ConditionMachineID", "X-ConditionMachineBootID")
PEER_KEYS = ("MachineOf", "X-ConditionMachineOf")
METADATA_KEYS = ("MachineMetadata", "X-ConditionMachineMetadata")
CONFLICT_KEYS = ("Conflicts", "X-Conflicts")
GLOBAL_KEY = "Global"
REPLACES_KEY = "Replaces"
KNOWN_KEYS = set(MACHINE_ID_KEYS + PEER_KEYS + METADATA_KEYS + CONFLICT_KEYS + (GLOBAL_KEY, REPLACES_KEY))
TRUE_WORDS = ("true", "yes", "1", "on", "t")


def parse_multivalue(value):
    """A value wrapped in double quotes holds several, split at unquoted spaces."""
    if not (len(value) >= 2 and value.startswith('"') and value.endswith('"')):
        return [value]
    values, current, quoted = [], [], False
    for char in value:
        if char == '"':
            quoted = not quoted
        elif char == " " and not quoted:
            values.append("".join(current))
            current = []
        else:
            current.append(char)
    values.append("".join(current))
    return values


def raw_requirements(unit_file):
    """Option name → all its values from [X-Fleet], in file order, unexpanded."""
    requirements = {}
    for name, value in unit_file.section_options(SECTION):
        requirements.setdefault(name, []).extend(parse_multivalue(value))
    return requirements


def expand_specifiers(value, unit_name):
    """fleet's unitPrintf: %n, %N, %p, %i, replaced in that order."""
    info = NameInfo.of(unit_name)
    value = value.replace("%n", unit_name)
    value = value.replace("%N", info.name)
    value = value.replace("%p", info.prefix)
    return value.replace("%i", info.instance)


class Requirements:
    """What a unit asks of the machine that runs it.

    Built with the unit's name, specifiers are expanded (as the engine and
    agent see it); without a name they are not (as the validator sees it).
    """

    def __init__(self, unit_file, unit_name=None):
        raw = raw_requirements(unit_file)
        if unit_name is not None:
            raw = {key: [expand_specifiers(v, unit_name) for v in values] for key, values in raw.items()}
        self.raw = raw
        self.machine_id = self._first(MACHINE_ID_KEYS)
        self.peers = self._all(PEER_KEYS)
        self.metadata = self._metadata()
        self.conflicts = [pattern for value in self._all(CONFLICT_KEYS) for pattern in value.split()]
        self.replaces = self._all((REPLACES_KEY,))
        global_values = raw.get(GLOBAL_KEY, [])
        self.is_global = bool(global_values) and global_values[-1].lower() in TRUE_WORDS

    def _first(self, keys):
        for key in keys:
            if self.raw.get(key):
                return self.raw[key][0]
        return None

    def _all(self, keys):
        return [value for key in keys for value in self.raw.get(key, [])]

    def _metadata(self):
        """key → allowed values; items that are not exactly `k=v` are ignored."""
        wanted = {}
        for item in self._all(METADATA_KEYS):
            parts = item.split("=", 1)
            if len(parts) != 2 or not parts[0] or not parts[1]:
                continue
            wanted.setdefault(parts[0], set()).add(parts[1])
        return wanted

    def unknown_keys(self):
        """[X-Fleet] options fleet does not know, in file order."""
        return [key for key in self.raw if key not in KNOWN_KEYS]


def metadata_satisfied(wanted, machine_metadata):
    """AND across keys, OR within a key (machine/machine.go HasMetadata)."""
    return all(machine_metadata.get(key) in allowed for key, allowed in wanted.items())


def options_error(unit_file):
    """The first impossible combination of [X-Fleet] options, or None (docs/fleet.md §3.5)."""
    req = Requirements(unit_file)
    peers, conflicts, replaces = sorted(set(req.peers)), sorted(set(req.conflicts)), sorted(set(req.replaces))
    for peer in peers:
        for conflict in conflicts:
            if glob.match(conflict, peer):
                return 'unresolvable requirements: peer "%s" matches conflict "%s"' % (peer, conflict)
        for replace in replaces:
            if glob.match(replace, peer):
                return 'unresolvable requirements: peer "%s" matches replace "%s"' % (peer, replace)
    has_target = req.machine_id is not None
    rules = [
        (has_target and peers, "MachineID cannot be used with Peers"),
        (has_target and conflicts, "MachineID cannot be used with Conflicts"),
        (has_target and req.is_global, "MachineID cannot be used with Global"),
        (has_target and replaces, "MachineID cannot be used with Replaces"),
        (req.is_global and peers, "Global cannot be used with Peers"),
        (req.is_global and replaces, "Global cannot be used with Replaces"),
        (conflicts and replaces, "Conflicts cannot be used with Replaces"),
    ]
    for broken, message in rules:
        if broken:
            return message
    return None


def unknown_key_warnings(unit_name, unit_file):
    """fleetctl's client-side warnings for unrecognised [X-Fleet] options."""
    return ['Unit %s: unrecognized requirement in [X-Fleet] section: "%s"' % (unit_name, key)
            for key in Requirements(unit_file).unknown_keys()]
