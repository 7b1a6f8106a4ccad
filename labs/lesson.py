"""The first and last cell of every notebook.

    from labs import lesson
    cluster = lesson.begin("02-etcd")     # magics loaded, connected, every machine up
    ...
    lesson.end("02-etcd")                 # every machine up again; what you have done so far

`begin` makes a notebook runnable on its own and twice in a row: a machine that an earlier
"break it" step left halted is resumed (when the cluster is this host's own lab), so each
lesson starts from a healthy cluster.
"""

from __future__ import annotations

from labs.cluster import Cluster, ClusterError


def begin(notebook: str) -> Cluster:
    """Load the %remote magics, connect, and make sure every machine answers."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.extension_manager.load_extension("labs")
    cluster = Cluster.default()
    bring_back_halted_machines(cluster)
    print(f"{notebook}: connected to {', '.join(cluster.machines)} "
          f"({cluster.path}); every machine is up.")
    return cluster


def end(notebook: str):
    """Leave every machine up for the next notebook; show the learner's progress."""
    from labs import checks

    cluster = Cluster.default()
    bring_back_halted_machines(cluster)
    print(f"{notebook} done: every machine is up, ready for the next notebook.")
    return checks.progress()


def bring_back_halted_machines(cluster: Cluster) -> None:
    """Resume machines that do not answer, when this host runs the lab; else say what to do."""
    down = [name for name, result in cluster.run_all("true", check=False).items() if not result.ok]
    if not down:
        return
    from labs import provision, settings

    lab = settings.load()
    if cluster.path != lab.path("ssh_config"):
        raise ClusterError(f"{', '.join(down)} do not answer",
                          "ask your teacher to start them again")
    verb = "is" if len(down) == 1 else "are"
    print(f"{', '.join(down)} {verb} down: starting again (lab resume {' '.join(down)}) ...")
    provision.resume(lab, *down)
