"""Bringing a lab up and down: what `lab up | down | halt | resume | reset | status` do.

Vagrant creates, stops and destroys the machines; this module does what Vagrant does not:
the image, the network, the discovery service, validating user-data before anything
starts, waiting until the cluster is healthy, and pinning the machines' SSH host keys.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from labs import cloudconfig
from labs.discovery import new_url
from labs.dockerhost import docker, ensure_engine, machine_run_flags, port_owner
from labs.errors import LabError
from labs.polling import wait_for
from labs.image import ensure_machine_image
from labs.settings import (DISCOVERY_CONTAINER_PORT, LABEL, STATE_LABEL, VAGRANT_DIR, LabSettings,
                           port_free)
from labs.vagrant import machine_states, vagrant

HEALTH_TIMEOUT_S = 180


def log(message: str) -> None:
    print(f"==> lab: {message}", flush=True)


# --- what the Vagrantfile asks for -------------------------------------------------------

def settings_json(settings: LabSettings) -> dict:
    """Names, addresses and ports, plus the image and run flags of the last `prepare`."""
    prepared = settings.path("prepared.json")
    data = settings.as_json()
    data.update(image="coreos-lab/machine:not-built-yet", run_flags=[])
    if prepared.exists():
        data.update(json.loads(prepared.read_text()))
    return data


def prepare(settings: LabSettings) -> dict:
    """Everything `vagrant up` needs before the first machine is created."""
    validate_user_data()
    ensure_engine(settings.path())
    remove_orphaned_labs()
    image = ensure_machine_image(log)
    flags = machine_run_flags(image, settings.path("run-flags.json"))
    ensure_network(settings)
    ensure_discovery(settings, image)
    settings.path("prepared.json").write_text(json.dumps({"image": image, "run_flags": flags}))
    return settings_json(settings)


def validate_user_data(path: Path = VAGRANT_DIR / "user-data") -> None:
    """Refuse to launch on a broken user-data; name the line and the key."""
    entries = cloudconfig.validate(path.read_text())
    for entry in entries:
        log(f"{path}: {entry}")
    if any(entry.kind == "error" for entry in entries):
        raise LabError(f"{path} is not a valid cloud-config; nothing was started",
                       "fix the lines above (check with `lab validate`)")


def label_args(settings: LabSettings) -> list[str]:
    return [arg for key, value in settings.labels.items() for arg in ("--label", f"{key}={value}")]


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


def ensure_network(settings: LabSettings) -> None:
    found = docker("network", "inspect", settings.network, "--format",
                   "{{range .IPAM.Config}}{{.Subnet}}{{end}}", check=False)
    if found.returncode == 0:
        if found.stdout.strip() != settings.subnet:
            raise LabError(f"network {settings.network} exists with subnet {found.stdout.strip()}, "
                           f"expected {settings.subnet}", f"remove it: `docker network rm {settings.network}`")
        return
    created = docker("network", "create", "--subnet", settings.subnet,
                     *label_args(settings), settings.network, check=False)
    if created.returncode != 0:
        raise LabError(f"cannot create the lab network {settings.subnet}: {created.stderr.strip()}",
                       f"another network uses that range; pick another subnet in {settings.path('settings.json')}")


def ensure_discovery(settings: LabSettings, image: str) -> None:
    """One etcd 3.4 with the v2 API and a /new endpoint, as discovery.etcd.io was."""
    name = settings.discovery_container
    state = docker("inspect", name, "--format", "{{.State.Running}} {{.Config.Image}}", check=False)
    running, _, used_image = state.stdout.strip().partition(" ")
    if state.returncode == 0 and used_image != image:
        docker("rm", "-f", name)
        state = docker("inspect", name, check=False)
    if state.returncode != 0:
        require_free_port(settings.discovery_port, "the discovery service")
        docker("run", "-d", "--name", name, *label_args(settings),
               "--network", settings.network, "--ip", settings.discovery_ip,
               "-p", f"127.0.0.1:{settings.discovery_port}:{DISCOVERY_CONTAINER_PORT}",
               "-e", "PYTHONPATH=/opt/labs", "--stop-signal", "SIGTERM", "--entrypoint", "python3",
               image, "-m", "labs.discovery", "serve", "--port", str(DISCOVERY_CONTAINER_PORT),
               "--public-base", settings.discovery_internal_url)
    elif running != "true":
        docker("start", name)
    wait_for(lambda: discovery_healthy(settings), 30, "the discovery service to answer")


def discovery_healthy(settings: LabSettings) -> bool:
    try:
        with urllib.request.urlopen(f"{settings.discovery_host_url}/health", timeout=2) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError):
        return False


def require_free_port(port: int, what: str) -> None:
    if not port_free(port):
        owner = port_owner(port)
        raise LabError(f"port 127.0.0.1:{port} for {what} is already in use"
                       + (f" by container {owner}" if owner else " by another program"),
                       "stop whatever holds it, or start this lab elsewhere with LAB_HOME=<dir>")


# --- the cluster's life cycle ------------------------------------------------------------

def up(settings: LabSettings) -> None:
    """`vagrant up`, then wait for health and pin host keys. A no-op on a healthy cluster."""
    ensure_engine(settings.path())
    states = machine_states(settings)
    if states and all(s == "running" for s in states.values()) and cluster_healthy(
            settings, states=states):
        log("the cluster is already up and healthy")
        write_ssh_config(settings, states)
        return
    remove_stale_containers(settings, states)
    for index, machine in enumerate(sorted(states), start=1):
        if states[machine] == "not_created":
            require_free_port(settings.ssh_port(index), f"{machine}'s SSH")
    vagrant(settings, "up")
    running = dict.fromkeys(states, "running")
    with ThreadPoolExecutor(max_workers=1) as pool:   # Vagrant's ssh-config while etcd forms
        ssh_config = pool.submit(vagrant, settings, "ssh-config", *sorted(running), capture=True)
        try:
            wait_for_health(settings, states=running)
        except LabError:
            # e.g. an earlier `lab up` stopped half-way: machines joined different tokens
            log("the cluster did not form; re-forming it with `lab reset`")
            reset(settings)
        write_ssh_config(settings, running, ssh_config.result().stdout)


def remove_stale_containers(settings: LabSettings, states: dict[str, str]) -> None:
    """Containers left by an earlier run that Vagrant no longer knows about (after a crash)."""
    for machine, state in states.items():
        container = settings.container_name(machine)
        if state == "not_created" and docker("inspect", container, check=False).returncode == 0:
            log(f"removing {container}, left over from an earlier run")
            docker("rm", "-f", "-v", container)
            docker("volume", "rm", f"{container}-docker", check=False)


def down(settings: LabSettings) -> None:
    """Remove every container, network and volume of this lab; nothing is left behind.

    The engine is started first: a stopped engine still holds the lab's stopped containers.
    """
    ensure_engine(settings.path())
    if machine_states_or_empty(settings):
        # If Vagrant trips (a container already half-removed), the label sweep below finishes.
        vagrant(settings, "destroy", "-f", check=False)
    for name in docker("ps", "-aq", "--filter", f"label={LABEL}={settings.name}").stdout.split():
        docker("rm", "-f", "-v", name)
    for volume in docker("volume", "ls", "-q", "--filter",
                         f"label={LABEL}={settings.name}").stdout.split():
        docker("volume", "rm", volume)
    if docker("network", "inspect", settings.network, check=False).returncode == 0:
        docker("network", "rm", settings.network)
    for leftover in ("prepared.json", "user-data", "ssh_config", "known_hosts"):
        settings.path(leftover).unlink(missing_ok=True)
    log(f"lab {settings.name} removed")


def machine_states_or_empty(settings: LabSettings) -> dict[str, str]:
    try:
        return machine_states(settings)
    except LabError:
        return {}


def halt(settings: LabSettings, *machines: str) -> None:
    """Stop machines (a failure drill); warn when that costs etcd its quorum."""
    states = require_machines(settings, machines)
    running = [m for m, s in states.items() if s == "running"]
    left = len([m for m in running if m not in machines])
    quorum = len(states) // 2 + 1
    if left < quorum:
        log(f"warning: with {', '.join(machines)} halted only {left} of "
            f"{len(states)} etcd members run: no quorum, writes will fail")
    vagrant(settings, "halt", *machines)


def resume(settings: LabSettings, *machines: str) -> None:
    """Start halted machines in one `vagrant up`, and wait until they have rejoined etcd."""
    states = require_machines(settings, machines)
    vagrant(settings, "up", *machines)
    states.update(dict.fromkeys(machines, "running"))
    wait_for_health(settings, machines=list(machines), states=states)
    write_ssh_config(settings, states)


def reset(settings: LabSettings) -> None:
    """Back to a freshly formed cluster in place: faster than down + up, same result.

    Every machine drops its containers, fleet units and etcd data at once, then rejoins a
    new etcd cluster through a fresh discovery token (what a re-provision would do).
    """
    states = machine_states(settings)
    for machine, state in sorted(states.items()):
        if state != "running":
            log(f"{machine} is {state}: starting it first")
            vagrant(settings, "up", machine)
            states[machine] = "running"
    image = json.loads(settings.path("prepared.json").read_text())["image"]
    ensure_discovery(settings, image)
    user_data = with_new_discovery_token(settings, len(states))

    def reset_machine(machine: str) -> None:
        docker("exec", "-i", settings.container_name(machine), "/usr/lib/coreos/lab-reset",
               input=user_data)

    with ThreadPoolExecutor(max_workers=len(states)) as pool:
        list(pool.map(reset_machine, sorted(states)))
    wait_for_health(settings, states=states)


def with_new_discovery_token(settings: LabSettings, size: int) -> str:
    """The uploaded user-data with a freshly minted discovery URL, as config.rb makes it."""
    import yaml

    rendered = settings.path("user-data")
    source = rendered if rendered.exists() else VAGRANT_DIR / "user-data"
    data = yaml.safe_load(source.read_text())
    data["coreos"]["etcd2"]["discovery"] = new_url(settings.discovery_host_url, size)
    text = "#cloud-config\n\n" + yaml.safe_dump(data, sort_keys=False)
    rendered.write_text(text)
    return text


def require_machines(settings: LabSettings, machines: tuple[str, ...] | list[str]) -> dict[str, str]:
    """The machines' states, once we know each of MACHINES is one of them."""
    states = machine_states(settings)
    for machine in machines:
        if machine not in states:
            raise LabError(f"unknown machine {machine!r}",
                           f"the machines are {', '.join(sorted(states))}")
    if not machines:
        raise LabError("no machine named", f"the machines are {', '.join(sorted(states))}")
    return states


