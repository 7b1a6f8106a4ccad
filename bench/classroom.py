"""What one server holds as a classroom: N students' clusters, brought up through the broker.

    .venv-classroom/bin/python bench/classroom.py [--students N] [--parallel P] [--idle-s 60]

As root. Makes a throwaway classroom of N real accounts (as `make classroom` does, without the
hub), has the broker bring every student's cluster up (P at a time; all at once by default),
measures, and removes everything. Prints one `name=value` line per figure:

  up_all_s                         N clusters up through the broker, P at a time
  up_ok, up_failed                 how many came up (why the others did not: `#` lines);
                                   the figures below are over those that came up
  up_one_s_median, up_one_s_max    each cluster's own `lab up` time within that
  rss_mib_per_cluster              processes' resident memory, 3 machines (cgroup total_rss)
  mem_mib_per_cluster              what the machines hold (cgroup usage - inactive file cache)
  idle_cpu_ms_per_s_per_cluster    CPU time of one idle cluster per second (cgroup cpuacct)
  idle_cpu_pct_core_per_cluster    the same as a share of one core
  etcd_cpu_ms_per_s_per_machine    of which one machine's etcd
  cmd_median_ms, cmd_p95_ms        cluster["core-01"].run("true") on student 1's cluster while
                                   the N clusters idle (persistent SSH connection, 200 runs)
  teacher_table_s                  one refresh of the teacher's table (`lab class status`)
  reset_all_s                      N concurrent `lab reset`
  class_by_memory                  clusters that fit in this host's memory (90 %, all in use)
  class_by_cpu                     clusters whose idle CPU fits in half the cores (the other
                                   half for what students do and for booting)
Targets on the 2-core, 24 GiB reference host, N=20: up_all_s <= 300, cmd_median_ms <= 20,
mem_mib_per_cluster <= 350, idle_cpu_pct_core_per_cluster <= 3.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from labs.classroom import setup                     # noqa: E402
from labs.classroom.config import Classroom          # noqa: E402
from labs.launcher.brokered import request           # noqa: E402
from labs.launcher.dockerhost import docker          # noqa: E402
from labs.errors import LabError                     # noqa: E402

CGROUP = Path("/sys/fs/cgroup")
FAILED_LINES = 15         # of a failed `up`'s progress, printed under its `#` line
RUBY_FRAME = re.compile(r"^\s*/\S+:\d+:in `")


def timed(fn) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def container_ids(lab) -> list[str]:
    names = [lab.container_name(f"core-{i:02d}") for i in (1, 2, 3)]
    return docker("inspect", "--format", "{{.Id}}", *names).stdout.split()


def cgroup_file(controller: str, cid: str, name: str) -> Path:
    for candidate in (CGROUP / controller / "docker" / cid / name,
                      CGROUP / "system.slice" / f"docker-{cid}.scope" / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{controller}/{name} of container {cid[:12]}")


def cpu_ns(cid: str) -> int:
    try:
        return int(cgroup_file("cpuacct", cid, "cpuacct.usage").read_text())
    except FileNotFoundError:                            # cgroup v2
        stat = cgroup_file("", cid, "cpu.stat").read_text().split()
        return int(stat[stat.index("usage_usec") + 1]) * 1000


def memory_stat(cid: str) -> dict[str, int]:
    lines = cgroup_file("memory", cid, "memory.stat").read_text().splitlines()
    return {k: int(v) for k, v in (line.split() for line in lines)}


def memory_mib(cid: str) -> tuple[float, float]:
    """(resident, usage without inactive file cache) of one machine, MiB."""
    stat = memory_stat(cid)
    usage = int(cgroup_file("memory", cid, "memory.usage_in_bytes").read_text())
    return stat.get("total_rss", 0) / 2**20, (usage - stat.get("total_inactive_file", 0)) / 2**20


def etcd_ticks(cid: str) -> int:
    """CPU ticks of the etcd processes in one machine."""
    total = 0
    machine = cgroup_file("cpuacct", cid, "cgroup.procs").parent
    pids = [pid for procs in machine.rglob("cgroup.procs") for pid in procs.read_text().split()]
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "etcd":
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total


def mem_available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=0, help="clusters booted at once (0: all)")
    parser.add_argument("--idle-s", type=float, default=60)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/classroom.py makes accounts and runs the broker: run it as root", file=sys.stderr)
        return 1
    tag = f"{os.getpid() % 10000:04d}"
    base = Path(tempfile.mkdtemp(prefix="coreos-lab-bench-", dir="/tmp"))
    base.chmod(0o755)
    room = Classroom(students=[f"bench{tag}s{i:02d}" for i in range(1, args.students + 1)],
                     teachers=[], root=str(base / "root"), socket=str(base / "run" / "broker.sock"),
                     group=f"bench{tag}")
    config = base / "classroom.json"
    room.save(config)
    try:
        return measure(room, config, args)
    finally:
        setup.down(config, remove_students=True)
        shutil.rmtree(base, ignore_errors=True)


def measure(room: Classroom, config: Path, args) -> int:
    from labs import Cluster
    from labs.classroom import studentlab, teacher

    setup.raise_inotify_limit()
    setup.add_people(room)
    setup.start_broker(room, config)
    each: dict[str, float] = {}
    failed: dict[str, str] = {}

    def up(student: str) -> None:
        start = time.monotonic()
        last_lines: deque[str] = deque(maxlen=FAILED_LINES)     # Vagrant's reason is in there

        def keep(line: str) -> None:
            if not RUBY_FRAME.match(line):          # a backtrace would push the reason out
                last_lines.append(line)
        try:
            request(room.socket, "up", student=student, echo=keep)
            each[student] = time.monotonic() - start
        except LabError as error:
            failed[student] = (f"{error.args[0][:200]} after {time.monotonic() - start:.0f} s"
                               + "".join(f"\n#   {line}" for line in last_lines))

    parallel = args.parallel or args.students
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        up_all = timed(lambda: list(pool.map(up, room.students)))
    print(f"up_all_s={up_all:.0f}", flush=True)
    print(f"up_ok={len(each)}")
    print(f"up_failed={len(failed)}", flush=True)
    for student, why in sorted(failed.items()):
        print(f"# {student}: {why}", flush=True)
    if not each:
        return 1
    print(f"up_one_s_median={statistics.median(each.values()):.0f}")
    print(f"up_one_s_max={max(each.values()):.0f}", flush=True)
    room.students = sorted(each)                     # measure the clusters that came up

    labs = [studentlab.load(room, s) for s in room.students]
    ids = {lab.name: container_ids(lab) for lab in labs}
    time.sleep(20)                                   # let the last boots settle
    rss, mem = zip(*(map(sum, zip(*(memory_mib(c) for c in cids))) for cids in ids.values()))
    print(f"rss_mib_per_cluster={statistics.mean(rss):.0f}")
    print(f"mem_mib_per_cluster={statistics.mean(mem):.0f}", flush=True)

    every = [c for cids in ids.values() for c in cids]
    cpu0, etcd0, t0 = {c: cpu_ns(c) for c in every}, {c: etcd_ticks(c) for c in every}, time.monotonic()
    time.sleep(args.idle_s)
    cpu1, etcd1, t1 = {c: cpu_ns(c) for c in every}, {c: etcd_ticks(c) for c in every}, time.monotonic()
    per_cluster = statistics.mean(sum(cpu1[c] - cpu0[c] for c in cids) / 1e6 / (t1 - t0)
                                  for cids in ids.values())
    hz = os.sysconf("SC_CLK_TCK")
    etcd = statistics.mean((etcd1[c] - etcd0[c]) / hz * 1000 / (t1 - t0) for c in every)
    print(f"idle_cpu_ms_per_s_per_cluster={per_cluster:.1f}")
    print(f"idle_cpu_pct_core_per_cluster={per_cluster / 10:.1f}")
    print(f"etcd_cpu_ms_per_s_per_machine={etcd:.1f}", flush=True)

    with Cluster.from_ssh_config(labs[0].path("ssh_config")) as cluster:
        cluster["core-01"].run("true")
        samples = []
        for _ in range(200):
            start = time.perf_counter()
            cluster["core-01"].run("true")
            samples.append((time.perf_counter() - start) * 1000)
    print(f"cmd_median_ms={statistics.median(samples):.1f}")
    print(f"cmd_p95_ms={p95(samples):.1f}", flush=True)

    print(f"teacher_table_s={timed(lambda: teacher.rows(room)):.1f}", flush=True)

    with ThreadPoolExecutor(max_workers=len(room.students)) as pool:
        reset_all = timed(lambda: list(pool.map(
            lambda s: request(room.socket, "reset", student=s, echo=lambda line: None),
            room.students)))
    print(f"reset_all_s={reset_all:.0f}", flush=True)

    budget = mem_available_mib() + sum(mem)          # what the clusters hold plus what is free
    print(f"class_by_memory={int(budget * 0.9 / statistics.mean(mem))}")
    print(f"class_by_cpu={int(os.cpu_count() * 1000 * 0.5 / per_cluster)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
