"""What a lab owns in the Docker engine besides its machines: its network, its discovery
service, and the sweep of what labs whose state directory is gone left behind.

Every container, network and volume carries the lab's labels (`LabSettings.labels`), so a
lab's things are found by label, never by guessing names.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from labs.errors import LabError
from labs.launcher.dockerhost import docker, port_owner
from labs.launcher.settings import DISCOVERY_CONTAINER_PORT, LABEL, STATE_LABEL, LabSettings, port_free
from labs.polling import wait_for


def log(message: str) -> None:
    print(f"==> lab: {message}", flush=True)


def label_args(lab: LabSettings) -> list[str]:
    return [arg for key, value in lab.labels.items() for arg in ("--label", f"{key}={value}")]


def remove_orphaned_labs() -> None:
    """Remove what labs left behind whose state directory is gone (a deleted clone, a crashed
    CI run): their containers would otherwise hold ports and addresses forever."""
    listings = (("container", ["ps", "-a"], "{{.Names}}"), ("volume", ["volume", "ls"], "{{.Name}}"),
                ("network", ["network", "ls"], "{{.Name}}"))
    for kind, command, name_field in listings:
        out = docker(*command, "--filter", f"label={STATE_LABEL}", "--format",
                     f'{name_field}\t{{{{.Label "{STATE_LABEL}"}}}}').stdout
        for line in out.splitlines():
            name, _, state = line.partition("\t")
            if not Path(state, "settings.json").exists():
                log(f"removing {kind} {name}: its lab ({state}) no longer exists")
                docker(*(["rm", "-f", "-v"] if kind == "container" else [kind, "rm"]), name,
                       check=False)


def ensure_network(lab: LabSettings) -> None:
    found = docker("network", "inspect", lab.network, "--format",
                   "{{range .IPAM.Config}}{{.Subnet}}{{end}}", check=False)
    if found.returncode == 0:
        if found.stdout.strip() != lab.subnet:
            raise LabError(f"network {lab.network} exists with subnet {found.stdout.strip()}, "
                           f"expected {lab.subnet}", f"remove it: `docker network rm {lab.network}`")
        return
    created = docker("network", "create", "--subnet", lab.subnet, *label_args(lab), lab.network,
                     check=False)
    if created.returncode != 0:
        raise LabError(f"cannot create the lab network {lab.subnet}: {created.stderr.strip()}",
                       f"another network uses that range; pick another subnet in {lab.path('settings.json')}")


def ensure_discovery(lab: LabSettings, image: str) -> None:
    """One etcd 3.4 with the v2 API and a /new endpoint, as discovery.etcd.io was."""
    name = lab.discovery_container
    state = docker("inspect", name, "--format", "{{.State.Running}} {{.Config.Image}}", check=False)
    running, _, used_image = state.stdout.strip().partition(" ")
    if state.returncode == 0 and used_image != image:
        docker("rm", "-f", name)
        state = docker("inspect", name, check=False)
    if state.returncode != 0:
        require_free_port(lab.discovery_port, "the discovery service")
        docker("run", "-d", "--name", name, *label_args(lab),
               "--network", lab.network, "--ip", lab.discovery_ip,
               "-p", f"127.0.0.1:{lab.discovery_port}:{DISCOVERY_CONTAINER_PORT}",
               "-e", "PYTHONPATH=/opt/labs", "--stop-signal", "SIGTERM", "--entrypoint", "python3",
               image, "-m", "labs.node.discovery", "serve", "--port", str(DISCOVERY_CONTAINER_PORT),
               "--public-base", lab.discovery_internal_url)
    elif running != "true":
        docker("start", name)
    wait_for(lambda: discovery_healthy(lab), 30, "the discovery service to answer")


def discovery_healthy(lab: LabSettings) -> bool:
    try:
        with urllib.request.urlopen(f"{lab.discovery_host_url}/health", timeout=2) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError):
        return False


def require_free_port(port: int, what: str) -> None:
    if not port_free(port):
        owner = port_owner(port)
        raise LabError(f"port 127.0.0.1:{port} for {what} is already in use"
                       + (f" by container {owner}" if owner else " by another program"),
                       "stop whatever holds it, or start this lab elsewhere with LAB_HOME=<dir>")


def machines(lab: LabSettings) -> dict[str, str]:
    """{machine: "running" | "stopped"} for each machine container the lab has: one `docker ps`
    (what Vagrant's docker provider asks too, without its seconds of start-up)."""
    out = docker("ps", "-a", "--filter", f"label={LABEL}={lab.name}",
                 "--format", "{{.Names}}\t{{.State}}").stdout
    prefix = f"{lab.name}-"
    found = {}
    for line in out.splitlines():
        name, _, state = line.partition("\t")
        if name.startswith(prefix) and name != lab.discovery_container:
            found[name[len(prefix):]] = "running" if state == "running" else "stopped"
    return dict(sorted(found.items()))


def remove_stale_container(lab: LabSettings, machine: str) -> None:
    """A machine's container left by an earlier run that Vagrant no longer knows (a crash)."""
    container = lab.container_name(machine)
    if docker("inspect", container, check=False).returncode == 0:
        log(f"removing {container}, left over from an earlier run")
        docker("rm", "-f", "-v", container)
        docker("volume", "rm", f"{container}-docker", check=False)


def remove_all(lab: LabSettings) -> None:
    """Every container, volume and the network of this lab, found by its label."""
    containers = docker("ps", "-aq", "--filter", f"label={LABEL}={lab.name}").stdout.split()
    if containers:
        docker("rm", "-f", "-v", *containers)
    for volume in docker("volume", "ls", "-q", "--filter", f"label={LABEL}={lab.name}").stdout.split():
        docker("volume", "rm", volume)
    if docker("network", "inspect", lab.network, check=False).returncode == 0:
        docker("network", "rm", lab.network)
