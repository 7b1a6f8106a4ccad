"""The inotify headroom check: how many machines fit, and the exact sysctl when none do."""

from __future__ import annotations

import os
import subprocess

import pytest

from labs.errors import LabError
from labs.launcher import headroom
from labs.launcher.headroom import INSTANCES_PER_MACHINE as PER_MACHINE, Headroom

LONELY_UID = 54321   # no account, no process: only the test's own runs as it


def test_three_machines_fit_when_exactly_their_instances_are_free():
    headroom.require(3, Headroom(limit=128, in_use=128 - 3 * PER_MACHINE, exact=True))


def test_one_instance_short_is_refused_with_the_sysctl_to_run():
    room = Headroom(limit=128, in_use=128 - 3 * PER_MACHINE + 1, exact=True)
    with pytest.raises(LabError) as refused:
        headroom.require(3, room)
    text = str(refused.value)
    assert "no room for 3 more machines" in text
    assert f"{3 * PER_MACHINE - 1} of root's 128 are left" in text
    assert "sudo sysctl -w fs.inotify.max_user_instances=1024" in text
    assert "nothing was started" in text


def test_the_suggested_limit_holds_the_machines_with_room_to_spare():
    in_use = 5000
    limit = headroom.suggested_limit(in_use, 100)
    assert limit % 512 == 0
    assert limit - in_use >= 100 * PER_MACHINE


def test_an_estimate_says_so():
    with pytest.raises(LabError, match=r"estimated from the lab machines running"):
        headroom.require(1, Headroom(limit=16, in_use=16, exact=False))


def test_nothing_to_boot_needs_no_room():
    headroom.require(0, Headroom(limit=0, in_use=0, exact=True))


def test_a_remote_engine_is_not_checked_against_this_host(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "ssh://node2")
    monkeypatch.setattr(headroom, "measure", lambda: pytest.fail("measured a remote engine"))
    headroom.require(3)


@pytest.mark.skipif(os.geteuid() != 0, reason="looks at another user's processes")
@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs the system's python3")
def test_inotify_instances_of_a_user_are_counted_exactly():
    """A process of a user of its own (no one else runs as it, unlike root, whose lab machines
    come and go beside the unit tests) holds five instances: the count is five."""
    holder = subprocess.Popen(   # the system's python: the user may not read root's home
        ["/usr/bin/python3", "-c", "import ctypes, time; libc = ctypes.CDLL(None); "
         "fds = [libc.inotify_init1(0) for _ in range(5)]; "
         "print(all(fd >= 0 for fd in fds), flush=True); time.sleep(60)"],
        user=LONELY_UID, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "True"
        assert headroom.inotify_instances(uid=LONELY_UID) == 5
    finally:
        holder.kill()
        holder.wait()
