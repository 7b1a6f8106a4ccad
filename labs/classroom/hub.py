"""JupyterHub for the classroom: PAM logins with the students' system accounts, one JupyterLab
each (LocalProcessSpawner, as the student), configurable-http-proxy in front, and the
teacher's service at /services/classroom/. The hub's configuration is
`classroom/jupyterhub_config.py`; this module installs the proxy and starts and stops the hub.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from labs.classroom import daemons
from labs.classroom.config import Classroom
from labs.errors import LabError
from labs.launcher.settings import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "classroom" / "jupyterhub_config.py"
PROXY_PACKAGE = "configurable-http-proxy@5"


def url(classroom: Classroom) -> str:
    host = classroom.hub_ip or os.uname().nodename
    return f"http://{host}:{classroom.hub_port}/"


def local_url(classroom: Classroom) -> str:
    return f"http://127.0.0.1:{classroom.hub_port}/"


def hub_dir(classroom: Classroom) -> Path:
    """The hub's database, cookie secret and service token: root only."""
    return classroom.path / "hub"


def service_token(classroom: Classroom) -> str:
    """The teacher service's API token (made once; the hub and `lab class` read it)."""
    path = hub_dir(classroom) / "classroom-service.token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def proxy_command(classroom: Classroom) -> Path:
    """configurable-http-proxy, from npm, installed into the classroom's root once."""
    prefix = classroom.path / "proxy"
    command = prefix / "node_modules" / ".bin" / "configurable-http-proxy"
    if command.exists():
        return command
    if shutil.which("npm") is None:
        raise LabError("JupyterHub's proxy needs Node.js and npm",
                       "install them: `sudo apt-get install nodejs npm`")
    done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
                           PROXY_PACKAGE], capture_output=True, text=True)
    if done.returncode != 0 or not command.exists():
        raise LabError(f"npm could not install {PROXY_PACKAGE}: {done.stderr.strip()[-800:]}")
    return command


def answers(classroom: Classroom) -> bool:
    try:
        with urllib.request.urlopen(local_url(classroom) + "hub/api/", timeout=2) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start(classroom: Classroom, config: Path) -> None:
    proxy = proxy_command(classroom)
    service_token(classroom)
    hub_dir(classroom).mkdir(parents=True, exist_ok=True, mode=0o700)
    jupyterhub = Path(sys.executable).with_name("jupyterhub")
    env = dict(os.environ, CLASSROOM_CONFIG=str(config), PYTHONPATH=str(PROJECT_ROOT),
               CLASSROOM_PROXY=str(proxy),
               PATH=f"{Path(proxy).parent}:{Path(sys.executable).parent}:{os.environ['PATH']}")
    daemons.start(classroom, "hub", [str(jupyterhub), "-f", str(CONFIG)], env=env,
                  cwd=str(hub_dir(classroom)))
    daemons.wait_until(lambda: answers(classroom), 90, "JupyterHub",
                       daemons.log_file(classroom, "hub"))


def stop(classroom: Classroom) -> None:
    """Stop the hub; its students' JupyterLab servers stop with it (cleanup_servers)."""
    daemons.stop(classroom, "hub", timeout=60)