# --- health --------------------------------------------------------------------------------

@dataclass
class MachineFacts:
    name: str
    state: str              # vagrant's: running, stopped, not_created
    facts: dict             # what /usr/lib/coreos/machine-facts printed, {} when down


def facts(settings: LabSettings, states: dict[str, str] | None = None) -> list[MachineFacts]:
    """Each machine's live facts, read through `docker exec` (works even when SSH does not)."""
    states = states or machine_states(settings)

    def read(machine: str) -> MachineFacts:
        if states[machine] != "running":
            return MachineFacts(machine, states[machine], {})
        out = docker("exec", settings.container_name(machine), "/usr/lib/coreos/machine-facts",
                     check=False)
        try:
            return MachineFacts(machine, states[machine], json.loads(out.stdout))
        except ValueError:
            return MachineFacts(machine, states[machine], {})

    with ThreadPoolExecutor(max_workers=9) as pool:
        return list(pool.map(read, sorted(states)))


def machine_healthy(item: MachineFacts, expected_members: int) -> bool:
    f = item.facts
    return (f.get("system") == "running" and f.get("etcd_members") == expected_members
            and bool(f.get("etcd_leader")) and f.get("docker") is True and f.get("busybox") is True)


def cluster_healthy(settings: LabSettings, machines: list[str] | None = None,
                    states: dict[str, str] | None = None) -> bool:
    everything = facts(settings, states)
    wanted = [item for item in everything if machines is None or item.name in machines]
    return all(machine_healthy(item, len(everything)) for item in wanted)


