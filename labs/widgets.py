"""Live views of the cluster for JupyterLab (ipywidgets), each with a plain-text fallback.

    from labs import widgets
    widgets.dashboard()                      # machines: up/down, IP, etcd member/leader, ...
    widgets.dashboard(auto_refresh=5)        # ... refreshed every 5 s until the widget closes
    widgets.etcd_browser("/workshop")        # the etcd tree: values, TTLs, live refresh
    widgets.bridge_diagram("core-01")        # docker0, veths and containers of one machine (SVG)

Widgets show up in JupyterLab. Where there is no widget front end (a terminal, nbval, an
exported notebook) the same object prints as text: every widget carries its text rendering as
`text/plain`, and outside a kernel (or with LABS_WIDGETS=0) the functions print text only.
The widgets themselves are in labs.widget_views, imported only where they can show.
"""

from __future__ import annotations

import html
import json
import os
import time
from dataclasses import dataclass, field

from labs import facts
from labs.cluster import Cluster, ClusterError
from labs.etcd_tree import etcd_entries, etcd_text
from labs.facts import FACTS_COMMAND, MachineFacts, MachineRow


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


# --- the dashboard -------------------------------------------------------------------------

def cluster_rows(cluster: Cluster) -> list[MachineRow]:
    """One row per machine, read live over SSH (`machine-facts` on each machine)."""
    items = []
    for name, result in cluster.run_all(FACTS_COMMAND, check=False, timeout=15).items():
        if result.error is not None:
            items.append(MachineFacts.down(name, result.error))
        else:
            problem = "" if result.ok else (result.stderr.strip()[-200:] or result.status_text())
            items.append(MachineFacts.parse(name, result.stdout, problem))
    return facts.rows(items)


def dashboard_text(rows: list[MachineRow], stamp: str = "") -> str:
    return facts.text(rows, stamp)


def dashboard_html(rows: list[MachineRow], stamp: str = "") -> str:
    cells = []
    for row in rows:
        c = [html.escape(x) for x in row.cells()]
        good = row.up and row.system == "running"
        c[1] = (f"<span style='color:{'#1a7f37' if good else '#cf222e'}'>"
                f"{'●' if row.up else '○'} {c[1]}</span>")
        if row.failed_units != "-":
            c[6] = f"<span style='color:#cf222e'>{c[6]}</span>"
        cells.append(c)
    notes = "".join(f"<div style='color:#cf222e'>{html.escape(r.machine)}: {html.escape(r.error)}</div>"
                    for r in rows if r.error)
    return _table_html(facts.HEADER, cells) + notes + (
        f"<div style='color:#777;font-size:small'>as of {html.escape(stamp)}</div>" if stamp else "")


class TextView:
    """What a widget function returns without a widget front end: prints as text."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer, cycle):
        printer.text(self.text)


def dashboard(cluster: Cluster | None = None, auto_refresh: float | None = None):
    """The cluster at a glance; a refresh button and optional auto refresh (seconds)."""
    cluster = cluster or Cluster.default()
    if not widgets_available():
        return TextView(_dashboard_now(cluster)[0])
    from labs.widget_views import Dashboard
    return Dashboard(lambda: _dashboard_now(cluster), auto_refresh)


def _dashboard_now(cluster: Cluster) -> tuple[str, str]:
    """The dashboard as text and as HTML, read now."""
    rows = cluster_rows(cluster)
    stamp = time.strftime("%H:%M:%S")
    return dashboard_text(rows, stamp), dashboard_html(rows, stamp)


# --- the etcd browser ------------------------------------------------------------------------

def etcd_browser(root: str = "/", cluster: Cluster | None = None, live: bool = True):
    """Browse etcd's keys under `root`; with live=True it follows changes (an etcd watch)."""
    cluster = cluster or Cluster.default()
    client = cluster.etcd()
    if not widgets_available():
        return TextView(etcd_text(etcd_entries(client, root)[0], root))
    from labs.widget_views import EtcdBrowser
    return EtcdBrowser(client, root, live)


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
