"""`make test`: the course proves itself, phase by phase, on freshly booted test clusters.

    image          the machine image, built when missing
    unit           the unit tests (pytest-xdist), beside the cluster phase, once the boot is
                   done: they need no cluster (their output is kept in <lab>/unit.log and
                   printed once they end, so it does not mix with the other)
    boot           the lanes' test labs boot side by side (`lab up`, logs in <lab>/gwN/boot.log)
    cluster        starts with the boot: each worker starts up and collects meanwhile, then
                   waits for its own lab (<lab>/gwN/booted). tests/integration, every notebook
                   under nbval (exercises solved), and
                   every notebook once more with its exercises left undone (tests/course:
                   every check says ✘ with a hint, no cell raises) — one pytest-xdist run,
                   one worker per lab. tests/lanes.py groups them: everything about one
                   notebook runs on one lab, the notebook unsolved after it ran solved (the
                   proof that a notebook runs again after a learner ran it: `lesson.begin`
                   starts it clean)
    host           tests/host alone, while the labs stand idle: tests that hold a host-wide
                   resource (root's inotify instances) which the busy lanes would change
    teardown       the labs removed; before that, if anything failed, each machine's journal
                   is kept in <lab>/journal/ and sshd's reasons for ending a connection are
                   printed with the failures

The Makefile times `host-deps` and `venv` before Python runs and appends them to
<lab>/phases.txt; this runner adds its own phases there (and the test seconds of integration,
notebooks and unsolved inside the cluster phase) and prints the whole table last, after the
name and reason of every test that failed, so the last lines of a CI log say what broke and
where the time went. `bench/ci.py` prints the same figures as name=value lines.

Environment: LAB_HOME (the test labs' parent, required), LAB_FRESH=1 (remove the labs'
clusters first), LAB_TEARDOWN=1 (remove them at the end), LABS_SOLVE=1 (notebooks apply the
exercises' solutions), LAB_LANES (how many labs; default 4, fewer when the host's inotify limit
holds fewer: `lane_count`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=10"]
NBVAL = ["--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=600"]
LAB = str(Path(sys.executable).with_name("lab"))
NOTEBOOKS = sorted((PROJECT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
# Measured on this 2-core host in one hour (docs/speed.md): 3 labs 479 s, 4 labs 425 s, 5 labs
# 423 s; the cluster phase's waits (fleet's TTLs, elections) leave the cores a third idle with 3
MAX_LANES = 4
BOOTED = "booted"   # <lab>/booted: how the lab's `lab up` ended (conftest.py waits on it)
BOOT_WAIT_S = 600   # `lab up` of a test lab takes 30-60 s beside the others
UNIT_WORKERS = 4   # the unit tests mostly wait (etcd, fleet TTLs), not compute


def lane_count() -> int:
    """LAB_LANES, else MAX_LANES, or as many labs as the host's inotify limit holds (a default
    host's 128 holds about 5 labs, beside what the host itself uses)."""
    if os.environ.get("LAB_LANES"):
        return int(os.environ["LAB_LANES"])
    from labs.exercises.common import MACHINES     # every test lab has the course's machines
    from labs.launcher import headroom
    if not headroom.engine_is_local():
        return MAX_LANES
    fit = headroom.measure().machines_that_fit() // len(MACHINES)
    return max(1, min(MAX_LANES, fit))


