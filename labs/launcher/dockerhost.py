"""The local Docker engine: is it there, start it if we may, and how to run a machine.

Uses the docker CLI, as Vagrant's docker provider does, so what the lab runs is what a
learner could type.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from labs.errors import LabError

INSTALL_HINT = ("install it: `sudo apt-get install docker.io` on Debian/Ubuntu, "
                "Docker Desktop on macOS/Windows")


def docker(*args: str, check: bool = True, input: str | None = None,
           timeout: float | None = 600) -> subprocess.CompletedProcess:
    """Run one docker CLI command; on failure raise LabError with docker's own message."""
    if shutil.which("docker") is None:
        raise LabError("the docker command is not installed", INSTALL_HINT)
    result = subprocess.run(["docker", *args], capture_output=True, text=True, input=input,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise LabError(f"`docker {' '.join(args[:3])} ...` failed: "
                       f"{result.stderr.strip() or result.stdout.strip()}")
    return result


def engine_running() -> bool:
    return shutil.which("docker") is not None and docker("info", check=False,
                                                         timeout=30).returncode == 0


def ensure_engine(log_dir: Path) -> None:
    """Make sure a Docker engine answers; start one when we are root and it is installed."""
    if shutil.which("docker") is None:
        raise LabError("Docker is not installed", INSTALL_HINT)
    if engine_running():
        return
    if os.geteuid() != 0:
        raise LabError("the Docker engine is not running (or you may not use it)",
                       "start it with `sudo systemctl start docker` (or Docker Desktop), and "
                       "add yourself to the docker group: `sudo usermod -aG docker $USER`")
    start_engine(log_dir)


def start_engine(log_dir: Path) -> None:
    if Path("/run/systemd/system").exists() and shutil.which("systemctl"):
        subprocess.run(["systemctl", "start", "docker"], check=False)
    elif shutil.which("dockerd"):
        log_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_dir / "dockerd.log", "ab")
        subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)
    else:
        raise LabError("the Docker engine (dockerd) is not installed", INSTALL_HINT)
    deadline = time.monotonic() + 60
    while not engine_running():
        if time.monotonic() > deadline:
            raise LabError("started dockerd but it does not answer after 60 s",
                           f"read {log_dir / 'dockerd.log'}")
        time.sleep(0.5)


def engine_facts() -> dict:
    info = json.loads(docker("info", "--format", "{{json .}}").stdout)
    return {"server_version": info.get("ServerVersion", ""),
            "cgroup_version": str(info.get("CgroupVersion") or "1"),
            "os": info.get("OperatingSystem", "")}


def machine_run_flags(image: str, cache: Path) -> list[str]:
    """The `docker run` flags that let systemd run as PID 1 with a working inner dockerd.

    Plain `--privileged` fails where the kernel withholds CAP_SYS_RESOURCE ("unable to
    apply caps"); then every other capability is granted explicitly. On cgroup v2 (Docker
    Desktop) the container gets a private cgroup namespace, as kind does.
    """
    facts = engine_facts()
    cached = json.loads(cache.read_text()) if cache.exists() else {}
    if cached.get("facts") != facts:
        cached = {"facts": facts, "privileged_works": privileged_works(image)}
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(cached, indent=2) + "\n")
    common = ["--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
              "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp:exec,mode=1777"]
    if facts["cgroup_version"] == "2":
        cgroup = ["--cgroupns=private"]
    else:
        cgroup = ["--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw"]
    if cached["privileged_works"]:
        return ["--privileged", *cgroup, *common]
    return ["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
            "--security-opt", "systempaths=unconfined", "--device-cgroup-rule", "a *:* rwm",
            *cgroup, *common]


def privileged_works(image: str) -> bool:
    probe = docker("run", "--rm", "--privileged", "--entrypoint", "true", image, check=False,
                   timeout=120)
    return probe.returncode == 0


def port_owner(port: int) -> str | None:
    """The container publishing 127.0.0.1:port, if a container does (None without an engine)."""
    listing = docker("ps", "--format", "{{.Names}}\t{{.Ports}}", check=False)
    if listing.returncode != 0:
        return None
    out = listing.stdout
    for line in out.splitlines():
        name, _, ports = line.partition("\t")
        if f":{port}->" in ports:
            return name
    return None
