"""Exercises of notebook 06-networking."""

from __future__ import annotations

import json

from labs.checks import exercise, failed, passed
from labs.exercises.common import etcd_node


@exercise("bridge-by-hand", "A bridge and a veth pair, by hand", "06-networking",
          machine="core-03", bridge="br-lab", address="192.168.50.1/24", netns="ns1",
          peer_address="192.168.50.2/24")
def bridge_by_hand(cluster, machine, bridge, address, netns, peer_address):
    m = cluster[machine]
    links = json.loads(m.run("ip -j -d link show").stdout or "[]")
    by_name = {link["ifname"]: link for link in links}
    if bridge not in by_name:
        return failed(f"{machine} has no interface {bridge}: "
                      f"`sudo ip link add {bridge} type bridge`")
    kind = by_name[bridge].get("linkinfo", {}).get("info_kind")
    if kind != "bridge":
        return failed(f"{bridge} on {machine} is a {kind or 'plain device'}, not a bridge")
    if "UP" not in by_name[bridge].get("flags", []):
        return failed(f"{bridge} exists but is down: `sudo ip link set {bridge} up`")
    addrs = json.loads(m.run(f"ip -j addr show dev {bridge}").stdout or "[]")
    have = [f"{a['local']}/{a['prefixlen']}" for i in addrs for a in i.get("addr_info", [])
            if a.get("family") == "inet"]
    if address not in have:
        return failed(f"{bridge} has {', '.join(have) or 'no IPv4 address'}, expected {address}: "
                      f"`sudo ip addr add {address} dev {bridge}`")
    ports = [name for name, link in by_name.items() if link.get("master") == bridge]
    if not ports:
        return failed(f"nothing is plugged into {bridge}: create a veth pair and "
                      f"`sudo ip link set <host end> master {bridge}`")
    namespaces = m.run("ip netns list", check=False).stdout
    if netns not in namespaces.split():
        return failed(f"there is no network namespace {netns} on {machine}: `sudo ip netns add {netns}`")
    ping = m.run(f"sudo ip netns exec {netns} ping -c 1 -W 2 {address.split('/')[0]}", check=False)
    if not ping.ok:
        return failed(f"from {netns}, {address.split('/')[0]} does not answer: is the namespace's "
                      f"end up with {peer_address}, and the host end up and in {bridge}?")
    return passed(f"{netns} reaches {bridge} ({address}) through {', '.join(ports)}")


@bridge_by_hand.solution
def _(cluster, machine, bridge, address, netns, peer_address):
    cluster[machine].run(f"""set -e
sudo ip netns del {netns} 2>/dev/null || true
sudo ip link del {bridge} 2>/dev/null || true
sudo ip link add {bridge} type bridge
sudo ip addr add {address} dev {bridge}
sudo ip link set {bridge} up
sudo ip netns add {netns}
sudo ip link add veth-{netns} type veth peer name ceth-{netns}
sudo ip link set veth-{netns} master {bridge} up
sudo ip link set ceth-{netns} netns {netns}
sudo ip netns exec {netns} ip addr add {peer_address} dev ceth-{netns}
sudo ip netns exec {netns} ip link set ceth-{netns} up
sudo ip netns exec {netns} ip link set lo up
""")


@bridge_by_hand.reset
def _(cluster, machine, bridge, address, netns, peer_address):
    cluster[machine].run(f"sudo ip netns del {netns}; sudo ip link del veth-{netns}; "
                         f"sudo ip link del {bridge}", check=False)


# --- the host end of a container's veth pair -------------------------------------------------

def host_end_of(machine, container: str) -> tuple[str, str | None]:
    """(peer ifindex of the container's eth0, name of the machine's interface with that index)."""
    iflink = machine.run(f"docker exec {container} cat /sys/class/net/eth0/iflink",
                         check=False).stdout.strip()
    links = json.loads(machine.run("ip -j link show").stdout or "[]")
    name = next((link["ifname"] for link in links if str(link.get("ifindex")) == iflink), None)
    return iflink, name


@exercise("net-veth", "Find the host end of a container's veth pair", "06-networking",
          machine="core-02", name="probe", key="/workshop/veth")
def net_veth(cluster, machine, name, key):
    m = cluster[machine]
    running = m.run(f"docker inspect -f '{{{{.State.Running}}}}' {name}", check=False)
    if running.stdout.strip() != "true":
        return failed(f"there is no running container named {name!r} on {machine}: on {machine}, "
                      f"`docker run -d --name {name} busybox sleep 3600`")
    iflink, host_end = host_end_of(m, name)
    if host_end is None:
        return failed(f"{machine} has no interface with the index {iflink or '?'} that {name}'s "
                      f"eth0 names as its peer: is {name} on the default bridge (no --network)?")
    node = etcd_node(cluster, key)
    if node is None:
        return failed(f"the key {key} does not exist yet: find the interface of {machine} that "
                      f"is the other end of {name}'s eth0, then `etcdctl set {key} <its name>`")
    if node.dir:
        return failed(f"{key} is a directory: `etcdctl rm --recursive {key}`, then set it to the "
                      f"interface's name")
    answer = (node.value or "").strip().split("@", 1)[0]
    if answer != host_end:
        return failed(f"{key} holds {node.value!r}, which is not the other end of {name}'s eth0 "
                      f"on {machine}: inside {name}, /sys/class/net/eth0/iflink holds the peer's "
                      f"ifindex; `ip -o link` on {machine} shows which interface has it")
    return passed(f"{key} = {host_end}: ifindex {iflink} on {machine}, the host end of {name}'s "
                  f"eth0, plugged into docker0")


@net_veth.solution
def _(cluster, machine, name, key):
    m = cluster[machine]
    m.run(f"(docker rm -f {name} >/dev/null 2>&1; true) && "
          f"docker run -d --name {name} busybox sleep 3600 >/dev/null")
    _, host_end = host_end_of(m, name)
    m.run(f"ETCDCTL_API=2 etcdctl set {key} {host_end}")


@net_veth.reset
def _(cluster, machine, name, key):
    cluster[machine].run(f"docker rm -f {name}", check=False)
    cluster[machine].run(f"ETCDCTL_API=2 etcdctl rm --recursive {key}", check=False)
