"""Exercises of notebook 02-etcd, and what the notebook leaves behind."""

from __future__ import annotations

import json
import secrets
import time

from labs import lesson
from labs.checks import exercise, failed, passed
from labs.exercises.common import (CORE_02, CORE_03, any_machine, etcd_node, private_ips,
                                   settled, sh_quote)

# The notebook's own keys (v2 and v3), removed when it begins and ends.
NOTEBOOK_KEYS = "/message /services /config /queue /presence /drill /workshop".split()
CATCH_UP_S = 10  # how long a member that just rejoined may take to read what was written meanwhile
DRILL_KEY, DRILL_VALUE = "/drill", "written while core-02 was down"
LATE_VALUE = "written with two members gone"  # the write that timed out without quorum: it may be
                                              # committed after all, once a leader is back


@lesson.cleanup("02-etcd")
def _(cluster):
    machine = any_machine(cluster)
    for key in NOTEBOOK_KEYS:
        machine.run(f"ETCDCTL_API=2 etcdctl rm --recursive {key}", check=False)
    machine.run("ETCDCTL_API=3 etcdctl del /message && ETCDCTL_API=3 etcdctl del --prefix /presence/",
                check=False)


def etcdctl2(command: str) -> str:
    return f"ETCDCTL_API=2 etcdctl {command}"


# --- a JSON value, as flannel read its network configuration -------------------------------------

FLANNEL_CONFIG = {"Network": "10.1.0.0/16"}


@exercise("etcd-json", "A JSON value, quoted right", "02-etcd", key="/workshop/network/config")
def etcd_json(cluster, key):
    wanted = json.dumps(FLANNEL_CONFIG)
    show = f"etcdctl set {key} '{wanted}'   (single quotes keep the double quotes for etcd)"
    node = etcd_node(cluster, key)
    if node is None:
        return failed(f"there is no key {key} yet: step 1 writes keys, with etcdctl or curl", show)
    if node.dir:
        return failed(f"{key} is a directory: remove it (`etcdctl rm --help` says how), then "
                      f"write the key", show)
    try:
        value = json.loads(node.value)
    except ValueError:
        return failed(f"{key} holds {node.value!r}, which is not JSON: the shell ate the double "
                      f"quotes before etcdctl saw them — look at how the value is quoted", show)
    if value != FLANNEL_CONFIG:
        return failed(f"{key} holds the JSON {node.value!r}; flannel wanted an object whose "
                      f"\"Network\" is \"10.1.0.0/16\", nothing else", show)
    return passed(f"{key} holds {node.value!r}: JSON that a program (flannel, in 2015) can read")


@etcd_json.solution
def _(cluster, key):
    any_machine(cluster).run(etcdctl2(f"set {key} {sh_quote(json.dumps(FLANNEL_CONFIG))}"))


@etcd_json.reset
def _(cluster, key):
    any_machine(cluster).run(etcdctl2(f"rm --recursive {key}"), check=False)


# --- register every machine, and keep the registration alive ------------------------------------

HEARTBEAT_UNIT = "web-heartbeat"


@exercise("etcd-heartbeat", "Registrations that drop out by themselves", "02-etcd",
          directory="/workshop/web", port=8080, max_ttl=60, renew_within=15)
