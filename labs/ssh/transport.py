"""Connecting to a machine: TCP, SSH handshake, host-key pinning, authentication.

Host keys are checked against the known_hosts files the ssh_config names (pinned by `lab
up`): an unknown or changed key is refused, never learned (see labs.ssh.config about
StrictHostKeyChecking). A known_hosts file that exists but cannot be read is named in the
refusal, with the reason.

Also here: what paramiko's Transport lacks for OpenSSH's sshd, namely channels to unix
sockets (`direct-streamlocal@openssh.com`), signals to a command, and agent forwarding.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

import paramiko
import paramiko.agent
from paramiko.common import (MSG_CHANNEL_CLOSE, MSG_CHANNEL_DATA, MSG_CHANNEL_EOF,
                             MSG_CHANNEL_EXTENDED_DATA, MSG_CHANNEL_REQUEST,
                             MSG_CHANNEL_WINDOW_ADJUST, cMSG_CHANNEL_OPEN, cMSG_CHANNEL_REQUEST)
from paramiko.message import Message

from labs.ssh.config import HostConfig
from labs.ssh.errors import AuthenticationFailed, HostKeyError, MachineDown

# What may follow a channel's CLOSE when two threads send for it: its EOF or data (paramiko), a
# window adjust (paramiko's recv, in the reading thread), a request (our signal to a command
# that timed out). sshd ends the whole connection for a late EOF, data or request.
LATE_KINDS = frozenset((MSG_CHANNEL_DATA, MSG_CHANNEL_EXTENDED_DATA, MSG_CHANNEL_EOF,
                        MSG_CHANNEL_WINDOW_ADJUST, MSG_CHANNEL_REQUEST))
CONNECT_TIMEOUT_S = 10.0
CHANNEL_OPEN_TIMEOUT_S = 15.0
KEEPALIVE_S = 15


class LabTransport(paramiko.Transport):
    """paramiko's Transport plus OpenSSH's `direct-streamlocal` channels (unix sockets)."""

    closed_because = ""     # set when the lab closed it as dead: what made it think so
    late = 0                # channel messages not sent: their channel's CLOSE went out first

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._closes_sent: set[int] = set()     # remote ids we sent CLOSE for (sshd reuses ids)

    def _send_message(self, data):
        """paramiko builds a channel's EOF (and data) under the channel's lock but sends it after
        releasing it. When the command has just ended, paramiko's own thread can answer sshd's
        CLOSE in between, so the EOF follows the CLOSE, and sshd ends the whole connection
        ("ieof packet referred to nonexistent channel"), with every command running on it
        (paramiko#1115, flake 26). A signal request sent late ends it too ("server_input_channel_req:
        unknown channel", flake 31). Every message goes out here, one at a time: a message of
        LATE_KINDS for a channel whose CLOSE already went out is dropped. (The EOF paramiko sends
        just before its own CLOSE still goes.)"""
        raw = data.asbytes()
        kind = raw[0]
        if kind == MSG_CHANNEL_CLOSE:
            self._closes_sent.add(struct.unpack(">I", raw[1:5])[0])
        elif kind in LATE_KINDS:
            remote_id = struct.unpack(">I", raw[1:5])[0]
            if remote_id in self._closes_sent and not self._open_remote(remote_id):
                self.late += 1
                return
        super()._send_message(data)

    def _open_remote(self, remote_id: int) -> bool:
        """Whether a channel that sshd knows as `remote_id` is open on our side."""
        return any(channel.remote_chanid == remote_id and not channel.closed
                   for channel in self._channels.values())

    def open_streamlocal(self, path: str, timeout: float | None = None) -> paramiko.Channel:
        """A channel to the unix socket `path` on the server (like `ssh -L local:/remote.sock`).

        paramiko's open_channel only knows tcpip/x11 payloads; this is the same protocol
        step with the `direct-streamlocal@openssh.com` payload (path, reserved, reserved).
        """
        if not self.active:
            raise paramiko.SSHException("SSH session not active")
        timeout = self.channel_timeout if timeout is None else timeout
        with self.lock:
            window_size = self._sanitize_window_size(None)
            max_packet_size = self._sanitize_packet_size(None)
            chanid = self._next_channel()
            m = Message()
            m.add_byte(cMSG_CHANNEL_OPEN)
            m.add_string("direct-streamlocal@openssh.com")
            m.add_int(chanid)
            m.add_int(window_size)
            m.add_int(max_packet_size)
            m.add_string(path)
            m.add_string("")
            m.add_int(0)
            chan = paramiko.Channel(chanid)
            self._channels.put(chanid, chan)
            self.channel_events[chanid] = event = threading.Event()
            self.channels_seen[chanid] = True
            chan._set_transport(self)
            chan._set_window(window_size, max_packet_size)
        self._send_user_message(m)
        start = time.time()
        while not event.wait(0.1):
            if not self.active:
                raise self.get_exception() or paramiko.SSHException("Unable to open channel.")
            if time.time() > start + timeout:
                raise paramiko.SSHException("Timeout opening channel.")
        chan = self._channels.get(chanid)
        if chan is not None:
            return chan
        raise self.get_exception() or paramiko.SSHException("Unable to open channel.")


def send_signal(channel: paramiko.Channel, name: str = "TERM") -> None:
    """RFC 4254 `signal` request (OpenSSH >= 7.9 delivers it to the command)."""
    try:
        m = Message()
        m.add_byte(cMSG_CHANNEL_REQUEST)
        m.add_int(channel.remote_chanid)
        m.add_string("signal")
        m.add_boolean(False)
        m.add_string(name)
        channel.transport._send_user_message(m)
    except Exception:   # best effort: the channel is closed right after anyway
        pass


def forward_agent(channel: paramiko.Channel) -> bool:
    """Offer the command on `channel` our ssh-agent (`ForwardAgent yes`, `ssh -A`).

    As OpenSSH does, only when an agent answers on $SSH_AUTH_SOCK. Each connection the
    machine then opens to the agent is relayed on its own, and ends with that connection (so
    commands running side by side do not cut each other's). OpenSSH's sshd keeps the agent
    socket for the rest of the SSH connection: later commands see it too.
    """
    probe = paramiko.agent.get_agent_connection()
    if probe is None:
        return False
    probe.close()
    channel.request_forward_agent(_relay_to_agent)
    return True


def _relay_to_agent(channel: paramiko.Channel) -> None:
    """sshd opened a connection to our agent: relay it, or close it if the agent is gone.

    (paramiko's own relay leaves the machine's side open when it cannot reach the agent, and
    the program asking there, e.g. `ssh-add -l`, would wait forever.)
    """
    agent = paramiko.agent.get_agent_connection()
    if agent is None:
        threading.Thread(target=channel.close, daemon=True).start()   # not on paramiko's thread
        return
    _AgentRelay(channel, agent)


class _AgentRelay(paramiko.agent.AgentClientProxy):
    """paramiko's relay thread between a channel and an agent connection opened already."""

    def __init__(self, channel: paramiko.Channel, agent):
        self._agent_connection = agent
        super().__init__(channel)

    def connect(self):              # called by the relay thread
        self._conn = self._agent_connection


def connect(name: str, config: HostConfig, timeout: float) -> LabTransport:
    """An authenticated transport to the machine `name`, its host key checked."""
    try:
        sock = socket.create_connection((config.hostname, config.port), timeout=timeout)
    except socket.timeout:
        raise MachineDown(name, f"{config.address}: no answer within {timeout:.0f} s") from None
    except OSError as error:
        raise MachineDown(name, f"{config.address}: {error.strerror or error}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = LabTransport(sock)
    try:
        pinned = PinnedKeys(config)
        if pinned.keys:
            offered = [t for t in transport.get_security_options().key_types
                       if _key_family(t) in {_key_family(k) for k in pinned.keys}]
            if offered:
                transport.get_security_options().key_types = offered
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        try:
            transport.start_client(timeout=timeout)
        except (paramiko.SSHException, EOFError, OSError) as error:
            raise MachineDown(name, f"{config.address}: SSH handshake failed: "
                                    f"{error or type(error).__name__}") from None
        pinned.verify(name, transport.get_remote_server_key())
        _authenticate(name, config, transport)
        transport.set_keepalive(KEEPALIVE_S)
        transport.channel_timeout = CHANNEL_OPEN_TIMEOUT_S
    except BaseException:
        transport.close()
        raise
    return transport


class PinnedKeys:
    """The host keys the known_hosts files pin for one host, and what reading them found."""

    def __init__(self, config: HostConfig):
        self.config = config
        self.files: dict[str, str] = {}         # path -> "" (read) or why it was not
        keys = paramiko.HostKeys()
        for path in config.known_hosts_files:
            if not os.path.exists(path):
                self.files[path] = "does not exist"
                continue
            try:
                keys.load(path)
                self.files[path] = ""
            except (OSError, paramiko.SSHException, ValueError) as error:
                reason = error.strerror if isinstance(error, OSError) and error.strerror else error
                self.files[path] = f"cannot be read ({reason})"
        self.keys: dict[str, paramiko.PKey] = dict(keys.lookup(config.host_key_name) or {})

    @property
    def unreadable(self) -> list[str]:
        return [path for path, why in self.files.items() if why.startswith("cannot")]

    def verify(self, name: str, key: paramiko.PKey) -> None:
        """Raise HostKeyError unless `key` is the one pinned for this host."""
        cfg = self.config
        fingerprint = f"{key.get_name()} {key.fingerprint}"
        unreadable = self.unreadable
        if not self.keys:
            files = "; ".join(f"{path} {why or 'has no key for it'}"
                              for path, why in self.files.items()) or "no known_hosts file is named"
            raise HostKeyError(
                f"{name} ({cfg.host_key_name}) offered host key {fingerprint}, but {files}: "
                "refusing to connect",
                f"make {', '.join(unreadable)} readable (`lab up` writes the lab's again)"
                if unreadable else
                "the lab pins each machine's host key when it boots; run `lab up` "
                "(or point LAB_SSH_CONFIG at the right cluster's ssh_config)")
        pinned = self.keys.get(key.get_name())
        if pinned is None or pinned != key:
            read = ", ".join(path for path, why in self.files.items() if not why)
            also = "".join(f"; {path} {self.files[path]}" for path in unreadable)
            raise HostKeyError(
                f"{name} ({cfg.host_key_name}) presented host key {fingerprint}, which "
                f"does not match the key pinned in {read}{also}: refusing to connect",
                "if the machine was rebuilt (`lab down` / `lab up`), run `lab up` to pin its "
                "new key; otherwise something else answers on that port")


def _authenticate(name: str, cfg: HostConfig, transport: paramiko.Transport) -> None:
    problems = []
    for path in cfg.identity_files:
        if not os.path.exists(path):
            problems.append(f"{path}: no such file")
            continue
        try:
            key = paramiko.PKey.from_path(path)
            transport.auth_publickey(cfg.user, key)
        except paramiko.AuthenticationException:
            problems.append(f"{path}: refused")
        except (paramiko.SSHException, OSError, ValueError) as error:
            problems.append(f"{path}: {error}")
        if transport.is_authenticated():
            return
    if not cfg.identities_only:
        for key in paramiko.Agent().get_keys():
            try:
                transport.auth_publickey(cfg.user, key)
            except paramiko.AuthenticationException:
                problems.append(f"agent key {key.fingerprint}: refused")
            if transport.is_authenticated():
                return
    raise AuthenticationFailed(
        f"{name} refused to log in user {cfg.user!r}: "
        + ("; ".join(problems) or "no IdentityFile in the ssh_config"),
        "the machines accept Vagrant's insecure key (~/.vagrant.d/insecure_private_key); "
        "check User and IdentityFile in the ssh_config")


def _key_family(name: str) -> str:
    return "rsa" if name in ("ssh-rsa", "rsa-sha2-256", "rsa-sha2-512") else name
