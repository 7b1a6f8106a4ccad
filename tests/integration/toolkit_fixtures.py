"""Helpers of the toolkit's integration tests (their fixtures are in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
LAB = str(Path(sys.executable).with_name("lab"))


def lab(settings, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`lab ARGS` for the test cluster (same LAB_HOME), output captured."""
    env = dict(os.environ, LAB_HOME=settings.state)
    return subprocess.run([LAB, *args], env=env, cwd=PROJECT, capture_output=True, text=True,
                          timeout=timeout, check=True)
