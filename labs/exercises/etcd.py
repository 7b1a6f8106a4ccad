"""Exercises of notebook 02-etcd."""

from __future__ import annotations

from labs.checks import exercise, failed, passed
from labs.exercises.common import etcd_node, sh_quote


@exercise("etcd-key", "Write a key into etcd", "02-etcd", key="/workshop/alice", value="hello etcd")
def etcd_key(cluster, key, value):
    node = etcd_node(cluster, key)
    if node is None:
        return failed(f"the key {key} does not exist yet: "
                      f"`etcdctl set {key} {sh_quote(value)}` on any machine")
    if node.dir:
        return failed(f"{key} is a directory, expected a key holding {value!r}: "
                      f"`etcdctl rmdir {key}` (or `etcdctl rm --recursive {key}`), then set it")
    if node.value != value:
        return failed(f"the key {key} exists but holds {node.value!r}, expected {value!r}")
    return passed(f"{key} holds {value!r}")


@etcd_key.solution
def _(cluster, key, value):
    cluster["core-01"].run(f"ETCDCTL_API=2 etcdctl set {key} {sh_quote(value)}")


@etcd_key.reset
def _(cluster, key, value):
    cluster["core-01"].run(f"ETCDCTL_API=2 etcdctl rm --recursive {key}", check=False)


@exercise("etcd-services", "Every machine registers its web service", "02-etcd",
          directory="/workshop/web", port=8080)
def etcd_services(cluster, directory, port):
    addresses = private_ips(cluster)
    missing, wrong, found = [], [], []
    for machine, ip in addresses.items():
        key, expected = f"{directory}/{machine}", f"{ip}:{port}"
        node = etcd_node(cluster, key)
        if node is None:
            missing.append(machine)
        elif node.dir or node.value != expected:
            wrong.append(f"{key} holds {'a directory' if node.dir else repr(node.value)}, "
                         f"expected {expected!r}")
        else:
            found.append(f"{machine}={expected}")
    if missing == list(addresses):
        return failed(f"nothing is registered under {directory} yet: on every machine "
                      f"(`%%remote all`), `etcdctl set {directory}/$(hostname) "
                      f"\"$COREOS_PRIVATE_IPV4:{port}\"`")
    if wrong:
        return failed("; ".join(wrong) + ": `$COREOS_PRIVATE_IPV4` is the machine's own address")
    if missing:
        return failed(f"{', '.join(missing)} did not register: {directory} has only "
                      f"{', '.join(found)}; run the `etcdctl set` on every machine (`%%remote all`)")
    return passed(f"{len(found)} instances registered under {directory}: {', '.join(found)}")


def private_ips(cluster) -> dict[str, str]:
    """Each machine's COREOS_PRIVATE_IPV4, as /etc/environment has it."""
    results = cluster.run_all("sed -n 's/^COREOS_PRIVATE_IPV4=//p' /etc/environment")
    return {machine: result.stdout.strip() for machine, result in results.items()}


@etcd_services.solution
def _(cluster, directory, port):
    cluster.run_all(f"ETCDCTL_API=2 etcdctl set {directory}/$(hostname) "
                    f"\"$COREOS_PRIVATE_IPV4:{port}\"")


@etcd_services.reset
def _(cluster, directory, port):
    cluster["core-01"].run(f"ETCDCTL_API=2 etcdctl rm --recursive {directory}", check=False)


@exercise("etcd-ttl", "A key that expires", "02-etcd", key="/workshop/session", min_ttl=10)
def etcd_ttl(cluster, key, min_ttl):
    node = etcd_node(cluster, key)
    if node is None:
        return failed(f"there is no key {key} (or its TTL ran out already): "
                      f"`etcdctl set --ttl 300 {key} active`")
    if node.ttl is None:
        return failed(f"the key {key} exists but never expires (no TTL): set it again with "
                      f"`--ttl 300`, or `etcdctl update --ttl 300 {key} {node.value}`")
    if node.ttl < min_ttl:
        return failed(f"the key {key} expires in {node.ttl} s, too soon to check: "
                      f"give it a TTL of at least {min_ttl} s")
    return passed(f"{key} expires in {node.ttl} s")


@etcd_ttl.solution
def _(cluster, key, min_ttl):
    cluster["core-02"].run(f"ETCDCTL_API=2 etcdctl set --ttl 300 {key} active")


@etcd_ttl.reset
def _(cluster, key, min_ttl):
    cluster["core-02"].run(f"ETCDCTL_API=2 etcdctl rm {key}", check=False)
