"""Exercises of notebook 06-networking."""

from __future__ import annotations

import json

import time

from labs import lesson
from labs.checks import exercise, failed, passed
from labs.exercises.common import CORE_01, CORE_02, CORE_03, any_machine, etcd_node


CLEAN = """
docker rm -f net-a net-b net-c net-web probe >/dev/null 2>&1
ip -4 addr show dev docker0 | grep -q "inet 172.17.0.1/16" || sudo ip addr add 172.17.0.1/16 dev docker0
sudo ip netns del ns1 2>/dev/null; sudo ip link del veth-ns1 2>/dev/null; sudo ip link del br-lab 2>/dev/null
rm -f /tmp/net-b-veth
true
"""


@lesson.cleanup("06-networking")
def _(cluster):
    cluster.run_all("docker info >/dev/null", timeout=60)   # starts docker (and docker0) if needed
    cluster.run_all(CLEAN, timeout=60)
    any_machine(cluster).run("ETCDCTL_API=2 etcdctl rm --recursive /workshop/veth", check=False)


@exercise("bridge-by-hand", "A bridge and a veth pair, by hand", "06-networking",
          machine=CORE_03, bridge="br-lab", address="192.168.50.1/24", netns="ns1",
          peer_address="192.168.50.2/24")
def bridge_by_hand(cluster, machine, bridge, address, netns, peer_address):
    m = cluster[machine]
    links = json.loads(m.run("ip -j -d link show").stdout or "[]")
    by_name = {link["ifname"]: link for link in links}
    if bridge not in by_name:
        return failed(f"{machine} has no interface {bridge}: step 7 lists what to build, first "
                      f"of all a bridge", f"sudo ip link add {bridge} type bridge")
    kind = by_name[bridge].get("linkinfo", {}).get("info_kind")
    if kind != "bridge":
        return failed(f"{bridge} on {machine} is a {kind or 'plain device'}, not a bridge: delete "
                      f"it and add it again with the right type", f"sudo ip link del {bridge} && "
                      f"sudo ip link add {bridge} type bridge")
    if "UP" not in by_name[bridge].get("flags", []):
        return failed(f"{bridge} exists but is down: a new interface starts down",
                      f"sudo ip link set {bridge} up")
    addrs = json.loads(m.run(f"ip -j addr show dev {bridge}").stdout or "[]")
    have = [f"{a['local']}/{a['prefixlen']}" for i in addrs for a in i.get("addr_info", [])
            if a.get("family") == "inet"]
    if address not in have:
        return failed(f"{bridge} has {', '.join(have) or 'no IPv4 address'}, expected {address} "
                      f"(the machine's own address on the bridge, as docker0 has 172.17.0.1/16)",
                      f"sudo ip addr add {address} dev {bridge}")
    ports = [name for name, link in by_name.items() if link.get("master") == bridge]
    if not ports:
        return failed(f"nothing is plugged into {bridge}: one end of a veth pair must be a port "
                      f"of it (step 7, item 4)", f"sudo ip link add veth-{netns} type veth peer "
                      f"name ceth-{netns} && sudo ip link set veth-{netns} master {bridge} up")
    namespaces = m.run("ip netns list", check=False).stdout
    if netns not in namespaces.split():
        return failed(f"there is no network namespace {netns} on {machine} (step 7, item 2)",
                      f"sudo ip netns add {netns}")
    ping = m.run(f"sudo ip netns exec {netns} ping -c 1 -W 2 {address.split('/')[0]}", check=False)
    if not ping.ok:
        return failed(f"from {netns}, {address.split('/')[0]} does not answer: look inside the "
                      f"namespace (`sudo ip netns exec {netns} ip -br addr`) and at both ends of "
                      f"the pair — an address, and up",
                      f"sudo ip link set ceth-{netns} netns {netns}; sudo ip netns exec {netns} ip "
                      f"addr add {peer_address} dev ceth-{netns}; sudo ip netns exec {netns} ip link "
                      f"set ceth-{netns} up; sudo ip link set veth-{netns} up")
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
          machine=CORE_02, name="probe", key="/workshop/veth")
