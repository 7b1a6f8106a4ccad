"""The first and last cell of every notebook.

    from labs import lesson
    cluster = lesson.begin("02-etcd")     # magics loaded, connected, every machine up, clean
    ...
    lesson.end("02-etcd")                 # the same, for the next notebook; your progress

`begin` makes a notebook runnable on its own and twice in a row: a machine that an earlier
"break it" step left halted is resumed (when the cluster is this host's own lab), and what an
earlier run of this notebook left on the machines is removed — its exercises are reset and
its own containers, units and keys go (`labs.exercises.<topic>` registers that with
`@lesson.cleanup`). Your progress file is never touched. In a classroom, a student's first
`begin` also creates their cluster (their teacher may have done so already with `lab class up`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from labs.cluster import Cluster, ClusterError

CLEANUPS: dict[str, Callable[[Cluster], None]] = {}

# The notebooks' cleanups run in lanes, side by side; a lane runs in this order. 04 and 07 both
# restart fleetd and wait for every machine to rejoin; 05 starts docker again, which 03's and
# 06's cleanups then use. The others (01, 02: etcd keys, files) form a lane of their own.
CLEANUP_LANES = (("04-fleet", "07-service-discovery"),
                 ("05-systemd", "03-docker", "06-networking"))


# A unit that fleet or a cleanup stopped may still be stopping: `docker stop` gives a container
# that ignores SIGTERM (busybox httpd as PID 1) 10 s, and the unit then fails, after a plain
# `reset-failed` ran (docs/flakes.md, row 37). So wait until systemd's job queue is empty (at most
# SETTLE_S), then clear every failed state.
SETTLE_S = 30
SETTLE_SYSTEMD = (f"for i in $(seq {SETTLE_S * 5}); do "
                  '[ -z "$(systemctl list-jobs --no-legend)" ] && break; sleep 0.2; done; '
                  "sudo systemctl reset-failed")


def cleanup(notebook: str):
    """Register what removes NOTEBOOK's own leftovers (besides its exercises' resets)."""
    def register(fn: Callable[[Cluster], None]):
        CLEANUPS[notebook] = fn
        return fn
    return register


def begin(notebook: str) -> Cluster:
    """Load the %remote magics, connect, make sure every machine answers, start clean."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.extension_manager.load_extension("labs")
    start_classroom_lab()
    cluster = Cluster.default()
    bring_back_halted_machines(cluster)
    start_clean(notebook, cluster)
    print(f"{notebook}: connected to {', '.join(cluster.machines)} "
          f"({cluster.path}); every machine is up, nothing of an earlier run is left.")
    return cluster


def end(notebook: str):
    """Leave every machine up and clean for the next notebook; show the learner's progress."""
    from labs import checks

    cluster = Cluster.default()
    bring_back_halted_machines(cluster)
    start_clean(notebook, cluster)
    print(f"{notebook} done: every machine is up, ready for the next notebook.")
    return checks.progress()


def start_clean(notebook: str, cluster: Cluster) -> None:
    """Remove what every notebook's steps leave on the machines, then reset NOTEBOOK's
    exercises: a learner who goes back from 07 to 04 finds fleet as 04 expects it, empty.
    Last, wait for what systemd is still stopping and clear every failed unit."""
    from labs import checks

    entries = checks.exercises_of(notebook)          # importing the exercises registers cleanups
    clean_every_notebook(cluster)
    for entry in entries:
        entry.reset(cluster, **entry.params)
    cluster.run_all(SETTLE_SYSTEMD, timeout=SETTLE_S + 30)


def clean_every_notebook(cluster: Cluster) -> None:
    """Run every registered cleanup, the lanes of CLEANUP_LANES side by side (the first
    failure is raised once every lane has stopped)."""
    in_lanes = {notebook for lane in CLEANUP_LANES for notebook in lane}
    lanes = [[CLEANUPS[notebook] for notebook in lane if notebook in CLEANUPS] for lane in CLEANUP_LANES]
    lanes.append([fn for notebook, fn in CLEANUPS.items() if notebook not in in_lanes])

    def run_in_order(lane):
        for cleanup_of_a_notebook in lane:
            cleanup_of_a_notebook(cluster)

    with ThreadPoolExecutor(len(lanes), thread_name_prefix="cleanup") as pool:
        running = [pool.submit(run_in_order, lane) for lane in lanes if lane]
    for lane in running:
        lane.result()


def start_classroom_lab() -> None:
    """A classroom student's first lesson: their cluster does not exist yet, so make it."""
    from labs.launcher import lifecycle, settings

    if not (settings.state_dir() / "settings.json").exists():
        return                      # not a classroom lab (those are set up with their settings)
    lab = settings.load()
    if lab.broker and not lab.path("ssh_config").exists():
        print("Starting your cluster for the first time (about a minute) ...", flush=True)
        lifecycle.up(lab)


def bring_back_halted_machines(cluster: Cluster) -> None:
    """Resume machines that do not answer, when this host runs the lab; else say what to do."""
    down = [name for name, result in cluster.run_all("true", check=False).items() if not result.ok]
    if not down:
        return
    from labs import drills
    from labs.launcher import settings

    if cluster.path != settings.load().path("ssh_config"):
        raise ClusterError(f"{', '.join(down)} do not answer",
                          "ask your teacher to start them again")
    verb = "is" if len(down) == 1 else "are"
    print(f"{', '.join(down)} {verb} down: starting again (lab resume {' '.join(down)}) ...")
    drills.resume(*down)
