"""The lab's one contract with the learner's toolkit: `<lab state>/ssh_config`, with each
machine's host key pinned in `<lab state>/known_hosts`.

Vagrant's `ssh-config` output switches host-key checking off; the lab reads each machine's
host key through `docker exec` (a channel that cannot be spoofed from the network) and
switches checking on. Every machine also learns the others' keys, so `ssh core-02` from
core-01 just works.
"""

from __future__ import annotations

from labs.launcher.dockerhost import docker
from labs.launcher.settings import LabSettings, machine_index


def write_ssh_config(lab: LabSettings, running: list[str], vagrant_ssh_config: str) -> None:
    keys = host_keys(lab, running)
    known_hosts = lab.path("known_hosts")
    lab.path("ssh_config").write_text(pin_host_keys(vagrant_ssh_config, known_hosts))
    known_hosts.write_text(known_hosts_text(lab, keys))
    inside = "\n".join(f"{m},{lab.machine_ip(machine_index(m))} {' '.join(k)}"
                       for m, k in sorted(keys.items())) + "\n"
    for machine in running:
        docker("exec", "-i", lab.container_name(machine), "sh", "-c",
               "cat > /etc/ssh/ssh_known_hosts", input=inside)


def up_to_date(lab: LabSettings, running: list[str]) -> bool:
    """The ssh_config exists and pins every running machine's current host key (a machine
    re-created by hand with `vagrant destroy` / `vagrant up` has a new one)."""
    known_hosts = lab.path("known_hosts")
    return (lab.path("ssh_config").exists() and known_hosts.exists()
            and known_hosts.read_text() == known_hosts_text(lab, host_keys(lab, running)))


def host_keys(lab: LabSettings, running: list[str]) -> dict[str, list[str]]:
    """{machine: [key type, key]}, read through `docker exec`."""
    return {m: docker("exec", lab.container_name(m), "cat",
                      "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2] for m in running}


def known_hosts_text(lab: LabSettings, keys: dict[str, list[str]]) -> str:
    return "".join(f"[127.0.0.1]:{lab.ssh_port(machine_index(m))} {' '.join(key)}\n"
                   for m, key in sorted(keys.items()))


def pin_host_keys(vagrant_ssh_config: str, known_hosts) -> str:
    """Vagrant's ssh-config with host-key checking switched on against our known_hosts."""
    out = []
    for line in vagrant_ssh_config.splitlines():
        key = line.strip().split(" ", 1)[0]
        if key == "UserKnownHostsFile":
            line = f"  UserKnownHostsFile {known_hosts}"
        elif key == "StrictHostKeyChecking":
            line = "  StrictHostKeyChecking yes"
        out.append(line)
    return "\n".join(out) + "\n"
