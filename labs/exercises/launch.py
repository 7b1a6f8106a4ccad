"""Exercises of notebooks 00-welcome (getting around the lab) and 01-vagrant (launching it)."""

from __future__ import annotations

import json
from pathlib import Path

from labs.checks import exercise, failed, passed
from labs.cluster import Cluster, ClusterError
from labs.exercises.common import etcd_node, sh_quote

# --- helpers the notebooks use too ------------------------------------------------------------

def machine_ids(cluster: Cluster) -> dict[str, str]:
    """{machine: its /etc/machine-id}, in machine order."""
    return {name: result.stdout.strip()
            for name, result in cluster.run_all("cat /etc/machine-id").items()}


def mystery_machine(cluster: Cluster) -> str:
    """The machine 00-welcome asks about: the middle one when sorted by machine-id."""
    ids = machine_ids(cluster)
    ordered = sorted(ids, key=ids.get)
    return ordered[len(ordered) // 2]


def mystery_machine_id(cluster: Cluster | None = None) -> str:
    """The machine-id the learner has to find a machine for (not the machine's name)."""
    cluster = cluster or Cluster.default()
    return machine_ids(cluster)[mystery_machine(cluster)]


STATS_COMMAND = "curl -s --max-time 3 http://127.0.0.1:2379/v2/stats/self"


def etcd_leader(cluster: Cluster) -> str:
    """The machine whose etcd member leads right now, as the members themselves report it."""
    stats = {}
    for name, result in cluster.run_all(STATS_COMMAND, check=False, timeout=10).items():
        try:
            stats[name] = json.loads(result.stdout) if result.ok else None
        except ValueError:
            stats[name] = None
    by_member_id = {s["id"]: name for name, s in stats.items() if s and s.get("id")}
    leaders = {s.get("leaderInfo", {}).get("leader") for s in stats.values() if s}
    leaders.discard(None)
    leaders.discard("")
    if len(leaders) != 1 or next(iter(leaders)) not in by_member_id:
        raise ClusterError("the etcd members do not agree on a leader right now",
                           "see `lab status`; wait a few seconds and check again")
    return by_member_id[leaders.pop()]


def exercise_dir() -> Path:
    """Where the launch exercises keep their files: `<lab state dir>/exercises/`."""
    from labs.settings import state_dir
    return state_dir() / "exercises"


def user_data_path(name: str) -> Path:
    return exercise_dir() / name


# --- 00-welcome: a file on another machine ----------------------------------------------------

@exercise("welcome-file", "Create a file on core-02", "00-welcome", machine="core-02",
          path="/home/core/hello.txt", content="hello from core-02")
def welcome_file(cluster, machine, path, content):
    here = cluster[machine].run(f"cat {path}", check=False)
    if here.ok:
        if here.stdout.rstrip("\n") == content:
            return passed(f"{path} on {machine} holds {content!r}")
        return failed(f"{path} exists on {machine} but holds {here.stdout.rstrip()!r}, expected "
                      f"{content!r}: write it again (`echo '{content}' > {path}`)")
    elsewhere = [name for name, result in
                 cluster.run_all(f"test -e {path}", check=False).items() if result.ok]
    if elsewhere:
        return failed(f"{path} exists on {', '.join(elsewhere)}, but not on {machine}: the first "
                      f"line of the cell names the machine it runs on (`%%remote {machine}`)")
    return failed(f"there is no {path} on {machine} yet: a cell `%%remote {machine}` with "
                  f"`echo '{content}' > {path}`")


@welcome_file.solution
def _(cluster, machine, path, content):
    cluster[machine].run(f"echo {sh_quote(content)} > {path}")


@welcome_file.reset
def _(cluster, machine, path, content):
    cluster.run_all(f"rm -f {path}", check=False)


# --- 00-welcome: which machine is it? ---------------------------------------------------------

@exercise("welcome-find-machine", "Find a machine by its machine-id", "00-welcome",
          path="/home/core/found-me")
def welcome_find_machine(cluster, path):
    target = mystery_machine(cluster)
    wanted = machine_ids(cluster)[target]
    have = [name for name, result in
            cluster.run_all(f"test -e {path}", check=False).items() if result.ok]
    wrong = [name for name in have if name != target]
    if wrong:
        return failed(f"{path} is on {', '.join(wrong)}, whose machine-id is not {wanted}: "
                      f"remove it there (`rm {path}`), and compare the ids again")
    if target not in have:
        return failed(f"no machine has {path} yet: find the machine whose /etc/machine-id is "
                      f"{wanted} (`%%remote all` runs `cat /etc/machine-id` everywhere), then "
                      f"`touch {path}` on it")
    return passed(f"{path} is on {target}, the machine with machine-id {wanted}")


@welcome_find_machine.solution
def _(cluster, path):
    target = mystery_machine(cluster)
    for name in cluster.machines:
        cluster[name].run(f"touch {path}" if name == target else f"rm -f {path}")


@welcome_find_machine.reset
def _(cluster, path):
    cluster.run_all(f"rm -f {path}", check=False)


# --- 01-vagrant: fix a broken user-data -------------------------------------------------------

# A correct vagrant/user-data, and the broken copy the learner fixes: three mistakes of the
# kind people made in 2015 (the discovery placeholder copied verbatim, a misspelt key, and a
# unit command systemd does not have).
FIXED_USER_DATA = """\
#cloud-config

coreos:
  etcd2:
    # config.rb writes a fresh discovery URL here on every `vagrant up`
    advertise-client-urls: http://$public_ipv4:2379
    initial-advertise-peer-urls: http://$private_ipv4:2380
    listen-client-urls: http://0.0.0.0:2379,http://0.0.0.0:4001
    listen-peer-urls: http://$private_ipv4:2380
  fleet:
    public-ip: $public_ipv4
  units:
    - name: etcd2.service
      command: start
    - name: fleet.service
      command: start
"""

BROKEN_USER_DATA = (FIXED_USER_DATA
                    .replace("    # config.rb writes a fresh discovery URL here on every `vagrant up`\n",
                             "    discovery: https://discovery.etcd.io/<token>\n")
                    .replace("listen-client-urls:", "listen-client-url:")
                    .replace("fleet.service\n      command: start", "fleet.service\n      command: launch"))


def write_broken_user_data() -> Path:
    """The broken copy the notebook validates: `<lab state dir>/exercises/user-data.broken`."""
    path = user_data_path("user-data.broken")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BROKEN_USER_DATA)
    return path


