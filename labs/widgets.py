"""Live views of the cluster for JupyterLab (ipywidgets), each with a plain-text fallback.

    from labs import widgets
    widgets.dashboard()                      # machines: up/down, IP, etcd member/leader, ...
    widgets.dashboard(auto_refresh=5)        # ... refreshed every 5 s until the widget closes
    widgets.etcd_browser("/workshop")        # the etcd tree: values, TTLs, live refresh
    widgets.bridge_diagram("core-01")        # docker0, veths and containers of one machine (SVG)

Widgets show up in JupyterLab. Where there is no widget front end (a terminal, nbval, an
exported notebook) the same object prints as text: every widget carries its text rendering as
`text/plain`, and outside a kernel (or with LABS_WIDGETS=0) the functions print text only.

Output from button callbacks goes to the widget's own `Output` (wrapped with
`Output.capture()`); background threads (auto refresh, etcd watches) never enter an Output
context, they only set widget values or call `append_stderr`.
"""

from __future__ import annotations

import html
import json
import os
import threading
import time
from dataclasses import dataclass, field

from labs.cluster import Cluster, ClusterError

FACTS_COMMAND = "/usr/lib/coreos/machine-facts"


def widgets_available() -> bool:
    """True inside a Jupyter kernel with ipywidgets installed (and LABS_WIDGETS != 0)."""
    if os.environ.get("LABS_WIDGETS", "1") in ("0", "no", "false"):
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _table_html(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td style='padding:2px 8px'>{cell}</td>" for cell in row)
                   + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _table_text(header: list[str], rows: list[list[str]]) -> str:
    rows = [header] + rows
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


class _Poller:
    """A daemon thread calling `step()` until stopped (stop() is called when a widget closes)."""

    def __init__(self, step, on_error):
        self.step, self.on_error = step, on_error
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="labs-widget")
        self.thread.start()

    def _loop(self):
        while not self.stopped.is_set():
            try:
                self.step(self.stopped)
            except Exception as error:      # shown in the widget, the thread goes on
                self.on_error(error)
                self.stopped.wait(2)

    def stop(self):
        self.stopped.set()


# --- the dashboard -------------------------------------------------------------------------

@dataclass
class MachineRow:
    machine: str
    up: bool
    ip: str = "-"
    system: str = "-"
    etcd_member: str = "-"
    etcd_leader: str = "-"
    containers: str = "-"
    failed_units: str = "-"
    error: str = ""


def cluster_rows(cluster: Cluster) -> list[MachineRow]:
    """One row per machine, read live over SSH (`machine-facts` on each machine)."""
    results = cluster.run_all(FACTS_COMMAND, check=False, timeout=15)
    facts, rows = {}, []
    for name, result in results.items():
        if result.ok:
            try:
                facts[name] = json.loads(result.stdout)
            except ValueError:
                pass
    member_to_machine = {f.get("etcd_member"): name for name, f in facts.items() if f.get("etcd_member")}
    for name, result in results.items():
        f = facts.get(name)
        if f is None:
            rows.append(MachineRow(name, up=result.error is None, system="unknown" if result.error is None else "down",
                                   error=result.error or result.stderr.strip()[-200:] or result.status_text()))
            continue
        leader = f.get("etcd_leader") or ""
        rows.append(MachineRow(
            name, True, f.get("ip") or "-", f.get("system", "-"),
            etcd_member=("yes" if f.get("etcd_member") else "no")
            + (f" ({f.get('etcd_state', '').replace('State', '').lower()})" if f.get("etcd_state") else ""),
            etcd_leader=member_to_machine.get(leader, leader[:12] or "-"),
            containers=str(f.get("containers", 0)) if f.get("docker") else "docker down",
            failed_units=", ".join(f.get("failed_units", [])) or "-"))
    return rows


DASHBOARD_HEADER = ["machine", "state", "IP", "etcd member", "etcd leader", "containers",
                    "failed units"]


def _dashboard_cells(row: MachineRow) -> list[str]:
    state = row.system if row.up else "down"
    return [row.machine, state, row.ip, row.etcd_member, row.etcd_leader, row.containers,
            row.failed_units]