def net_veth(cluster, machine, name, key):
    m = cluster[machine]
    running = m.run(f"docker inspect -f '{{{{.State.Running}}}}' {name}", check=False)
    if running.stdout.strip() != "true":
        return failed(f"there is no running container named {name!r} on {machine}: it must keep "
                      f"running while you look (notebook 03, step 2)",
                      f"%%remote {machine}\ndocker run -d --name {name} busybox sleep 3600")
    iflink, host_end = host_end_of(m, name)
    if host_end is None:
        return failed(f"{machine} has no interface with the index {iflink or '?'} that {name}'s "
                      f"eth0 names as its peer: is {name} on the default bridge (no --network)?")
    node = etcd_node(cluster, key)
    if node is None:
        return failed(f"the key {key} does not exist yet: find the interface of {machine} that "
                      f"is the other end of {name}'s eth0 (step 2), then write its name there",
                      f"peer=$(docker exec {name} cat /sys/class/net/eth0/iflink); ip -o link | "
                      f"grep \"^$peer:\"; etcdctl set {key} <that name, without @if…>")
    if node.dir:
        return failed(f"{key} is a directory, not a key", f"etcdctl rm --recursive {key}")
    answer = (node.value or "").strip().split("@", 1)[0]
    if answer != host_end:
        return failed(f"{key} holds {node.value!r}, which is not the other end of {name}'s eth0 "
                      f"on {machine}: the pair is matched by index, not by order or name (step 2)",
                      f"inside {name}, /sys/class/net/eth0/iflink holds the peer's ifindex; "
                      f"`ip -o link` on {machine} starts each line with the ifindex")
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


# --- repair: docker0 without its address ---------------------------------------------------------

DOCKER0 = "172.17.0.1/16"


@exercise("net-docker0-back", "docker0 and its containers' gateway, repaired", "06-networking",
          machine=CORE_01, container="net-a")
def net_docker0_back(cluster, machine, container):
    m = cluster[machine]
    show = f"%%remote {machine}\nsudo ip addr add {DOCKER0} dev docker0"
    running = m.run(f"docker inspect -f '{{{{.State.Running}}}}' {container}", check=False)
    if running.stdout.strip() != "true":
        return failed(f"{container} does not run on {machine} any more: the repair must keep the "
                      f"containers — a restart of docker, for one, stops them all (step 2 "
                      f"starts {container})", show)
    addrs = json.loads(m.run("ip -j addr show dev docker0").stdout or "[]")
    have = [f"{a['local']}/{a['prefixlen']}" for i in addrs for a in i.get("addr_info", [])
            if a.get("family") == "inet"]
    if DOCKER0 not in have:
        return failed(f"docker0 on {machine} has {', '.join(have) or 'no IPv4 address'}: the "
                      f"machine's place on its containers' network is the address docker gave it "
                      f"(step 1 shows it, prefix included)", show)
    route = m.run("ip route show dev docker0", check=False).stdout
    if "172.17.0.0/16" not in route:
        return failed(f"docker0 has {DOCKER0}, but {machine} has no route to 172.17.0.0/16: "
                      f"{route.strip() or 'none'}", show)
    reach = m.run(f"timeout 10 docker exec {container} wget -qO- http://172.17.0.1:2379/version",
                  check=False)
    if '"etcdserver"' not in reach.stdout:
        return failed(f"docker0 has {DOCKER0} again, but {container} does not reach etcd at "
                      f"172.17.0.1:2379: {(reach.stderr or reach.stdout).strip()[:100]}", show)
    return passed(f"docker0 on {machine} has {DOCKER0} and the route back; {container} reaches "
                  f"etcd through its gateway again: {reach.stdout.strip()[:60]}")


@net_docker0_back.breaks
def _(cluster, machine, container):
    m = cluster[machine]
    m.run(f"docker inspect {container} >/dev/null 2>&1 || docker run -d --name {container} "
          f"busybox sleep 3600")
    m.run(f"sudo ip addr del {DOCKER0} dev docker0", check=False)


@net_docker0_back.solution
def _(cluster, machine, container):
    m = cluster[machine]
    m.run(f"ip -4 addr show dev docker0 | grep -q 'inet {DOCKER0}' || "
          f"sudo ip addr add {DOCKER0} dev docker0")
    time.sleep(0.5)


@net_docker0_back.reset
def _(cluster, machine, container):
    cluster[machine].run(f"docker rm -f {container}; ip -4 addr show dev docker0 | grep -q "
                         f"'inet {DOCKER0}' || sudo ip addr add {DOCKER0} dev docker0", check=False)
