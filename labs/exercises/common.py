"""Helpers the exercise checks share."""

from __future__ import annotations

from labs.cluster import Cluster


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
