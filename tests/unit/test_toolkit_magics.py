"""Arguments of %remote / %%remote / %%interact, and how grouped output is labelled."""

import pytest

from labs.notebook import Labeller, UsageError, judge, parse_interact, parse_remote, RemoteArgs
from labs.ssh.errors import ClusterError, CommandFailed, CommandTimeout
from labs.ssh.results import Result


def test_cell_magic_machine_and_options_anywhere():
    args = parse_remote("core-01 --allow-fail --timeout 5", "echo hi\n")
    assert (args.target, args.command, args.allow_fail, args.timeout) == ("core-01", "echo hi\n", True, 5.0)
    args = parse_remote("--expect-fail --timeout=2.5 all", "false")
    assert (args.target, args.expect_fail, args.timeout) == ("all", True, 2.5)


def test_line_magic_keeps_the_command_verbatim():
    args = parse_remote("core-02 docker ps -a --format '{{.Names}}'  |  sort")
    assert args.target == "core-02"
    assert args.command == "docker ps -a --format '{{.Names}}'  |  sort"
    args = parse_remote("--allow-fail --timeout 3 core-02 etcdctl get --quorum /x")
    assert (args.allow_fail, args.timeout, args.command) == (True, 3.0, "etcdctl get --quorum /x")


@pytest.mark.parametrize("line, cell, message", [
    ("", "echo", "exactly one MACHINE"),
    ("core-01 core-02", "echo", "exactly one MACHINE"),
    ("core-01", "   \n", "no command"),
    ("core-01", None, "no command"),
    ("", None, "missing MACHINE"),
    ("--bogus core-01", "x", "unknown option"),
    ("--timeout core-01", "x", "number of seconds"),
    ("--timeout", None, "needs a value"),
    ("--timeout -1 core-01", "x", "positive"),
    ("--allow-fail --expect-fail core-01", "x", "exclude each other"),
    ("--allow-fail=yes core-01", "x", "takes no value"),
])
def test_usage_errors(line, cell, message):
    with pytest.raises(UsageError, match=message) as error:
        parse_remote(line, cell)
    assert "%%remote" in str(error.value)          # the usage is in the hint


def test_interact_arguments():
    args, inputs = parse_interact("--timeout 30 core-01 docker run -i -t --rm busybox /bin/sh",
                                  "hostname\nexit\n")
    assert args.target == "core-01" and args.timeout == 30.0
    assert args.command == "docker run -i -t --rm busybox /bin/sh"
    assert inputs == ["hostname", "exit"]
    with pytest.raises(UsageError, match="COMMAND"):
        parse_interact("core-01", "exit")


def test_labeller_prefixes_complete_lines_only():
    written = []
    labeller = Labeller("core-02", written.append)
    labeller.add("one\ntw")
    labeller.add("o\nthree")
    assert "".join(written) == "[core-02] one\n[core-02] two\n"
    labeller.flush()
    assert "".join(written).endswith("[core-02] three\n")


def _results(*statuses, timed_out=False):
    return {f"core-0{i}": Result(f"core-0{i}", "cmd", exit_status=s, timed_out=timed_out and s is None)
            for i, s in enumerate(statuses, start=1)}


def test_judge(capsys):
    judge(_results(0, 0), RemoteArgs("all", "cmd"))
    with pytest.raises(CommandFailed) as error:
        judge(_results(0, 2), RemoteArgs("all", "cmd"))
    assert list(error.value.failed) == ["core-02"]
    with pytest.raises(CommandTimeout):
        judge(_results(None, timed_out=True), RemoteArgs("core-01", "cmd"))
    judge(_results(0, 2), RemoteArgs("all", "cmd", allow_fail=True))
    assert "allowed" in capsys.readouterr().err
    judge(_results(1), RemoteArgs("core-01", "cmd", expect_fail=True))
    assert "as expected" in capsys.readouterr().err
    with pytest.raises(ClusterError, match="expected to fail, but succeeded on core-01"):
        judge(_results(0), RemoteArgs("core-01", "cmd", expect_fail=True))


def test_magics_register_in_ipython():
    from IPython.testing.globalipapp import get_ipython
    ip = get_ipython()
    ip.run_line_magic("load_ext", "labs")
    magics = ip.magics_manager.magics
    assert "remote" in magics["line"] and "remote" in magics["cell"]
    assert "interact" in magics["cell"]
