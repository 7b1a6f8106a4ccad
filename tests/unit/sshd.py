"""A real SSH server in the test process (paramiko's server side), for the SSH layer's tests.

It speaks the protocol for real: the layer under test connects over TCP, checks the host key,
logs in with a key file and opens channels. What it does with them is the test's to choose:
`refuse` names channel types it turns down (as sshd does with forwarding switched off),
`max_sessions` how many sessions may be open at once (sshd's MaxSessions), and every command exits 0 after printing `ran: <command>`, except `agent-keys`, which counts the
keys of the agent forwarded to it (like `ssh-add -l`; exit 2 without one, 1 when the agent's
side closes the connection).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from pathlib import Path

import paramiko

from labs.ssh.config import HostConfig

AGENTC_REQUEST_IDENTITIES, AGENT_IDENTITIES_ANSWER = 11, 12


class InProcessSSHD:
    def __init__(self, directory: Path, refuse: tuple[str, ...] = (), max_sessions: int = 10):
        self.host_key = paramiko.RSAKey.generate(2048)
        self.client_key = paramiko.RSAKey.generate(2048)
        self.identity = directory / "id_rsa"
        self.client_key.write_private_key_file(str(self.identity))
        self.refuse = set(refuse)
        self.max_sessions = max_sessions        # sessions open at once, as sshd's MaxSessions
        self.sessions = self.refused_sessions = 0
        self.slow_opens = 0                     # session opens still to answer late ...
        self.open_delay = 0.0                   # ... after this many seconds (a busy machine)
        self.lock = threading.Lock()
        self.commands: list[str] = []
        self.agent_requests = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.known_hosts = directory / "known_hosts"
        self.known_hosts.write_text(self.known_hosts_line(self.host_key))
        self._transports: list[paramiko.Transport] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def known_hosts_line(self, key: paramiko.PKey) -> str:
        return f"[127.0.0.1]:{self.port} {key.get_name()} {key.get_base64()}\n"

    def host_config(self, **changes) -> HostConfig:
        values = dict(name="m", hostname="127.0.0.1", port=self.port, user="core",
                      identity_files=(str(self.identity),),
                      known_hosts_files=(str(self.known_hosts),), identities_only=True)
        values.update(changes)
        return HostConfig(**values)

    def ssh_config(self, *options: str) -> str:
        """An ssh_config text for host `m` plus `options` (e.g. "ForwardAgent yes")."""
        lines = ["HostName 127.0.0.1", f"Port {self.port}", "User core",
                 f"IdentityFile {self.identity}", "IdentitiesOnly yes", *options]
        return "Host m\n" + "".join(f"  {line}\n" for line in lines)

    def close(self) -> None:
        if self._listener.fileno() == -1:
            return
        self._listener.shutdown(socket.SHUT_RDWR)         # wakes the accept() below
        self._listener.close()
        for transport in self._transports:
            transport.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            transport = paramiko.Transport(sock)
            transport.add_server_key(self.host_key)
            transport.start_server(threading.Event(), server=_Server(self))   # not waiting
            self._transports.append(transport)

    def answer(self, channel: paramiko.Channel, command: str, agent: bool) -> None:
        # paramiko confirms the exec request once check_channel_exec_request returns; a close
        # sent before that confirmation would fail the client's exec_command
        time.sleep(0.1)
        if command.startswith("sleep "):
            time.sleep(float(command.split()[1]))
        if command != "agent-keys":
            channel.sendall(f"ran: {command}\n".encode())
            status = 0
        elif not agent:
            channel.sendall_stderr(b"Could not open a connection to your authentication agent.\n")
            status = 2
        else:
            try:
                # a relay closed at once can vanish before paramiko hands it over: SSHException
                relay = channel.get_transport().open_forward_agent_channel()
                relay.settimeout(30)
                relay.sendall(struct.pack(">IB", 1, AGENTC_REQUEST_IDENTITIES))
                length = struct.unpack(">I", _read(relay, 4))[0]
                body = _read(relay, length)
            except (EOFError, OSError, paramiko.SSHException):
                channel.sendall_stderr(b"error fetching identities: the agent went away\n")
                status = 1
            else:
                assert body[0] == AGENT_IDENTITIES_ANSWER, body[:1]
                channel.sendall(f"{struct.unpack('>I', body[1:5])[0]} keys\n".encode())
                status = 0
                relay.close()
        channel.send_exit_status(status)
        channel.close()
        with self.lock:
            self.sessions -= 1


def _read(channel: paramiko.Channel, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = channel.recv(size - len(data))
        if not chunk:
            raise EOFError("the agent closed the connection")
        data += chunk
    return data


class _Server(paramiko.ServerInterface):
    def __init__(self, sshd: InProcessSSHD):
        self.sshd = sshd
        self.agent_channels: set[int] = set()

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        ok = username == "core" and key == self.sshd.client_key
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        if kind in self.sshd.refuse:
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        if kind == "session":
            with self.sshd.lock:
                slow, self.sshd.slow_opens = self.sshd.slow_opens > 0, max(self.sshd.slow_opens - 1, 0)
            if slow:
                time.sleep(self.sshd.open_delay)    # holds this connection's thread, as a busy sshd
            with self.sshd.lock:
                if self.sshd.sessions >= self.sshd.max_sessions:
                    self.sshd.refused_sessions += 1
                    return paramiko.OPEN_FAILED_CONNECT_FAILED      # sshd: "no more sessions"
                self.sshd.sessions += 1
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_UNKNOWN_CHANNEL_TYPE

    def check_channel_forward_agent_request(self, channel):
        self.sshd.agent_requests += 1
        self.agent_channels.add(channel.get_id())
        return True

    def check_channel_pty_request(self, channel, term, width, height, pixelwidth, pixelheight,
                                  modes):
        return True

    def check_channel_exec_request(self, channel, command):
        command = command.decode()
        self.sshd.commands.append(command)
        agent = channel.get_id() in self.agent_channels
        threading.Thread(target=self.sshd.answer, args=(channel, command, agent), daemon=True).start()
        return True
