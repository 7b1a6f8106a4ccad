"""A machine's health as one JSON object (`/usr/lib/coreos/machine-facts`), and the one rule
that calls it healthy. Runs on the machine; `labs.facts` judges what it printed by the same rule.

`--wait MEMBERS` (what `lab up`, `reset` and `resume` use) keeps looking on the machine until
it is healthy in a cluster of MEMBERS, or `--timeout` passes, then prints the facts once: the
lab waits on the condition where it happens instead of polling every machine from the host.
Stdlib only.
"""

import argparse
import json
import subprocess
import time
import urllib.request

WAIT_INTERVAL_S = 0.25


def healthy(facts: dict, expected_members: int) -> bool:
    """systemd up (a unit the learner left failed, "degraded", is theirs to see, not a broken
    machine), etcd with every member and a leader, docker with busybox."""
    return (facts.get("system") in ("running", "degraded") and facts.get("etcd_members") == expected_members
            and bool(facts.get("etcd_leader")) and facts.get("docker") is True and facts.get("busybox") is True)


def run(*cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    return result.stdout.strip()


def etcd(path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:2379{path}", timeout=2) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


def environment():
    values = {}
    with open("/etc/environment") as lines:
        for line in lines:
            key, _, value = line.strip().partition("=")
            if value and not key.startswith("#"):
                values[key] = value
    return values


def gather() -> dict:
    # docker is socket-activated: touch it only once cloud-config has started docker-tcp.socket,
    # or docker would start without the TCP socket. That is before etcd has formed (cloud-config
    # queues its starts, and a forming etcd holds a request until it serves), so docker and its
    # busybox image get ready while etcd's members find each other. A user-data without
    # docker-tcp.socket: once etcd answers, as cloud-config has run by then.
    touched = run("systemctl", "is-active", "docker-tcp.socket") == "active"
    if touched:
        run("docker", "version")
    stats = etcd("/v2/stats/self") or {}
    if stats and not touched:
        run("docker", "version")
    members = (etcd("/v2/members") or {}).get("members", [])
    leader_id = stats.get("leaderInfo", {}).get("leader", "")
    leader = next((m["name"] for m in members if m.get("id") == leader_id), leader_id)
    docker_active = run("systemctl", "is-active", "docker") == "active"
    return {
        "system": run("systemctl", "is-system-running"),
        "failed_units": [line.split()[0] for line in run(
            "systemctl", "list-units", "--failed", "--plain", "--no-legend").splitlines()],
        "ip": environment().get("COREOS_PRIVATE_IPV4", ""),
        "machine_id": open("/etc/machine-id").read().strip(),
        "etcd_member": stats.get("name", ""),
        "etcd_state": stats.get("state", ""),
        "etcd_leader": leader,
        "etcd_members": len(members),
        "docker": docker_active,
        "containers": len(run("docker", "ps", "-q").split()) if docker_active else 0,
        "busybox": bool(run("docker", "images", "-q", "busybox")) if docker_active else False,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="machine-facts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--wait", type=int, metavar="MEMBERS",
                        help="first wait until healthy in a cluster of MEMBERS machines")
    parser.add_argument("--timeout", type=float, default=180.0, help="the longest --wait (seconds)")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.timeout
    facts = gather()
    while args.wait and not healthy(facts, args.wait) and time.monotonic() < deadline:
        time.sleep(WAIT_INTERVAL_S)
        facts = gather()
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
