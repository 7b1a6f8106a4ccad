"""`make test` boots each test lab while the cluster phase's workers start: a worker's first
cluster test waits for tests/run.py's word on its own lab (<lab>/booted), reads the lab's
settings only then (the boot may still be writing them), and a failed boot fails the lab's
tests with the log to read."""

import threading
import time

import pytest

import conftest
from tests import run


@pytest.fixture
def worker_lab(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_HOME", str(tmp_path))
    monkeypatch.setenv("LAB_AWAIT_BOOT", "1")
    monkeypatch.setattr(conftest, "_booted", None)
    return tmp_path


def test_a_worker_reads_its_lab_once_the_boot_says_ok(worker_lab, monkeypatch):
    read_at, said_at = [], []
    monkeypatch.setattr(conftest.lab_settings, "load",
                        lambda: read_at.append(time.monotonic()) or "the lab's settings")

    def boot():
        time.sleep(0.6)
        said_at.append(time.monotonic())
        (worker_lab / run.BOOTED).write_text("ok")

    threading.Thread(target=boot).start()
    assert conftest.ensure_cluster() == "the lab's settings"
    assert read_at[0] >= said_at[0]


def test_a_failed_boot_fails_the_labs_tests_naming_its_log(worker_lab):
    (worker_lab / run.BOOTED).write_text("failed")
    with pytest.raises(RuntimeError, match=f"`lab up` of this lab failed: see {worker_lab}/boot.log"):
        conftest.ensure_cluster()
    assert conftest._booted is None          # the next test of the lab fails the same way
