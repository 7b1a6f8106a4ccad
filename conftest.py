"""Session fixtures: a healthy lab cluster before any integration test or notebook runs.

`make test` sets LAB_HOME to a test lab of its own (never the learner's cluster),
LAB_FRESH=1 (boot it from scratch) and LAB_TEARDOWN=1 (remove it at the end). Without
them, an already healthy cluster of LAB_HOME is reused and kept.
"""

from __future__ import annotations

import os

import pytest

from labs import provision, settings as lab_settings


def pytest_collection_modifyitems(config, items):
    """Notebooks and tests under tests/integration need the cluster."""
    for item in items:
        if "integration" in item.path.parts or item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def lab_cluster():
    """The running lab, booted (fresh under `make test`) and healthy; its LabSettings."""
    settings = lab_settings.load()
    if os.environ.get("LAB_FRESH") == "1":
        provision.down(settings)
    provision.up(settings)
    yield settings
    if os.environ.get("LAB_TEARDOWN") == "1":
        provision.down(settings)


@pytest.fixture(autouse=True)
def _cluster_for_integration_items(request):
    """Integration items get the cluster without asking for it by name."""
    if request.node.get_closest_marker("integration"):
        request.getfixturevalue("lab_cluster")
