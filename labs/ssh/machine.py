"""One machine of the cluster, reached over ONE persistent SSH connection.

Every command is a new channel on a paramiko Transport (with keepalive), so there is no
TCP/SSH handshake per command. When the machine went away (`lab halt`) and came back (`lab
resume`), the next command notices the dead transport and connects again. Commands drain
stdout and stderr together, so output of any size never deadlocks, and a wall-clock timeout
returns (or raises with) the output produced so far.
"""

from __future__ import annotations

import codecs
import select
import threading
import time
from typing import Callable, Iterable

import paramiko

from labs.ssh.config import HostConfig
from labs.ssh.errors import ChannelRefused, MachineDown
from labs.ssh.results import Result, Transcript, clean_terminal, short_command
from labs.ssh.transport import (CHANNEL_OPEN_TIMEOUT_S, CONNECT_TIMEOUT_S, LabTransport, connect,
                                forward_agent, send_signal)

MAX_SESSIONS_PER_MACHINE = 8        # sshd's MaxSessions is 10 per connection
CHUNK = 65536

OutputCallback = Callable[[str], None]


class Machine:
    """One machine of the cluster, reached over one persistent SSH connection."""

    def __init__(self, name: str, config: HostConfig, connect_timeout: float = CONNECT_TIMEOUT_S):
        self.name = name
        self.config = config
        self.connect_timeout = config.connect_timeout or connect_timeout
        self._transport: LabTransport | None = None
        self._lock = threading.Lock()
        self._sessions = threading.BoundedSemaphore(MAX_SESSIONS_PER_MACHINE)
        self._opening = threading.Lock()    # one channel open at a time: see _open
        self._commands: set[paramiko.Channel] = set()   # command channels open now (run)
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
                self._transport = connect(self.name, self.config, self.connect_timeout)
                self.connects += 1
            return self._transport

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()
                self._transport = None

    def _running_on(self, transport: paramiko.Transport) -> bool:
        """Whether a command of ours is running on `transport` now."""
        return any(channel.get_transport() is transport for channel in list(self._commands))

    def _drop(self, transport: paramiko.Transport) -> None:
        with self._lock:
            if self._transport is transport:
                transport.close()
                self._transport = None

    def _lost(self, transport: LabTransport, doing: str, error: BaseException | None = None) -> MachineDown:
        """Forget a connection that died while DOING; the MachineDown to raise, with the reason
        the lab closed it (or the error that showed it dead)."""
        self._drop(transport)
        why = transport.closed_because or (f"{type(error).__name__} {error}".strip() if error else "")
        return MachineDown(self.name, f"connection lost {doing}" + (f" ({why})" if why else ""))

    # -- channels --

    def _open(self, opener: Callable[[LabTransport], paramiko.Channel], what: str,
              busy_retry: float = 0.0, hint: str = "") -> paramiko.Channel:
        """Open a channel, reconnecting once if the transport turns out to be dead.

        A live sshd that says no raises ChannelRefused. sshd refuses session channels beyond
        its MaxSessions (10, counting sessions it is still tearing down); with `busy_retry`
        such refusals are retried for that long. Opens are serialised: paramiko keeps the
        reason of a refusal in one slot per transport, and two opens refused at once could
        take each other's, leaving one a bare SSHException that looks like a dead connection.
        """
        reconnected = asked_again = False
        give_up = time.monotonic() + busy_retry
        delay = 0.01
        while True:
            transport = self.transport()
            try:
                with self._opening:
                    return opener(transport)
            except (paramiko.SSHException, EOFError, OSError) as error:
                if transport.is_active() and isinstance(error, paramiko.ChannelException):
                    if time.monotonic() < give_up:
                        time.sleep(delay)
                        delay = min(delay * 2, 0.2)
                        continue
                    raise ChannelRefused(self.name, what, error.code, error.text, hint) from None
                if transport.is_active() and not asked_again and self._running_on(transport):
                    # No answer in time ("Timeout opening channel.") from a connection that other
                    # commands are running on: a busy machine, not a dead one. Closing it would
                    # cut those commands off (flake 25), so ask once more on it first.
                    asked_again = True
                    continue
                transport.closed_because = f"opening {what}: {error or type(error).__name__}"
                self._drop(transport)
                if reconnected:
                    raise MachineDown(self.name, f"connection lost: {error or type(error).__name__}") from None
                reconnected = True

    def open_session(self) -> paramiko.Channel:
        return self._open(lambda t: t.open_session(timeout=CHANNEL_OPEN_TIMEOUT_S), "a session",
                          busy_retry=5.0, hint="too many commands at once? (sshd's MaxSessions)")

    def open_tcp(self, host: str, port: int) -> paramiko.Channel:
        """A `direct-tcpip` channel to host:port as seen from the machine (an SSH tunnel)."""
        return self._open(lambda t: t.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0),
                                                   timeout=CHANNEL_OPEN_TIMEOUT_S),
                          f"{host}:{port}", hint="does anything listen there? does sshd allow "
                                                 "TCP forwarding (AllowTcpForwarding)?")

    def open_unix(self, path: str) -> paramiko.Channel:
        """A channel to a unix socket on the machine (`direct-streamlocal@openssh.com`)."""
        return self._open(lambda t: t.open_streamlocal(path, timeout=CHANNEL_OPEN_TIMEOUT_S),
                          f"the unix socket {path}", hint="does the socket exist? does sshd allow "
                                                          "it (AllowStreamLocalForwarding)?")

    def _command_channel(self) -> paramiko.Channel:
        """A session for a command, with our ssh-agent offered if the ssh_config says so."""
        channel = self.open_session()
        if self.config.forward_agent:
            forward_agent(channel)
        return channel

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
            channel = self._command_channel()
            self._commands.add(channel)
            try:
                result = self._execute(channel, command, start, deadline, input,
                                       on_stdout, on_stderr)
            finally:
                self._commands.discard(channel)
                channel.close()
        if check:
            result.check()
        return result

    def _execute(self, channel, command, start, deadline, input, on_stdout, on_stderr) -> Result:
        transport = channel.get_transport()
        try:
            channel.exec_command(command)
        except (EOFError, OSError, paramiko.SSHException) as error:
            if transport.is_active():
                raise
            # sshd ended the connection just after the channel opened: the command never started
            raise self._lost(transport, f"before `{short_command(command)}` started", error) from None
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
                raise self._lost(transport, f"while running `{short_command(command)}`")
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
                 on_output: OutputCallback | None = None) -> Transcript:
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
            channel = self._command_channel()
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


def _feed(channel: paramiko.Channel, data: bytes) -> None:
    try:
        channel.sendall(data)
        channel.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):
        pass


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