@exercise("launch-user-data", "Fix a broken cloud-config", "01-vagrant", file="user-data.fixed")
def launch_user_data(cluster, file):
    from labs import cloudconfig
    path = user_data_path(file)
    if not path.exists():
        return failed(f"there is no {path} yet: fix the lines of the `%%writefile` cell, then "
                      f"run it")
    text = path.read_text()
    entries = cloudconfig.validate(text)
    if entries:
        return failed(f"`lab validate {path}` still reports: "
                      + "; ".join(str(entry) for entry in entries))
    coreos = cloudconfig.parse(text).get("coreos", {})
    commands = {unit.get("name"): unit.get("command") for unit in coreos.get("units", [])}
    for unit in ("etcd2.service", "fleet.service"):
        if commands.get(unit) != "start":
            return failed(f"{path} is valid, but no longer starts {unit}: keep its unit entry "
                          f"with `command: start`")
    listen = coreos.get("etcd2", {}).get("listen_client_urls", "")
    if ":2379" not in listen or ":4001" not in listen:
        return failed(f"{path} is valid, but etcd2 no longer listens for clients on 2379 and "
                      f"4001: keep `listen-client-urls: http://0.0.0.0:2379,http://0.0.0.0:4001`")
    return passed(f"{path} is valid and still starts etcd2 and fleet, clients on 2379 and 4001")


@launch_user_data.solution
def _(cluster, file):
    path = user_data_path(file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FIXED_USER_DATA)


@launch_user_data.reset
def _(cluster, file):
    user_data_path(file).unlink(missing_ok=True)


# --- 01-vagrant: who leads? -------------------------------------------------------------------

@exercise("launch-leader", "Find the etcd leader", "01-vagrant", key="/workshop/leader")
def launch_leader(cluster, key):
    leader = etcd_leader(cluster)
    node = etcd_node(cluster, key)
    if node is None:
        return failed(f"there is no key {key} yet: find the leader (`etcdctl member list` marks "
                      f"it isLeader=true), then `etcdctl set {key} <its hostname>`")
    if node.dir:
        return failed(f"{key} is a directory: `etcdctl rm --recursive {key}`, then set it as a key")
    value = (node.value or "").strip()
    if value == leader:
        return passed(f"{key} names {leader}, the etcd leader right now")
    ids = machine_ids(cluster)
    owner = next((name for name, machine_id in ids.items() if machine_id == value), None)
    if owner is not None:
        return failed(f"{key} holds a machine-id (member names are machine-ids here): "
                      f"which machine has it? Store that machine's hostname")
    if value in cluster.machines:
        return failed(f"{key} names {value}, but the leader right now is another machine: read "
                      f"`etcdctl member list` again (leadership can move)")
    return failed(f"{key} holds {value!r}; expected the leader's hostname, such as core-01")


@launch_leader.solution
def _(cluster, key):
    leader = etcd_leader(cluster)
    cluster["core-01"].run(f"ETCDCTL_API=2 etcdctl set {key} {leader}")


@launch_leader.reset
def _(cluster, key):
    cluster["core-01"].run(f"ETCDCTL_API=2 etcdctl rm {key}", check=False)
