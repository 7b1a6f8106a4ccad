"""`lesson.begin` promises that nothing of an earlier run is left: not even a unit that is still
stopping when the next notebook begins, and fails after it."""

from __future__ import annotations

import pytest

from labs import lesson, polling

pytestmark = pytest.mark.integration

# ignores SIGTERM (as busybox httpd does as a container's PID 1), so its stop ends in SIGKILL
# after TimeoutStopSec, and the unit fails: longer than a start_clean on a clean cluster takes
SLOW_STOP = ("sudo systemd-run --quiet --unit lab-slow-stop -p TimeoutStopSec=6 "
             "/bin/sh -c 'trap \"\" TERM; while :; do sleep 1; done'")


def test_a_unit_still_stopping_is_waited_for_and_its_failure_cleared(cluster):
    """ci-52: a fleet test's apache@1 was still stopping (`docker stop`, 10 s) when notebook 00
    began; it failed a second after the cleanup's `reset-failed`, and 00's first check saw
    core-03 "degraded". start_clean now waits for systemd's jobs before clearing failed units."""
    machine = cluster[cluster.machines[-1]]
    machine.run(f"{SLOW_STOP} && sudo systemctl stop --no-block lab-slow-stop.service")
    try:
        lesson.start_clean("00-welcome", cluster)
        # what a learner's dashboard shows a while later: the stop has ended, and left nothing
        polling.wait_for(lambda: machine.run("systemctl is-active lab-slow-stop.service", check=False)
                         .stdout.strip() != "deactivating", 20, "the stop to end")
        assert machine.run("systemctl list-units --failed --no-legend --plain").stdout == ""
        assert machine.run("systemctl is-system-running", check=False).stdout.strip() == "running"
    finally:
        machine.run("sudo systemctl stop lab-slow-stop.service; sudo systemctl reset-failed lab-slow-stop.service",
                    check=False)