def dashboard_text(rows: list[MachineRow], stamp: str = "") -> str:
    text = _table_text(DASHBOARD_HEADER, [_dashboard_cells(r) for r in rows])
    notes = [f"{r.machine}: {r.error}" for r in rows if r.error]
    return text + ("\n" + "\n".join(notes) if notes else "") + (f"\n(as of {stamp})" if stamp else "")


def dashboard_html(rows: list[MachineRow], stamp: str = "") -> str:
    cells = []
    for row in rows:
        c = [html.escape(x) for x in _dashboard_cells(row)]
        good = row.up and row.system == "running"
        c[1] = (f"<span style='color:{'#1a7f37' if good else '#cf222e'}'>"
                f"{'●' if row.up else '○'} {c[1]}</span>")
        if row.failed_units != "-":
            c[6] = f"<span style='color:#cf222e'>{c[6]}</span>"
        cells.append(c)
    notes = "".join(f"<div style='color:#cf222e'>{html.escape(r.machine)}: {html.escape(r.error)}</div>"
                    for r in rows if r.error)
    return _table_html(DASHBOARD_HEADER, cells) + notes + (
        f"<div style='color:#777;font-size:small'>as of {html.escape(stamp)}</div>" if stamp else "")


class TextView:
    """What a widget function returns without a widget front end: prints as text."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer, cycle):
        printer.text(self.text)


def _live_box():
    """ipywidgets' VBox plus what the live widgets share: their poller stops when the widget
    closes, and their text/plain view is real text (nbval runs headless and compares it)."""
    import ipywidgets as w

    class LiveBox(w.VBox):
        poller = None

        def plain_text(self) -> str:
            raise NotImplementedError

        def close(self):
            if self.poller:
                self.poller.stop()
            super().close()

        def _repr_mimebundle_(self, **kwargs):
            bundle = super()._repr_mimebundle_(**kwargs)
            bundle["text/plain"] = self.plain_text()
            return bundle

    return LiveBox


def dashboard(cluster: Cluster | None = None, auto_refresh: float | None = None):
    """The cluster at a glance; a refresh button and optional auto refresh (seconds)."""
    cluster = cluster or Cluster.default()
    if not widgets_available():
        return TextView(dashboard_text(cluster_rows(cluster), time.strftime("%H:%M:%S")))
    return _dashboard_widget(cluster, auto_refresh)


def _dashboard_widget(cluster: Cluster, auto_refresh: float | None):
    import ipywidgets as w

    class Dashboard(_live_box()):
        def __init__(self):
            self.table = w.HTML("<i>reading the cluster …</i>")
            self.refresh_button = w.Button(description="Refresh", icon="refresh")
            self.auto = w.Checkbox(value=bool(auto_refresh), description="auto refresh",
                                   indent=False)
            self.interval = w.BoundedFloatText(value=auto_refresh or 5.0, min=1, max=3600,
                                               description="every (s)", layout=w.Layout(width="160px"))
            self.output = w.Output()
            self.text = ""
            self.poller = None
            super().__init__([w.HBox([self.refresh_button, self.auto, self.interval]),
                              self.table, self.output])
            self.refresh_button.on_click(self.output.capture()(lambda _: self.refresh()))
            self.auto.observe(self.output.capture()(lambda change: self._auto(change["new"])), "value")
            self.refresh()
            self._auto(self.auto.value)

        def refresh(self):
            rows = cluster_rows(cluster)
            stamp = time.strftime("%H:%M:%S")
            self.text = dashboard_text(rows, stamp)
            self.table.value = dashboard_html(rows, stamp)

        def _auto(self, on):
            if self.poller:
                self.poller.stop()
                self.poller = None
            if on:
                def step(stopped):
                    if not stopped.wait(max(self.interval.value, 1)):
                        self.refresh()
                self.poller = _Poller(step, lambda e: self.output.append_stderr(f"refresh failed: {e}\n"))

        def plain_text(self) -> str:
            return self.text

    return Dashboard()


# --- the etcd browser ------------------------------------------------------------------------

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


def _short(value: str | None, width: int = 60) -> str:
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
            lines.append(f"{indent}{name} = {_short(e.value)!r}" + (f"  (ttl {e.ttl} s)" if e.ttl else ""))
    return "\n".join(lines)


def etcd_browser(root: str = "/", cluster: Cluster | None = None, live: bool = True):
    """Browse etcd's keys under `root`; with live=True it follows changes (an etcd watch)."""
    cluster = cluster or Cluster.default()
    client = cluster.etcd()
    if not widgets_available():
        return TextView(etcd_text(etcd_entries(client, root)[0], root))
    return _etcd_widget(cluster, client, root, live)


