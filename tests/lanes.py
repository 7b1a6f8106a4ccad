"""Lanes: `make test` runs the cluster tests on several test labs at once (pytest-xdist), and
this module says what must share a lab and what goes first.

A *group* runs whole, in order, on one worker and its lab (`--dist loadgroup`, with the
scheduler below):

- everything about one notebook: its integration tests (test_exercises_<topic>, its checks in
  test_toolkit_checks), the notebook solved, then the notebook unsolved — so each notebook
  still runs again after a learner ran it, on the same cluster;
- notebook 01's group also holds test_cluster: both edit or re-render the checkout's
  vagrant/user-data (`vagrant provision`, `lab reset`), which every lab reads;
- any other test module is a group of its own.

Groups are handed out longest first (WEIGHTS, seconds measured on this 2-core machine; refresh
them with `python -m tests.lanes <lab>/junit-cluster.xml`), so no lab is left with a long group
at the end while the others idle.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter

EXERCISE_MODULES = {"welcome": "00", "vagrant": "01", "etcd": "02", "docker": "03", "fleet": "04",
                    "systemd": "05", "networking": "06", "service_discovery": "07"}
SHARES_VAGRANT_FILES = {"tests/integration/test_cluster.py": "01"}
UNKNOWN_WEIGHT = 10.0
WEIGHTS = {  # test seconds per group, three labs side by side (`python -m tests.lanes`)
    "notebook-04": 317, "notebook-01": 249, "notebook-07": 244, "notebook-02": 152,
    "tests/integration/test_fleet_failures.py": 117, "tests/integration/test_fleet_scheduling.py": 101,
    "notebook-03": 98, "notebook-05": 67, "tests/integration/test_fleet_cli.py": 65, "notebook-06": 63,
    "tests/integration/test_fleet_ssh.py": 35, "tests/integration/test_fleet_sidekick.py": 30,
    "notebook-00": 29, "tests/integration/test_fleet_api.py": 29, "tests/integration/test_lab_lifecycle.py": 18,
}
# test_toolkit_checks.py[<exercise>] belongs to the exercise's notebook
CHECK_PARAM = re.compile(r"test_toolkit_checks\.py::test_check_fails_unsolved_with_its_hint\[(.+)\]")


def group_of(nodeid: str) -> str:
    """The group of one test, from its pytest node id."""
    path, _, name = nodeid.partition("::")
    notebook = re.match(r"notebooks/(\d\d)-", path)
    if notebook:
        return f"notebook-{notebook.group(1)}"
    if path == "tests/course/unsolved_notebooks.py":
        return "notebook-" + re.search(r"\[(\d\d)-", name).group(1)
    exercises = re.match(r"tests/integration/test_exercises_(\w+)\.py$", path)
    if exercises and exercises.group(1) in EXERCISE_MODULES:
        return f"notebook-{EXERCISE_MODULES[exercises.group(1)]}"
    check = CHECK_PARAM.search(nodeid)
    if check:
        from labs import checks
        checks.load_exercises()
        return f"notebook-{checks.EXERCISES[check.group(1)].notebook[:2]}"
    if path in SHARES_VAGRANT_FILES:
        return f"notebook-{SHARES_VAGRANT_FILES[path]}"
    return path


KINDS = ("integration", "notebooks", "unsolved")   # the order inside a group


def rank(nodeid: str) -> int:
    """Order inside a group (an index into KINDS): integration tests, the notebook solved, unsolved."""
    if nodeid.startswith("notebooks/"):
        return 1
    if nodeid.startswith("tests/course/"):
        return 2
    return 0


def arrange(items) -> None:
    """Sort the cluster tests: heaviest group first, each group's tests together in `rank`
    order (pytest's own order otherwise, which nbval's cells need). Each worker collects in
    this order, and LaneScheduling hands the groups out in it."""
    position = {id(item): index for index, item in enumerate(items)}
    groups = {id(item): group_of(item.nodeid) for item in items}
    items.sort(key=lambda item: (-WEIGHTS.get(groups[id(item)], UNKNOWN_WEIGHT),
                                 groups[id(item)], rank(item.nodeid), position[id(item)]))


def scheduling(config, log):
    """xdist's scheduler for `--dist loadgroup` here: a whole group goes to one worker.

    (xdist's own loadgroup reads `xdist_group` marks and renames node ids to carry them,
    which pytest 9.2's node ids no longer allow: every test became a group of its own.)"""
    from xdist.scheduler import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return LaneScheduling(config, log)


def junit_cases(junit) -> list[tuple[str, float]]:
    """(node id, seconds) of every test case in a junit report."""
    cases = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        classname = case.get("classname") or ""
        if classname.startswith("notebooks."):
            path = "notebooks/" + classname.removeprefix("notebooks.")
        else:
            path = classname.replace(".", "/") + ".py"
        cases.append((f"{path}::{case.get('name')}", float(case.get("time") or 0)))
    return cases


def measured(junit_files: list[str]) -> Counter:
    """Seconds per group in junit reports (for WEIGHTS)."""
    seconds: Counter = Counter()
    for junit in junit_files:
        for nodeid, spent in junit_cases(junit):
            seconds[group_of(nodeid)] += spent
    return seconds


if __name__ == "__main__":
    for group, total in measured(sys.argv[1:]).most_common():
        print(f"{total:7.1f}  {group}")
