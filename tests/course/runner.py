"""Run a notebook as a learner's kernel would (nbclient), and read what its cells left."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CELL_TIMEOUT_S = 600
CHECK_CALL = re.compile(r"^\s*checks\.check\(\s*[\"']([\w-]+)[\"']", re.M)   # group 1: the exercise


def artifacts_dir(lab_state: str) -> Path:
    return Path(os.environ.get("COURSE_ARTIFACTS") or Path(lab_state, "executed"))


def execute(path: Path, artifacts: Path) -> nbformat.NotebookNode:
    """Run every cell in order (errors kept as outputs), save the result under `artifacts`."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            allow_errors=True, resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    finally:
        artifacts.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, artifacts / path.name)
    return notebook


def tracebacks(notebook) -> list[str]:
    """`cell N: ErrorName: message` for every cell that raised."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"cell {index}: {output['ename']}: {output['evalue'][:300]}")
    return found


def check_results(notebook) -> list[tuple[int, str, str]]:
    """(cell index, exercise, the text the result shows) for every cell that ends in
    `checks.check("<exercise>", …)`."""
    results = []
    for index, cell in enumerate(notebook.cells):
        call = CHECK_CALL.search(cell.source) if cell.cell_type == "code" else None
        if call is None:
            continue
        shown = [output["data"]["text/plain"] for output in cell.get("outputs", [])
                 if output.get("output_type") == "execute_result"]
        results.append((index, call.group(1), shown[0] if shown else "(the check showed nothing)"))
    return results
