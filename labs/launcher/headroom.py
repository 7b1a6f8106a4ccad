"""Room on this host for more machines, checked before any machine boots.

Every machine's systemd takes inotify instances from the host's per-user limit
`fs.inotify.max_user_instances` of the user it runs as: root, for machines without a user
namespace (measured: 8 per machine, for systemd, logind and the inner containerd). At the common default of 128 a host holds about 16
machines; the 17th machine's systemd logs "Failed to create inotify object: Too many open
files", its sshd never starts, and Vagrant gives up only after its 5-minute boot timeout. So
`lab up` and `lab resume` count first and refuse, naming the exact `sysctl` to run.

Root counts exactly (every process's open inotify descriptors); another user cannot look
into root's processes and counts the running lab machines on the engine instead.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from labs.errors import LabError

LIMIT_FILE = Path("/proc/sys/fs/inotify/max_user_instances")
SYSCTL = "fs.inotify.max_user_instances"
INSTANCES_PER_MACHINE = 8      # measured: systemd 6, systemd-logind 1, the inner containerd 1
MACHINE_UID = 0                # the machines' systemd runs as host root (no user namespace)
CLASSROOM_LIMIT = 8192         # what `make classroom` sets: 1000 machines


@dataclass(frozen=True)
class Headroom:
    limit: int
    in_use: int
    exact: bool                # False: estimated from the running lab machines

    @property
    def free(self) -> int:
        return self.limit - self.in_use

    def machines_that_fit(self) -> int:
        return max(self.free, 0) // INSTANCES_PER_MACHINE


def suggested_limit(in_use: int, machines: int) -> int:
    """A round limit with room for MACHINES more and half as many again."""
    wanted = in_use + machines * INSTANCES_PER_MACHINE * 3 // 2
    return max(1024, -(-wanted // 512) * 512)


def inotify_instances(uid: int = MACHINE_UID) -> int | None:
    """Inotify instances held by UID's processes; None when we may not look (not root)."""
    if os.geteuid() not in (0, uid):
        return None
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify":
                    count += 1
        except OSError:         # the process ended while we looked
            continue
    return count


def running_lab_machines() -> int:
    """Lab machines running on the engine, whoever started them (containers `*-core-NN`)."""
    from labs.launcher.dockerhost import docker
    from labs.launcher.settings import LABEL

    out = docker("ps", "--filter", f"label={LABEL}", "--format", "{{.Names}}", check=False).stdout
    return sum(1 for name in out.split() if re.search(r"-[a-z]+-\d\d$", name))


def measure() -> Headroom:
    limit = int(LIMIT_FILE.read_text())
    exact = inotify_instances()
    if exact is not None:
        return Headroom(limit, exact, exact=True)
    return Headroom(limit, running_lab_machines() * INSTANCES_PER_MACHINE, exact=False)


def engine_is_local() -> bool:
    """The machines share this kernel's limits only when the engine runs on this host."""
    host = os.environ.get("DOCKER_HOST", "")
    return not host or host.startswith("unix://")


def require(machines: int, headroom: Headroom | None = None) -> None:
    """Refuse to boot MACHINES when the host's inotify limit cannot hold them."""
    if machines <= 0 or not (headroom or engine_is_local()):
        return
    headroom = headroom or measure()
    needed = machines * INSTANCES_PER_MACHINE
    if needed <= headroom.free:
        return
    raise_to = suggested_limit(headroom.in_use, machines)
    counted = "" if headroom.exact else " (estimated from the lab machines running)"
    raise LabError(
        f"this host has no room for {machines} more machine{'s' * (machines != 1)}: each "
        f"machine needs about {INSTANCES_PER_MACHINE} inotify instances (systemd's), and "
        f"{max(headroom.free, 0)} of root's {headroom.limit} are left{counted}; nothing was "
        f"started",
        f"raise the limit: `sudo sysctl -w {SYSCTL}={raise_to}` (to keep it after a reboot, "
        f"put `{SYSCTL} = {raise_to}` in /etc/sysctl.d/60-coreos-lab.conf)")
