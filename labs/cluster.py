"""The cluster as the notebooks see it: machines reached over SSH, nothing else.

    from labs import Cluster
    cluster = Cluster.from_ssh_config()            # $LAB_SSH_CONFIG or <LAB_HOME>/ssh_config
    cluster["core-01"].run("etcdctl ls /")         # -> Result(stdout, stderr, exit_status, ...)
    cluster.run_all("hostname")                    # -> {"core-01": Result, ...} in parallel

The ssh_config written by `lab up` is the only contract with the machines: how they were
launched (Vagrant + docker, VMs, a classroom's remote hosts) does not matter here. Each
machine is a `labs.ssh.machine.Machine`, with its one persistent SSH connection.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from labs.ssh.config import SSHConfigFile
from labs.ssh.errors import (ClusterError, ClusterNotRunning, CommandFailed, CommandTimeout,
                             UnknownMachine)
from labs.ssh.machine import Machine
from labs.ssh.results import Result


def default_ssh_config_path() -> Path:
    """`$LAB_SSH_CONFIG`, else the lab's state directory (`$LAB_HOME` or `.lab/`) + ssh_config."""
    override = os.environ.get("LAB_SSH_CONFIG")
    if override:
        return Path(override).expanduser().resolve()
    from labs.launcher.settings import state_dir
    return state_dir() / "ssh_config"


@dataclass
class _Shared:
    etcd_tunnel: object = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class Cluster:
    """The machines named in an ssh_config, each with its persistent SSH connection."""

    _defaults: dict[Path, "Cluster"] = {}
    _defaults_lock = threading.Lock()

    def __init__(self, ssh_config: SSHConfigFile, path: Path | None = None):
        self.path = path
        self.ssh_config = ssh_config
        self._machines = {name: Machine(name, ssh_config.lookup(name))
                          for name in sorted(ssh_config.hosts)}
        self._pool = ThreadPoolExecutor(max_workers=max(4, 2 * len(self._machines)),
                                        thread_name_prefix="labs-cluster")
        self._shared = _Shared()

    @classmethod
    def from_ssh_config(cls, path=None) -> "Cluster":
        """The cluster an ssh_config describes (default: `default_ssh_config_path()`)."""
        path = Path(path).expanduser().resolve() if path else default_ssh_config_path()
        if not path.exists():
            raise ClusterNotRunning(
                f"no ssh_config at {path}: the cluster is not running (or was never started)",
                "start it with `make cluster` (or `lab up`); LAB_SSH_CONFIG can point at "
                "another cluster's ssh_config")
        config = SSHConfigFile.from_path(path)
        if not config.hosts:
            raise ClusterNotRunning(f"{path} names no machines",
                                    "start the cluster with `make cluster` (or `lab up`)")
        return cls(config, path)

    @classmethod
    def default(cls) -> "Cluster":
        """One shared Cluster per ssh_config path (what the magics and widgets use)."""
        path = default_ssh_config_path()
        with cls._defaults_lock:
            cluster = cls._defaults.get(path)
            if cluster is None:
                cluster = cls._defaults[path] = cls.from_ssh_config(path)
            return cluster

    def __repr__(self) -> str:
        return f"<Cluster {', '.join(self.machines)} from {self.path}>"

    # -- machines --

    @property
    def machines(self) -> list[str]:
        return list(self._machines)

    def __getitem__(self, name: str) -> Machine:
        try:
            return self._machines[name]
        except KeyError:
            raise UnknownMachine(f"unknown machine {name!r}",
                                 f"the machines are {', '.join(self.machines)}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._machines

    def __iter__(self):
        return iter(self._machines.values())

    def __len__(self) -> int:
        return len(self._machines)

    def select(self, spec: "str | Iterable[str] | None" = None) -> list[str]:
        """Machine names from `all`/None, `core-01`, `core-01,core-03` or a list, in order."""
        if spec is None or spec == "all":
            return self.machines
        names = spec.split(",") if isinstance(spec, str) else list(spec)
        names = [n.strip() for n in names if n.strip()]
        for name in names:
            self[name]
        return [m for m in self.machines if m in names]

    # -- commands --

    def run(self, machine: str, command: str, **kwargs) -> Result:
        return self[machine].run(command, **kwargs)

    def run_all(self, command: str, timeout: float | None = None, check: bool = True,
                machines=None, on_output: Callable[[str, str, str], None] | None = None,
                **kwargs) -> dict[str, Result]:
        """Run `command` on every machine (or `machines`) at once -> {machine: Result}.

        Results come in machine order. With check=True, an unreachable machine raises
        MachineDown and failures raise CommandFailed (timeouts CommandTimeout) naming every
        failing machine; with check=False they come back as Results (`ok` is False).
        `on_output(machine, "stdout"|"stderr", text)` receives output as it arrives.
        """
        names = self.select(machines)

        def one(name: str) -> Result:
            callbacks = {}
            if on_output is not None:
                callbacks = dict(on_stdout=lambda text: on_output(name, "stdout", text),
                                 on_stderr=lambda text: on_output(name, "stderr", text))
            started = time.monotonic()
            try:
                return self[name].run(command, timeout=timeout, check=False, **callbacks, **kwargs)
            except ClusterError as error:
                return Result(name, command, exit_status=None, error=str(error).split("\n")[0],
                              duration=time.monotonic() - started, exception=error)

        futures = {name: self._pool.submit(one, name) for name in names}
        results = {name: futures[name].result() for name in names}
        if check:
            for result in results.values():
                if result.error is not None:
                    raise result.exception
            if any(r.timed_out for r in results.values()):
                raise CommandTimeout(results)
            if any(not r.ok for r in results.values()):
                raise CommandFailed(results)
        return results

    # -- tunnels --

    def etcd(self, machine: str | None = None, failover: bool = True, read_timeout: float = 60):
        """A python-etcd client (v2 API) through an SSH tunnel to a member's 127.0.0.1:2379.

        The tunnel goes to `machine` (default: the first machine that answers). When that
        machine goes away (halted), the next call goes to the next live machine, unless
        failover=False. `client.member` names the machine that answered last.
        """
        from labs.etcd_client import LabEtcdClient
        from labs.tunnels import EtcdTunnel
        if machine is None and failover:
            with self._shared.lock:
                if self._shared.etcd_tunnel is None or self._shared.etcd_tunnel.closed:
                    self._shared.etcd_tunnel = EtcdTunnel(list(self))
                tunnel = self._shared.etcd_tunnel
            return LabEtcdClient(tunnel, read_timeout=read_timeout)
        first = self.select(machine)[0] if machine else self.machines[0]
        order = [first] + ([m for m in self.machines if m != first] if failover else [])
        return LabEtcdClient(EtcdTunnel([self[m] for m in order]), read_timeout=read_timeout,
                             owns_tunnel=True)

    def docker(self, machine: str, timeout: float = 60):
        """A docker SDK client (`docker.DockerClient`) for `machine`'s own docker daemon.

        Every HTTP connection is an SSH channel to /var/run/docker.sock on the machine, on
        the machine's one pinned SSH connection. Nothing is published to the host.
        """
        from labs.docker_client import docker_client
        return docker_client(self[machine], timeout=timeout)

    def close(self) -> None:
        with self._shared.lock:
            if self._shared.etcd_tunnel is not None:
                self._shared.etcd_tunnel.close()
                self._shared.etcd_tunnel = None
        for machine in self:
            machine.close()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
