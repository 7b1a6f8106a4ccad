"""The learner's progress file, `<lab state dir>/progress.json`: passed exercises, predictions.

    {"exercises":   {"etcd-json": {"title": …, "notebook": …, "passed_at": …, "by": "learner"}},
     "predictions": {"02-quorum": {"question": …, "answer": …, "at": …}}}

A file that cannot be read as such (cut off mid-write, edited by hand) is never overwritten:
it is renamed to `progress.json.damaged-<time>`, the learner is told where it went, and a
fresh file is started.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

SECTIONS = ("exercises", "predictions")

_lock = threading.Lock()


def default_path() -> Path:
    """$LABS_PROGRESS, or `progress.json` in the lab's state directory."""
    if os.environ.get("LABS_PROGRESS"):
        return Path(os.environ["LABS_PROGRESS"])
    from labs.launcher.settings import state_dir
    return state_dir() / "progress.json"


def load(path: Path | None = None) -> dict:
    """The file's contents; empty when it does not exist; a damaged file is put aside first."""
    path = path or default_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return _empty()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not _well_formed(data):
        _put_aside(path)
        return _empty()
    for section in SECTIONS:
        data.setdefault(section, {})
    return data


def update(section: str, key: str, record: dict, path: Path | None = None) -> None:
    """Set `data[section][key] = record` and write the file atomically."""
    path = path or default_path()
    with _lock:
        data = load(path)
        data[section][key] = record
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _empty() -> dict:
    return {section: {} for section in SECTIONS}


def _well_formed(data) -> bool:
    return isinstance(data, dict) and all(isinstance(data.get(section, {}), dict)
                                          for section in SECTIONS)


def _put_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    path.replace(aside)
    print(f"progress: {path} could not be read; it is kept as {aside}, and a new progress "
          f"file is started (what you passed before is in the kept file)", file=sys.stderr)
    return aside
