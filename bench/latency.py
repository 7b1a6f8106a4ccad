"""Latency of a command on the cluster: labs.Cluster vs the ssh CLI vs `vagrant ssh`.

    LAB_HOME=... .venv/bin/python bench/latency.py [--runs 200] [--cli-runs 50] [--vagrant-runs 20]

Prints key=value lines:
  median_ms, p95_ms              cluster["core-01"].run("true"), persistent connection
  ssh_cli_median_ms, ssh_cli_p95_ms    ssh -F <ssh_config> core-01 true (a new connection each)
  vagrant_ssh_median_ms          vagrant ssh core-01 -c true (from vagrant/, lab's environment)
  run_all_3_ms, sequential_3_ms  run_all("true") on 3 machines vs one after the other (medians)
plus one_sleep100_ms / run_all_3_sleep100_ms (`sleep 0.1`: the parallelism without the
remote CPU contention of `true` on a small host), and the ratios against the targets (median <= 80 ms, >= 3x the ssh CLI, >= 15x vagrant ssh,
run_all on 3 machines <= 1.5x one machine).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from labs import Cluster                       # noqa: E402
from labs.launcher import settings as lab_settings     # noqa: E402
from labs.launcher.vagrant import environment          # noqa: E402


def timed(fn, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def vagrant_ssh(machine: str, env: dict) -> float:
    """One `vagrant ssh MACHINE -c true` in ms; retried when another Vagrant holds the lock."""
    for _ in range(10):
        start = time.perf_counter()
        done = subprocess.run(["vagrant", "ssh", machine, "-c", "true"], cwd=PROJECT / "vagrant",
                              env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        elapsed = (time.perf_counter() - start) * 1000
        if done.returncode == 0:
            return elapsed
        if "locked" not in done.stdout + done.stderr:
            raise RuntimeError(f"vagrant ssh failed: {done.stderr or done.stdout}")
        time.sleep(1)
    raise RuntimeError("vagrant ssh: the machine stayed locked by another Vagrant process")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--cli-runs", type=int, default=50)
    parser.add_argument("--vagrant-runs", type=int, default=20)
    parser.add_argument("--machine", default="core-01")
    args = parser.parse_args()

    cluster = Cluster.from_ssh_config()
    machine = cluster[args.machine]
    machine.run("true")                                  # connect once (not measured)
    connects = machine.connects
    lib = timed(lambda: machine.run("true"), args.runs)
    assert machine.connects == connects, "a command opened a new SSH connection"

    config = str(cluster.path)
    cli = timed(lambda: subprocess.run(["ssh", "-F", config, args.machine, "true"], check=True,
                                       stdin=subprocess.DEVNULL), args.cli_runs)

    settings = lab_settings.load()
    env = environment(settings)
    vagrant = [vagrant_ssh(args.machine, env) for _ in range(args.vagrant_runs)]

    names = cluster.machines[:3]
    cluster.run_all("true", machines=names)
    one = timed(lambda: machine.run("true"), 50)
    parallel = timed(lambda: cluster.run_all("true", machines=names), 50)
    sequential = timed(lambda: [cluster[n].run("true") for n in names], 50)

    one_sleep = timed(lambda: machine.run("sleep 0.1"), 10)
    all_sleep = timed(lambda: cluster.run_all("sleep 0.1", machines=names), 10)

    median = statistics.median(lib)
    cli_median = statistics.median(cli)
    print(f"runs={args.runs}")
    print(f"median_ms={median:.2f}")
    print(f"p95_ms={p95(lib):.2f}")
    print(f"ssh_cli_median_ms={cli_median:.2f}")
    print(f"ssh_cli_p95_ms={p95(cli):.2f}")
    if vagrant:
        print(f"vagrant_ssh_median_ms={statistics.median(vagrant):.1f}")
    print(f"one_machine_ms={statistics.median(one):.2f}")
    print(f"run_all_3_ms={statistics.median(parallel):.2f}")
    print(f"sequential_3_ms={statistics.median(sequential):.2f}")
    print(f"one_sleep100_ms={statistics.median(one_sleep):.2f}")
    print(f"run_all_3_sleep100_ms={statistics.median(all_sleep):.2f}")
    print(f"speedup_vs_ssh_cli={cli_median / median:.1f}")
    if vagrant:
        print(f"speedup_vs_vagrant_ssh={statistics.median(vagrant) / median:.1f}")
    print(f"run_all_3_vs_one={statistics.median(parallel) / statistics.median(one):.2f}")
    cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
