"""The cluster as the notebooks see it: machines reached over SSH, nothing else.

    from labs import Cluster
    cluster = Cluster.from_ssh_config()            # $LAB_SSH_CONFIG or <LAB_HOME>/ssh_config
    cluster["core-01"].run("etcdctl ls /")         # -> Result(stdout, stderr, exit_status, ...)
    cluster.run_all("hostname")                    # -> {"core-01": Result, ...} in parallel

The ssh_config written by `lab up` is the only contract with the machines: how they were
launched (Vagrant + docker, VMs, a classroom's remote hosts) does not matter here.

Each machine keeps ONE persistent SSH connection (a paramiko Transport, with keepalive):
every command is a new channel on it, so there is no TCP/SSH handshake per command. When
the machine went away (`lab halt`) and came back (`lab resume`), the next command notices
the dead transport and connects again. Host keys are checked against the known_hosts file
the ssh_config names (pinned by `lab up`); an unknown or changed key is refused, never
learned. Commands drain stdout and stderr together, so output of any size never deadlocks,
and a wall-clock timeout returns (or raises with) the output produced so far.
"""

from __future__ import annotations

import codecs
import os
import select
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import paramiko
from paramiko.common import cMSG_CHANNEL_OPEN, cMSG_CHANNEL_REQUEST
from paramiko.message import Message

from labs.errors import LabError
from labs.sshconfig import HostConfig, SSHConfigFile

CONNECT_TIMEOUT_S = 10.0
CHANNEL_OPEN_TIMEOUT_S = 15.0
KEEPALIVE_S = 15
MAX_SESSIONS_PER_MACHINE = 8        # sshd's MaxSessions is 10 per connection
STDERR_TAIL_LINES = 8
CHUNK = 65536

OutputCallback = Callable[[str], None]


# --- errors ----------------------------------------------------------------------------------

class ClusterError(LabError):
    """Something about the cluster a learner can understand and fix (message + hint)."""

    def _render_traceback_(self):           # IPython: show the message, not our internals
        return [f"\x1b[1;31m{type(self).__name__}\x1b[0m: {self}"]


class ClusterNotRunning(ClusterError):
    pass


class UnknownMachine(ClusterError, LookupError):
    pass


class MachineDown(ClusterError, ConnectionError):
    def __init__(self, machine: str, detail: str):
        self.machine = machine
        super().__init__(f"{machine} is not reachable over SSH ({detail})",
                         f"is it halted? start it again with `lab resume {machine}` "
                         "(see `lab status`)")


class AuthenticationFailed(ClusterError, PermissionError):
    pass


class HostKeyError(ClusterError):
    pass


class CommandFailed(ClusterError):
    """A command exited non-zero (or timed out) with check=True.

    `results` maps every machine the command ran on to its Result; `result` is the first
    one that failed. The message names machine, command, exit status and the last lines of
    stderr.
    """

    def __init__(self, results: "dict[str, Result] | Result"):
        if isinstance(results, Result):
            results = {results.machine: results}
        self.results = results
        self.failed = {name: r for name, r in results.items() if not r.ok}
        self.result = next(iter(self.failed.values()), next(iter(results.values())))
        super().__init__("\n".join(r.describe_failure() for r in self.failed.values()))


class CommandTimeout(CommandFailed, TimeoutError):
    """The command did not finish within its timeout; `result` holds the partial output."""


# --- results ---------------------------------------------------------------------------------

def short_command(command: str, width: int = 70) -> str:
    lines = command.strip().splitlines() or [""]
    text = lines[0] if len(lines) == 1 else f"{lines[0]} … (+{len(lines) - 1} lines)"
    return text if len(text) <= width else text[: width - 1] + "…"


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> list[str]:
    return text.rstrip("\n").splitlines()[-lines:] if text.strip() else []


