"""Exercise checks: look at the live cluster, say ✔ or ✘ with a specific hint.

    from labs import checks
    checks.check("etcd-key")                                    # ✔ / ✘ + hint
    checks.check("etcd-key", key="/workshop/bob", value="hi")   # exercises take parameters
    checks.progress()                                           # what this learner has done

Every exercise has a reference solution. With LABS_SOLVE=1 (set by the test suite) the
solution is applied before the check, and a check that still fails raises CheckFailed, so
CI proves both the solution and the check. Passing checks are recorded in
`<lab state dir>/progress.json` (`.lab/progress.json`, or under $LAB_HOME).
"""

from __future__ import annotations

import html
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from labs.cluster import Cluster, ClusterError

SOLVE_ENV = "LABS_SOLVE"


class CheckFailed(ClusterError):
    """A check failed although its reference solution was applied (LABS_SOLVE=1)."""


@dataclass
class Outcome:
    ok: bool
    message: str


def passed(message: str) -> Outcome:
    return Outcome(True, message)


def failed(hint: str) -> Outcome:
    return Outcome(False, hint)


@dataclass
class Exercise:
    id: str
    title: str
    notebook: str
    check: Callable[..., Outcome]            # (cluster, **params) -> Outcome
    solve: Callable[..., None]               # (cluster, **params): the reference solution
    reset: Callable[..., None]               # (cluster, **params): back to the unsolved state
    params: dict = field(default_factory=dict)


EXERCISES: dict[str, Exercise] = {}


def exercise(id: str, title: str, notebook: str, **params):
    """Register an exercise: decorate its check; attach `.solution` and `.reset` functions.

        @exercise("etcd-key", "Write a key", "02-etcd", key="/workshop/alice", value="hi")
        def etcd_key(cluster, key, value): ...
        @etcd_key.solution
        def _(cluster, key, value): ...
    """
    def register(check):
        entry = Exercise(id, title, notebook, check, _missing("solution", id),
                         _missing("reset", id), dict(params))
        EXERCISES[id] = entry

        def solution(fn):
            entry.solve = fn
            return fn

        def reset(fn):
            entry.reset = fn
            return fn

        check.solution, check.reset, check.exercise = solution, reset, entry
        return check
    return register


def _missing(what: str, id: str):
    def fail(*args, **kwargs):
        raise NotImplementedError(f"exercise {id!r} has no {what}")
    return fail


# --- running checks --------------------------------------------------------------------------

@dataclass
class CheckResult:
    exercise: Exercise
    ok: bool
    message: str
    solved_by_solution: bool = False

    def __str__(self) -> str:
        mark = "✔" if self.ok else "✘"
        return f"{mark} {self.exercise.title}: {self.message}"

    __repr__ = __str__

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))

    def _repr_html_(self) -> str:
        colour, mark = ("#1a7f37", "✔") if self.ok else ("#cf222e", "✘")
        return (f'<div style="border-left:4px solid {colour};padding:4px 10px;margin:4px 0">'
                f'<span style="color:{colour};font-weight:bold">{mark} '
                f'{html.escape(self.exercise.title)}</span><br>'
                f'<span>{html.escape(self.message)}</span></div>')


def solving() -> bool:
    return os.environ.get(SOLVE_ENV, "") not in ("", "0", "false", "no")


def check(exercise_id: str, cluster: Cluster | None = None, *, solve: bool | None = None,
          raise_on_fail: bool | None = None, record: bool = True, **params) -> CheckResult:
    """Check one exercise on the live cluster; returns a CheckResult that shows ✔ / ✘."""
    try:
        entry = EXERCISES[exercise_id]
    except KeyError:
        raise ClusterError(f"unknown exercise {exercise_id!r}",
                           f"the exercises are {', '.join(sorted(EXERCISES))}") from None
    cluster = cluster or Cluster.default()
    arguments = {**entry.params, **params}
    solve = solving() if solve is None else solve
    if solve:
        entry.solve(cluster, **arguments)
    try:
        outcome = entry.check(cluster, **arguments)
    except ClusterError as error:
        outcome = failed(f"could not check: {str(error).splitlines()[0]}")
    result = CheckResult(entry, outcome.ok, outcome.message, solve)
    if result.ok and record:
        record_progress(entry, solve)
    if not result.ok and (solve if raise_on_fail is None else raise_on_fail):
        raise CheckFailed(f"{entry.id}: the check fails even after the reference solution: "
                          f"{outcome.message}")
    return result


# --- progress --------------------------------------------------------------------------------

_progress_lock = threading.Lock()


def progress_path() -> Path:
    from labs.settings import state_dir
    return state_dir() / "progress.json"


def load_progress(path: Path | None = None) -> dict:
    path = path or progress_path()
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {"exercises": {}}


def record_progress(entry: Exercise, by_solution: bool = False, path: Path | None = None) -> None:
    path = path or progress_path()
    with _progress_lock:
        data = load_progress(path)
        data.setdefault("exercises", {})[entry.id] = {
            "title": entry.title, "notebook": entry.notebook,
            "passed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "by": "reference solution" if by_solution else "learner"}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)


@dataclass
class Progress:
    rows: list[tuple[str, str, str, bool, str]]     # notebook, id, title, done, when

    @property
    def done(self) -> int:
        return sum(1 for row in self.rows if row[3])

    def __str__(self) -> str:
        lines = [f"progress: {self.done}/{len(self.rows)} exercises done"]
        width = max((len(r[0]) for r in self.rows), default=8)
        for notebook, id, title, done, when in self.rows:
            lines.append(f"  {'✔' if done else '·'} {notebook.ljust(width)}  {title}"
                         + (f"  ({when})" if done else ""))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><td>{html.escape(nb)}</td><td>{html.escape(title)}</td>"
            f"<td style='text-align:center;color:{'#1a7f37' if done else '#999'}'>"
            f"{'✔' if done else '·'}</td><td>{html.escape(when) if done else ''}</td></tr>"
            for nb, _, title, done, when in self.rows)
        return (f"<b>{self.done}/{len(self.rows)} exercises done</b><table>"
                "<tr><th>notebook</th><th>exercise</th><th>done</th><th>when</th></tr>"
                f"{body}</table>")