def etcd_heartbeat(cluster, directory, port, max_ttl, renew_within):
    show = (f"%%remote all\nsudo systemd-run --unit {HEARTBEAT_UNIT} -p EnvironmentFile="
            f"/etc/environment /bin/sh -c 'while true; do etcdctl set --ttl 20 {directory}/"
            f"$(hostname) \"$COREOS_PRIVATE_IPV4:{port}\" >/dev/null; sleep 5; done'")
    wanted = {machine: f"{ip}:{port}" for machine, ip in private_ips(cluster).items()}
    nodes = {machine: etcd_node(cluster, f"{directory}/{machine}") for machine in wanted}
    missing = [machine for machine, node in nodes.items() if node is None]
    if len(missing) == len(wanted):
        return failed(f"nothing is registered under {directory} yet: one key per machine, "
                      f"{directory}/<hostname>, written on that machine (step 2)", show)
    if missing:
        return failed(f"{', '.join(missing)} did not register (or its key expired): every "
                      f"machine must write its own key, again and again", show)
    for machine, node in nodes.items():
        if node.value != wanted[machine]:
            return failed(f"{directory}/{machine} holds {node.value!r}, expected "
                          f"{wanted[machine]!r}: the address other machines reach it at, from "
                          f"/etc/environment (step 2)", show)
        if node.ttl is None:
            return failed(f"{directory}/{machine} never expires: a machine that dies stays "
                          f"registered for ever; give the key a TTL (step 4)", show)
        if node.ttl > max_ttl:
            return failed(f"{directory}/{machine} expires in {node.ttl} s: a dead machine "
                          f"would stay listed that long; keep the TTL at {max_ttl} s or less "
                          f"and renew it more often", show)
    first = {machine: node.modifiedIndex for machine, node in nodes.items()}
    deadline = time.monotonic() + renew_within
    stale = list(first)
    while stale and time.monotonic() < deadline:
        time.sleep(1)
        now = {machine: etcd_node(cluster, f"{directory}/{machine}") for machine in stale}
        stale = [machine for machine, node in now.items()
                 if node is not None and node.modifiedIndex == first[machine]]
        if any(node is None for node in now.values()):
            gone = [machine for machine, node in now.items() if node is None]
            return failed(f"{', '.join(gone)} expired while the check watched: nothing wrote "
                          f"it again in time; the renewing must go on in the background", show)
    if stale:
        return failed(f"nothing renewed {', '.join(f'{directory}/{m}' for m in stale)} within "
                      f"{renew_within} s: its TTL just counts down; something on each machine "
                      f"must write it again and again, in the background (a loop the cell "
                      f"leaves running)", show)
    ttls = ", ".join(f"{machine} {node.ttl} s" for machine, node in nodes.items())
    return passed(f"every machine registered its address under {directory} and renews it "
                  f"(TTLs: {ttls}): a machine that dies drops out by itself")


@etcd_heartbeat.solution
def _(cluster, directory, port, max_ttl, renew_within):
    loop = (f"while true; do etcdctl set --ttl 20 {directory}/$(hostname) "
            f"\"$COREOS_PRIVATE_IPV4:{port}\" >/dev/null; sleep 5; done")
    cluster.run_all(f"sudo systemctl stop {HEARTBEAT_UNIT} 2>/dev/null; "
                    f"sudo systemd-run --unit {HEARTBEAT_UNIT} -p EnvironmentFile=/etc/environment "
                    f"/bin/sh -c {sh_quote(loop)}")
    time.sleep(1)


@etcd_heartbeat.reset
def _(cluster, directory, port, max_ttl, renew_within):
    cluster.run_all(f"sudo systemctl stop {HEARTBEAT_UNIT} 2>/dev/null; "
                    f"sudo systemctl reset-failed {HEARTBEAT_UNIT} 2>/dev/null; true", check=False)
    any_machine(cluster).run(etcdctl2(f"rm --recursive {directory}"), check=False)


# --- a container that waits for a key -----------------------------------------------------------

@exercise("etcd-waiter", "A container that waits for a key", "02-etcd", machine=CORE_03,
          name="waiter", key="/workshop/go")
def etcd_waiter(cluster, machine, name, key):
    show = (f"%%remote {machine}\ndocker run -d --name {name} busybox wget -qO- "
            f"'http://172.17.0.1:2379/v2/keys{key}?wait=true'")
    m = cluster[machine]
    state = m.run(f"docker inspect -f '{{{{.State.Status}}}} {{{{.State.ExitCode}}}}' {name}",
                  check=False)
    if not state.ok:
        return failed(f"there is no container named {name!r} on {machine}: a container reaches "
                      f"etcd at docker0's address (step 3), and the v2 API has watches too "
                      f"(step 4: a watch is a GET that waits)", show)
    status, code = state.stdout.split()
    if status == "exited":
        node = etcd_node(cluster, key)
        logs = m.run(f"docker logs {name} 2>&1", check=False).stdout
        if node is not None and node.value.startswith("go-") and node.value in logs:
            return passed(f"{name} on {machine} waited, then printed {key} = {node.value!r} "
                          f"when it was written")
        return failed(f"{name} on {machine} has ended already (exit status {code}), before "
                      f"anything was written to {key}: it read once instead of waiting; "
                      f"`docker logs {name}` shows what it got. Remove it, run it again", show)
    if status != "running":
        return failed(f"{name} on {machine} is {status}: remove it and run it again", show)
    token = f"go-{secrets.token_hex(4)}"
    any_machine(cluster).run(etcdctl2(f"set {key} {token}"))
    stopped = settled(lambda: m.run(f"docker inspect -f '{{{{.State.Running}}}}' {name}")
                      .stdout.strip() == "false", timeout=15)
    if not stopped:
        return failed(f"the check wrote {key} = {token!r}, but {name} on {machine} is still "
                      f"running 15 s later: it does not watch {key} (is the URL right, and "
                      f"does it ask to wait?)", show)
    logs = m.run(f"docker logs {name} 2>&1", check=False).stdout
    if token not in logs:
        return failed(f"{name} ended when {key} was written, but did not print its value "
                      f"{token!r}; it printed: {logs.strip()[-120:] or 'nothing'}", show)
    return passed(f"{name} on {machine} waited; the check wrote {key} = {token!r}, and {name} "
                  f"printed it and ended")


