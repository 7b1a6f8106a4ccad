"""Waiting for a condition on a live system: poll, never sleep blindly."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from labs.errors import LabError

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.5) -> T:
    """Call `condition()` every `interval` s until it returns something truthy; return that.

    Raises LabError naming `what` after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise LabError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
