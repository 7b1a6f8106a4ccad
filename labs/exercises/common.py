"""What the exercise checks share: the machines' names, their IDs, etcd reads, the etcd leader."""

from __future__ import annotations

import json
import time

from labs.cluster import Cluster, ClusterError

# The machines as coreos-vagrant named them ("%s-%02d" % [$instance_name_prefix, i]): the one
# place the exercises' texts take a machine's name from. Checks that run "on any machine"
# use cluster.machines instead.
MACHINES = ("core-01", "core-02", "core-03")
CORE_01, CORE_02, CORE_03 = MACHINES


def any_machine(cluster: Cluster):
    """A machine to run cluster-wide commands on (etcdctl, fleetctl): the first one."""
    return cluster[cluster.machines[0]]


def etcd_node(cluster: Cluster, key: str):
    """The key's node as the cluster agrees on it (a quorum read: a member's own copy may lag
    behind a write made through another member), or None."""
    import etcd
    try:
        return cluster.etcd().read(key, quorum=True)
    except etcd.EtcdKeyNotFound:
        return None


def sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def machine_ids(cluster: Cluster) -> dict[str, str]:
    """{machine: its /etc/machine-id}, in machine order."""
    return {name: result.stdout.strip()
            for name, result in cluster.run_all("cat /etc/machine-id").items()}


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


def private_ips(cluster: Cluster) -> dict[str, str]:
    """Each machine's COREOS_PRIVATE_IPV4, as /etc/environment has it."""
    results = cluster.run_all("sed -n 's/^COREOS_PRIVATE_IPV4=//p' /etc/environment")
    return {machine: result.stdout.strip() for machine, result in results.items()}


def settled(condition, timeout: float, interval: float = 0.5):
    """`condition()` once true, or its last (false) value after `timeout` seconds: for a
    state that needs a moment to settle (a check reports what it found, it does not raise)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
