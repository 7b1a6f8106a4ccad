"""Commands on the learner's own computer (not on a machine), shown as a terminal shows them.

    from labs import host
    host.run("lab status")                        # in the project's root
    host.run("vagrant status", vagrant=True)      # in vagrant/ (a classroom student's ~/vagrant),
                                                  # with this lab's Vagrant settings

Each call prints `$ command` and its output, and fails the cell when the exit status is not
the expected one (`expect=None`: any). `lab` is found in the virtualenv of the notebook's
Python. A Vagrant command that finds a machine locked by another Vagrant process (a terminal,
another lab) is tried again, as `lab` does.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from pathlib import Path

from labs.launcher import settings as lab_settings, vagrant as lab_vagrant

LOCK_RETRY_S = 60


def environment(vagrant: bool = False, **extra: str) -> dict[str, str]:
    """The environment `lab` gives its commands: this lab's LAB_HOME (and Vagrant's settings)."""
    lab = lab_settings.load()
    env = lab_vagrant.environment(lab) if vagrant else dict(os.environ, LAB_HOME=lab.state)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.update(extra)
    return env


def shell(vagrant: bool = False, **defaults):
    """`run` with fixed options: `sh = host.shell(vagrant=True)`, then `sh("vagrant status")`."""
    return functools.partial(run, vagrant=vagrant, **defaults)


def run(command: str, *, vagrant: bool = False, env: dict[str, str] | None = None,
        expect: int | None = 0, timeout: float = 180, quiet: bool = False
        ) -> subprocess.CompletedProcess:
    """Run `command` in a shell on this computer; show it and its output (stderr folded in)."""
    cwd = lab_settings.load().work_dir if vagrant else lab_settings.PROJECT_ROOT
    env = env or environment(vagrant)
    if not quiet:
        print(f"$ {command}")
    deadline = time.monotonic() + LOCK_RETRY_S
    while True:
        done = subprocess.run(command, shell=True, cwd=cwd, env=env, text=True, timeout=timeout,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if lab_vagrant.LOCKED not in done.stdout or time.monotonic() > deadline:
            break
        time.sleep(1)
    if not quiet and done.stdout.strip():
        print(done.stdout.rstrip())
    if expect is not None and done.returncode != expect:
        raise AssertionError(f"`{command}` exited with status {done.returncode}, expected {expect}")
    return done
