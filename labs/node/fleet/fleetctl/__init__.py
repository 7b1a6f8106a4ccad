"""`fleetctl`: fleet's command line, talking to fleetd's API (default) or to etcd directly
(`--driver=etcd`).

flags (parsing), invocation (one run's state and registry), units (create,
retarget, wait), the commands in three files, and cli (the command table and
main) — see docs/fleet.md, "fleetctl".
"""

from .cli import main, parse_command_line

__all__ = ["main", "parse_command_line"]
