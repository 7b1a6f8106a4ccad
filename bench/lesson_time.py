"""How long a notebook takes one learner: its cells' measured run times, plus reading and typing.

    LAB_HOME=... LABS_SOLVE=1 .venv/bin/python -m pytest -q notebooks/02-etcd.ipynb \
        --nbval-lax --nbval-current-env --durations=0 > durations.log
    .venv/bin/python bench/lesson_time.py notebooks/02-etcd.ipynb durations.log

The run times are measured (nbval's per-cell durations on the live cluster; with a notebook
listed twice, `--runs 2` takes the mean). What no test run can measure is a person, so reading and
typing are modelled at stated rates — one learner reading every markdown cell, running every
given cell, and typing each exercise's reference solution (its length stands in for the learner's
own cells) plus a pause to think per exercise and per prediction:

  reading 180 words/min (technical prose), typing 150 characters/min (code, about 30 words/min),
  5 s per given cell (read it, press Shift-Enter), 3 min per exercise to work it out (a first try that
  fails, the hint, a second try), 20 s per prediction.

Prints one line per part and the total in minutes.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

WORDS_PER_MIN = 180
CHARS_PER_MIN = 150
PER_GIVEN_CELL_S = 5
THINK_PER_EXERCISE_S = 180
THINK_PER_PREDICTION_S = 20
SOLUTION = re.compile(r"<summary>Solution</summary>(.*?)</details>", re.S)
FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.S)


def measured_run_s(log: Path, notebook: str, runs: int) -> float:
    """Seconds the notebook's cells took per run, from pytest's --durations=0 lines."""
    pattern = re.compile(rf"([\d.]+)s (?:call|setup|teardown)\s+\S*{re.escape(notebook)}::Cell \d+")
    total = sum(float(m.group(1)) for m in map(pattern.search, log.read_text().splitlines()) if m)
    return total / runs


def estimate(path: Path, log: Path, runs: int = 1) -> dict[str, float]:
    cells = json.loads(path.read_text())["cells"]
    words = sum(len("".join(c["source"]).split()) for c in cells if c["cell_type"] == "markdown")
    solutions = [block for c in cells if c["cell_type"] == "markdown"
                 for part in SOLUTION.findall("".join(c["source"])) for block in FENCE.findall(part)]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    exercises = sum(1 for source in code if re.search(r"^checks\.check\(", source, re.M))
    predictions = sum(1 for source in code if "checks.predict(" in source)
    given = sum(1 for source in code if not source.lstrip().startswith("# your cell"))
    run = measured_run_s(log, path.name, runs)
    return {
        "read_s": words / WORDS_PER_MIN * 60,
        "type_s": sum(len(block) for block in solutions) / CHARS_PER_MIN * 60,
        "think_s": exercises * THINK_PER_EXERCISE_S + predictions * THINK_PER_PREDICTION_S,
        "given_cells_s": given * PER_GIVEN_CELL_S,
        "run_s_measured": run,
        "words": words, "exercises": exercises, "predictions": predictions, "given_cells": given,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("durations", type=Path, help="pytest --durations=0 output of an nbval run")
    parser.add_argument("--runs", type=int, default=1, help="how often the log ran the notebook")
    args = parser.parse_args()
    parts = estimate(args.notebook, args.durations, args.runs)
    for name, value in parts.items():
        print(f"{name}={value:.0f}")
    total = sum(v for k, v in parts.items() if k.endswith("_s") or k.endswith("_measured"))
    print(f"total_min={total / 60:.0f}")


if __name__ == "__main__":
    main()
