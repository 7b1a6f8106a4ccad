"""Widget data and renderings, and exercise progress, without a cluster."""

import json
import xml.etree.ElementTree as ET

from labs import checks, etcd_tree, widgets

LINKS = [
    {"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP"]},
    {"ifindex": 2, "ifname": "docker0", "flags": ["UP"], "linkinfo": {"info_kind": "bridge"}},
    {"ifindex": 9, "ifname": "eth0", "flags": ["UP"], "linkinfo": {"info_kind": "veth"}},
    {"ifindex": 11, "ifname": "veth1a", "flags": ["UP"], "master": "docker0",
     "linkinfo": {"info_kind": "veth"}},
    {"ifindex": 12, "ifname": "veth2b", "flags": [], "master": "docker0",
     "linkinfo": {"info_kind": "veth"}},
]
ADDRS = [{"ifname": "docker0", "addr_info": [{"family": "inet", "local": "172.17.0.1", "prefixlen": 16},
                                             {"family": "inet6", "local": "fe80::1", "prefixlen": 64}]},
         {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "10.1.2.101", "prefixlen": 24}]}]
CONTAINERS = "abc\t/web\t172.17.0.2 \t11\nxyz\t/broken\t\t\n"
OUTPUT = json.dumps(LINKS) + "\n@@@\n" + json.dumps(ADDRS) + "\n@@@\n" + CONTAINERS


def test_parse_network():
    net = widgets.parse_network("core-01", OUTPUT)
    assert net.interfaces == [("eth0", ["10.1.2.101/24"], True)]
    (bridge,) = net.bridges
    assert (bridge.name, bridge.addresses, bridge.up) == ("docker0", ["172.17.0.1/16"], True)
    assert [(p.name, p.up, p.container, p.container_ip) for p in bridge.ports] == [
        ("veth1a", True, "web", "172.17.0.2"), ("veth2b", False, "", "")]


def test_network_renderings():
    net = widgets.parse_network("core-01", OUTPUT)
    text = widgets.network_text(net)
    assert "docker0 (bridge)  172.17.0.1/16  UP" in text
    assert "├─ veth1a ── container web (172.17.0.2)" in text and "└─ veth2b" in text
    svg = widgets.network_svg(net)
    assert ET.fromstring(svg).tag.endswith("svg")          # well-formed
    assert "web" in svg and "veth2b" in svg
    mermaid = widgets.network_mermaid(net)
    assert mermaid.startswith("graph TD") and "veth pair" in mermaid
    diagram = widgets.BridgeDiagram(net)
    assert repr(diagram) == text and diagram._repr_svg_() == svg


def test_dashboard_text_and_html():
    rows = [widgets.MachineRow("core-01", True, "10.0.0.1", "running", "yes (leader)", "core-01", "2", "-"),
            widgets.MachineRow("core-02", False, system="down", error="not reachable")]
    text = widgets.dashboard_text(rows, "12:00:00")
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["machine", "state", "IP"]
    assert lines[1].split()[:3] == ["core-01", "running", "10.0.0.1"]
    assert lines[2].split()[:2] == ["core-02", "down"]
    assert "core-02: not reachable" in text and "(as of 12:00:00)" in text
    assert "○ down" in widgets.dashboard_html(rows)


def test_etcd_text():
    entries = [etcd_tree.EtcdEntry("/workshop", 0, True, children=2),
               etcd_tree.EtcdEntry("/workshop/alice", 1, False, "hi"),
               etcd_tree.EtcdEntry("/workshop/tmp", 1, True, ttl=30)]
    assert etcd_tree.etcd_text(entries, "/workshop") == "/workshop/\n  alice = 'hi'\n  tmp/  (ttl 30 s)"
    assert etcd_tree.etcd_text([], "/x") == "/x: no such key"


def test_widgets_unavailable_outside_a_kernel(monkeypatch):
    assert not widgets.widgets_available()
    monkeypatch.setenv("LABS_WIDGETS", "0")
    assert not widgets.widgets_available()


def test_progress_recording_and_table(tmp_path):
    path = tmp_path / "progress.json"
    assert checks.progress(path).done == 0
    entry = checks.EXERCISES["etcd-json"]
    checks.record_progress(entry, path=path)
    data = json.loads(path.read_text())
    assert data["exercises"]["etcd-json"]["by"] == "learner"
    table = checks.progress(path)
    assert table.done == 1 and len(table.rows) == len(checks.EXERCISES)
    assert "✔ 02-etcd" in str(table) and "<table>" in table._repr_html_()


def test_check_result_renders(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_HOME", str(tmp_path))
    monkeypatch.delenv(checks.SOLVE_ENV, raising=False)
    calls = []
    monkeypatch.setitem(checks.EXERCISES, "fake", checks.Exercise(
        "fake", "A fake exercise", "00-test",
        check=lambda cluster, n: checks.passed("ok") if calls else checks.failed(f"not yet {n}"),
        solve=lambda cluster, n: calls.append(n), reset=lambda cluster, n: None, params={"n": 1}))
    result = checks.check("fake", cluster=object())
    assert str(result) == "✘ A fake exercise: not yet 1" and "✘" in result._repr_html_()
    assert not (tmp_path / "progress.json").exists()
    monkeypatch.setenv(checks.SOLVE_ENV, "1")
    result = checks.check("fake", cluster=object(), n=2)
    assert result.ok and calls == [2] and (tmp_path / "progress.json").exists()