def _etcd_widget(cluster: Cluster, client, root: str, live: bool):
    import etcd
    import ipywidgets as w

    class EtcdBrowser(_live_box()):
        def __init__(self):
            self.root = w.Text(value=root, description="root", continuous_update=False,
                               layout=w.Layout(width="320px"))
            self.refresh_button = w.Button(description="Refresh", icon="refresh")
            self.live = w.Checkbox(value=live, description="live", indent=False)
            self.tree = w.Select(options=[], rows=16, layout=w.Layout(width="420px"))
            self.detail = w.HTML()
            self.status = w.HTML()
            self.output = w.Output()
            self.entries: list[EtcdEntry] = []
            self.index = 0
            self.poller = None
            super().__init__([w.HBox([self.root, self.refresh_button, self.live]),
                              w.HBox([self.tree, self.detail]), self.status, self.output])
            capture = self.output.capture()
            self.refresh_button.on_click(capture(lambda _: self.refresh()))
            self.root.observe(capture(lambda _: self.refresh()), "value")
            self.tree.observe(capture(lambda change: self.show(change["new"])), "value")
            self.live.observe(capture(lambda change: self._live(change["new"])), "value")
            self.refresh()
            self._live(live)

        def refresh(self):
            self.entries, self.index = etcd_entries(client, self.root.value or "/")
            labels = []
            for i, e in enumerate(self.entries):
                name = e.key if e.depth == 0 else e.key.rsplit("/", 1)[-1]
                label = ("  " * e.depth) + (f"▸ {name}/" if e.dir else f"{name} = {_short(e.value, 30)}")
                labels.append((label + (f"  ⏱{e.ttl}s" if e.ttl else ""), i))
            selected = self.tree.value
            self.tree.options = labels
            if selected is not None and selected < len(labels):
                self.tree.value = selected
            self.status.value = (f"<span style='color:#777;font-size:small'>{len(self.entries)} "
                                 f"entries via {html.escape(client.member)}, etcd index "
                                 f"{self.index}, {time.strftime('%H:%M:%S')}</span>")
            if not self.entries:
                self.detail.value = f"<i>{html.escape(self.root.value)}: no such key</i>"

        def show(self, i):
            if i is None or i >= len(self.entries):
                return
            e = self.entries[i]
            rows = [["key", html.escape(e.key)], ["type", "directory" if e.dir else "key"]]
            if e.dir:
                rows.append(["children", str(e.children)])
            else:
                rows.append(["value", f"<pre style='margin:0'>{html.escape(e.value or '')}</pre>"])
            rows.append(["TTL", f"{e.ttl} s (when read)" if e.ttl else "none"])
            rows.append(["modifiedIndex", str(e.modified)])
            self.detail.value = "".join(f"<div><b>{k}</b>: {v}</div>" for k, v in rows)

        def _live(self, on):
            if self.poller:
                self.poller.stop()
                self.poller = None
            if not on:
                return

            def step(stopped):
                try:       # wait (at most 5 s) for anything to change under root, then re-read
                    client.watch(self.root.value or "/", index=self.index + 1, recursive=True,
                                 timeout=5)
                except etcd.EtcdWatchTimedOut:
                    return
                except etcd.EtcdEventIndexCleared:
                    pass
                except etcd.EtcdKeyNotFound:
                    stopped.wait(2)
                if not stopped.is_set():
                    self.refresh()

            self.poller = _Poller(step, lambda e: self.output.append_stderr(f"live refresh: {e}\n"))

        def plain_text(self) -> str:
            return etcd_text(self.entries, self.root.value)

    return EtcdBrowser()


# --- bridge / veth diagram -------------------------------------------------------------------

