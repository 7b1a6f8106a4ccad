"""etcd's keys under a directory, as the etcd browser lists them (entries and plain text)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EtcdEntry:
    key: str
    depth: int
    dir: bool
    value: str | None = None
    ttl: int | None = None
    modified: int | None = None
    children: int = 0


def etcd_entries(client, root: str = "/") -> tuple[list[EtcdEntry], int]:
    """The tree under root, depth first and sorted, plus etcd's index at reading time."""
    import etcd
    try:
        result = client.read(root, recursive=True, sorted=True)
    except etcd.EtcdKeyNotFound:
        return [], 0
    base = 0 if root.rstrip("/") == "" else root.rstrip("/").count("/")
    entries: list[EtcdEntry] = []

    def walk(node):
        key = node.get("key", "/")
        depth = key.rstrip("/").count("/") - base
        nodes = node.get("nodes", []) or []
        entries.append(EtcdEntry(key, depth, bool(node.get("dir")), node.get("value"),
                                 node.get("ttl"), node.get("modifiedIndex"), len(nodes)))
        for child in sorted(nodes, key=lambda n: n["key"]):
            walk(child)

    top = {"key": result.key or "/", "dir": result.dir, "value": None if result.dir else result.value,
           "ttl": result.ttl, "modifiedIndex": result.modifiedIndex, "nodes": result._children}
    walk(top)
    return entries, int(result.etcd_index or 0)


def shorten(value: str | None, width: int = 60) -> str:
    text = (value or "").replace("\n", "⏎")
    return text if len(text) <= width else text[: width - 1] + "…"


def etcd_text(entries: list[EtcdEntry], root: str) -> str:
    if not entries:
        return f"{root}: no such key"
    lines = []
    for e in entries:
        name = e.key if e.depth == 0 else e.key.rsplit("/", 1)[-1]
        indent = "  " * e.depth
        if e.dir:
            lines.append(f"{indent}{name.rstrip('/')}/" + (f"  (ttl {e.ttl} s)" if e.ttl else ""))
        else:
            lines.append(f"{indent}{name} = {shorten(e.value)!r}" + (f"  (ttl {e.ttl} s)" if e.ttl else ""))
    return "\n".join(lines)
