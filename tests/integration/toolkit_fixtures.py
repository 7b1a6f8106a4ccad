"""Fixtures of the toolkit's integration tests (imported by tests/integration/test_toolkit_*.py).

`lab_cluster` (conftest.py) makes sure a healthy cluster of $LAB_HOME runs; `cluster` is the
notebooks' view of it, built only from its ssh_config.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
LAB = str(Path(sys.executable).with_name("lab"))


@pytest.fixture(scope="session")
def cluster(lab_cluster):
    from labs import Cluster
    with Cluster.from_ssh_config(lab_cluster.path("ssh_config")) as cluster:
        yield cluster


def lab(settings, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`lab ARGS` for the test cluster (same LAB_HOME), output captured."""
    env = dict(os.environ, LAB_HOME=settings.state)
    return subprocess.run([LAB, *args], env=env, cwd=PROJECT, capture_output=True, text=True,
                          timeout=timeout, check=True)
