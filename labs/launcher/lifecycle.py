"""The lab's life cycle: the one API that brings a lab's machines up, shows them, halts and
resumes them, resets and removes them, and mints discovery URLs.

    from labs.launcher import lifecycle, settings
    lab = settings.load()                   # a lab is its state directory
    lifecycle.up(lab)                       # lifecycle.status / halt / resume / reset / down

The `lab` CLI, the notebooks' drills (`labs.drills`), the benchmarks and the classroom's
broker all call these functions; nothing else drives Vagrant or the Docker engine. Vagrant
creates, stops and destroys the machines; this module does the rest: a valid user-data, the
image, network and discovery service before the first machine, waiting until the cluster is
healthy, and the ssh_config with pinned host keys after.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from labs.errors import LabError
from labs.facts import FACTS_COMMAND, MachineFacts
from labs.launcher import headroom, hostkeys, labkey, resources, userdata
from labs.launcher.brokered import brokered
from labs.launcher.dockerhost import docker, ensure_engine, machine_run_flags
from labs.launcher.image import ensure_machine_image
from labs.launcher.settings import STOP_TIMEOUT_S, LabSettings, machine_index
from labs.launcher.vagrant import machine_states, vagrant
from labs.polling import wait_for

HEALTH_TIMEOUT_S = 180
HEALTH_POLL_S = 1.0      # one poll runs machine-facts on every machine: about 0.5 s of CPU
                         # (only when a machine's own wait, `machine-facts --wait`, timed out)


def log(message: str) -> None:
    print(f"==> lab: {message}", flush=True)


# --- before the first machine ------------------------------------------------------------------

def prepare(lab: LabSettings) -> dict:
    """Everything `vagrant up` needs first: a valid user-data, the engine, the machine image,
    the lab's key, network and discovery service. Returns what the Vagrantfile reads."""
    userdata.validate(lab.user_data)
    ensure_engine(lab.path())
    resources.remove_orphaned_labs()
    image = ensure_machine_image(log)
    labkey.ensure(lab)
    flags = machine_run_flags(image, lab.path("run-flags.json")) + lab.limit_flags()
    resources.ensure_network(lab)
    resources.ensure_discovery(lab, image)
    # whole or not at all: `vagrant status` (the Vagrantfile) may read it meanwhile (`up`)
    written = lab.path("prepared.json.new")
    written.write_text(json.dumps({"image": image, "run_flags": flags}))
    written.replace(lab.path("prepared.json"))
    return vagrant_settings(lab)


def vagrant_settings(lab: LabSettings) -> dict:
    """Names, addresses and ports, plus the image and run flags of the last `prepare`."""
    prepared = lab.path("prepared.json")
    data = lab.as_json()
    data.update(image="coreos-lab/machine:not-built-yet", run_flags=[])
    if prepared.exists():
        data.update(json.loads(prepared.read_text()))
    return data


@brokered
def new_discovery_url(lab: LabSettings, size: int) -> str:
    """A fresh discovery URL for `size` members (`lab discovery new`), service started first."""
    ensure_engine(lab.path())
    image = ensure_machine_image(log)
    resources.ensure_network(lab)
    resources.ensure_discovery(lab, image)
    return userdata.fetch_token(userdata.new_discovery_url(lab, size))


# --- the life cycle ------------------------------------------------------------------------