def wait_for_health(settings: LabSettings, machines: list[str] | None = None,
                    states: dict[str, str] | None = None) -> None:
    log("waiting for systemd, etcd (all members, a leader), docker and the busybox image")
    states = states or machine_states(settings)
    wait_for(lambda: cluster_healthy(settings, machines, states), HEALTH_TIMEOUT_S,
               "the cluster to become healthy (see `lab status`)")
    log("the cluster is healthy")


# --- SSH: the contract with the notebooks --------------------------------------------------

def write_ssh_config(settings: LabSettings, states: dict[str, str],
                     vagrant_config: str | None = None) -> None:
    """`.lab/ssh_config` from `vagrant ssh-config`, with host keys pinned in `.lab/known_hosts`.

    Vagrant's own output disables host-key checking; the lab reads each machine's host
    key through `docker exec` (a channel that cannot be spoofed from the network) instead.
    Every machine also learns the others' keys, so `ssh core-02` from core-01 just works.
    """
    running = sorted(m for m, s in states.items() if s == "running")
    keys = {m: docker("exec", settings.container_name(m), "cat",
                      "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2] for m in running}
    if vagrant_config is None:
        vagrant_config = vagrant(settings, "ssh-config", *running, capture=True).stdout
    known_hosts = settings.path("known_hosts")
    settings.path("ssh_config").write_text(pin_host_keys(vagrant_config, known_hosts))
    known_hosts.write_text("".join(
        f"[127.0.0.1]:{settings.ssh_port(machine_index(m))} {' '.join(key)}\n"
        for m, key in sorted(keys.items())))
    inside = "\n".join(f"{m},{settings.machine_ip(machine_index(m))} {' '.join(k)}"
                       for m, k in sorted(keys.items())) + "\n"
    for machine in running:
        docker("exec", "-i", settings.container_name(machine), "sh", "-c",
               "cat > /etc/ssh/ssh_known_hosts", input=inside)


def machine_index(machine: str) -> int:
    return int(machine.rsplit("-", 1)[1])


def pin_host_keys(vagrant_ssh_config: str, known_hosts) -> str:
    """Vagrant's ssh-config with host-key checking switched on against our known_hosts."""
    out = []
    for line in vagrant_ssh_config.splitlines():
        key = line.strip().split(" ", 1)[0]
        if key == "UserKnownHostsFile":
            line = f"  UserKnownHostsFile {known_hosts}"
        elif key == "StrictHostKeyChecking":
            line = "  StrictHostKeyChecking yes"
        out.append(line)
    return "\n".join(out) + "\n"
