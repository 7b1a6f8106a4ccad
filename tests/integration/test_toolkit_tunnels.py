"""etcd and docker through the machines' SSH connections, on the live cluster."""

from __future__ import annotations

import threading

import etcd
import pytest

pytestmark = pytest.mark.integration


def test_etcd_client_reads_writes_and_ttl(cluster):
    client = cluster.etcd()
    client.write("/toolkit-test/tunnel/a", "1")
    client.write("/toolkit-test/tunnel/b", "2", ttl=120)
    node = client.read("/toolkit-test/tunnel", recursive=True, sorted=True)
    assert [(leaf.key, leaf.value) for leaf in node.leaves] == [
        ("/toolkit-test/tunnel/a", "1"), ("/toolkit-test/tunnel/b", "2")]
    assert 0 < client.read("/toolkit-test/tunnel/b").ttl <= 120
    # what one member wrote, the others serve (a quorum read: a plain one may lag the write)
    assert cluster["core-03"].run("ETCDCTL_API=2 etcdctl get --quorum /toolkit-test/tunnel/a").stdout == "1\n"
    with pytest.raises(etcd.EtcdKeyNotFound):
        client.read("/toolkit-test/tunnel/missing")
    client.delete("/toolkit-test/tunnel", recursive=True)


def test_etcd_pinned_to_a_machine(cluster):
    client = cluster.etcd("core-03", failover=False)
    client.write("/toolkit-test/pinned", "x")
    assert client.member == "core-03"
    client.delete("/toolkit-test/pinned")
    client.close()


def test_watch_sees_a_write_from_another_machine(cluster):
    client = cluster.etcd()
    try:
        client.delete("/toolkit-test/watched")
    except etcd.EtcdKeyNotFound:
        pass
    index = client.read("/").etcd_index
    seen = {}

    def watch():
        seen["node"] = client.watch("/toolkit-test/watched", index=index + 1, timeout=30)

    watcher = threading.Thread(target=watch)
    watcher.start()
    cluster["core-03"].run("ETCDCTL_API=2 etcdctl set /toolkit-test/watched from-core-03")
    watcher.join(35)
    assert seen["node"].value == "from-core-03"
    with pytest.raises(etcd.EtcdWatchTimedOut):
        client.watch("/toolkit-test/never-written", timeout=1)
    client.delete("/toolkit-test/watched")


def test_docker_sdk_on_core02_through_ssh(cluster):
    machine = cluster["core-02"]
    machine.run("true")
    connects = machine.connects
    client = cluster.docker("core-02")
    try:
        assert client.containers.run("busybox", "echo hi", remove=True) == b"hi\n"
        container = client.containers.run("busybox", "sleep 60", detach=True,
                                           name="toolkit-test-sleeper")
        try:
            assert "toolkit-test-sleeper" in machine.run("docker ps --format '{{.Names}}'").stdout
            assert client.containers.get("toolkit-test-sleeper").status == "running"
            exit_code, output = container.exec_run("hostname")
            assert exit_code == 0 and output.strip() == container.id[:12].encode()
        finally:
            container.remove(force=True)
        info = client.info()
        assert info["Name"] == "core-02"          # that machine's own daemon
    finally:
        client.close()
    assert machine.connects == connects           # channels on the one pinned connection
    # the daemon is not published on the host
    assert all("2375" not in line for line in cluster.path.read_text().splitlines())