@brokered
def up(lab: LabSettings) -> list[MachineFacts]:
    """Boot the cluster (`vagrant up`), wait until healthy, pin host keys; each machine's facts
    at the end. A no-op on a healthy cluster; a half-formed one (an earlier `up` stopped
    half-way) is re-formed with reset."""
    ensure_engine(lab.path())
    prepared = None
    if resources.machines(lab):
        states = machine_states(lab)
    else:
        # None of the lab's machines exists, so all of `prepare` is needed in any case: it runs
        # while Vagrant (about 1 s of Ruby) says which machines config.rb asks for. When the
        # checks below refuse, what it started (network, discovery service) is removed again.
        with ThreadPoolExecutor(max_workers=1) as pool:
            preparing = pool.submit(prepare, lab)
            states = machine_states(lab)
            prepared = preparing.result()
    if states and all(s == "running" for s in states.values()):
        facts = status(lab, states)
        if all(item.healthy(len(facts)) for item in facts):
            log("the cluster is already up and healthy")
            if not hostkeys.up_to_date(lab, sorted(states)):
                write_ssh_config(lab, states)
            return facts
    try:
        require_room(lab, states)
    except LabError:
        if prepared is not None:
            resources.remove_all(lab)
        raise
    if prepared is None:
        prepare(lab)
    vagrant(lab, "up", prepared=True)
    running = dict.fromkeys(states, "running")
    with ThreadPoolExecutor(max_workers=1) as pool:   # Vagrant's ssh-config while etcd forms
        ssh_config = pool.submit(vagrant, lab, "ssh-config", *sorted(running), capture=True)
        try:
            facts = wait_for_health(lab, states=running)
        except LabError:
            log("the cluster did not form; re-forming it with `lab reset`")
            reset(lab)
            facts = status(lab, running)
        write_ssh_config(lab, running, ssh_config.result().stdout)
    return facts


def require_room(lab: LabSettings, states: dict[str, str]) -> None:
    """Before Vagrant creates or starts a machine: its SSH port free (a stale container of a
    machine Vagrant forgot is removed), and inotify room for every machine not running."""
    for machine, state in sorted(states.items()):
        if state == "not_created":
            resources.remove_stale_container(lab, machine)
            resources.require_free_port(lab.ssh_port(machine_index(machine)), f"{machine}'s SSH")
    headroom.require(sum(1 for state in states.values() if state != "running"))


@brokered
def status(lab: LabSettings, states: dict[str, str] | None = None) -> list[MachineFacts]:
    """Each machine's live facts, read through `docker exec` (works even when SSH does not)."""
    states = states or resources.machines(lab)
    return read_facts(lab, states, sorted(states))


def read_facts(lab: LabSettings, states: dict[str, str], machines: list[str],
               wait_members: int = 0) -> list[MachineFacts]:
    """MACHINES' facts, read at once on each; with `wait_members`, each first waits on the
    machine (up to HEALTH_TIMEOUT_S) until it is healthy in a cluster of that many."""
    wait = ["--wait", str(wait_members), "--timeout", str(HEALTH_TIMEOUT_S)] if wait_members else []

    def read(machine: str) -> MachineFacts:
        if states[machine] != "running":
            return MachineFacts.down(machine, states[machine])
        out = docker("exec", lab.container_name(machine), FACTS_COMMAND, *wait, check=False)
        return MachineFacts.parse(machine, out.stdout, out.stderr.strip()[-200:])

    with ThreadPoolExecutor(max_workers=len(machines) or 1) as pool:
        return list(pool.map(read, machines))


@brokered
def halt(lab: LabSettings, *machines: str) -> None:
    """Stop machines (a failure drill); warn when that costs etcd its quorum.

    `docker stop` with the Vagrantfile's stop timeout is what `vagrant halt` does with the
    docker provider, without Vagrant's seconds of start-up; `vagrant status` then says stopped.
    """
    states = require_machines(lab, machines)
    running = [m for m, s in states.items() if s == "running"]
    left = len([m for m in running if m not in machines])
    if left < len(states) // 2 + 1:
        log(f"warning: with {', '.join(machines)} halted only {left} of "
            f"{len(states)} etcd members run: no quorum, writes will fail")
    log(f"halting {', '.join(machines)}")
    docker("stop", "--time", str(STOP_TIMEOUT_S), *(lab.container_name(m) for m in machines))


@brokered
def resume(lab: LabSettings, *machines: str) -> None:
    """Start halted machines again (`docker start`, as `vagrant up` does for a stopped
    container) and wait until they have rejoined etcd."""
    states = require_machines(lab, machines)
    headroom.require(sum(1 for machine in set(machines) if states[machine] != "running"))
    start(lab, machines)
    states.update(dict.fromkeys(machines, "running"))
    wait_for_health(lab, machines=list(machines), states=states)
    if not lab.path("ssh_config").exists():
        write_ssh_config(lab, states)


def start(lab: LabSettings, machines) -> None:
    log(f"starting {', '.join(machines)}")
    docker("start", *(lab.container_name(m) for m in machines))