@dataclass
class Report:
    lab_home: Path
    lanes: int = field(default_factory=lane_count)
    failures: list[str] = field(default_factory=list)
    machine_log: list[str] = field(default_factory=list)    # what the machines said, on failure

    @property
    def phases_file(self) -> Path:
        return self.lab_home / "phases.txt"

    def record(self, name: str, seconds: float) -> None:
        with self.phases_file.open("a") as out:
            out.write(f"{name}={seconds:.1f}\n")

    def timed(self, name: str, action):
        start = time.monotonic()
        try:
            return action()
        finally:
            self.record(name, time.monotonic() - start)

    def pytest(self, phase: str, *args: str, log: Path | None = None, **env_extra: str) -> bool:
        """One pytest run (its output into LOG, if given); its failures are kept for the last lines."""
        junit = self.lab_home / f"junit-{phase}.xml"
        junit.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("LAB_FRESH", "LAB_TEARDOWN")}
        env.update(env_extra)
        with open(log, "w") if log else contextlib.nullcontext() as out:
            done = subprocess.run([*PYTEST, f"--junitxml={junit}", *args], cwd=PROJECT, env=env,
                                  stdout=out, stderr=subprocess.STDOUT if log else None)
        self.failures += failed_tests(junit) if junit.exists() else [
            f"{phase}: pytest ended with status {done.returncode} and no report"]
        if done.returncode not in (0, 5) and junit.exists() and not failed_tests(junit):
            self.failures.append(f"{phase}: pytest ended with status {done.returncode}")
        return done.returncode == 0

    def print_summary(self) -> None:
        print("\n" + "=" * 78)
        if self.failures:
            print(f"make test: {len(self.failures)} failed")
            for line in self.failures:
                print(f"FAILED {line}")
            for line in self.machine_log:
                print(f"  machine log: {line}")
        else:
            print("make test: every phase passed")
        phases = read_phases(self.phases_file)
        print(f"{'phase':<20} seconds")
        for name, seconds in phases.items():
            part = name.partition(".")[2]
            print(f"  {part + ' (test s)':<18} {seconds:7.1f}" if part else f"{name:<20} {seconds:7.1f}")
        side_by_side = ("boot", "unit", "cluster")
        rest = sum(v for k, v in phases.items() if k not in side_by_side and "." not in k)
        beside = max(phases.get("cluster", 0.0), phases.get("boot", 0.0) + phases.get("unit", 0.0))
        print(f"{'total':<20} {rest + beside:7.1f}  (the cluster phase starts with the boot, each "
              f"of its {self.lanes} labs' tests once that lab is up; the unit tests after the boot)")


def failed_tests(junit: Path) -> list[str]:
    """`path::test: first line of the reason` for every failed or erroring test case."""
    found = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        for problem in case.findall("failure") + case.findall("error"):
            reason = (problem.get("message") or problem.text or "").strip().splitlines()
            found.append(f"{case.get('classname')}::{case.get('name')}: "
                         f"{reason[0][:200] if reason else '?'}")
    return found


