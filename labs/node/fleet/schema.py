"""The values fleet keeps in etcd, and their exact JSON forms.

fleet's values are Go `encoding/json` output: struct fields in declaration
order, map keys sorted, compact, with `<`, `>`, `&` escaped as \\u003c etc.
`go_json` reproduces that so our keys are byte-for-byte what fleet v1.0.0
writes (docs/fleet.md §1.2).
"""

import json
from dataclasses import dataclass, field
from functools import cached_property

from .requirements import Requirements
from .unit import UnitFile

FLEET_VERSION = "1.0.0"
ENGINE_VERSION = 1
DEFAULT_PREFIX = "/_coreos.com/fleet/"  # where fleet's keys live in etcd

# Desired ("DSTATE") and current ("STATE") cluster-level states, in order.
INACTIVE, LOADED, LAUNCHED = "inactive", "loaded", "launched"
JOB_STATES = (INACTIVE, LOADED, LAUNCHED)


def go_json(value):
    """Serialise like Go's json.Marshal (callers order struct fields themselves)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


@dataclass
class MachineState:
    """A live machine: `P/machines/<id>/object` (machine/state.go MachineState)."""

    id: str
    public_ip: str = ""
    metadata: dict = field(default_factory=dict)
    version: str = FLEET_VERSION
    disable_engine: bool = False

    def short_id(self):
        return self.id[:8]

    def matches_id(self, wanted):
        """fleet accepts the full ID or the 8-character short one."""
        return wanted in (self.id, self.short_id())

    def to_json(self):
        return go_json({
            "ID": self.id,
            "PublicIP": self.public_ip,
            "Metadata": dict(sorted(self.metadata.items())),
            "Capabilities": {"DISABLE_ENGINE": self.disable_engine, "GRPC": False},
            "Version": self.version,
        })

    @classmethod
    def from_json(cls, text):
        data = json.loads(text)
        capabilities = data.get("Capabilities") or {}
        return cls(
            id=data.get("ID") or "",
            public_ip=data.get("PublicIP") or "",
            metadata=dict(data.get("Metadata") or {}),
            version=data.get("Version") or "",
            disable_engine=bool(capabilities.get("DISABLE_ENGINE")),
        )


@dataclass
class Unit:
    """Everything the registry knows about one unit (`P/job/<name>/...`)."""

    name: str
    unit_file: UnitFile
    target_state: str = INACTIVE  # desired state
    target_machine: str = ""  # `target`: where the engine scheduled it, "" if nowhere
    job_state_machine: str = ""  # `job-state`: who heartbeats it as launched

    @property
    def hash(self):
        return self.unit_file.hash()

    @cached_property
    def requirements(self):
        """[X-Fleet] requirements with this unit's specifiers expanded."""
        return Requirements(self.unit_file, self.name)

    @property
    def is_global(self):
        return self.requirements.is_global

    def current_state(self, unit_states):
        """STATE of list-unit-files (registry/job_state.go); None for global units.

        `unit_states` is every published UnitState; only the target machine's counts.
        """
        if self.is_global:
            return None
        if not self.target_machine:
            return INACTIVE
        if not any(s.unit_name == self.name and s.machine_id == self.target_machine for s in unit_states):
            return INACTIVE
        if self.job_state_machine != self.target_machine:
            return LOADED
        return LAUNCHED


def job_object_json(name, unit_hash):
    """`P/job/<name>/object`: the hash as Go's [20]byte, a list of 20 numbers."""
    return go_json({"Name": name, "UnitHash": list(bytes.fromhex(unit_hash))})


def job_object_hash(text):
    """The 40-hex hash stored in a job object."""
    return bytes(json.loads(text)["UnitHash"]).hex()


def unit_body_json(unit_file):
    """`P/unit/<sha1>`: the canonical text under "Raw"."""
    return go_json({"Raw": unit_file.canonical_text()})


def unit_body_from_json(text):
    return UnitFile.parse(json.loads(text)["Raw"])


@dataclass
class UnitState:
    """What systemd says about a unit on one machine (`P/states/<unit>/<machID>`)."""

    unit_name: str
    machine_id: str
    load_state: str
    active_state: str
    sub_state: str
    unit_hash: str

    def to_json(self):
        return go_json({
            "loadState": self.load_state,
            "activeState": self.active_state,
            "subState": self.sub_state,
            "machineState": {"ID": self.machine_id, "PublicIP": "", "Metadata": None,
                             "Capabilities": None, "Version": ""},
            "unitHash": self.unit_hash,
        })

    @classmethod
    def from_json(cls, unit_name, text):
        data = json.loads(text)
        machine = data.get("machineState") or {}
        return cls(unit_name, machine.get("ID", ""), data.get("loadState", ""),
                   data.get("activeState", ""), data.get("subState", ""), data.get("unitHash", ""))


@dataclass
class Lease:
    """The engine leader lease `P/lease/engine-leader` and its etcd index."""

    machine_id: str
    version: int
    index: int = 0  # etcd modifiedIndex, for compare-and-swap renewal
    ttl: int = 0  # seconds left when read

    def to_json(self):
        return go_json({"MachineID": self.machine_id, "Version": self.version})

    @classmethod
    def from_json(cls, text, index=0, ttl=0):
        """Old engines wrote a bare machine ID; that is a version-0 lease."""
        try:
            data = json.loads(text)
        except ValueError:
            return cls(text, 0, index, ttl)
        if not isinstance(data, dict):
            return cls(text, 0, index, ttl)
        return cls(data.get("MachineID", ""), int(data.get("Version", 0)), index, ttl)
