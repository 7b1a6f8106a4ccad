"""The classroom's long-running processes (broker, hub): started in the background with a pid
file and a log under the classroom's root, stopped by that pid (and only if it is still ours).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from labs.classroom.config import Classroom
from labs.errors import LabError

MARK = "COREOS_LAB_DAEMON"      # in the daemon's environment: which classroom's which daemon


def pid_file(classroom: Classroom, name: str) -> Path:
    return classroom.path / "run" / f"{name}.pid"


def log_file(classroom: Classroom, name: str) -> Path:
    return classroom.path / "logs" / f"{name}.log"


def running(classroom: Classroom, name: str) -> int | None:
    """The pid of NAME if it runs and is the process we started (its environment says so)."""
    path = pid_file(classroom, name)
    try:
        pid = int(path.read_text())
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if f"{MARK}={classroom.root}/{name}".encode() in environ else None


def start(classroom: Classroom, name: str, argv: list[str], env: dict | None = None,
          cwd: str = "/") -> int:
    """Start ARGV in the background unless NAME runs already; its pid."""
    pid = running(classroom, name)
    if pid:
        return pid
    for directory in (pid_file(classroom, name).parent, log_file(classroom, name).parent):
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(log_file(classroom, name), "ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True, cwd=cwd,
                                   env={**(env or os.environ), MARK: f"{classroom.root}/{name}"})
    pid_file(classroom, name).write_text(str(process.pid))
    return process.pid


def stop(classroom: Classroom, name: str, timeout: float = 20) -> bool:
    """Stop NAME (SIGTERM, then SIGKILL after TIMEOUT); False when it was not running."""
    pid = running(classroom, name)
    if pid is None:
        pid_file(classroom, name).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        try:                              # reap it if it is our child (tests start it so)
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)
    pid_file(classroom, name).unlink(missing_ok=True)
    return True


def wait_until(condition, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise LabError(f"{what} did not start within {timeout:.0f} s; its log ({log}):\n{tail}")
        time.sleep(0.2)
