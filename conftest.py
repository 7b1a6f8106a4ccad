"""A healthy lab cluster before any integration test or notebook runs.

`make test` sets LAB_HOME to a test lab of its own (never the learner's cluster),
LAB_FRESH=1 (boot it from scratch) and LAB_TEARDOWN=1 (remove it at the end). Without
them, an already healthy cluster of LAB_HOME is reused and kept.

Under pytest-xdist each worker has a lab of its own, `$LAB_HOME/<worker>` (gw0, gw1, …), and
with `--dist loadgroup` the cluster tests are grouped and ordered by tests/lanes.py.
"""

from __future__ import annotations

import os

import pytest

from labs.launcher import lifecycle, settings as lab_settings

_booted: lab_settings.LabSettings | None = None


def ensure_cluster() -> lab_settings.LabSettings:
    """Boot (once per session) the cluster of LAB_HOME and wait until it is healthy; under
    `make test` (LAB_AWAIT_BOOT=1), wait for tests/run.py's own `lab up` of it instead."""
    global _booted
    if _booted is None:
        if os.environ.get("LAB_AWAIT_BOOT") == "1":
            from tests import run
            run.await_boot(lab_settings.state_dir())     # the boot may be writing the settings
            settings = lab_settings.load()
        else:
            settings = lab_settings.load()
            if os.environ.get("LAB_FRESH") == "1":
                lifecycle.down(settings)
            lifecycle.up(settings)
        _booted = settings
    return _booted


def pytest_configure(config):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:   # before anything reads LAB_HOME; nbval's kernels inherit it
        os.environ["LAB_HOME"] = str(lab_settings.state_dir() / worker)


def pytest_collection_modifyitems(config, items):
    """Notebooks and tests under tests/integration need the cluster."""
    for item in items:
        if "integration" in item.path.parts or item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.integration)
    if getattr(config.option, "loadgroup", False):   # an xdist worker under --dist loadgroup
        from tests import lanes
        lanes.arrange(items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") == "loadgroup":
        from tests import lanes
        return lanes.scheduling(config, log)
    return None


def pytest_runtest_setup(item):
    if item.get_closest_marker("integration"):
        ensure_cluster()


def pytest_sessionfinish(session, exitstatus):
    if _booted is not None and os.environ.get("LAB_TEARDOWN") == "1":
        lifecycle.down(_booted)


@pytest.fixture(scope="session")
def lab_cluster() -> lab_settings.LabSettings:
    """The running lab's settings (names, addresses, ssh_config path)."""
    return ensure_cluster()
