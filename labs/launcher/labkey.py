"""A lab's own SSH key pair: what a classroom student's machines accept instead of Vagrant's.

Vagrant's insecure key is the same on every computer in the world; on one server with many
labs it would let anyone who can reach a lab's SSH port log into its machines. A lab with
`own_key` gets an ed25519 pair in its state directory before its first machine boots; the
Vagrantfile logs in with it and hands its public half to the machines, which then accept
only that key (image: lab-authorized-key.service).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from labs.errors import LabError
from labs.launcher.settings import LabSettings


def ensure(lab: LabSettings) -> None:
    """Make the lab's key pair unless it has one (or uses Vagrant's key)."""
    if not lab.ssh_private_key or Path(lab.ssh_private_key).exists():
        return
    made = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"core@{lab.name}",
                           "-f", lab.ssh_private_key], capture_output=True, text=True)
    if made.returncode != 0:
        raise LabError(f"cannot make the lab's SSH key: {made.stderr.strip()}",
                       "ssh-keygen comes with openssh-client: `sudo apt-get install openssh-client`")
