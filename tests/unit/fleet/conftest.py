"""Fixtures for the fleet unit tests: one real etcd 3.4 (v2 API) on loopback.

Each test gets its own key prefix, so tests share the etcd process without
seeing each other's keys.
"""

import uuid

import pytest

from fleet_testkit import start_etcd, stop_etcd
from labs.node.fleet.etcdclient import FailoverClient
from labs.node.fleet.registry import Registry


@pytest.fixture(scope="session")
def etcd_url(tmp_path_factory):
    """URL of a single-member etcd with the v2 API enabled, for the whole session."""
    data_dir = tmp_path_factory.mktemp("etcd")
    client_url, process, log_file = start_etcd(data_dir)
    yield client_url
    stop_etcd(process, log_file, data_dir)


@pytest.fixture(scope="session")
def tls_etcd(tmp_path_factory):
    """An etcd serving https that requires a client certificate: (URL, PEM files by name)."""
    from fleet_testkit import make_certificates

    data_dir = tmp_path_factory.mktemp("etcd-tls")
    files = make_certificates(data_dir)
    client_url, process, log_file = start_etcd(data_dir, "https", (
        "--cert-file", files["server-cert"], "--key-file", files["server-key"],
        "--trusted-ca-file", files["ca"], "--client-cert-auth"))
    yield client_url, files
    stop_etcd(process, log_file, data_dir)


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
