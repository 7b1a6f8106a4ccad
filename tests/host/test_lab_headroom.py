"""`lab up` on a host without inotify room refuses at once, with the sysctl to run.

The test takes the host's free inotify instances itself (as root, the user the machines'
systemd runs as), leaving room for two machines where three are needed, and lets a fresh lab
try. Root's count is host-wide: a machine another lab halts or resumes meanwhile changes it.
So this test lives in tests/host, which `make test` runs alone, after the cluster phase,
while the test labs stand idle (flake 19 in docs/flakes.md).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from labs.launcher import headroom
from labs.launcher.dockerhost import docker
from labs.launcher.settings import LABEL, PROJECT_ROOT

LAB = str(Path(sys.executable).with_name("lab"))


@pytest.fixture
def inotify_taken():
    """Hold root's free inotify instances but 2 machines' worth; give them back."""
    libc = ctypes.CDLL(None, use_errno=True)
    room = headroom.measure()
    to_take = room.free - 2 * headroom.INSTANCES_PER_MACHINE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if to_take + 100 > hard:
        pytest.skip(f"cannot hold {to_take} descriptors (hard limit {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, to_take + 100), hard))
    fds = []
    try:
        for _ in range(max(to_take, 0)):
            fd = libc.inotify_init1(os.O_CLOEXEC)
            assert fd >= 0, f"inotify_init1: {os.strerror(ctypes.get_errno())}"
            fds.append(fd)
        yield len(fds)
    finally:
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.skipif(os.geteuid() != 0, reason="takes root's inotify instances")
def test_lab_up_refuses_with_the_sysctl_instead_of_timing_out(tmp_path, inotify_taken):
    state = tmp_path / "lab"
    env = dict(os.environ, LAB_HOME=str(state), LAB_REGISTRY=str(tmp_path / "labs.json"))
    try:
        result = subprocess.run([LAB, "up"], env=env, cwd=PROJECT_ROOT, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "no room for 3 more machines" in result.stderr, result.stderr
        assert "sudo sysctl -w fs.inotify.max_user_instances=" in result.stderr, result.stderr
        name = json.loads((state / "settings.json").read_text())["name"]
        leftovers = docker("ps", "-aq", "--filter", f"label={LABEL}={name}").stdout.split()
        assert leftovers == [], "refused before anything started (not after a boot timeout)"
    finally:
        subprocess.run([LAB, "down"], env=env, cwd=PROJECT_ROOT, capture_output=True, timeout=300)