@dataclass
class Result:
    """What one command did on one machine."""

    machine: str
    command: str
    stdout: str = ""
    stderr: str = ""
    exit_status: int | None = None      # None: timed out, or the machine was not reachable
    duration: float = 0.0               # seconds, wall clock
    timed_out: bool = False
    error: str | None = None            # why there is no exit status (run_all, check=False)
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.timed_out and self.error is None

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    def check(self) -> "Result":
        """Raise CommandFailed / CommandTimeout unless the command succeeded."""
        if self.timed_out:
            raise CommandTimeout(self)
        if not self.ok:
            raise CommandFailed(self)
        return self

    def status_text(self) -> str:
        if self.error:
            return f"did not run: {self.error}"
        if self.timed_out:
            return f"timed out after {self.duration:.1f} s"
        if self.exit_status is None or self.exit_status < 0:
            return f"ended without an exit status (killed by a signal?) after {self.duration:.2f} s"
        return f"exited with status {self.exit_status} after {self.duration:.2f} s"

    def describe_failure(self) -> str:
        text = f"{self.machine}: `{short_command(self.command)}` {self.status_text()}"
        err = tail(self.stderr)
        if err:
            text += "\n  last lines of stderr:\n" + "\n".join(f"    {line}" for line in err)
        if self.timed_out:
            out = tail(self.stdout, 5)
            if out:
                text += "\n  output so far (last lines):\n" + "\n".join(f"    {l}" for l in out)
        return text

    def __str__(self) -> str:
        return self.stdout

    def __repr__(self) -> str:
        return (f"<Result {self.machine} `{short_command(self.command, 40)}`: "
                f"{'exit ' + str(self.exit_status) if self.exit_status is not None else self.status_text()}"
                f", {self.duration * 1000:.0f} ms, {len(self.stdout)} bytes stdout>")

    def _repr_pretty_(self, printer, cycle):
        printer.text(repr(self))
        if self.stdout:
            printer.text("\n" + self.stdout.rstrip("\n"))
        if self.stderr:
            printer.text("\n[stderr]\n" + self.stderr.rstrip("\n"))


# --- one machine -----------------------------------------------------------------------------

class LabTransport(paramiko.Transport):
    """paramiko's Transport plus OpenSSH's `direct-streamlocal` channels (unix sockets)."""

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


