"""The host's firewall for a classroom: only a lab's owner reaches its machines from the host.

Every lab network is routed on the host, and every lab publishes its SSH and discovery ports
on 127.0.0.1, so by default any local user reaches any lab's etcd, docker API and sshd. For
each student the chain COREOS-LAB (jumped to from OUTPUT, i.e. for packets the host's own
processes send) lets through packets to the student's subnet and port block only from
sockets owned by the student or root, and rejects the rest (replies of connections it let
through pass first):

    -d 10.200.3.0/24 -m owner --uid-owner ada -j RETURN          (and root)
    -d 10.200.3.0/24 -j REJECT --reject-with icmp-admin-prohibited   "No route to host"
    -d 127.0.0.1 -p tcp --dport 2232:2241 ... owner ada / root RETURN, else REJECT tcp-reset

Containers of different labs are kept apart by Docker (each lab is its own bridge network;
Docker's DOCKER-ISOLATION chains drop traffic between bridges, and FORWARD's policy is DROP).
COREOS-LAB-FWD (from FORWARD) lets each lab's machines reach each other within its own
subnet, which Docker does not do for a second engine that leaves iptables alone.
"""

from __future__ import annotations

import pwd
import shlex
import subprocess

from labs.classroom.config import Classroom
from labs.errors import LabError
from labs.launcher.settings import PORT_BLOCK, LabSettings

CHAIN = "COREOS-LAB"            # from OUTPUT: what the host's processes send
FORWARD_CHAIN = "COREOS-LAB-FWD"  # from FORWARD: a lab's machines among themselves


def iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise LabError(f"`iptables {' '.join(args)}` failed: {done.stderr.strip()}",
                       "the classroom needs iptables (the owner match) on this server")
    return done


def ensure_chains() -> None:
    """Both chains, jumped to first; OUTPUT's first lets replies of connections it let
    through pass (and the kernel's own replies, which belong to no socket)."""
    for chain, parent in ((CHAIN, "OUTPUT"), (FORWARD_CHAIN, "FORWARD")):
        if iptables("-n", "-L", chain, check=False).returncode != 0:
            iptables("-N", chain)
            if chain == CHAIN:
                iptables("-A", chain, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
                         "-j", "RETURN")
        if iptables("-C", parent, "-j", chain, check=False).returncode != 0:
            iptables("-I", parent, "1", "-j", chain)


def rules(student: str, uid: int, lab: LabSettings) -> list[list[str]]:
    """STUDENT's OUTPUT rules: their subnet and port block for them and root alone."""
    tag = ["-m", "comment", "--comment", f"coreos-lab:{student}"]
    ports = ["-d", "127.0.0.1/32", "-p", "tcp", "--dport",
             f"{lab.ssh_port_base}:{lab.ssh_port_base + PORT_BLOCK - 1}"]
    subnet = ["-d", lab.subnet]
    out = []
    for target, reject in ((subnet, "icmp-admin-prohibited"), (ports, "tcp-reset")):
        for owner in ("0", str(uid)):
            out.append([*target, "-m", "owner", "--uid-owner", owner, *tag, "-j", "RETURN"])
        out.append([*target, *tag, "-j", "REJECT", "--reject-with", reject])
    return out


def forward_rule(student: str, lab: LabSettings) -> list[str]:
    """A lab's machines talk among themselves. Docker accepts this for the networks of an
    engine that manages iptables; a second engine on this host (`engines`) does not."""
    return ["-s", lab.subnet, "-d", lab.subnet, "-m", "comment", "--comment",
            f"coreos-lab:{student}", "-j", "ACCEPT"]


def allow_only_owner(classroom: Classroom, student: str, lab: LabSettings) -> None:
    """(Re)write STUDENT's rules: their subnet and ports for them (and root) alone."""
    remove(classroom, student)
    ensure_chains()
    for rule in rules(student, pwd.getpwnam(student).pw_uid, lab):
        iptables("-A", CHAIN, *rule)
    iptables("-A", FORWARD_CHAIN, *forward_rule(student, lab))


def remove(classroom: Classroom, student: str) -> None:
    """Delete STUDENT's rules; the chains go too once no student is left in them."""
    left = False
    for chain, parent in ((CHAIN, "OUTPUT"), (FORWARD_CHAIN, "FORWARD")):
        listing = iptables("-S", chain, check=False)
        if listing.returncode != 0:
            continue
        for line in listing.stdout.splitlines():
            words = shlex.split(line)
            if f"coreos-lab:{student}" in words and words[:1] == ["-A"]:
                iptables("-D", *words[1:])
        left = left or "coreos-lab:" in iptables("-S", chain).stdout
    if not left:
        for chain, parent in ((CHAIN, "OUTPUT"), (FORWARD_CHAIN, "FORWARD")):
            iptables("-D", parent, "-j", chain, check=False)
            iptables("-F", chain, check=False)
            iptables("-X", chain, check=False)