NETWORK_COMMAND = r"""ip -d -j link; echo '@@@'; ip -j addr; echo '@@@'
for c in $(docker ps -q 2>/dev/null); do
  printf '%s\t%s\t%s\t%s\n' "$c" "$(docker inspect -f '{{.Name}}' "$c")" \
    "$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$c")" \
    "$(docker exec "$c" cat /sys/class/net/eth0/iflink 2>/dev/null)"
done"""


@dataclass
class Port:
    name: str
    up: bool
    container: str = ""
    container_ip: str = ""


@dataclass
class Bridge:
    name: str
    addresses: list[str]
    up: bool
    ports: list[Port] = field(default_factory=list)


@dataclass
class Network:
    machine: str
    interfaces: list[tuple[str, list[str], bool]]      # (name, addresses, up): not bridge/port
    bridges: list[Bridge]


def parse_network(machine: str, output: str) -> Network:
    """`ip -d -j link`, `ip -j addr` and the containers' eth0 peers -> a Network."""
    parts = output.split("@@@")
    links = json.loads(parts[0] or "[]")
    addrs = json.loads(parts[1] or "[]") if len(parts) > 1 else []
    containers = {}
    for line in (parts[2] if len(parts) > 2 else "").strip().splitlines():
        fields = line.split("\t")
        if len(fields) == 4 and fields[3].strip().isdigit():
            containers[int(fields[3])] = (fields[1].lstrip("/"), fields[2].strip())
    address_of = {a["ifname"]: [f"{i['local']}/{i['prefixlen']}" for i in a.get("addr_info", [])
                                if i.get("family") == "inet"] for a in addrs}
    bridges = {l["ifname"]: Bridge(l["ifname"], address_of.get(l["ifname"], []), "UP" in l.get("flags", []))
               for l in links if l.get("linkinfo", {}).get("info_kind") == "bridge"}
    others = []
    for link in links:
        name = link["ifname"]
        up = "UP" in link.get("flags", [])
        if name in bridges or name == "lo":
            continue
        if link.get("master") in bridges:
            container, ip = containers.get(link["ifindex"], ("", ""))
            bridges[link["master"]].ports.append(Port(name, up, container, ip))
        elif link.get("linkinfo", {}).get("info_kind") != "veth" or address_of.get(name):
            others.append((name, address_of.get(name, []), up))
    return Network(machine, others, list(bridges.values()))


def network_text(net: Network) -> str:
    lines = [net.machine]
    for name, addresses, up in net.interfaces:
        lines.append(f"  {name}  {' '.join(addresses) or '(no IPv4)'}  {'UP' if up else 'DOWN'}")
    for bridge in net.bridges:
        lines.append(f"  {bridge.name} (bridge)  {' '.join(bridge.addresses) or '(no IPv4)'}  "
                     f"{'UP' if bridge.up else 'DOWN'}")
        for i, port in enumerate(bridge.ports):
            branch = "└─" if i == len(bridge.ports) - 1 else "├─"
            peer = f" ── container {port.container} ({port.container_ip or 'no IP'})" if port.container else ""
            lines.append(f"    {branch} {port.name}{peer}")
        if not bridge.ports:
            lines.append("    (no ports)")
    return "\n".join(lines)


def network_mermaid(net: Network) -> str:
    def node(text):
        return text.replace('"', "'")
    lines = ["graph TD", f'  M["{node(net.machine)}"]']
    for i, (name, addresses, _) in enumerate(net.interfaces):
        lines.append(f'  M --- I{i}["{node(name)}<br/>{node(" ".join(addresses))}"]')
    for b, bridge in enumerate(net.bridges):
        lines.append(f'  M --- B{b}["{node(bridge.name)} (bridge)<br/>{node(" ".join(bridge.addresses))}"]')
        for p, port in enumerate(bridge.ports):
            lines.append(f'  B{b} --- P{b}_{p}["{node(port.name)}"]')
            if port.container:
                lines.append(f'  P{b}_{p} -. veth pair .- C{b}_{p}["{node(port.container)}<br/>'
                             f'{node(port.container_ip)}"]')
    return "\n".join(lines)


