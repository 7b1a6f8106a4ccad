"""Tunnels over the machines' SSH connections: etcd's v2 API and each machine's docker API.

The clients on top are labs.etcd_client (python-etcd) and labs.docker_client (docker SDK);
this module is only the SSH side, so it needs neither library.

etcd: python-etcd speaks HTTP to a host and port through urllib3, so the tunnel is a local
listening socket on 127.0.0.1 (ephemeral port) whose connections are forwarded as
`direct-tcpip` channels to 127.0.0.1:2379 on a member. Each new connection goes to the
member that answered last; when it is gone (halted), the next live machine takes over.

docker: the SDK's own `ssh://` mode reads only ~/.ssh/config and the system known_hosts,
opens a second SSH connection of its own, and runs `docker system dial-stdio` on the
machine for every HTTP connection. Instead, every HTTP connection here is a
`direct-streamlocal@openssh.com` channel to /var/run/docker.sock on the machine's one
pinned connection: the host key check is the lab's, nothing runs on the machine, and no
docker port is published. (If sshd refuses the channel, e.g. with unix-socket forwarding
switched off, it falls back to `docker system dial-stdio`, like the SDK.)
"""

from __future__ import annotations

import array
import select
import socket
import threading

import paramiko

from labs.ssh.errors import ChannelRefused, ClusterError
from labs.ssh.machine import Machine


ETCD_PORT = 2379
DOCKER_SOCKET = "/var/run/docker.sock"


# --- etcd --------------------------------------------------------------------------------------

class EtcdTunnel:
    """127.0.0.1:<port> on this host -> 127.0.0.1:2379 on a live member, with failover."""

    def __init__(self, machines: list[Machine], remote_port: int = ETCD_PORT):
        self.machines = list(machines)
        self.remote_port = remote_port
        self.current = self.machines[0].name
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
            current = self.current
        order = ([m for m in self.machines if m.name == current]
                 + [m for m in self.machines if m.name != current])
        failures = []
        for machine in order:
            try:
                channel = machine.open_tcp("127.0.0.1", self.remote_port)
            except (ClusterError, paramiko.SSHException, OSError, EOFError) as error:
                failures.append(f"{machine.name}: {str(error).splitlines()[0]}")
                continue
            with self._lock:
                self.current = machine.name
            return machine.name, channel
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


# --- docker ------------------------------------------------------------------------------------

def docker_socket_channel(machine: Machine) -> paramiko.Channel:
    """A channel to the machine's docker daemon: its socket, else `docker system dial-stdio`."""
    try:
        return machine.open_unix(DOCKER_SOCKET)
    except ChannelRefused:
        pass
    channel = machine.open_session()
    channel.exec_command("docker system dial-stdio")
    return channel


def give_back_read_ahead(headers_file: paramiko.ChannelFile) -> None:
    """Put the bytes `headers_file` read past what its reader took back at the front of its
    channel, so a reader of the channel itself gets them first.

    http.client reads a response's headers through a file on the channel, in chunks. When the
    docker daemon upgrades the connection (exec, attach), the docker SDK goes on reading the
    channel itself (`response.raw._fp.fp.channel`), past that file: the first frames, when they
    came in the same SSH packet as the headers, stayed in the file's buffer and were lost —
    `exec_run` answered exit 0 and no output, 2 runs in 300 (docker/docker-py#3332, flake 35).
    paramiko has no public way to unread: this puts them in the channel's BufferedPipe under
    its lock, as `feed` does, and wakes a `select` on the channel."""
    read_ahead, headers_file._rbuffer = headers_file._rbuffer, b""
    if not read_ahead:
        return
    pipe = headers_file.channel.in_buffer
    with pipe._lock:
        pipe._buffer = array.array("B", read_ahead) + pipe._buffer
        if pipe._event is not None:
            pipe._event.set()
        pipe._cv.notify_all()
