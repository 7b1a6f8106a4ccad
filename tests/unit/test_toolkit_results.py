"""How results and errors read (no cluster needed)."""

import pytest

from labs.ssh.errors import CommandFailed, CommandTimeout, MachineDown
from labs.ssh.results import Result, clean_terminal, short_command


def test_ok_and_check():
    result = Result("core-01", "true", exit_status=0, duration=0.01)
    assert result.ok and result.check() is result
    assert "core-01" in repr(result) and "exit 0" in repr(result)


def test_command_failed_names_machine_command_status_and_stderr_tail():
    stderr = "".join(f"line {i}\n" for i in range(20))
    result = Result("core-02", "etcdctl get /nope", stdout="", stderr=stderr, exit_status=4,
                    duration=0.02)
    with pytest.raises(CommandFailed) as error:
        result.check()
    text = str(error.value)
    assert "core-02" in text and "`etcdctl get /nope`" in text and "status 4" in text
    assert "line 19" in text and "line 12" in text and "line 11" not in text
    assert error.value.result is result
    assert not isinstance(error.value, CommandTimeout)


def test_timeout_is_a_command_failed_and_shows_partial_output():
    result = Result("core-01", "echo start; sleep 9", stdout="start\n", exit_status=None,
                    duration=1.0, timed_out=True)
    with pytest.raises(CommandTimeout) as error:
        result.check()
    assert isinstance(error.value, CommandFailed) and isinstance(error.value, TimeoutError)
    assert "timed out after 1.0 s" in str(error.value) and "start" in str(error.value)
    assert error.value.result.stdout == "start\n"


def test_failure_over_several_machines_lists_only_the_failing_ones():
    results = {"core-01": Result("core-01", "x", exit_status=0),
               "core-02": Result("core-02", "x", exit_status=1, stderr="boom\n"),
               "core-03": Result("core-03", "x", exit_status=2)}
    error = CommandFailed(results)
    assert list(error.failed) == ["core-02", "core-03"]
    assert error.result.machine == "core-02"
    assert "core-01" not in str(error) and "boom" in str(error)


def test_short_command_for_scripts():
    assert short_command("echo hi") == "echo hi"
    assert short_command("set -e\necho a\necho b") == "set -e … (+2 lines)"
    assert len(short_command("x" * 200)) == 70


def test_machine_down_message_and_ipython_rendering():
    error = MachineDown("core-02", "127.0.0.1:2223: Connection refused")
    assert "core-02" in str(error) and "lab resume core-02" in str(error)
    assert any("MachineDown" in line for line in error._render_traceback_())


def test_clean_terminal():
    assert clean_terminal("\x1b[1;32m/ #\x1b[0m ls\r\nbin\r\n") == "/ # ls\nbin\n"
    assert clean_terminal("abc\rxyz\r\n") == "xyz\n"
