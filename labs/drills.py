"""Failure drills for the notebooks' "break it" steps: halt machines, bring them back.

    from labs import drills
    drills.halt("core-02")          # as `lab halt core-02` in a terminal
    drills.resume("core-02")        # as `lab resume core-02`: returns once it has rejoined etcd

The learner's toolkit reaches the launcher only through the ssh config and this facade, so
a notebook never needs to know how the machines were launched (here, or by a classroom's
broker on the student's behalf).
"""

from __future__ import annotations


def _lab():
    from labs.launcher import settings
    return settings.load()


def halt(*machines: str) -> None:
    """Stop MACHINES; warns when that costs etcd its quorum."""
    from labs.launcher import lifecycle
    lifecycle.halt(_lab(), *machines)


def resume(*machines: str) -> None:
    """Start MACHINES again and wait until they have rejoined etcd."""
    from labs.launcher import lifecycle
    lifecycle.resume(_lab(), *machines)
