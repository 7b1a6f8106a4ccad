"""What a command did on a machine (Result) and what a terminal session showed (Transcript)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from labs.ssh.errors import CommandFailed, CommandTimeout

STDERR_TAIL_LINES = 8
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*(\x07|\x1b\\)|[@-Z\\-_])")


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


def clean_terminal(text: str) -> str:
    """Terminal output as plain text: no escape sequences, `\\r\\n` -> `\\n`."""
    text = _ANSI.sub("", text).replace("\r\n", "\n")
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))