def network_svg(net: Network) -> str:
    """A small SVG: the machine's interfaces on top, each bridge with its veths and containers."""
    box_w, box_h, gap = 150, 44, 20
    columns = max([len(b.ports) for b in net.bridges] + [len(net.interfaces), 1])
    width = max(2 * gap + columns * (box_w + gap), 420)
    parts = []
    y = 50

    def box(x, y, title, sub, colour, dashed=False):
        dash = " stroke-dasharray='4 3'" if dashed else ""
        parts.append(f"<rect x='{x}' y='{y}' width='{box_w}' height='{box_h}' rx='6' fill='{colour}' "
                     f"stroke='#444'{dash}/>"
                     f"<text x='{x + box_w / 2}' y='{y + 18}' text-anchor='middle' font-size='13' "
                     f"font-weight='bold'>{html.escape(title)}</text>"
                     f"<text x='{x + box_w / 2}' y='{y + 34}' text-anchor='middle' font-size='11'>"
                     f"{html.escape(sub)}</text>")

    def line(x1, y1, x2, y2, dashed=False):
        dash = " stroke-dasharray='4 3'" if dashed else ""
        parts.append(f"<line x1='{x1}' y1='{y1}' x2='{x2}' y2='{y2}' stroke='#444'{dash}/>")

    for i, (name, addresses, up) in enumerate(net.interfaces):
        box(gap + i * (box_w + gap), y, name, " ".join(addresses) or "(no IPv4)",
            "#dbeafe" if up else "#eee")
    if net.interfaces:
        y += box_h + 2 * gap
    for bridge in net.bridges:
        bridge_w = max(len(bridge.ports), 1) * (box_w + gap) - gap
        parts.append(f"<rect x='{gap}' y='{y}' width='{bridge_w}' height='{box_h}' rx='6' "
                     f"fill='{'#dcfce7' if bridge.up else '#eee'}' stroke='#444'/>"
                     f"<text x='{gap + bridge_w / 2}' y='{y + 18}' text-anchor='middle' font-size='13' "
                     f"font-weight='bold'>{html.escape(bridge.name)} (bridge)</text>"
                     f"<text x='{gap + bridge_w / 2}' y='{y + 34}' text-anchor='middle' font-size='11'>"
                     f"{html.escape(' '.join(bridge.addresses) or '(no IPv4)')}</text>")
        port_y = y + box_h + gap
        for p, port in enumerate(bridge.ports):
            x = gap + p * (box_w + gap)
            line(x + box_w / 2, y + box_h, x + box_w / 2, port_y)
            box(x, port_y, port.name, "veth (host end)", "#fef9c3" if port.up else "#eee")
            if port.container:
                cy = port_y + box_h + gap
                line(x + box_w / 2, port_y + box_h, x + box_w / 2, cy, dashed=True)
                box(x, cy, port.container[:20], f"eth0 {port.container_ip}", "#fae8ff", dashed=True)
        y = port_y + (2 * (box_h + gap) if any(p.container for p in bridge.ports) else
                      (box_h + gap if bridge.ports else 0)) + gap
    height = y + gap
    title = (f"<text x='{gap}' y='28' font-size='16' font-weight='bold'>{html.escape(net.machine)}"
             f"</text>")
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"font-family='sans-serif'><rect width='100%' height='100%' fill='white'/>{title}"
            + "".join(parts) + "</svg>")


class BridgeDiagram:
    """One machine's bridges, veths and containers: SVG in JupyterLab, text elsewhere."""

    def __init__(self, network: Network):
        self.network = network

    def __repr__(self) -> str:
        return network_text(self.network)

    def _repr_pretty_(self, printer, cycle):
        printer.text(network_text(self.network))

    def _repr_svg_(self) -> str:
        return network_svg(self.network)

    def mermaid(self) -> str:
        return network_mermaid(self.network)


def bridge_diagram(machine: str = "core-01", cluster: Cluster | None = None) -> BridgeDiagram:
    """Read `ip -j link`/`ip -j addr` (and the containers' veth peers) live from `machine`."""
    cluster = cluster or Cluster.default()
    result = cluster[machine].run(NETWORK_COMMAND, timeout=30)
    try:
        return BridgeDiagram(parse_network(machine, result.stdout))
    except (ValueError, KeyError) as error:
        raise ClusterError(f"could not read {machine}'s interfaces: {error}") from None
