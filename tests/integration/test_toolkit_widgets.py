"""The widgets' data, read live (their text renderings; the widgets run in test_toolkit_notebook)."""

from __future__ import annotations

import pytest

from labs import widgets
from labs.polling import wait_for

pytestmark = pytest.mark.integration


def test_dashboard_rows(cluster):
    rows = widgets.cluster_rows(cluster)
    assert [r.machine for r in rows] == ["core-01", "core-02", "core-03"]
    # "degraded": a unit an earlier test or notebook left failed on this lab (lab health
    # allows it; the table shows it in its own column)
    assert all(r.up and r.system in ("running", "degraded") for r in rows), widgets.dashboard_text(rows)
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


@pytest.fixture
def as_in_jupyter(monkeypatch):
    """ipywidgets objects work without a front end; pretend we are in a kernel."""
    monkeypatch.setattr(widgets, "widgets_available", lambda: True)


def test_dashboard_widget_auto_refresh_stops_when_closed(cluster, as_in_jupyter):
    board = widgets.dashboard(cluster, auto_refresh=1)
    try:
        first = board.table.value
        assert "core-03" in first and board.poller.thread.is_alive()
        bundle = board._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        assert "core-01" in bundle["text/plain"]
        wait_for(lambda: board.table.value != first, 15, "an automatic refresh")
        board.auto.value = False                     # the checkbox stops it too
        assert board.poller is None
        board.auto.value = True
        thread = board.poller.thread
    finally:
        board.close()
    thread.join(5)
    assert not thread.is_alive()


def test_etcd_browser_follows_changes_live(cluster, as_in_jupyter):
    client = cluster.etcd()
    client.write("/toolkit-test/live/first", "1")
    browser = widgets.etcd_browser("/toolkit-test/live", cluster)
    try:
        assert [label for label, _ in browser.tree.options][1].strip() == "first = 1"
        cluster["core-03"].run("ETCDCTL_API=2 etcdctl set --ttl 60 /toolkit-test/live/second 2")
        wait_for(lambda: any("second" in label for label, _ in browser.tree.options), 15,
                 "the browser to show a key written on core-03")
        index = next(i for label, i in browser.tree.options if "second" in label)
        browser.tree.value = index
        assert "TTL</b>: " in browser.detail.value and "/toolkit-test/live/second" in browser.detail.value
        thread = browser.poller.thread
    finally:
        browser.close()
        client.delete("/toolkit-test/live", recursive=True)
    thread.join(10)
    assert not thread.is_alive()
