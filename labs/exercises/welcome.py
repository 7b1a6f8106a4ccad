"""Exercises of notebook 00-welcome: getting around the lab."""

from __future__ import annotations

from labs.checks import exercise, failed, passed
from labs.cluster import Cluster
from labs.exercises.common import CORE_02, machine_ids, sh_quote

HELLO = "/home/core/hello.txt"
FOUND = "/home/core/found-me"


def mystery_machine(cluster: Cluster) -> str:
    """The machine 00-welcome asks about: the middle one when sorted by machine-id."""
    ids = machine_ids(cluster)
    ordered = sorted(ids, key=ids.get)
    return ordered[len(ordered) // 2]


def mystery_machine_id(cluster: Cluster) -> str:
    """The machine-id the learner has to find a machine for (not the machine's name)."""
    return machine_ids(cluster)[mystery_machine(cluster)]


# --- make the failing cell pass: a file on core-02 ---------------------------------------------

@exercise("welcome-file", "Make the failing cell pass", "00-welcome", machine=CORE_02,
          path=HELLO, content=f"hello from {CORE_02}")
def welcome_file(cluster, machine, path, content):
    write = f"%%remote {machine}\necho {sh_quote(content)} > {path}"
    here = cluster[machine].run(f"cat {path}", check=False)
    if here.ok:
        if here.stdout.rstrip("\n") == content:
            return passed(f"{path} on {machine} holds {content!r}: the `cat` of the failing cell "
                          f"succeeds now (so with --expect-fail, that cell would fail)")
        return failed(f"{path} exists on {machine} but holds {here.stdout.rstrip()!r}, not "
                      f"{content!r}: `>` replaces a file's content, so writing it again fixes it",
                      write)
    elsewhere = [name for name, result in
                 cluster.run_all(f"test -e {path}", check=False).items() if result.ok]
    if elsewhere:
        return failed(f"{path} exists on {', '.join(elsewhere)}, but not on {machine}: the first "
                      f"line of a `%%remote` cell names the machine it runs on (step 2)", write)
    return failed(f"there is no {path} on {machine} yet: write it from a cell that runs on "
                  f"{machine} (step 2); in the shell, `echo … > FILE` writes a file", write)


@welcome_file.solution
def _(cluster, machine, path, content):
    cluster[machine].run(f"echo {sh_quote(content)} > {path}")


@welcome_file.reset
def _(cluster, machine, path, content):
    cluster.run_all(f"rm -f {path}", check=False)


# --- which machine is it? ----------------------------------------------------------------------

@exercise("welcome-find-machine", "Find a machine by its machine-id", "00-welcome", path=FOUND)
def welcome_find_machine(cluster, path):
    target = mystery_machine(cluster)
    wanted = machine_ids(cluster)[target]
    have = [name for name, result in
            cluster.run_all(f"test -e {path}", check=False).items() if result.ok]
    wrong = [name for name in have if name != target]
    if wrong:
        return failed(f"{path} is on {', '.join(wrong)}, whose machine-id is not {wanted}: "
                      f"remove it there, and compare the ids again",
                      f"%%remote {','.join(wrong)}\nrm {path}")
    if target not in have:
        return failed(f"no machine has {path} yet: first find the machine whose /etc/machine-id "
                      f"is {wanted} — one cell can show every machine's (step 2)",
                      f"%%remote all\ncat /etc/machine-id\n… then, on the machine whose line "
                      f"matches: touch {path}")
    return passed(f"{path} is on {target}, the machine with machine-id {wanted}")


@welcome_find_machine.solution
def _(cluster, path):
    target = mystery_machine(cluster)
    for name in cluster.machines:
        cluster[name].run(f"touch {path}" if name == target else f"rm -f {path}")


@welcome_find_machine.reset
def _(cluster, path):
    cluster.run_all(f"rm -f {path}", check=False)
