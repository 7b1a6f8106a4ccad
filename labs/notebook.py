"""IPython magics: shell cells that run on the cluster's machines.

    %load_ext labs

    %%remote core-01                  # the cell is a shell script on core-01; output streams
    etcdctl ls /

    %%remote all                      # every machine at once; output grouped in machine order,
    hostname                          # each line labelled [core-0N]

    %remote core-02 docker ps         # line magic

    %%remote core-01 --expect-fail    # a "break it" step: must fail (--allow-fail: may fail)
    etcdctl get /does/not/exist

    %%interact core-01 docker run -i -t --rm busybox /bin/sh
    hostname                          # typed into the program, one line at a time, on a pty
    exit

A failing command raises CommandFailed (machine, command, exit status, last stderr lines), so
a notebook run by nbval fails at that cell. The last result is kept in `_remote`.

`%%interact` replays a fixed script of input lines (reproducible, testable). For a fully
interactive session, open a JupyterLab terminal (File > New > Terminal) and log in with
`lab ssh core-01` (`.venv/bin/lab ssh core-01` when the virtualenv is not activated).
"""

from __future__ import annotations

import queue
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from labs.cluster import Cluster
from labs.ssh.errors import ClusterError, CommandFailed, CommandTimeout
from labs.ssh.results import Result, short_command

USAGE = """\
usage:
  %%remote [--allow-fail | --expect-fail] [--timeout SECONDS] MACHINE|all|m1,m2
  %remote  [--allow-fail | --expect-fail] [--timeout SECONDS] MACHINE|all|m1,m2 COMMAND...
  %%interact [--timeout SECONDS] [--settle SECONDS] [--allow-fail] MACHINE COMMAND..."""

_cluster: Cluster | None = None


class UsageError(ClusterError, ValueError):
    pass


def cluster() -> Cluster:
    """The cluster the magics use: `use(cluster)` if called, else `Cluster.default()`."""
    return _cluster if _cluster is not None else Cluster.default()


def use(new_cluster: Cluster | None) -> None:
    """Make the magics run on `new_cluster` (None: back to the default ssh_config)."""
    global _cluster
    _cluster = new_cluster


# --- arguments -------------------------------------------------------------------------------

@dataclass
class RemoteArgs:
    target: str
    command: str
    allow_fail: bool = False
    expect_fail: bool = False
    timeout: float | None = None
    settle: float = 0.4


def _take_options(tokens: list[str], args: dict, allowed: set[str]) -> list[str]:
    """Consume leading options from tokens into args; return what is left."""
    rest = list(tokens)
    while rest and rest[0].startswith("--"):
        option = rest.pop(0)
        name, has_value, value = option[2:].partition("=")
        if name not in allowed:
            raise UsageError(f"unknown option {option!r}", USAGE)
        if name in ("allow-fail", "expect-fail"):
            if has_value:
                raise UsageError(f"--{name} takes no value", USAGE)
            args[name.replace("-", "_")] = True
            continue
        if not has_value:
            if not rest:
                raise UsageError(f"--{name} needs a value", USAGE)
            value = rest.pop(0)
        try:
            args[name] = float(value)
        except ValueError:
            raise UsageError(f"--{name} needs a number of seconds, not {value!r}", USAGE) from None
        if args[name] <= 0:
            raise UsageError(f"--{name} must be positive", USAGE)
    return rest


def _first_word(text: str) -> tuple[str, str]:
    """The first whitespace-separated word of text, and the rest (stripped, verbatim)."""
    parts = text.strip().split(None, 1)
    return (parts[0], parts[1].strip() if len(parts) > 1 else "") if parts else ("", "")


def parse_remote(line: str, cell: str | None = None) -> RemoteArgs:
    """Arguments of `%remote` (cell is None) and `%%remote` (the cell is the command)."""
    allowed = {"allow-fail", "expect-fail", "timeout"}
    args: dict = {}
    if cell is not None:
        try:
            tokens = shlex.split(line)
        except ValueError as error:
            raise UsageError(f"cannot parse {line!r}: {error}", USAGE) from None
        targets = []
        while tokens:
            tokens = _take_options(tokens, args, allowed)
            if tokens:
                targets.append(tokens.pop(0))
        if len(targets) != 1:
            raise UsageError("%%remote needs exactly one MACHINE (or `all`)", USAGE)
        command = cell
        target = targets[0]
    else:
        target, command = _target_and_command(line, args, allowed)
    if not command.strip():
        raise UsageError("no command to run", USAGE)
    if args.get("allow_fail") and args.get("expect_fail"):
        raise UsageError("--allow-fail and --expect-fail exclude each other", USAGE)
    return RemoteArgs(target=target, command=command, allow_fail=args.get("allow_fail", False),
                      expect_fail=args.get("expect_fail", False), timeout=args.get("timeout"))


def _target_and_command(line: str, args: dict, allowed: set[str]) -> tuple[str, str]:
    """Options, then MACHINE, then the command: the rest of the line, quoting untouched."""
    rest = line
    while True:
        word, rest = _first_word(rest)
        if not word:
            raise UsageError("missing MACHINE", USAGE)
        if not word.startswith("--"):
            return word, rest
        tokens = [word]
        if "=" not in word and word not in ("--allow-fail", "--expect-fail"):
            value, rest = _first_word(rest)
            tokens += [value] if value else []
        _take_options(tokens, args, allowed)


