"""Where a lab lives and what it is called: names, network, addresses and ports.

Every cluster on a host is one *lab*, identified by its state directory (``.lab/`` of the
checkout by default, ``$LAB_HOME`` otherwise). Names, the docker network, the subnet and
the published ports all derive from that directory, so two checkouts (or a test run
beside the learner's cluster, or a classroom of clusters) never collide. The choice is
written once to ``<state>/settings.json`` and read back by the CLI and the Vagrantfile.

Stdlib only: the Vagrantfile calls ``python3 -m labs.launcher.cli settings`` before anything is
installed into a virtualenv.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import os
import socket
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from labs.errors import LabError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VAGRANT_DIR = PROJECT_ROOT / "vagrant"
MAX_MACHINES = 9               # addresses and ports are planned for this many (the Vagrantfile asks)
FIRST_SSH_PORT = 2222          # Vagrant's own default for the first machine
PORT_BLOCK = 10                # 9 SSH ports + the discovery service per lab
MACHINE_HOST_OFFSET = 100      # core-01 = .101, as coreos-vagrant's 172.17.8.101
DISCOVERY_HOST_OFFSET = 10
DISCOVERY_CONTAINER_PORT = 8087
STOP_TIMEOUT_S = 20            # how long a halted machine's systemd may take to shut down
LABEL = "io.coreos-lab.lab"    # docker label on everything a lab creates: its name
STATE_LABEL = "io.coreos-lab.state"  # ... and its state directory, to spot orphans
SENT_USER_DATA = "user-data.sent"    # a classroom lab's: the user-data its student last provisioned


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
    # A classroom student's lab (labs.classroom); the single-learner lab keeps the defaults.
    own_key: bool = False      # an SSH key pair of its own (<state>/id_ed25519), not Vagrant's
    own_vagrant_home: bool = False  # Vagrant's home (<state>/vagrant.d): no lock shared with other labs
    machine_memory: str = ""   # `docker run --memory` of each machine ("" = unlimited)
    machine_pids: int = 0      # `docker run --pids-limit` of each machine (0 = unlimited)
    broker: str = ""           # a student's copy of the settings: the broker's socket runs this lab

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
    def vagrant_home(self) -> str | None:
        """Vagrant's home for this lab (machine index, locks); None means the user's ~/.vagrant.d.

        Only the checkout's own `.lab/` uses ~/.vagrant.d. Vagrant's machine index matches a new
        machine to an old entry by Vagrantfile and name, so two labs of one checkout (`make
        test` beside the learner's lab, its lanes) would share entries and each other's locks."""
        if self.own_vagrant_home or self.vagrant_dotfile_path is not None:
            return str(self.path("vagrant.d"))
        return None

    @property
    def ssh_private_key(self) -> str | None:
        """The lab's own private key; None: Vagrant's insecure key, the same everywhere."""
        return str(self.path("id_ed25519")) if self.own_key else None

    @property
    def login_key(self) -> str:
        """The private key to give ssh-add: the lab's own, or Vagrant's insecure key as Vagrant
        copied it into the lab's Vagrant home (for the checkout's lab, `~/.vagrant.d/…`, as the
        seed says; a test lab's Vagrant home is its own and has the copy only there)."""
        if self.ssh_private_key:
            return self.ssh_private_key
        home = self.vagrant_home or os.environ.get("VAGRANT_HOME") or "~/.vagrant.d"
        key = str(Path(home, "insecure_private_key"))
        user_home = str(Path.home())
        return "~" + key[len(user_home):] if key.startswith(user_home + "/") else key

    @property
    def work_dir(self) -> Path:
        """Where the learner runs `vagrant` and edits `user-data`: the checkout's vagrant/. A
        classroom student edits a copy of their own, ~/vagrant/user-data (beside ~/notebooks and
        ~/.lab); the broker runs the checkout's Vagrantfile for them."""
        return Path(self.state).parent / "vagrant" if self.broker else VAGRANT_DIR

    @property
    def user_data(self) -> Path:
        """The cloud-config the machines are launched from. On the broker's side of a student's
        lab: the copy of their user-data that their last `vagrant provision` sent (root never
        reads a file in a student's home), until then the course's."""
        sent = self.path(SENT_USER_DATA)
        if not self.broker and sent.exists():
            return sent
        return self.work_dir / "user-data"

    def limit_flags(self) -> list[str]:
        """`docker run` flags that bound what one machine may take from the host."""
        flags = []
        if self.machine_memory:
            flags += ["--memory", self.machine_memory, "--memory-swap", self.machine_memory]
        if self.machine_pids:
            flags += ["--pids-limit", str(self.machine_pids)]
        return flags

    @property
    def labels(self) -> dict[str, str]:
        """The docker labels on every container, network and volume of this lab."""
        return {LABEL: self.name, STATE_LABEL: self.state}

    def ssh_public_key(self) -> str | None:
        key = self.path("id_ed25519.pub")
        return key.read_text().strip() if self.own_key and key.exists() else None

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
                    vagrant_dotfile_path=self.vagrant_dotfile_path, vagrant_home=self.vagrant_home,
                    max_machines=MAX_MACHINES,
                    ssh_private_key=self.ssh_private_key, ssh_public_key=self.ssh_public_key(),
                    stop_timeout=STOP_TIMEOUT_S,
                    machines=[{"ip": self.machine_ip(i), "ssh_port": self.ssh_port(i)}
                              for i in range(1, MAX_MACHINES + 1)])
        return data


def machine_index(machine: str) -> int:
    """core-02 -> 2: the number the Vagrantfile gave the machine (its address and port follow)."""
    return int(machine.rsplit("-", 1)[1])


def load(directory: Path | None = None) -> LabSettings:
    """Read the lab's settings, choosing and saving them the first time."""
    directory = directory or state_dir()
    settings_file = directory / "settings.json"
    try:
        if settings_file.exists():
            data = json.loads(settings_file.read_text())
            data["state"] = str(directory)
            return LabSettings(**data)
        directory.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        raise LabError(f"you may not use the lab in {directory}: permission denied",
                       "it is someone else's; unset LAB_HOME to use your own lab") from None
    with registry_lock():     # labs created side by side must not choose the same ports
        if settings_file.exists():
            return load(directory)
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


@contextmanager
def registry_lock():
    """Hold the host-wide registry's lock (a file beside it) while choosing a lab's ports."""
    path = registry_file().with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


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
