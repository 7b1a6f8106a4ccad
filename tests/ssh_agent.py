"""An ssh-agent of a test's own, holding one key, stopped (by its PID) afterwards."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path


@contextlib.contextmanager
def ssh_agent(identity: str | Path, directory: Path):
    """Start `ssh-agent`, add `identity` to it, yield its socket's path."""
    socket_path = str(directory / "agent.sock")
    out = subprocess.run(["ssh-agent", "-s", "-a", socket_path], capture_output=True, text=True,
                         check=True).stdout
    pid = int(re.search(r"SSH_AGENT_PID=(\d+)", out).group(1))
    try:
        subprocess.run(["ssh-add", str(identity)], env=dict(os.environ, SSH_AUTH_SOCK=socket_path),
                       capture_output=True, check=True)
        yield socket_path
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10        # it removes its socket as it exits
        while os.path.exists(socket_path) and time.monotonic() < deadline:
            time.sleep(0.02)
