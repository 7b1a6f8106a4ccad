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
