"""Helpers shared by the fleet unit tests (imported by module name)."""

import io
import os
import random
import shutil
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from labs import polling
from labs.node.fleet import api, fleetctl
from labs.node.fleet.config import Config
from labs.node.fleet.etcdclient import FailoverClient
from labs.node.fleet.registry import Registry
from labs.node.fleet.schema import MachineState
from labs.node.fleet.server import Server

ETCD_BINARY = "/usr/bin/etcd"


def require_etcd(binary=ETCD_BINARY):
    """The etcd-backed fleet tests fail, never skip, without etcd: `make test` installs it."""
    if not os.path.exists(binary):
        pytest.fail("%s is missing: the fleet unit tests need a real etcd 3.4 with the v2 API "
                    "(Debian's etcd-server; `make host-deps` installs it)" % binary, pytrace=False)


# Below Linux's ephemeral range (32768-60999), where no outgoing connection is given a port, and
# above the labs' published SSH ports (2222 up, 10 a lab): a port found free stays free until
# etcd binds it unless another listener picks the same one, which start_etcd retries.
TEST_PORTS = range(20000, 32000)
START_ATTEMPTS = 3


def free_port():
    """A port nothing listens on at 127.0.0.1, outside the range outgoing connections draw from."""
    while True:
        port = random.choice(TEST_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def start_etcd(data_dir, scheme="http", extra_args=()):
    """A single-member etcd with the v2 API on loopback: (client URL, process, log file).

    Two ports are chosen free and then handed to etcd; on a busy host another listener can take
    one in between (ci-13), so a start that fails with "address already in use" is tried again
    on new ports, at most START_ATTEMPTS times. Any other failure fails at once.
    """
    require_etcd()
    log_path = data_dir / "etcd.log"
    for _attempt in range(START_ATTEMPTS):
        shutil.rmtree(data_dir / "data", ignore_errors=True)
        client_url = "%s://127.0.0.1:%d" % (scheme, free_port())
        peer_url = "http://127.0.0.1:%d" % free_port()
        log_file = open(log_path, "w")
        process = subprocess.Popen(
            [ETCD_BINARY, "--name", "unit", "--data-dir", str(data_dir / "data"),
             "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
             "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
             "--initial-cluster", "unit=" + peer_url, "--enable-v2=true", *extra_args],
            stdout=log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not _serving(client_url):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                log_file.close()
                break
            time.sleep(0.1)
        else:
            return client_url, process, log_file
        if "address already in use" not in log_path.read_text():
            break
    pytest.fail("etcd did not start; see %s" % log_path)


def _serving(client_url):
    """etcd answers on its client port (TLS clients are checked by the tests themselves)."""
    host, port = client_url.rsplit("/", 1)[1].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            pass
    except OSError:
        return False
    if client_url.startswith("https"):
        return True
    try:
        with urllib.request.urlopen(client_url + "/health", timeout=1) as response:
            return b'"health":"true"' in response.read()
    except OSError:
        return False


def stop_etcd(process, log_file, data_dir):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log_file.close()
    shutil.rmtree(data_dir, ignore_errors=True)


def wait_for(condition, timeout=30.0, interval=0.05, message="condition"):
    """Poll `condition` until it returns something truthy; fail after `timeout` (30 s by default:
    the unit tests run beside booting labs, flake 28; a wait with a time bound of its own says so)."""
    return polling.wait_for(condition, timeout, message, interval)


class FakeSystemd:
    """In-memory stand-in for SystemctlManager: files, links and unit states.

    Loaded units are "inactive/dead" until started, "active/running" after;
    `calls` records every operation in order for assertions.
    """

    def __init__(self):
        self.files = {}  # name → canonical text on "disk"
        self.active = set()
        self.calls = []
        self.fail_stop = set()  # unit names whose stop fails

    def unit_names(self):
        return sorted(self.files)

    def unit_text(self, name):
        return self.files[name]

    def load(self, name, text, has_install_section):
        self.calls.append(("load", name))
        self.files[name] = text

    def unload(self, name):
        self.stop(name)
        self.calls.append(("unload", name))
        del self.files[name]

    def start(self, name):
        self.calls.append(("start", name))
        self.active.add(name)

    def stop(self, name):
        self.calls.append(("stop", name))
        if name in self.fail_stop:
            raise RuntimeError("stop of %s failed" % name)
        self.active.discard(name)

    def reload(self):
        self.calls.append(("reload", ""))

    def states(self, names):
        result = {}
        for name in names:
            if name not in self.files:
                result[name] = ("not-found", "inactive", "dead")
            elif name in self.active:
                result[name] = ("loaded", "active", "running")
            else:
                result[name] = ("loaded", "inactive", "dead")
        return result


class BatchFakeSystemd(FakeSystemd):
    """FakeSystemd that also takes runs of units in one call, like SystemctlManager.

    `fail_batches` makes every batch call fail (the agent must redo them one by one).
    """

    def __init__(self):
        super().__init__()
        self.fail_batches = False

    def _batch(self, kind, names):
        self.calls.append((kind, list(names)))
        if self.fail_batches:
            raise RuntimeError("%s failed" % kind)

    def load_many(self, units):
        self._batch("load_many", [name for name, _ in units])
        for name, text in units:
            self.files[name] = text

    def start_many(self, names):
        self._batch("start_many", names)
        self.active.update(names)

    def unload_many(self, names):
        self._batch("unload_many", names)
        for name in names:
            self.active.discard(name)
            del self.files[name]


class HealthyBackend:
    """What fleetd's API needs of its server: a registry, registered and healthy."""

    def __init__(self, registry):
        self.registry = registry
        self.registered = True
        self.healthy = threading.Event()
        self.healthy.set()


class FleetCluster:
    """fleetd servers in threads (one per fake machine) on a real etcd, plus fleetctl.

    Short timers (TTL 2 s, engine every 0.5 s) keep the tests quick while
    exercising the same code paths as fleetd on a machine.
    """

    def __init__(self, etcd_url, prefix, ttl=2.0, interval=0.5):
        self.etcd_url = etcd_url
        self.prefix = prefix
        self.ttl = ttl
        self.interval = interval
        self.servers = {}  # machine ID → Server
        self.systemds = {}  # machine ID → FakeSystemd
        self.api_server = None  # serve_api(): fleetctl then uses its default driver, the API
        self.api_socket = None

    def add_machine(self, machine_id, public_ip="", metadata=None, disable_engine=False, interval=None,
                    watch_poll_timeout=None):
        """A fleetd; `interval` (engine and agent rounds) defaults to the cluster's."""
        interval = self.interval if interval is None else interval
        config = Config(agent_ttl=self.ttl, engine_reconcile_interval=interval, etcd_key_prefix=self.prefix,
                        public_ip=public_ip, disable_engine=disable_engine)
        registry = Registry(FailoverClient([self.etcd_url], timeout=2.0), self.prefix)
        systemd = self.systemds.setdefault(machine_id, FakeSystemd())
        machine = MachineState(machine_id, public_ip, dict(metadata or {}), disable_engine=disable_engine)
        server = Server(config, registry, systemd, machine)
        server.agent_interval = interval
        server.state_poll_interval = 0.25
        if watch_poll_timeout is not None:
            server.watch_poll_timeout = watch_poll_timeout
        assert server.start()
        self.servers[machine_id] = server
        return server

    def crash(self, machine_id):
        """Like kill -9 of fleetd: loops stop, nothing is cleaned up."""
        self.servers.pop(machine_id).stop(purge=False)

    def shutdown(self, machine_id):
        """Like `systemctl stop fleet`: graceful stop with purge."""
        self.servers.pop(machine_id).stop(purge=True)

    def stop_all(self):
        for machine_id in list(self.servers):
            self.crash(machine_id)
        if self.api_server is not None:
            self.api_server.close()

    def serve_api(self, socket_path):
        """fleetd's HTTP API on a unix socket, as a healthy fleetd serves it on fleet.socket."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(socket_path))
        listener.listen(16)
        # generous timeouts (here and for fleetctl below): a busy host answers late, and no test
        # expects these requests to time out (flake 29)
        registry = Registry(FailoverClient([self.etcd_url], timeout=10.0), self.prefix)
        self.api_server = api.APIServer([listener], api.API(HealthyBackend(registry)))
        self.api_server.start()
        self.api_socket = str(socket_path)

    def fleetctl(self, *args, cwd=None):
        """Run fleetctl in-process; (exit code, stdout, stderr)."""
        out, err = io.StringIO(), io.StringIO()
        previous = os.getcwd()
        if cwd is not None:
            os.chdir(cwd)
        try:
            if self.api_socket:
                connection = ["--endpoint", "unix://" + self.api_socket, "--request-timeout=30"]
            else:
                connection = ["--driver=etcd", "--endpoint", self.etcd_url, "--etcd-key-prefix", self.prefix]
            code = fleetctl.main(connection + list(args),
                                 stdout=out, stderr=err, environ={}, machine_id_path="/nonexistent/machine-id")
        finally:
            os.chdir(previous)
        return code, out.getvalue(), err.getvalue()

    def active_on(self, unit_name):
        """Machine IDs whose fake systemd runs `unit_name`."""
        return sorted(m for m, systemd in self.systemds.items() if unit_name in systemd.active)


def make_certificates(directory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files: name → path."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    paths = {}

    def issue(name, issuer_name, issuer_key, *, ca=False, usage=None, sans=()):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name or subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if usage:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
        certificate = builder.sign(issuer_key or key, hashes.SHA256())
        for suffix, data in (("cert", certificate.public_bytes(serialization.Encoding.PEM)),
                             ("key", key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))):
            path = os.path.join(str(directory), "%s-%s.pem" % (name, suffix))
            with open(path, "wb") as pem:
                pem.write(data)
            paths["%s-%s" % (name, suffix)] = path
        return certificate.subject, key

    ca_name, ca_key = issue("ca", None, None, ca=True)
    paths["ca"] = paths["ca-cert"]
    issue("server", ca_name, ca_key, usage=ExtendedKeyUsageOID.SERVER_AUTH,
          sans=(x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")))
    issue("client", ca_name, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    return paths
