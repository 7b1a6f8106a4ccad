"""A second Docker engine on this host, standing in for a second server.

    python -m labs.classroom.engines up | down   [--config /etc/coreos-lab/classroom.json]

A class that outgrows one server adds Docker engines, not a scheduler: the broker places each
new student's lab on the classroom's engine with the fewest labs (`studentlab.place`) and runs
that lab's lifecycle calls with DOCKER_HOST set to it. `up` starts a second dockerd here with
its own socket, data root, exec root and default bridge, and adds it to the classroom's
engines (with a copy of the machine image); `down` stops it (once no lab lives there) and
removes it from the list.

The second engine leaves iptables alone (`--iptables=false`): a second dockerd managing the
same DOCKER chains would rewrite the first one's rules. Its labs' own traffic between their
machines is let through by the classroom's FORWARD rules (`netfilter`), its published ports
by docker-proxy. A real second server is reached the same way with DOCKER_HOST=ssh://node2;
the README says what else it needs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from labs.classroom import config as classroom_config, daemons
from labs.classroom.config import Classroom
from labs.errors import LabError

NAME = "engine2"
BRIDGE = "lab-engine2"
BRIDGE_ADDRESS = "10.250.0.1/24"        # clear of docker0, single labs (10.100-199) and classroom labs (10.200)


def paths(classroom: Classroom) -> dict[str, Path]:
    root = classroom.path / NAME
    return {"data": root / "data", "exec": root / "exec", "pid": root / "dockerd.pid",
            "socket": root / "docker.sock"}


def engine_url(classroom: Classroom) -> str:
    return f"unix://{paths(classroom)['socket']}"


def answers(url: str) -> bool:
    done = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True,
                          env=dict(os.environ, DOCKER_HOST=url), timeout=30)
    return done.returncode == 0


def ip(*args: str, check: bool = True) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise LabError(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")


def up(config: Path) -> str:
    classroom = classroom_config.load(config)
    where = paths(classroom)
    for directory in (where["data"], where["exec"]):
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0:
        ip("link", "add", BRIDGE, "type", "bridge")
        ip("addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")
    url = engine_url(classroom)
    daemons.start(classroom, NAME, [
        shutil.which("dockerd") or "dockerd", "--host", url, "--data-root", str(where["data"]),
        "--exec-root", str(where["exec"]), "--pidfile", str(where["pid"]), "--bridge", BRIDGE,
        "--iptables=false", "--ip-masq=false"])
    daemons.wait_until(lambda: answers(url), 60, "the second Docker engine",
                       daemons.log_file(classroom, NAME))
    copy_machine_image(url)
    if url not in classroom.engines:
        classroom.engines.append(url)
        classroom.save(config)
    return url


def copy_machine_image(url: str) -> None:
    """The machine image, copied from this host's engine (`docker save | docker load`).

    Building it there would need the engine's build containers to reach the Debian mirror,
    which an engine without iptables (no NAT) cannot; a real second server can build it or
    load the same copy (`docker save ... | docker -H ssh://node2 load`)."""
    from labs.launcher.image import machine_tag

    tag = machine_tag()
    here = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    there = dict(os.environ, DOCKER_HOST=url)
    if subprocess.run(["docker", "image", "inspect", tag], env=there,
                      capture_output=True).returncode == 0:
        return
    if subprocess.run(["docker", "image", "inspect", tag], env=here,
                      capture_output=True).returncode != 0:
        raise LabError(f"no machine image {tag} on this host's engine to copy",
                       "build it first: `lab up` on any lab (or `make cluster`)")
    save = subprocess.Popen(["docker", "save", tag], env=here, stdout=subprocess.PIPE)
    load = subprocess.run(["docker", "load", "--quiet"], env=there, stdin=save.stdout,
                          capture_output=True, text=True)
    save.stdout.close()
    if save.wait() != 0 or load.returncode != 0:
        raise LabError(f"copying {tag} to {url} failed: {load.stderr.strip()}")


def down(config: Path) -> None:
    classroom = classroom_config.load(config)
    url = engine_url(classroom)
    placed = [p.parent.name for p in (classroom.path / "labs").glob("*/engine.json")
              if json.loads(p.read_text())["engine"] == url
              and (p.parent / "prepared.json").exists()]
    if placed:
        raise LabError(f"labs still live on {url}: {', '.join(placed)}",
                       "remove them first (`lab class down " + " ".join(placed) + "`)")
    if url in classroom.engines:
        classroom.engines.remove(url)
        classroom.save(config)
    daemons.stop(classroom, NAME, timeout=60)
    ip("link", "del", BRIDGE, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labs.classroom.engines", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args(argv)
    config = args.config or classroom_config.config_file()
    try:
        if args.action == "up":
            print(f"==> classroom: second Docker engine at {up(config)}")
        else:
            down(config)
            print("==> classroom: second Docker engine stopped")
    except LabError as error:
        print(f"classroom: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