def parse_interact(line: str, cell: str) -> tuple[RemoteArgs, list[str]]:
    """Arguments of `%%interact`: options, MACHINE, COMMAND; the cell's lines are the input."""
    args: dict = {}
    target, command = _target_and_command(line, args, {"timeout", "settle", "allow-fail"})
    if not command:
        raise UsageError("%%interact needs a COMMAND after the machine", USAGE)
    parsed = RemoteArgs(target=target, command=command, allow_fail=args.get("allow_fail", False),
                        timeout=args.get("timeout", 60.0), settle=args.get("settle", 0.4))
    return parsed, cell.splitlines()


# --- output ----------------------------------------------------------------------------------

class Labeller:
    """Text chunks -> complete lines prefixed `[machine] ` (partial lines wait for the rest)."""

    def __init__(self, label: str, write):
        self.prefix = f"[{label}] "
        self.write = write
        self.pending = ""

    def add(self, text: str) -> None:
        text = self.pending + text
        *lines, self.pending = text.split("\n")
        if lines:
            self.write("".join(f"{self.prefix}{line}\n" for line in lines))

    def flush(self) -> None:
        if self.pending:
            self.write(f"{self.prefix}{self.pending}\n")
            self.pending = ""


def _write_out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _write_err(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def run_streaming(target_cluster: Cluster, args: RemoteArgs) -> dict[str, Result]:
    """Run args.command on args.target, streaming output into the cell; then judge it."""
    names = target_cluster.select(args.target)
    if len(names) == 1 and args.target != "all":
        name = names[0]
        result = target_cluster[name].run(args.command, timeout=args.timeout, check=False,
                                          on_stdout=_write_out, on_stderr=_write_err)
        results = {name: result}
    else:
        results = _run_grouped(target_cluster, names, args)
    judge(results, args)
    return results


def _run_grouped(target_cluster: Cluster, names: list[str], args: RemoteArgs) -> dict[str, Result]:
    """All machines at once; the cell shows them one after the other, in machine order.

    The first machine streams live; the others' output waits in a queue until it is their
    turn (by then it may be complete). Only this (the kernel's main) thread prints.
    """
    queues = {name: queue.Queue() for name in names}

    def on_output(machine, stream, text):
        queues[machine].put((stream, text))

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        futures = {name: pool.submit(target_cluster.run_all, args.command, timeout=args.timeout,
                                     check=False, machines=[name], on_output=on_output)
                   for name in names}
        results = {}
        for name in names:
            out = Labeller(name, _write_out)
            err = Labeller(name, _write_err)
            future = futures[name]
            while True:
                try:
                    stream, text = queues[name].get(timeout=0.05)
                except queue.Empty:
                    if future.done() and queues[name].empty():
                        break
                    continue
                (out if stream == "stdout" else err).add(text)
            out.flush()
            err.flush()
            results[name] = future.result()[name]
            if results[name].error:
                _write_err(f"[{name}] not reachable: {results[name].error}\n")
    return results


def judge(results: dict[str, Result], args: RemoteArgs) -> None:
    """Raise as nbval needs it: failures (unless allowed), or success when failure was expected."""
    unreachable = [r for r in results.values() if r.error is not None]
    if unreachable and not args.allow_fail:
        raise unreachable[0].exception
    failed = {name: r for name, r in results.items() if not r.ok}
    if args.expect_fail:
        succeeded = [name for name, r in results.items() if r.ok]
        if succeeded:
            raise ClusterError(
                f"`{short_command(args.command)}` was expected to fail, but succeeded on "
                f"{', '.join(succeeded)}",
                "this step breaks something on purpose: check the previous cells")
        for name, result in failed.items():
            _write_err(f"[{name}: {result.status_text()}, as expected]\n")
        return
    if failed and args.allow_fail:
        for name, result in failed.items():
            _write_err(f"[{name}: {result.status_text()}, allowed]\n")
        return
    if failed:
        if any(r.timed_out for r in failed.values()):
            raise CommandTimeout(results)
        raise CommandFailed(results)


# --- the magics ------------------------------------------------------------------------------

def _remember(ipython, value) -> None:
    if ipython is not None:
        ipython.user_ns["_remote"] = value


def remote(line: str, cell: str | None = None):
    args = parse_remote(line, cell)
    results = run_streaming(cluster(), args)
    return results


def interact(line: str, cell: str):
    args, inputs = parse_interact(line, cell)
    machine = cluster()[args.target]
    transcript = machine.interact(args.command, inputs, timeout=args.timeout, settle=args.settle)
    _write_out(f"{args.target}$ {args.command}\n{transcript.text.rstrip()}\n")
    if transcript.timed_out:
        raise ClusterError(f"{args.target}: `{short_command(args.command)}` still ran after "
                           f"{args.timeout:.0f} s; it was stopped",
                           "end the program with your last input line (e.g. `exit`), or pass "
                           "--timeout")
    if not transcript.ok and not args.allow_fail:
        raise ClusterError(f"{args.target}: `{short_command(args.command)}` ended with exit "
                           f"status {transcript.exit_status}", "see the transcript above")
    return transcript


def load_ipython_extension(ipython) -> None:
    """`%load_ext labs` (or `%load_ext labs.notebook`)."""
    from IPython.core.magic import no_var_expand   # docker's {{.Names}} must stay as typed

    @no_var_expand
    def remote_magic(line, cell=None):
        _remember(ipython, remote(line, cell))

    @no_var_expand
    def interact_magic(line, cell):
        _remember(ipython, interact(line, cell))

    ipython.register_magic_function(remote_magic, "line_cell", "remote")
    ipython.register_magic_function(interact_magic, "cell", "interact")


__all__ = ["cluster", "use", "parse_remote", "parse_interact", "run_streaming",
           "load_ipython_extension", "RemoteArgs", "UsageError"]
