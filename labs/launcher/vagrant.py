"""Running Vagrant on the lab's Vagrantfile, with the lab's state directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from labs.errors import LabError
from labs.launcher.settings import VAGRANT_DIR, LabSettings

INSTALL_HINT = ("install it: `sudo apt-get install --no-install-recommends vagrant` on "
                "Debian/Ubuntu, or from https://developer.hashicorp.com/vagrant/install")


def environment(settings: LabSettings) -> dict[str, str]:
    """Vagrant's environment: a lab outside `.lab/` keeps its machine records apart."""
    env = dict(os.environ, VAGRANT_CWD=str(VAGRANT_DIR), LAB_HOME=settings.state,
               VAGRANT_DEFAULT_PROVIDER=os.environ.get("VAGRANT_DEFAULT_PROVIDER", "docker"),
               VAGRANT_CHECKPOINT_DISABLE="1")
    if settings.vagrant_dotfile_path:
        env["VAGRANT_DOTFILE_PATH"] = settings.vagrant_dotfile_path
    if settings.vagrant_home:
        env["VAGRANT_HOME"] = settings.vagrant_home
    return env


LOCKED = "because it is locked"   # another Vagrant process works on the same machine
LOCK_WAIT_S = 300                  # a `vagrant up` of another lab may hold it that long
KEEP_DISCOVERY_ENV = "LAB_KEEP_DISCOVERY"  # a retried `vagrant up` keeps the token it minted


def vagrant(settings: LabSettings, *args: str, capture: bool = False, check: bool = True,
            prepared: bool = False) -> subprocess.CompletedProcess:
    """Run `vagrant ARGS`; its own output streams to the terminal unless captured.

    `prepared`: the lab has just built what the machines need (`lifecycle.prepare`), so the
    Vagrantfile skips that step (it does it itself when you type `vagrant up`).

    A command that finds a machine locked by a concurrent Vagrant process (a notebook and
    a terminal at once, or another lab: Vagrant's machine index is per user) waits for the
    lock and tries again.
    """
    if shutil.which("vagrant") is None:
        raise LabError("Vagrant is not installed", INSTALL_HINT)
    deadline = time.monotonic() + LOCK_WAIT_S
    env = environment(settings) | ({"LAB_PREPARED": "1"} if prepared else {})
    while True:
        result = run_streaming(["vagrant", *args], env, echo=not capture)
        if result.returncode == 0 or LOCKED not in result.stdout or time.monotonic() > deadline:
            break
        env[KEEP_DISCOVERY_ENV] = "1"   # config.rb mints a token on every `up`: not again
        time.sleep(2)
    if check and result.returncode != 0:
        detail = result.stdout.strip() if capture else "see above"
        raise LabError(f"`vagrant {' '.join(args)}` failed: {detail}")
    return result


def run_streaming(argv: list[str], env: dict[str, str], echo: bool) -> subprocess.CompletedProcess:
    """Run a command, keeping its output (stderr folded in) and, with echo, showing it live."""
    process = subprocess.Popen(argv, env=env, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if echo:
            print(line, end="", flush=True)
    output = "".join(lines)
    return subprocess.CompletedProcess(argv, process.wait(), stdout=output, stderr=output)


def machine_states(settings: LabSettings) -> dict[str, str]:
    """{machine: state} from `vagrant status --machine-readable` (running, stopped, not_created)."""
    out = vagrant(settings, "status", "--machine-readable", capture=True).stdout
    states = {}
    for line in out.splitlines():
        fields = line.split(",")
        if len(fields) >= 4 and fields[2] == "state" and fields[1]:
            states[fields[1]] = fields[3]
    return states