class Machine:
    """One machine of the cluster, reached over one persistent SSH connection."""

    def __init__(self, name: str, config: HostConfig, connect_timeout: float = CONNECT_TIMEOUT_S):
        self.name = name
        self.config = config
        self.connect_timeout = config.connect_timeout or connect_timeout
        self._transport: LabTransport | None = None
        self._lock = threading.Lock()
        self._sessions = threading.BoundedSemaphore(MAX_SESSIONS_PER_MACHINE)
        self.connects = 0                   # how many SSH handshakes so far (for tests/bench)

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<Machine {self.name} {self.config.user}@{self.config.address} ({state})>"

    # -- the connection --

    @property
    def connected(self) -> bool:
        return self._transport is not None and self._transport.is_active()

    def transport(self) -> LabTransport:
        """The live transport, connecting (again) if there is none or it died."""
        with self._lock:
            if self._transport is None or not self._transport.is_active():
                if self._transport is not None:
                    self._transport.close()
                self._transport = self._connect()
            return self._transport

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()
                self._transport = None

    def _drop(self, transport: paramiko.Transport) -> None:
        with self._lock:
            if self._transport is transport:
                transport.close()
                self._transport = None

    def _connect(self) -> LabTransport:
        cfg = self.config
        try:
            sock = socket.create_connection((cfg.hostname, cfg.port), timeout=self.connect_timeout)
        except socket.timeout:
            raise MachineDown(self.name, f"{cfg.address}: no answer within "
                                         f"{self.connect_timeout:.0f} s") from None
        except OSError as error:
            raise MachineDown(self.name, f"{cfg.address}: {error.strerror or error}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = LabTransport(sock)
        try:
            known = self._known_host_keys()
            if known:
                offered = [t for t in transport.get_security_options().key_types
                           if _key_family(t) in {_key_family(k) for k in known}]
                if offered:
                    transport.get_security_options().key_types = offered
            transport.banner_timeout = self.connect_timeout
            transport.handshake_timeout = self.connect_timeout
            try:
                transport.start_client(timeout=self.connect_timeout)
            except (paramiko.SSHException, EOFError, OSError) as error:
                raise MachineDown(self.name, f"{cfg.address}: SSH handshake failed: "
                                             f"{error or type(error).__name__}") from None
            self._verify_host_key(transport.get_remote_server_key(), known)
            self._authenticate(transport)
            transport.set_keepalive(KEEPALIVE_S)
            transport.channel_timeout = CHANNEL_OPEN_TIMEOUT_S
        except BaseException:
            transport.close()
            raise
        self.connects += 1
        return transport

    def _known_host_keys(self) -> dict[str, paramiko.PKey]:
        keys = paramiko.HostKeys()
        for path in self.config.known_hosts_files:
            if os.path.exists(path):
                try:
                    keys.load(path)
                except (OSError, paramiko.SSHException, ValueError):
                    continue
        return dict(keys.lookup(self.config.host_key_name) or {})

    def _verify_host_key(self, key: paramiko.PKey, known: dict[str, paramiko.PKey]) -> None:
        cfg = self.config
        files = ", ".join(cfg.known_hosts_files) or "(none)"
        fingerprint = f"{key.get_name()} {key.fingerprint}"
        if not known:
            raise HostKeyError(
                f"{self.name} ({cfg.host_key_name}) offered host key {fingerprint}, but "
                f"{files} has no key for it: refusing to connect",
                "the lab pins each machine's host key when it boots; run `lab up` "
                "(or point LAB_SSH_CONFIG at the right cluster's ssh_config)")
        pinned = known.get(key.get_name())
        if pinned is None or pinned != key:
            raise HostKeyError(
                f"{self.name} ({cfg.host_key_name}) presented host key {fingerprint}, which "
                f"does not match the key pinned in {files}: refusing to connect",
                "if the machine was rebuilt (`lab down` / `lab up`), run `lab up` to pin its "
                "new key; otherwise something else answers on that port")

    def _authenticate(self, transport: paramiko.Transport) -> None:
        cfg = self.config
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
            f"{self.name} refused to log in user {cfg.user!r}: "
            + ("; ".join(problems) or "no IdentityFile in the ssh_config"),
            "the machines accept Vagrant's insecure key (~/.vagrant.d/insecure_private_key); "
            "check User and IdentityFile in the ssh_config")

    # -- channels --

    def _open(self, opener: Callable[[LabTransport], paramiko.Channel],
              busy_retry: float = 0.0) -> paramiko.Channel:
        """Open a channel, reconnecting once if the transport turns out to be dead.

        sshd refuses session channels beyond its MaxSessions (10, counting sessions it is
        still tearing down); with `busy_retry` such refusals are retried for that long.
        """
        reconnected = False
        give_up = time.monotonic() + busy_retry
        delay = 0.01
        while True:
            transport = self.transport()
            try:
                return opener(transport)
            except (paramiko.SSHException, EOFError, OSError) as error:
                if transport.is_active() and isinstance(error, paramiko.ChannelException):
                    if time.monotonic() < give_up:
                        time.sleep(delay)
                        delay = min(delay * 2, 0.2)
                        continue
                    raise ClusterError(f"{self.name} refused a channel: {error}") from None
                self._drop(transport)
                if reconnected:
                    raise MachineDown(self.name, f"connection lost: {error or type(error).__name__}") from None
                reconnected = True

    def open_session(self) -> paramiko.Channel:
        return self._open(lambda t: t.open_session(timeout=CHANNEL_OPEN_TIMEOUT_S), busy_retry=5.0)

    def open_tcp(self, host: str, port: int) -> paramiko.Channel:
        """A `direct-tcpip` channel to host:port as seen from the machine (an SSH tunnel)."""
        return self._open(lambda t: t.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0),
                                                   timeout=CHANNEL_OPEN_TIMEOUT_S))

    def open_unix(self, path: str) -> paramiko.Channel:
        """A channel to a unix socket on the machine (`direct-streamlocal@openssh.com`)."""
        return self._open(lambda t: t.open_streamlocal(path, timeout=CHANNEL_OPEN_TIMEOUT_S))

    # -- commands --

    def run(self, command: str, timeout: float | None = None, check: bool = True, *,
            input: str | bytes | None = None, on_stdout: OutputCallback | None = None,
            on_stderr: OutputCallback | None = None) -> Result:
        """Run `command` with the machine's shell and wait for it.

        Returns a Result (stdout, stderr, exit_status, duration). With check=True a non-zero
        exit raises CommandFailed and a timeout raises CommandTimeout (both carry `.result`,
        with the output produced so far). `on_stdout`/`on_stderr` receive text as it arrives.
        `input` is fed to the command's stdin, which is closed afterwards (also without input).
        """
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        with self._sessions:
            channel = self.open_session()
            try:
                result = self._execute(channel, command, start, deadline, input,
                                       on_stdout, on_stderr)
            finally:
                channel.close()
        if check:
            result.check()
        return result

    def _execute(self, channel, command, start, deadline, input, on_stdout, on_stderr) -> Result:
        channel.exec_command(command)
        feeder = None
        if input is None:
            channel.shutdown_write()
        else:
            data = input.encode() if isinstance(input, str) else input
            feeder = threading.Thread(target=_feed, args=(channel, data), daemon=True)
            feeder.start()

        out = _Stream(on_stdout)
        err = _Stream(on_stderr)
        timed_out = False
        transport = channel.get_transport()
        while True:
            while channel.recv_stderr_ready():
                err.add(channel.recv_stderr(CHUNK))
            while channel.recv_ready():
                data = channel.recv(CHUNK)
                if not data:
                    break
                out.add(data)
            # Done when the server closed the channel and both buffers are drained. Not at EOF:
            # sshd sends EOF when the command's stdout closes, and stderr may still follow.
            if channel.closed and not channel.recv_ready() and not channel.recv_stderr_ready():
                break
            wait = 1.0
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                wait = min(wait, remaining)
            if channel.eof_received:
                # paramiko's select pipe stays readable after EOF: selecting would spin (and
                # starve the other machines' threads in run_all). Wait for exit-status/close.
                if channel.status_event.wait(wait) and not channel.closed:
                    time.sleep(0.0005)
            else:
                select.select([channel], [], [], wait)
            if not transport.is_active() and not channel.recv_ready() and not channel.recv_stderr_ready():
                self._drop(transport)
                raise MachineDown(self.name, f"connection lost while running "
                                             f"`{short_command(command)}`")
        exit_status = None
        if timed_out:
            send_signal(channel, "TERM")
        else:
            remaining = 10.0 if deadline is None else max(deadline - time.monotonic(), 0.0)
            if channel.status_event.wait(remaining):
                exit_status = channel.exit_status
            else:
                timed_out = True
        if feeder is not None:
            feeder.join(0.1)
        return Result(self.name, command, out.text(), err.text(), exit_status,
                      time.monotonic() - start, timed_out)

    def interact(self, command: str, inputs: Iterable[str] = (), timeout: float = 60,
                 settle: float = 0.4, startup: float = 10, width: int = 100,
                 on_output: OutputCallback | None = None) -> "Transcript":
        """Run an interactive program on a terminal (pty), typing `inputs` one line at a time.

        Before the first line it waits for the program's first output (at most `startup`
        seconds, e.g. a container starting), before each line until the output has been quiet
        for `settle` seconds. Returns the Transcript, with the terminal's control sequences
        stripped; stderr is part of the terminal's output. After `timeout` seconds in all, the
        program is stopped (SIGHUP) and the transcript says timed_out.
        """
        start = time.monotonic()
        deadline = start + timeout
        with self._sessions:
            channel = self.open_session()
            try:
                channel.get_pty(term="dumb", width=width, height=40)
                channel.exec_command(command)
                screen = _Stream(on_output)
                transport = channel.get_transport()

                def pump(first_wait: float | None) -> None:
                    """Read until quiet (settle s after output, first_wait s without any)."""
                    start = last = time.monotonic()
                    seen = False
                    while time.monotonic() < deadline:
                        while channel.recv_ready():
                            data = channel.recv(CHUNK)
                            if not data:
                                break
                            screen.add(data)
                            seen, last = True, time.monotonic()
                        if channel.eof_received or channel.closed or not transport.is_active():
                            return
                        now = time.monotonic()
                        if first_wait is not None and (
                                (seen and now - last >= settle) or (not seen and now - start >= first_wait)):
                            return
                        select.select([channel], [], [], 0.05)

                for number, line in enumerate(inputs):
                    pump(startup if number == 0 else settle)
                    if channel.eof_received or channel.closed:
                        break
                    channel.sendall((line + "\n").encode())
                pump(None)
                timed_out = not (channel.eof_received or channel.closed)
                status = None
                if not timed_out and channel.status_event.wait(max(deadline - time.monotonic(), 1)):
                    status = channel.exit_status
                if timed_out:
                    send_signal(channel, "HUP")
            finally:
                channel.close()
        return Transcript(self.name, command, clean_terminal(screen.text()), status,
                          time.monotonic() - start, timed_out)


