"""Tunnels over the machines' SSH connections: etcd's v2 API and each machine's docker API.

etcd: python-etcd speaks HTTP to a host and port through urllib3, so the tunnel is a local
listening socket on 127.0.0.1 (ephemeral port) whose connections are forwarded as
`direct-tcpip` channels to 127.0.0.1:2379 on a member. Each new connection goes to the
member that answered last; when it is gone (halted), the next live machine takes over.

docker: the SDK's own `ssh://` mode reads only ~/.ssh/config and the system known_hosts,
opens a second SSH connection of its own, and runs `docker system dial-stdio` on the
machine for every HTTP connection. Instead, every HTTP connection here is a
`direct-streamlocal@openssh.com` channel to /var/run/docker.sock on the machine's one
pinned connection: the host key check is the lab's, nothing runs on the machine, and no
docker port is published. (If sshd refuses unix-socket forwarding, it falls back to
`docker system dial-stdio`, like the SDK.)
"""

from __future__ import annotations

import select
import socket
import threading

import paramiko
import urllib3.connection

from labs.cluster import Cluster, ClusterError, Machine


ETCD_PORT = 2379
DOCKER_SOCKET = "/var/run/docker.sock"


# --- etcd --------------------------------------------------------------------------------------

class EtcdTunnel:
    """127.0.0.1:<port> on this host -> 127.0.0.1:2379 on a live member, with failover."""

    def __init__(self, cluster: Cluster, machines: list[str], remote_port: int = ETCD_PORT):
        self.cluster = cluster
        self.machines = list(machines)
        self.remote_port = remote_port
        self.current = self.machines[0]
        self.last_failure = ""
        self.closed = False
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(32)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, name=f"etcd-tunnel-{self.port}", daemon=True).start()

    def __repr__(self) -> str:
        return f"<EtcdTunnel 127.0.0.1:{self.port} -> {self.current}:127.0.0.1:{self.remote_port}>"

    def open_channel(self) -> tuple[str, paramiko.Channel]:
        """A channel to etcd on the current member, else on the next machine that answers."""
        with self._lock:
            order = [self.current] + [m for m in self.machines if m != self.current]
        failures = []
        for name in order:
            try:
                channel = self.cluster[name].open_tcp("127.0.0.1", self.remote_port)
            except (ClusterError, paramiko.SSHException, OSError, EOFError) as error:
                failures.append(f"{name}: {str(error).splitlines()[0]}")
                continue
            with self._lock:
                self.current = name
            return name, channel
        self.last_failure = "; ".join(failures)
        raise ClusterError(f"no etcd member is reachable ({self.last_failure})",
                           "see `lab status`; `lab resume <machine>` starts a halted machine")

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            _, channel = self.open_channel()
        except ClusterError:
            client.close()
            return
        pump(client, channel)

    def close(self) -> None:
        self.closed = True
        try:
            self._listener.close()
        except OSError:
            pass


def pump(sock: socket.socket, channel: paramiko.Channel) -> None:
    """Copy bytes both ways until either side closes."""
    try:
        while True:
            readable, _, _ = select.select([sock, channel], [], [], 60)
            if sock in readable:
                data = sock.recv(65536)
                if not data:
                    break
                channel.sendall(data)
            if channel in readable:
                data = channel.recv(65536)
                if not data:
                    break
                sock.sendall(data)
            if channel.closed:
                break
    except (OSError, EOFError, paramiko.SSHException):
        pass
    finally:
        channel.close()
        try:
            sock.close()
        except OSError:
            pass


class _Headers:
    """A urllib3 response with the `getheader(s)` python-etcd 0.4.5 calls.

    urllib3 2.x deprecates them (the warnings would land in notebook outputs) and 2.6.0
    removed them; `.headers` works everywhere.
    """

    def __init__(self, response):
        self._response = response

    def __getattr__(self, name):
        return getattr(self._response, name)

    def getheader(self, name, default=None):
        return self._response.headers.get(name, default)

    def getheaders(self):
        return self._response.headers


