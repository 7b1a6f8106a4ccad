"""Where a lab lives and what it is called: names, network, addresses and ports.

Every cluster on a host is one *lab*, identified by its state directory (``.lab/`` of the
checkout by default, ``$LAB_HOME`` otherwise). Names, the docker network, the subnet and
the published ports all derive from that directory, so two checkouts (or a test run
beside the learner's cluster, or a classroom of clusters) never collide. The choice is
written once to ``<state>/settings.json`` and read back by the CLI and the Vagrantfile.

Stdlib only: the Vagrantfile calls ``python3 -m labs.cli settings`` before anything is
installed into a virtualenv.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAGRANT_DIR = PROJECT_ROOT / "vagrant"
MAX_MACHINES = 9
FIRST_SSH_PORT = 2222          # Vagrant's own default for the first machine
PORT_BLOCK = 10                # 9 SSH ports + the discovery service per lab
MACHINE_HOST_OFFSET = 100      # core-01 = .101, as coreos-vagrant's 172.17.8.101
DISCOVERY_HOST_OFFSET = 10
DISCOVERY_CONTAINER_PORT = 8087
LABEL = "io.coreos-lab.lab"    # docker label on everything a lab creates: its name
STATE_LABEL = "io.coreos-lab.state"  # ... and its state directory, to spot orphans


def state_dir() -> Path:
    """The lab's state directory: ``$LAB_HOME`` or ``<project>/.lab``."""
    return Path(os.environ.get("LAB_HOME") or PROJECT_ROOT / ".lab").resolve()


@dataclass
class LabSettings:
    """What identifies one lab on this host; persisted as JSON in its state directory."""

    name: str                  # prefix of every container, network and volume: "lab-1a2b3c"
    subnet: str                # the machines' network, never inside 172.17.0.0/16
    ssh_port_base: int         # core-0N publishes 22 on 127.0.0.1:(base + N - 1)
    state: str = ""            # absolute path of the state directory

    @property
    def network(self) -> str:
        return f"{self.name}-net"

    @property
    def discovery_container(self) -> str:
        return f"{self.name}-discovery"

    @property
    def discovery_port(self) -> int:
        return self.ssh_port_base + PORT_BLOCK - 1

    @property
    def discovery_host_url(self) -> str:
        """The discovery service as the host (and the learner's curl) reaches it."""
        return f"http://127.0.0.1:{self.discovery_port}"

    @property
    def discovery_ip(self) -> str:
        return self._host(DISCOVERY_HOST_OFFSET)

    @property
    def discovery_internal_url(self) -> str:
        """The discovery service as the machines reach it on the lab network."""
        return f"http://{self.discovery_ip}:{DISCOVERY_CONTAINER_PORT}"

    @property
    def vagrant_dotfile_path(self) -> str | None:
        """Where Vagrant records this lab's machines; None means Vagrant's default."""
        if self.state == str(PROJECT_ROOT / ".lab"):
            return None
        return str(self.path("vagrant"))

    @property
    def labels(self) -> dict[str, str]:
        """The docker labels on every container, network and volume of this lab."""
        return {LABEL: self.name, STATE_LABEL: self.state}

    def machine_name(self, index: int, prefix: str = "core") -> str:
        return f"{prefix}-{index:02d}"

    def container_name(self, machine: str) -> str:
        return f"{self.name}-{machine}"

    def machine_ip(self, index: int) -> str:
        return self._host(MACHINE_HOST_OFFSET + index)

    def ssh_port(self, index: int) -> int:
        return self.ssh_port_base + index - 1

    def path(self, *parts: str) -> Path:
        return Path(self.state, *parts)

    def _host(self, offset: int) -> str:
        return str(ipaddress.ip_network(self.subnet).network_address + offset)

    def as_json(self) -> dict:
        """Everything the Vagrantfile needs, derived values included."""
        data = asdict(self)
        data.update(network=self.network, discovery_container=self.discovery_container,
                    discovery_port=self.discovery_port, discovery_host_url=self.discovery_host_url,
                    discovery_internal_url=self.discovery_internal_url, labels=self.labels,
                    vagrant_dotfile_path=self.vagrant_dotfile_path,
                    machines=[{"ip": self.machine_ip(i), "ssh_port": self.ssh_port(i)}
                              for i in range(1, MAX_MACHINES + 1)])
        return data


def load(directory: Path | None = None) -> LabSettings:
    """Read the lab's settings, choosing and saving them the first time."""
    directory = directory or state_dir()
    settings_file = directory / "settings.json"
    if settings_file.exists():
        data = json.loads(settings_file.read_text())
        data["state"] = str(directory)
        return LabSettings(**data)
    directory.mkdir(parents=True, exist_ok=True)
    registry = read_registry()
    taken = {base for path, base in registry.items() if path != str(directory)}
    settings = choose(directory, taken)
    settings_file.write_text(json.dumps(asdict(settings), indent=2) + "\n")
    registry[str(directory)] = settings.ssh_port_base
    write_registry(registry)
    return settings


def choose(directory: Path, taken_port_bases: set[int]) -> LabSettings:
    """Derive a name and subnet from the directory's path; take the first free port block."""
    digest = hashlib.sha1(str(directory).encode()).digest()
    subnet = f"10.{100 + digest[1] % 100}.{digest[2]}.0/24"
    base = FIRST_SSH_PORT
    while base in taken_port_bases or not ports_free(range(base, base + PORT_BLOCK)):
        base += PORT_BLOCK
    return LabSettings(name=f"lab-{digest.hex()[:6]}", subnet=subnet, ssh_port_base=base,
                       state=str(directory))


def registry_file() -> Path:
    """Host-wide list of labs and their port blocks, so a stopped lab keeps its ports."""
    return Path(os.environ.get("LAB_REGISTRY") or Path.home() / ".coreos-lab" / "labs.json")


def read_registry() -> dict[str, int]:
    path = registry_file()
    labs = json.loads(path.read_text()) if path.exists() else {}
    return {state: base for state, base in labs.items() if Path(state, "settings.json").exists()}


def write_registry(labs: dict[str, int]) -> None:
    path = registry_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(labs, indent=2, sort_keys=True) + "\n")


def ports_free(ports) -> bool:
    return all(port_free(port) for port in ports)


def port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (a lab's published ports live there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
