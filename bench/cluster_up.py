"""How long the lab takes to come up, reset, and how much memory a machine uses.

Runs on a lab of its own (LAB_HOME=.lab-bench), never the learner's. Prints one
`name=value` line per figure. Targets on a 2-core machine: cold up (host packages present)
<= 60 s, warm up (image built) <= 10 s, reset <= 4 s, resume of one machine <= 5 s,
<= 250 MiB per machine.

    .venv/bin/python bench/cluster_up.py [--skip-cold]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("LAB_HOME", str(ROOT / ".lab-bench"))
sys.path.insert(0, str(ROOT))

from labs.launcher import image, lifecycle, settings as lab_settings  # noqa: E402
from labs.launcher.dockerhost import docker  # noqa: E402
from labs.launcher.vagrant import environment, machine_states  # noqa: E402


def timed(action) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start


def rss_mib(settings, machine: str) -> float:
    out = docker("exec", settings.container_name(machine), "ps", "-eo", "rss=").stdout
    return sum(int(kib) for kib in out.split()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-cold", action="store_true", help="keep the built image")
    args = parser.parse_args()
    settings = lab_settings.load()
    lifecycle.down(settings)
    if not args.skip_cold:
        for tag in (image.machine_tag(), image.BASE_IMAGE):
            docker("image", "rm", "-f", tag, check=False)
        print(f"cold_up_s={timed(lambda: lifecycle.up(settings)):.1f}", flush=True)
        lifecycle.down(settings)
    print(f"warm_up_s={timed(lambda: lifecycle.up(settings)):.1f}", flush=True)
    print(f"reset_s={timed(lambda: lifecycle.reset(settings)):.1f}", flush=True)
    lifecycle.halt(settings, "core-02")
    print(f"resume_one_s={timed(lambda: lifecycle.resume(settings, 'core-02')):.1f}", flush=True)
    machines = sorted(machine_states(settings))
    print(f"rss_mib_per_machine={statistics.mean(rss_mib(settings, m) for m in machines):.0f}")
    ssh = lambda: subprocess.run(["vagrant", "ssh", "core-01", "-c", "true"],  # noqa: E731
                                 cwd=lab_settings.VAGRANT_DIR, env=environment(settings),
                                 check=True, capture_output=True)
    print(f"vagrant_ssh_s={timed(ssh):.1f}")
    lifecycle.down(settings)


if __name__ == "__main__":
    main()