@dataclass
class Transcript:
    """What an interactive session looked like on the terminal."""

    machine: str
    command: str
    text: str
    exit_status: int | None
    duration: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def __str__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer, cycle):
        printer.text(f"{self.machine}$ {self.command}\n{self.text.rstrip()}\n"
                     f"[{'timed out' if self.timed_out else f'exit status {self.exit_status}'}]")


_ANSI = None


def clean_terminal(text: str) -> str:
    """Terminal output as plain text: no escape sequences, `\\r\\n` -> `\\n`."""
    global _ANSI
    if _ANSI is None:
        import re
        _ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*(\x07|\x1b\\)|[@-Z\\-_])")
    text = _ANSI.sub("", text).replace("\r\n", "\n")
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def _feed(channel: paramiko.Channel, data: bytes) -> None:
    try:
        channel.sendall(data)
        channel.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):
        pass


def _key_family(name: str) -> str:
    return "rsa" if name in ("ssh-rsa", "rsa-sha2-256", "rsa-sha2-512") else name


class _Stream:
    """Bytes collected from a channel, decoded incrementally, optionally passed on live."""

    def __init__(self, callback: OutputCallback | None):
        self.callback = callback
        self.parts: list[str] = []
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def add(self, data: bytes) -> None:
        text = self.decoder.decode(data)
        if text:
            self.parts.append(text)
            if self.callback is not None:
                self.callback(text)

    def text(self) -> str:
        rest = self.decoder.decode(b"", final=True)
        if rest:
            self.parts.append(rest)
            if self.callback is not None:
                self.callback(rest)
        return "".join(self.parts)


