"""Fixtures for the fleet unit tests: one real etcd 3.4 (v2 API) on loopback.

Each test gets its own key prefix, so tests share the etcd process without
seeing each other's keys.
"""

import os
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid

import pytest

from labs.fleet.etcdclient import FailoverClient
from labs.fleet.registry import Registry

ETCD_BINARY = "/usr/bin/etcd"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def etcd_url(tmp_path_factory):
    """URL of a single-member etcd with the v2 API enabled, for the whole session."""
    if not os.path.exists(ETCD_BINARY):
        pytest.skip("%s is missing: the fleet registry tests need a real etcd 3.4" % ETCD_BINARY)
    client_port, peer_port = free_port(), free_port()
    client_url = "http://127.0.0.1:%d" % client_port
    peer_url = "http://127.0.0.1:%d" % peer_port
    data_dir = tmp_path_factory.mktemp("etcd")
    log_file = open(data_dir / "etcd.log", "w")
    process = subprocess.Popen(
        [ETCD_BINARY, "--name", "unit", "--data-dir", str(data_dir / "data"),
         "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
         "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
         "--initial-cluster", "unit=" + peer_url, "--enable-v2=true"],
        stdout=log_file, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(client_url + "/health", timeout=1) as response:
                if b'"health":"true"' in response.read():
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("etcd did not become healthy; see %s" % (data_dir / "etcd.log"))
        time.sleep(0.1)
    yield client_url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log_file.close()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def prefix():
    """A key prefix of this test's own."""
    return "/_test/%s/" % uuid.uuid4().hex


@pytest.fixture
def registry(etcd_url, prefix):
    return Registry(FailoverClient([etcd_url], timeout=2.0), prefix)



def pytest_configure(config):
    # python-etcd 0.4.5 calls urllib3 APIs that warn under urllib3 2.5 (still working).
    config.addinivalue_line("filterwarnings", "ignore:HTTPResponse.getheader:DeprecationWarning")


@pytest.fixture
def cluster(etcd_url, prefix):
    """An empty fleet cluster; add machines with cluster.add_machine(...)."""
    from fleet_testkit import FleetCluster

    fleet = FleetCluster(etcd_url, prefix)
    yield fleet
    fleet.stop_all()