def read_phases(path: Path) -> dict[str, float]:
    phases: dict[str, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, value = line.partition("=")
            phases[name] = phases.get(name, 0.0) + float(value)
    return phases


def build_image() -> None:
    from labs.launcher.dockerhost import ensure_engine
    from labs.launcher.image import ensure_machine_image
    ensure_engine(Path(os.environ["LAB_HOME"]))
    ensure_machine_image(lambda message: print(f"==> lab: {message}", flush=True))


def lane_homes(report: Report) -> list[Path]:
    """The labs of pytest-xdist's workers gw0, gw1, … (conftest.py gives each its own)."""
    return [report.lab_home / f"gw{index}" for index in range(report.lanes)]


def lab_command(home: Path, script: str, log: Path) -> bool:
    with log.open("w") as out:
        return subprocess.run(["sh", "-c", script], stdout=out, stderr=subprocess.STDOUT,
                              cwd=PROJECT, env={**os.environ, "LAB_HOME": str(home)}).returncode == 0


def boot(report: Report) -> threading.Thread:
    """`lab up` of every lane's lab (after `lab down` with LAB_FRESH=1), side by side, in the
    background. Each lab's outcome goes to <lab>/booted (`ok` or `failed`), which the cluster
    phase's worker for that lab waits on (conftest.py); the thread's `failed` lists the labs
    that did not come up."""
    script = f"{LAB} down && {LAB} up" if os.environ.get("LAB_FRESH") == "1" else f"{LAB} up"
    for home in lane_homes(report):
        home.mkdir(parents=True, exist_ok=True)
        (home / BOOTED).unlink(missing_ok=True)        # before any worker can read an old one

    def up(home: Path) -> bool:
        ok = lab_command(home, script, home / "boot.log")
        outcome = home / f"{BOOTED}.new"            # then renamed: a worker reads it whole
        outcome.write_text("ok" if ok else "failed")
        outcome.replace(home / BOOTED)
        return ok

    def run() -> None:
        with ThreadPoolExecutor(report.lanes) as pool:
            ok = list(pool.map(up, lane_homes(report)))
        thread.failed = [home for home, fine in zip(lane_homes(report), ok) if not fine]

    thread = threading.Thread(target=lambda: report.timed("boot", run), name="boot")
    thread.failed = []
    thread.start()
    return thread


def await_boot(home: Path) -> None:
    """In a cluster worker: until `boot` has written how the lab's `lab up` ended. A failed
    boot fails each test of the lab, naming the log."""
    from labs.polling import wait_for
    booted = home / BOOTED
    wait_for(booted.exists, BOOT_WAIT_S, f"{booted} (the lab's `lab up` by tests/run.py)")
    if booted.read_text() != "ok":
        raise RuntimeError(f"`lab up` of this lab failed: see {home / 'boot.log'}")


def teardown(report: Report) -> None:
    """`lab down` of every lane, then the proof that it left nothing: no container, volume or
    network with the lab's label, and no machine Vagrant still records."""
    with ThreadPoolExecutor(report.lanes) as pool:
        list(pool.map(lambda home: lab_command(home, f"{LAB} down", home / "down.log"),
                      lane_homes(report)))
    for home in lane_homes(report):
        left = leftovers(home)
        if left:
            report.failures.append(f"teardown: `lab down` left {', '.join(left)} ({home}/down.log)")


def leftovers(home: Path) -> list[str]:
    from labs.launcher.dockerhost import docker
    from labs.launcher.settings import LABEL, load
    lab = load(home)
    found = [f"{kind} {name}" for kind, listing in (("container", ["ps", "-a"]), ("volume", ["volume", "ls"]),
                                                   ("network", ["network", "ls"]))
             for name in docker(*listing, "-q", "--filter", f"label={LABEL}={lab.name}").stdout.split()]
    return found + [f"Vagrant's record {path.parent.parent.name}"
                    for path in (home / "vagrant" / "machines").glob("*/docker/id")]


def keep_journals(report: Report) -> None:
    """Before teardown removes the machines: each machine's journal of the run, kept in
    <lab>/journal/<machine>.txt, so a failure's cause on the machines (sshd ending a connection,
    a unit that failed) can still be read. The sshd lines that say why a connection ended are
    printed with the failures."""
    from labs.launcher.dockerhost import docker
    from labs.launcher.resources import machines
    from labs.launcher.settings import load
    for home in lane_homes(report):
        if not (home / "settings.json").exists():     # load() would make a new lab there
            continue
        try:
            lab = load(home)
            (home / "journal").mkdir(exist_ok=True)
            for machine, state in machines(lab).items():
                if state != "running":
                    continue
                name = lab.container_name(machine)
                text = docker("exec", name, "journalctl", "--no-pager", "-q", "-o", "short-iso",
                              check=False).stdout
                (home / "journal" / f"{name}.txt").write_text(text)
                report.machine_log += [f"{name}: {line}" for line in text.splitlines()
                                       if "sshd" in line and ("Disconnecting" in line or "fatal" in line)]
        except Exception as error:      # a lab that never booted has nothing to keep
            report.machine_log.append(f"{home}: journals not kept: {error}")


def record_test_seconds(report: Report) -> None:
    """Inside the cluster phase: test seconds of integration, notebooks, unsolved (summed over
    the lanes), so a slow kind shows even though they run side by side."""
    junit = report.lab_home / "junit-cluster.xml"
    if not junit.exists():
        return
    from tests import lanes
    seconds = dict.fromkeys(lanes.KINDS, 0.0)
    for nodeid, spent in lanes.junit_cases(junit):
        seconds[lanes.KINDS[lanes.rank(nodeid)]] += spent
    for kind, total in seconds.items():
        report.record(f"cluster.{kind}", total)


def main() -> int:
    report = Report(Path(os.environ["LAB_HOME"]).resolve())
    report.lab_home.mkdir(parents=True, exist_ok=True)
    report.timed("image", build_image)
    booting = boot(report)
    cluster = threading.Thread(target=lambda: report.timed("cluster", lambda: report.pytest(
        "cluster", "-n", str(report.lanes), "--dist", "loadgroup", "--no-loadscope-reorder",
        "tests/integration", *map(str, NOTEBOOKS), "tests/course/unsolved_notebooks.py",
        *NBVAL, LAB_AWAIT_BOOT="1")), name="cluster")
    cluster.start()
    booting.join()
    # The unit tests start once the labs are up: every lane waits on the boot, which is
    # CPU-bound, while the cluster phase leaves the cores a quarter idle (docs/speed.md).
    unit_log = report.lab_home / "unit.log"
    report.timed("unit", lambda: report.pytest("unit", "-n", str(UNIT_WORKERS), "tests/unit",
                                               log=unit_log))
    cluster.join()
    print(unit_log.read_text(), flush=True)      # after: the cluster run's output streams meanwhile
    record_test_seconds(report)
    for home in booting.failed:
        print("\n".join((home / "boot.log").read_text().splitlines()[-30:]))
        report.failures.insert(0, f"boot: `lab up` failed (last lines above; {home}/boot.log); "
                                  "the tests of that lab failed with it")
    report.timed("host", lambda: report.pytest("host", "tests/host"))
    if report.failures:
        keep_journals(report)
    if os.environ.get("LAB_TEARDOWN") == "1":
        report.timed("teardown", lambda: teardown(report))
    report.print_summary()
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