# --- the cluster -----------------------------------------------------------------------------

def default_ssh_config_path() -> Path:
    """`$LAB_SSH_CONFIG`, else the lab's state directory (`$LAB_HOME` or `.lab/`) + ssh_config."""
    override = os.environ.get("LAB_SSH_CONFIG")
    if override:
        return Path(override).expanduser().resolve()
    from labs.settings import state_dir
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
        from labs.tunnels import EtcdTunnel, LabEtcdClient
        if machine is None and failover:
            with self._shared.lock:
                if self._shared.etcd_tunnel is None or self._shared.etcd_tunnel.closed:
                    self._shared.etcd_tunnel = EtcdTunnel(self, self.machines)
                tunnel = self._shared.etcd_tunnel
            return LabEtcdClient(tunnel, read_timeout=read_timeout)
        first = self.select(machine)[0] if machine else self.machines[0]
        order = [first] + ([m for m in self.machines if m != first] if failover else [])
        return LabEtcdClient(EtcdTunnel(self, order), read_timeout=read_timeout, owns_tunnel=True)

    def docker(self, machine: str, timeout: float = 60):
        """A docker SDK client (`docker.DockerClient`) for `machine`'s own docker daemon.

        Every HTTP connection is an SSH channel to /var/run/docker.sock on the machine, on
        the machine's one pinned SSH connection. Nothing is published to the host.
        """
        from labs.tunnels import docker_client
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
