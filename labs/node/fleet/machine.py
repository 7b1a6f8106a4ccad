"""The local machine's identity: ID, public IP and static metadata (docs/fleet.md §1.5)."""

import ipaddress
import subprocess

from .schema import MachineState

MACHINE_ID_PATH = "/etc/machine-id"


class MachineIDError(RuntimeError):
    """fleetd cannot run without a machine ID."""


def read_machine_id(path=MACHINE_ID_PATH):
    try:
        with open(path) as machine_id_file:
            machine_id = machine_id_file.read().strip()
    except OSError:
        machine_id = ""
    if not machine_id:
        raise MachineIDError("unable to determine local machine ID")
    return machine_id


def parse_metadata(text):
    """`k=v,k2=v2` (optionally quoted) → dict; items without `=` are ignored, later keys win."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    metadata = {}
    for item in text.split(","):
        if "=" not in item:
            continue
        key, value = item.split("=", 1)
        metadata[key.strip()] = value.strip()
    return metadata


def detect_public_ip(run=subprocess.run):
    """First global IPv4 address of the default-route interface, or ""."""
    try:
        route = run(["ip", "-4", "route", "show", "default"], capture_output=True, text=True).stdout.split()
        if "dev" not in route:
            return ""
        device = route[route.index("dev") + 1]
        addresses = run(["ip", "-4", "-o", "addr", "show", "dev", device, "scope", "global"],
                        capture_output=True, text=True).stdout.split()
    except OSError:
        return ""
    for word_index, word in enumerate(addresses):
        if word == "inet":
            address = ipaddress.ip_address(addresses[word_index + 1].split("/")[0])
            if not (address.is_loopback or address.is_link_local or address.is_multicast):
                return str(address)
    return ""


def local_machine_state(config, machine_id_path=MACHINE_ID_PATH, detect_ip=detect_public_ip):
    """The MachineState this fleetd announces, from config and the host."""
    return MachineState(
        id=read_machine_id(machine_id_path),
        public_ip=config.public_ip or detect_ip(),
        metadata=parse_metadata(config.metadata),
        disable_engine=config.disable_engine,
    )