def _etcd_client_class():
    import etcd

    class LabEtcdClient(etcd.Client):
        """python-etcd's Client on an EtcdTunnel; connection errors name the machines."""

        def __init__(self, tunnel: EtcdTunnel, read_timeout: float = 60, owns_tunnel: bool = False):
            self.tunnel = tunnel
            self._owns_tunnel = owns_tunnel
            super().__init__(host="127.0.0.1", port=tunnel.port, read_timeout=read_timeout,
                             allow_reconnect=False)

        @property
        def member(self) -> str:
            """The machine whose etcd answered last."""
            return self.tunnel.current

        def api_execute(self, path, method, params=None, timeout=None):
            try:
                return _Headers(super().api_execute(path, method, params=params, timeout=timeout))
            except etcd.EtcdWatchTimedOut:
                raise
            except etcd.EtcdConnectionFailed as error:
                detail = self.tunnel.last_failure or str(error)
                raise etcd.EtcdConnectionFailed(
                    f"etcd did not answer through the SSH tunnel (last member: "
                    f"{self.tunnel.current}; {detail}). If a machine was halted, the next call "
                    f"uses another member; `lab status` shows what runs", cause=error) from error

        def _check_cluster_id(self, response):
            super()._check_cluster_id(_Headers(response))

        def __repr__(self) -> str:
            return f"<etcd client via SSH tunnel to {self.tunnel.current}>"

        def close(self) -> None:
            self.http.clear()
            if self._owns_tunnel:
                self.tunnel.close()

        def __del__(self):
            try:
                if self._owns_tunnel:
                    self.tunnel.close()
            except Exception:
                pass
            try:
                super().__del__()
            except Exception:
                pass

    return LabEtcdClient


_client_class = None


def LabEtcdClient(tunnel: EtcdTunnel, read_timeout: float = 60, owns_tunnel: bool = False):
    global _client_class
    if _client_class is None:
        _client_class = _etcd_client_class()
    return _client_class(tunnel, read_timeout=read_timeout, owns_tunnel=owns_tunnel)


# --- docker ------------------------------------------------------------------------------------

def _docker_socket_channel(machine: Machine) -> paramiko.Channel:
    try:
        return machine.open_unix(DOCKER_SOCKET)
    except ClusterError as error:
        if "refused a channel" not in str(error):
            raise
    channel = machine.open_session()         # sshd without unix-socket forwarding
    channel.exec_command("docker system dial-stdio")
    return channel


def docker_client(machine: Machine, timeout: float = 60, version: str = "auto"):
    import docker
    from docker.transport.basehttpadapter import BaseHTTPAdapter
    from docker.transport.sshconn import SSHConnectionPool

    class ChannelConnection(urllib3.connection.HTTPConnection):
        def __init__(self, timeout):
            super().__init__("localhost", timeout=timeout)
            self.timeout = timeout

        def connect(self):
            channel = _docker_socket_channel(machine)
            channel.settimeout(self.timeout)
            self.sock = channel

    class ChannelPool(SSHConnectionPool):
        # docker's pool: reuses connections without calling fileno() on channels
        def __init__(self, timeout, maxsize):
            super().__init__(ssh_client=None, timeout=timeout, maxsize=maxsize, host=machine.name)

        def _new_conn(self):
            return ChannelConnection(self.timeout)

    class ChannelAdapter(BaseHTTPAdapter):
        __attrs__ = BaseHTTPAdapter.__attrs__ + ["pools", "timeout", "max_pool_size"]

        def __init__(self, timeout, max_pool_size=10):
            self.timeout = timeout
            self.max_pool_size = max_pool_size
            self.pools = urllib3._collections.RecentlyUsedContainer(
                10, dispose_func=lambda pool: pool.close())
            super().__init__()

        def get_connection(self, url, proxies=None):
            with self.pools.lock:
                pool = self.pools.get(url)
                if pool is None:
                    pool = self.pools[url] = ChannelPool(self.timeout, self.max_pool_size)
                return pool

    # An APIClient whose transport is our adapter, mounted exactly where the SDK mounts its
    # own ssh adapter ("http+docker://ssh"): the SDK then treats responses' sockets as
    # paramiko channels (attach, exec, logs streaming), which they are.
    api = docker.APIClient(base_url="unix:///var/run/docker.sock", version="1.24", timeout=timeout)
    adapter = ChannelAdapter(timeout)
    api.adapters.pop("http+docker://", None)
    api._custom_adapter = adapter
    api.mount("http+docker://ssh", adapter)
    api.base_url = "http+docker://ssh"
    api._version = api._retrieve_server_version() if version == "auto" else version
    client = docker.DockerClient.__new__(docker.DockerClient)
    client.api = api
    return client