def progress(path: Path | None = None) -> Progress:
    """Every exercise across the notebooks, and which ones this learner has passed."""
    done = load_progress(path).get("exercises", {})
    rows = []
    for entry in sorted(EXERCISES.values(), key=lambda e: (e.notebook, e.id)):
        record = done.get(entry.id)
        rows.append((entry.notebook, entry.id, entry.title, record is not None,
                     (record or {}).get("passed_at", "")))
    return Progress(rows)


# --- helpers for the exercises -----------------------------------------------------------------

def _etcd_node(cluster: Cluster, key: str):
    import etcd
    try:
        return cluster.etcd().read(key)
    except etcd.EtcdKeyNotFound:
        return None


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


# --- the course's exercises --------------------------------------------------------------------

@exercise("etcd-key", "Write a key into etcd", "02-etcd", key="/workshop/alice", value="hello etcd")
def etcd_key(cluster, key, value):
    node = _etcd_node(cluster, key)
    if node is None:
        return failed(f"the key {key} does not exist yet: "
                      f"`etcdctl set {key} {_sh_quote(value)}` on any machine")
    if node.dir:
        return failed(f"{key} is a directory, expected a key holding {value!r}: "
                      f"`etcdctl rmdir {key}` (or `etcdctl rm --recursive {key}`), then set it")
    if node.value != value:
        return failed(f"the key {key} exists but holds {node.value!r}, expected {value!r}")
    return passed(f"{key} holds {value!r}")


@etcd_key.solution
def _(cluster, key, value):
    cluster["core-01"].run(f"ETCDCTL_API=2 etcdctl set {key} {_sh_quote(value)}")


@etcd_key.reset
def _(cluster, key, value):
    cluster["core-01"].run(f"ETCDCTL_API=2 etcdctl rm --recursive {key}", check=False)


@exercise("etcd-ttl", "A key that expires", "02-etcd", key="/workshop/session", min_ttl=10)
def etcd_ttl(cluster, key, min_ttl):
    node = _etcd_node(cluster, key)
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


@exercise("docker-web", "Run a container on another machine", "04-docker",
          machine="core-02", name="web", image="busybox")
def docker_web(cluster, machine, name, image):
    import docker
    client = cluster.docker(machine)
    try:
        container = client.containers.get(name)
    except docker.errors.NotFound:
        return failed(f"there is no container named {name!r} on {machine}: "
                      f"`docker run -d --name {name} {image} httpd -f -p 8080` on {machine}")
    finally:
        client.close()
    tags = container.image.tags if container.image else []
    if not any(tag.split(":")[0] == image for tag in tags):
        return failed(f"the container {name!r} on {machine} runs {', '.join(tags) or 'an untagged image'}, "
                      f"expected {image}: remove it (`docker rm -f {name}`) and run it from {image}")
    if container.status != "running":
        return failed(f"the container {name!r} on {machine} exists but is {container.status}: "
                      f"its command ended; give it one that keeps running (`httpd -f -p 8080`), "
                      f"after `docker rm {name}`")
    return passed(f"{name!r} runs on {machine} ({image})")


@docker_web.solution
def _(cluster, machine, name, image):
    cluster[machine].run(f"docker rm -f {name} >/dev/null 2>&1; "
                         f"docker run -d --name {name} {image} httpd -f -p 8080")


@docker_web.reset
def _(cluster, machine, name, image):
    cluster[machine].run(f"docker rm -f {name}", check=False)


HELLO_UNIT = """[Unit]
Description=Say hello every 10 seconds

[Service]
ExecStart=/bin/sh -c 'while true; do echo hello from $(hostname); sleep 10; done'

[Install]
WantedBy=multi-user.target
"""


@exercise("systemd-hello", "Your own systemd unit", "03-systemd", machine="core-01",
          unit="hello.service")
def systemd_hello(cluster, machine, unit):
    m = cluster[machine]
    state = m.run(f"systemctl is-active {unit}", check=False).stdout.strip()
    if state == "active":
        return passed(f"{unit} is active on {machine}")
    loaded = m.run(f"systemctl show -p LoadState --value {unit}", check=False).stdout.strip()
    if loaded == "not-found":
        return failed(f"systemd on {machine} does not know {unit}: write it to "
                      f"/etc/systemd/system/{unit} (with sudo), then `sudo systemctl daemon-reload`")
    if state == "failed":
        return failed(f"{unit} on {machine} failed: read `journalctl -u {unit} -n 20`, fix "
                      f"ExecStart, then `sudo systemctl restart {unit}`")
    return failed(f"{unit} is known on {machine} but {state or 'not running'}: "
                  f"`sudo systemctl start {unit}`")


@systemd_hello.solution
def _(cluster, machine, unit):
    cluster[machine].run(f"sudo tee /etc/systemd/system/{unit} >/dev/null && "
                         f"sudo systemctl daemon-reload && sudo systemctl restart {unit}",
                         input=HELLO_UNIT)


@systemd_hello.reset
def _(cluster, machine, unit):
    cluster[machine].run(f"sudo systemctl stop {unit}; sudo rm -f /etc/systemd/system/{unit}; "
                         f"sudo systemctl daemon-reload; sudo systemctl reset-failed {unit}",
                         check=False)


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
