"""`lab`'s command table: every row is a command, hidden rows stay out of the help."""

from __future__ import annotations

import subprocess
import sys

from labs.launcher import cli


def test_every_command_of_the_table_parses_and_only_public_ones_show_in_help():
    parser = cli.build_parser()
    help_text = parser.format_help()
    for name, command in cli.COMMANDS.items():
        assert (f"    {name}" in help_text) != command.hidden, name
    assert "SUPPRESS" not in help_text
    assert parser.parse_args(["halt", "core-02", "core-03"]).machines == ["core-02", "core-03"]
    assert parser.parse_args(["discovery", "new", "--size", "5"]).size == 5


def test_an_unknown_command_exits_2_with_the_list():
    result = subprocess.run([sys.executable, "-m", "labs.launcher.cli", "launch"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "invalid choice: 'launch'" in result.stderr and "'up'" in result.stderr
