"""Helpers the exercise checks share."""

from __future__ import annotations

from labs.cluster import Cluster


def etcd_node(cluster: Cluster, key: str):
    import etcd
    try:
        return cluster.etcd().read(key)
    except etcd.EtcdKeyNotFound:
        return None


def sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
