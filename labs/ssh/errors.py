"""What goes wrong between the notebooks and the machines, each kind with a message and a hint."""

from __future__ import annotations

from labs.errors import LabError


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


class ChannelRefused(ClusterError):
    """sshd is up and answered, but would not open this channel (RFC 4254 open failure).

    `code` is the reason code sshd sent (1: administratively prohibited, e.g. forwarding
    switched off in sshd_config; 2: connect failed, e.g. nothing listens there).
    """

    def __init__(self, machine: str, what: str, code: int, reason: str, hint: str = ""):
        self.machine, self.what, self.code, self.reason = machine, what, code, reason
        super().__init__(f"{machine} refused a channel to {what}: {reason} (code {code})", hint)


class CommandFailed(ClusterError):
    """A command exited non-zero (or timed out) with check=True.

    `results` maps every machine the command ran on to its Result; `result` is the first
    one that failed. The message names machine, command, exit status and the last lines of
    stderr.
    """

    def __init__(self, results):
        if not isinstance(results, dict):           # one Result
            results = {results.machine: results}
        self.results = results
        self.failed = {name: r for name, r in results.items() if not r.ok}
        self.result = next(iter(self.failed.values()), next(iter(results.values())))
        super().__init__("\n".join(r.describe_failure() for r in self.failed.values()))


class CommandTimeout(CommandFailed, TimeoutError):
    """The command did not finish within its timeout; `result` holds the partial output."""
