"""`make test` boots each test lab while the cluster phase's workers start: a worker's first
cluster test waits for tests/run.py's word on its own lab (<lab>/booted), and a failed boot
fails the lab's tests with the log to read."""

import threading
import time

import pytest

from tests import run


def test_a_worker_waits_until_the_boot_says_ok(tmp_path):
    said_at = []

    def boot():
        time.sleep(0.6)
        said_at.append(time.monotonic())
        (tmp_path / run.BOOTED).write_text("ok")

    threading.Thread(target=boot).start()
    run.await_boot(tmp_path)
    assert said_at and time.monotonic() >= said_at[0]


def test_a_failed_boot_fails_the_labs_tests_naming_its_log(tmp_path):
    (tmp_path / run.BOOTED).write_text("failed")
    with pytest.raises(RuntimeError, match=f"`lab up` of this lab failed: see {tmp_path}/boot.log"):
        run.await_boot(tmp_path)
