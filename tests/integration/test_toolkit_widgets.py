"""The widgets' data, read live (their text renderings; the widgets run in test_toolkit_notebook)."""

from __future__ import annotations

import pytest

from labs import widgets
from tests.integration.toolkit_fixtures import cluster  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


def test_dashboard_rows(cluster):
    rows = widgets.cluster_rows(cluster)
    assert [r.machine for r in rows] == ["core-01", "core-02", "core-03"]
    assert all(r.up and r.system == "running" for r in rows)
    leaders = {r.etcd_leader for r in rows}
    assert len(leaders) == 1 and leaders <= set(cluster.machines)
    assert rows[0].ip.count(".") == 3
    text = widgets.dashboard(cluster)
    assert "core-02" in repr(text) and "etcd leader" in repr(text)


def test_bridge_diagram_shows_a_container_on_docker0(cluster):
    machine = cluster["core-02"]
    machine.run("docker rm -f toolkit-diagram >/dev/null 2>&1; "
                "docker run -d --name toolkit-diagram busybox sleep 120")
    try:
        diagram = widgets.bridge_diagram("core-02", cluster)
        docker0 = next(b for b in diagram.network.bridges if b.name == "docker0")
        assert docker0.addresses == ["172.17.0.1/16"]
        port = next(p for p in docker0.ports if p.container == "toolkit-diagram")
        assert port.name.startswith("veth") and port.container_ip.startswith("172.17.")
        assert "toolkit-diagram" in diagram._repr_svg_() and "toolkit-diagram" in diagram.mermaid()
        assert "eth0" in repr(diagram)
    finally:
        machine.run("docker rm -f toolkit-diagram", check=False)


def test_etcd_browser_text(cluster):
    client = cluster.etcd()
    client.write("/toolkit-test/browse/a", "1")
    client.write("/toolkit-test/browse/dir/b", "2", ttl=100)
    try:
        text = repr(widgets.etcd_browser("/toolkit-test/browse", cluster))
        assert text.splitlines()[0] == "/toolkit-test/browse/"
        assert "  a = '1'" in text and "    b = '2'  (ttl " in text
        assert repr(widgets.etcd_browser("/toolkit-test/nothing", cluster)).endswith("no such key")
    finally:
        client.delete("/toolkit-test/browse", recursive=True)