@brokered
def reset(lab: LabSettings) -> None:
    """Back to a freshly formed cluster in place: faster than down + up, same result.

    Every machine drops its containers, fleet units and etcd data at once, then rejoins a
    new etcd cluster through a fresh discovery token (what a re-provision would do).
    """
    states = resources.machines(lab)
    if not states:
        raise LabError("the lab has no machines to reset", "start it with `lab up`")
    stopped = sorted(m for m, s in states.items() if s != "running")
    if stopped:
        headroom.require(len(stopped))
        start(lab, stopped)
        states.update(dict.fromkeys(stopped, "running"))
    resources.ensure_discovery(lab, json.loads(lab.path("prepared.json").read_text())["image"])
    user_data = userdata.write_with_new_token(lab, userdata.new_discovery_url(lab, len(states)))

    def reset_machine(machine: str) -> None:
        docker("exec", "-i", lab.container_name(machine), "/usr/lib/coreos/lab-reset",
               input=user_data)

    with ThreadPoolExecutor(max_workers=len(states)) as pool:
        list(pool.map(reset_machine, sorted(states)))
    wait_for_health(lab, states=states)


@brokered
def down(lab: LabSettings) -> None:
    """Remove every container, network and volume of this lab; nothing is left behind.

    The engine is started first: a stopped engine still holds the lab's stopped containers.
    """
    ensure_engine(lab.path())
    known_to_vagrant = bool(resources.machines(lab))
    # Everything goes at once (`docker rm -f`): a machine that is about to be deleted need not
    # shut down first, which `vagrant destroy` waits for, one machine after the other.
    resources.remove_all(lab)
    if known_to_vagrant:   # Vagrant sees the machines gone and forgets them
        vagrant(lab, "destroy", "-f", check=False, capture=True)
    for leftover in ("prepared.json", "user-data", "ssh_config", "known_hosts"):
        lab.path(leftover).unlink(missing_ok=True)
    log(f"lab {lab.name} removed")


@brokered
def require_machines(lab: LabSettings, machines: tuple[str, ...] | list[str]) -> dict[str, str]:
    """The machines' states, once we know each of MACHINES is one of them."""
    states = resources.machines(lab)
    known = f"the machines are {', '.join(sorted(states))}"
    if not machines:
        raise LabError("no machine named", known)
    for machine in machines:
        if machine not in states:
            raise LabError(f"unknown machine {machine!r}", known)
    return states


# --- health ----------------------------------------------------------------------------------

def healthy(lab: LabSettings, machines: list[str] | None = None,
            states: dict[str, str] | None = None) -> bool:
    """Every machine (or each of MACHINES) healthy, in a cluster of all the lab's machines."""
    everything = status(lab, states)
    return all(item.healthy(len(everything)) for item in everything
               if machines is None or item.machine in machines)


def wait_for_health(lab: LabSettings, machines: list[str] | None = None,
                    states: dict[str, str] | None = None) -> list[MachineFacts]:
    """Until every machine (or each of MACHINES) is healthy; their facts then."""
    log("waiting for systemd, etcd (all members, a leader), docker and the busybox image")
    states = states or resources.machines(lab)
    # Each machine waits on its own health, where it happens (no host round trip per look).
    # One that did not get there (or an image older than `--wait`) is polled from here, in
    # what is left of HEALTH_TIMEOUT_S.
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    facts = read_facts(lab, states, machines or sorted(states), wait_members=len(states))
    if not all(item.healthy(len(states)) for item in facts):
        try:
            wait_for(lambda: healthy(lab, machines, states), max(0.0, deadline - time.monotonic()),
                     "the cluster", interval=HEALTH_POLL_S)
        except LabError:
            raise LabError(f"gave up after {HEALTH_TIMEOUT_S} s waiting for the cluster to become "
                           "healthy (see `lab status`)") from None
        facts = read_facts(lab, states, machines or sorted(states))
    log("the cluster is healthy")
    return facts


def write_ssh_config(lab: LabSettings, states: dict[str, str],
                     vagrant_ssh_config: str | None = None) -> None:
    running = sorted(m for m, s in states.items() if s == "running")
    if vagrant_ssh_config is None:
        vagrant_ssh_config = vagrant(lab, "ssh-config", *running, capture=True).stdout
    hostkeys.write_ssh_config(lab, running, vagrant_ssh_config)
