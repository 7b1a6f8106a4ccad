"""The docker SDK's client for one machine's own daemon, as `cluster.docker(machine)` returns it.

Every HTTP connection is an SSH channel to the machine's docker socket (labs.tunnels), on the
machine's one pinned connection. Imported only when a notebook asks for a docker client, so
`labs` loads without the docker SDK.
"""

from __future__ import annotations

import docker
import urllib3
import urllib3.connection
from docker.transport.basehttpadapter import BaseHTTPAdapter
from docker.transport.sshconn import SSHConnectionPool

from labs.ssh.machine import Machine
from labs.tunnels import docker_socket_channel, give_back_read_ahead


class ChannelConnection(urllib3.connection.HTTPConnection):
    """An HTTP connection whose socket is a channel to the machine's docker daemon."""

    def __init__(self, machine: Machine, timeout):
        super().__init__("localhost", timeout=timeout)
        self.machine = machine
        self.timeout = timeout

    def connect(self):
        channel = docker_socket_channel(self.machine)
        channel.settimeout(self.timeout)
        self.sock = channel


class ChannelPool(SSHConnectionPool):
    """docker's own pool for SSH: reuses connections without calling fileno() on channels."""

    def __init__(self, machine: Machine, timeout, maxsize):
        super().__init__(ssh_client=None, timeout=timeout, maxsize=maxsize, host=machine.name)
        self.machine = machine

    def _new_conn(self):
        return ChannelConnection(self.machine, self.timeout)


class ChannelAdapter(BaseHTTPAdapter):
    """requests' adapter handing out ChannelPools (one per URL, as docker's SSH adapter does)."""

    __attrs__ = BaseHTTPAdapter.__attrs__ + ["pools", "timeout", "max_pool_size", "machine"]

    def __init__(self, machine: Machine, timeout, max_pool_size=10):
        self.machine = machine
        self.timeout = timeout
        self.max_pool_size = max_pool_size
        self.pools = urllib3._collections.RecentlyUsedContainer(
            10, dispose_func=lambda pool: pool.close())
        super().__init__()

    def get_connection(self, url, proxies=None):
        with self.pools.lock:
            pool = self.pools.get(url)
            if pool is None:
                pool = self.pools[url] = ChannelPool(self.machine, self.timeout, self.max_pool_size)
            return pool


class ChannelAPIClient(docker.APIClient):
    """The SDK's API client; an upgraded stream (exec, attach) starts with every byte the daemon sent."""

    def _get_raw_response_socket(self, response):
        channel = super()._get_raw_response_socket(response)
        give_back_read_ahead(response.raw._fp.fp)
        return channel


def docker_client(machine: Machine, timeout: float = 60, version: str = "auto") -> docker.DockerClient:
    """A `docker.DockerClient` whose HTTP connections are channels to `machine`'s daemon."""
    # An APIClient whose transport is our adapter, mounted exactly where the SDK mounts its
    # own ssh adapter ("http+docker://ssh"): the SDK then treats responses' sockets as
    # paramiko channels (attach, exec, logs streaming), which they are.
    api = ChannelAPIClient(base_url="unix:///var/run/docker.sock", version="1.24", timeout=timeout)
    adapter = ChannelAdapter(machine, timeout)
    api.adapters.pop("http+docker://", None)
    api._custom_adapter = adapter
    api.mount("http+docker://ssh", adapter)
    api.base_url = "http+docker://ssh"
    api._version = api._retrieve_server_version() if version == "auto" else version
    client = docker.DockerClient.__new__(docker.DockerClient)
    client.api = api
    return client
