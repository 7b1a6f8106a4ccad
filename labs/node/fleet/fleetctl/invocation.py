"""One fleetctl run: its options, output streams, registry connection and machine cache."""

import json
import sys

from .. import transport
from ..apiclient import APIRegistry, APIRequestError
from ..machine import MACHINE_ID_PATH
from ..tabwriter import format_table
from ..tls import TLSFiles


def registry_errors():
    """What a failed registry question raises: fleetd API's error, and etcd's once `--driver=etcd`
    loaded python-etcd. The default API driver never imports it (with urllib3 and dnspython,
    about 60 ms of each `fleetctl` on a machine)."""
    etcd = sys.modules.get("etcd")
    return (APIRequestError, etcd.EtcdException) if etcd else (APIRequestError,)


class CommandError(Exception):
    """A failure fleetctl reports with a command-specific prefix."""


class Invocation:
    """State of one fleetctl invocation: options, registry, output streams."""

    def __init__(self, options, stdout, stderr, machine_id_path=MACHINE_ID_PATH, run_command=transport.run):
        self.options = options
        self.out = stdout
        self.err = stderr
        self.stdin = sys.stdin  # answers to "Are you sure you want to continue connecting"
        self.machine_id_path = machine_id_path
        self.run_command = run_command
        self.registry = None
        self.tunnel = None
        self.command = ""
        self._machines = None

    def say(self, text):
        self.out.write(text + "\n")
        self.out.flush()

    def warn(self, text):
        self.err.write(text + "\n")
        self.err.flush()

    def table(self, lines):
        self.out.write(format_table("".join(line + "\n" for line in lines)))
        self.out.flush()

    def ssh_options(self):
        return transport.SSHOptions(self.options["ssh-username"], self.options["ssh-timeout"],
                                    self.options["strict-host-key-checking"], self.options["known-hosts-file"])

    def connect(self):
        """Open the registry: fleetd's API, or etcd with `--driver=etcd`; through an SSH
        tunnel when --tunnel is given (to the remote socket for a unix:// endpoint)."""
        endpoint = self.options["endpoint"].split(",")[0].strip()
        driver = self.options["driver"].lower()
        if driver not in ("api", "etcd"):
            raise ValueError("unrecognized driver %s" % json.dumps(self.options["driver"]))
        tls = TLSFiles(self.options["ca-file"], self.options["cert-file"], self.options["key-file"])
        if tls and (not endpoint.startswith("https://") or self.options["tunnel"]):
            raise ValueError("--ca-file, --cert-file and --key-file secure an https:// endpoint without "
                             "--tunnel; %s is not one" % (endpoint if not self.options["tunnel"] else
                                                          "--tunnel " + self.options["tunnel"]))
        if self.options["tunnel"]:
            if endpoint.startswith("unix://"):
                remote_host, remote_port = endpoint[len("unix://"):], None
            else:
                remote_host, remote_port = transport.split_host_port(
                    endpoint.split("://")[-1], 2379 if driver == "etcd" else 80)
            self.tunnel = transport.Tunnel(self.options["tunnel"], remote_host, remote_port,
                                           self.ssh_options(), self.stdin, self.err)
            endpoint = self.tunnel.local_url
        if driver == "api":
            self.registry = APIRegistry(endpoint, self.options["request-timeout"], tls)
        else:
            from ..etcdclient import FailoverClient  # python-etcd: only for this driver
            from ..registry import Registry

            client = FailoverClient([endpoint], self.options["request-timeout"], tls)
            self.registry = Registry(client, self.options["etcd-key-prefix"])

    @property
    def driver_name(self):
        return "etcd" if self.options["driver"].lower() == "etcd" else "fleet API"

    def close(self):
        if self.tunnel is not None:
            self.tunnel.close()

    def machines(self, refresh=False):
        """Live machines by ID, read once per invocation (fleet's cachedMachineState)."""
        if self._machines is None or refresh:
            self._machines = {m.id: m for m in self.registry.machines()}
        return self._machines

    def machine_legend(self, machine_id, full, with_ip=True):
        """`<id8>...` (full ID with --full), plus `/<PublicIP>` when known."""
        legend = machine_id if full else machine_id[:8] + "..."
        machine = self.machines().get(machine_id)
        if with_ip and machine is not None and machine.public_ip:
            legend += "/" + machine.public_ip
        return legend

    def local_machine_id(self):
        try:
            with open(self.machine_id_path) as machine_id_file:
                return machine_id_file.read().strip()
        except OSError:
            return ""
