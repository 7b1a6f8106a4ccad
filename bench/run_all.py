"""How long the whole course takes to run, cell after cell: "Run All" of every notebook in order.

    LAB_HOME=.lab-bench LABS_SOLVE=1 .venv/bin/python bench/run_all.py

Runs on the lab LAB_HOME names (up and healthy), with a kernel per notebook as JupyterLab's
Run All does (nbclient). LABS_SOLVE=1 applies each exercise's solution in its check cell, so the
steps that build on an exercise run as for a learner who solved it. Prints one `name=value` line
per notebook (`run_all_02_etcd_s`), then the total (`run_all_s`, target <= 360 s on this 2-core
machine) and the number of cells that raised (`run_all_errors`, which must be 0: a run that
raised is not a measurement). The executed notebooks are kept in <lab>/bench-executed.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.course.runner import execute, tracebacks  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def main() -> int:
    artifacts = Path(os.environ["LAB_HOME"], "bench-executed")
    total, errors = 0.0, []
    for path in NOTEBOOKS:
        start = time.monotonic()
        executed = execute(path, artifacts)
        seconds = time.monotonic() - start
        total += seconds
        errors += [f"{path.stem} {error}" for error in tracebacks(executed)]
        print(f"run_all_{path.stem.replace('-', '_')}_s={seconds:.1f}", flush=True)
    print(f"run_all_s={total:.1f}")
    print(f"run_all_errors={len(errors)}")
    for error in errors:
        print(f"# {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
