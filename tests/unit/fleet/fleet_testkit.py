"""Helpers shared by the fleet unit tests (imported by module name)."""

import io
import os
import socket
import threading

from labs import polling
from labs.fleet import api, fleetctl
from labs.fleet.config import Config
from labs.fleet.etcdclient import FailoverClient
from labs.fleet.registry import Registry
from labs.fleet.schema import MachineState
from labs.fleet.server import Server


def wait_for(condition, timeout=10.0, interval=0.05, message="condition"):
    """Poll `condition` until it returns something truthy; fail after `timeout`."""
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

    def add_machine(self, machine_id, public_ip="", metadata=None, disable_engine=False):
        config = Config(agent_ttl=self.ttl, engine_reconcile_interval=self.interval, etcd_key_prefix=self.prefix,
                        public_ip=public_ip, disable_engine=disable_engine)
        registry = Registry(FailoverClient([self.etcd_url], timeout=2.0), self.prefix)
        systemd = self.systemds.setdefault(machine_id, FakeSystemd())
        machine = MachineState(machine_id, public_ip, dict(metadata or {}), disable_engine=disable_engine)
        server = Server(config, registry, systemd, machine)
        server.agent_interval = self.interval
        server.state_poll_interval = 0.25
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
        registry = Registry(FailoverClient([self.etcd_url], timeout=2.0), self.prefix)
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
                connection = ["--endpoint", "unix://" + self.api_socket]
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