@etcd_waiter.solution
def _(cluster, machine, name, key):
    cluster[machine].run(f"docker rm -f {name} >/dev/null 2>&1; docker run -d --name {name} "
                         f"busybox wget -qO- 'http://172.17.0.1:2379/v2/keys{key}?wait=true'")


@etcd_waiter.reset
def _(cluster, machine, name, key):
    cluster[machine].run(f"docker rm -f {name}", check=False)
    any_machine(cluster).run(etcdctl2(f"rm {key}"), check=False)


# --- repair: quorum back ------------------------------------------------------------------------

@exercise("etcd-quorum-back", "Bring the quorum back", "02-etcd", halted=(CORE_02, CORE_03))
def etcd_quorum_back(cluster, halted):
    down = [name for name, result in cluster.run_all("true", check=False).items() if not result.ok]
    show = (f"drills.resume({', '.join(repr(m) for m in down or halted)})   (in a terminal: "
            f".venv/bin/lab resume {' '.join(down or halted)})")
    if down:
        members = len(cluster.machines) - len(down)
        return failed(f"{', '.join(down)} {'is' if len(down) == 1 else 'are'} still halted: etcd "
                      f"has {members} of {len(cluster.machines)} members. The drills module "
                      f"that halted them can start them again (or the lab command, notebook "
                      f"00 step 6)", show)
    health = any_machine(cluster).run(etcdctl2("cluster-health"), check=False)
    if not health.stdout.rstrip().endswith("cluster is healthy"):
        return failed(f"every machine answers, but `etcdctl cluster-health` says: "
                      f"{health.stdout.strip().splitlines()[-1] if health.stdout.strip() else health.stderr.strip()[:120]}"
                      f" — a member that just started needs a few seconds; check again", show)
    def read_copies():
        return {name: result.stdout.strip() for name, result in
                cluster.run_all(etcdctl2(f"get {DRILL_KEY}"), check=False).items()}

    def agreed_copies():          # a member that just rejoined applies the leader's log within moments
        copies = read_copies()
        values = set(copies.values())
        return copies if len(values) == 1 and values <= {DRILL_VALUE, LATE_VALUE} else None
    copies = settled(agreed_copies, CATCH_UP_S)
    if copies is None:
        return failed(f"the cluster is healthy, but {DRILL_KEY} reads "
                      f"{', '.join(f'{v!r} on {n}' for n, v in read_copies().items())} from each "
                      f"member's own copy, not {DRILL_VALUE!r} everywhere: the break-it step "
                      f"writes it while core-02 is down; run that step first")
    late = ("; and the write that timed out with two members gone was committed after all, once "
            "there was a leader again: a timed-out write is not a failed one"
            if LATE_VALUE in copies.values() else "")
    return passed(f"all {len(copies)} members healthy, one leader; {', '.join(halted)} read "
                  f"{DRILL_KEY} = {next(iter(copies.values()))!r} from their own copy: written while "
                  f"they were down, and caught up since{late}")


@etcd_quorum_back.breaks
def _(cluster, halted):
    from labs import drills
    drills.halt(halted[0])
    any_machine(cluster).run(etcdctl2(f"set {DRILL_KEY} {sh_quote(DRILL_VALUE)}"))
    drills.halt(*halted[1:])


@etcd_quorum_back.solution
def _(cluster, halted):
    from labs import drills
    down = [name for name, result in cluster.run_all("true", check=False).items() if not result.ok]
    if down:
        drills.resume(*down)


@etcd_quorum_back.reset
def _(cluster, halted):
    """The learner's repair leaves nothing to remove; the machines are whole again already."""
