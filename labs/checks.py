"""Exercise checks: look at the live cluster, say ✔ or ✘ with a specific hint.

    from labs import checks
    checks.check("etcd-key")                                    # ✔ / ✘ + hint
    checks.check("etcd-key", key="/workshop/bob", value="hi")   # exercises take parameters
    checks.progress()                                           # what this learner has done

Every exercise has a reference solution. With LABS_SOLVE=1 (set by the test suite) the
solution is applied before the check, and a check that still fails raises CheckFailed, so
CI proves both the solution and the check. Passing checks are recorded in
`<lab state dir>/progress.json` (`.lab/progress.json`, or under $LAB_HOME).
"""

from __future__ import annotations

import html
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from labs.cluster import Cluster, ClusterError

SOLVE_ENV = "LABS_SOLVE"


class CheckFailed(ClusterError):
    """A check failed although its reference solution was applied (LABS_SOLVE=1)."""


@dataclass
class Outcome:
    ok: bool
    message: str


def passed(message: str) -> Outcome:
    return Outcome(True, message)


def failed(hint: str) -> Outcome:
    return Outcome(False, hint)


@dataclass
class Exercise:
    id: str
    title: str
    notebook: str
    check: Callable[..., Outcome]            # (cluster, **params) -> Outcome
    solve: Callable[..., None]               # (cluster, **params): the reference solution
    reset: Callable[..., None]               # (cluster, **params): back to the unsolved state
    params: dict = field(default_factory=dict)


EXERCISES: dict[str, Exercise] = {}


def exercise(id: str, title: str, notebook: str, **params):
    """Register an exercise: decorate its check; attach `.solution` and `.reset` functions.

        @exercise("etcd-key", "Write a key", "02-etcd", key="/workshop/alice", value="hi")
        def etcd_key(cluster, key, value): ...
        @etcd_key.solution
        def _(cluster, key, value): ...
    """
    def register(check):
        entry = Exercise(id, title, notebook, check, _missing("solution", id),
                         _missing("reset", id), dict(params))
        EXERCISES[id] = entry

        def solution(fn):
            entry.solve = fn
            return fn

        def reset(fn):
            entry.reset = fn
            return fn

        check.solution, check.reset, check.exercise = solution, reset, entry
        return check
    return register


def load_exercises() -> None:
    """The exercises live in labs.exercises, one module per topic; importing registers them."""
    import labs.exercises  # noqa: F401


def _missing(what: str, id: str):
    def fail(*args, **kwargs):
        raise NotImplementedError(f"exercise {id!r} has no {what}")
    return fail


# --- running checks --------------------------------------------------------------------------

@dataclass
class CheckResult:
    exercise: Exercise
    ok: bool
    message: str
    solved_by_solution: bool = False

    def __str__(self) -> str:
        mark = "✔" if self.ok else "✘"
        return f"{mark} {self.exercise.title}: {self.message}"

    __repr__ = __str__

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))

    def _repr_html_(self) -> str:
        colour, mark = ("#1a7f37", "✔") if self.ok else ("#cf222e", "✘")
        return (f'<div style="border-left:4px solid {colour};padding:4px 10px;margin:4px 0">'
                f'<span style="color:{colour};font-weight:bold">{mark} '
                f'{html.escape(self.exercise.title)}</span><br>'
                f'<span>{html.escape(self.message)}</span></div>')


def solving() -> bool:
    return os.environ.get(SOLVE_ENV, "") not in ("", "0", "false", "no")


def check(exercise_id: str, cluster: Cluster | None = None, *, solve: bool | None = None,
          raise_on_fail: bool | None = None, record: bool = True, **params) -> CheckResult:
    """Check one exercise on the live cluster; returns a CheckResult that shows ✔ / ✘."""
    load_exercises()
    try:
        entry = EXERCISES[exercise_id]
    except KeyError:
        raise ClusterError(f"unknown exercise {exercise_id!r}",
                           f"the exercises are {', '.join(sorted(EXERCISES))}") from None
    cluster = cluster or Cluster.default()
    arguments = {**entry.params, **params}
    solve = solving() if solve is None else solve
    if solve:
        entry.solve(cluster, **arguments)
    try:
        outcome = entry.check(cluster, **arguments)
    except ClusterError as error:
        outcome = failed(f"could not check: {str(error).splitlines()[0]}")
    result = CheckResult(entry, outcome.ok, outcome.message, solve)
    if result.ok and record:
        record_progress(entry, solve)
    if not result.ok and (solve if raise_on_fail is None else raise_on_fail):
        raise CheckFailed(f"{entry.id}: the check fails even after the reference solution: "
                          f"{outcome.message}")
    return result


# --- progress --------------------------------------------------------------------------------

_progress_lock = threading.Lock()


def progress_path() -> Path:
    from labs.settings import state_dir
    return state_dir() / "progress.json"


def load_progress(path: Path | None = None) -> dict:
    path = path or progress_path()
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {"exercises": {}}


def record_progress(entry: Exercise, by_solution: bool = False, path: Path | None = None) -> None:
    path = path or progress_path()
    with _progress_lock:
        data = load_progress(path)
        data.setdefault("exercises", {})[entry.id] = {
            "title": entry.title, "notebook": entry.notebook,
            "passed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "by": "reference solution" if by_solution else "learner"}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)


@dataclass
class Progress:
    rows: list[tuple[str, str, str, bool, str]]     # notebook, id, title, done, when

    @property
    def done(self) -> int:
        return sum(1 for row in self.rows if row[3])

    def __str__(self) -> str:
        lines = [f"progress: {self.done}/{len(self.rows)} exercises done"]
        width = max((len(r[0]) for r in self.rows), default=8)
        for notebook, id, title, done, when in self.rows:
            lines.append(f"  {'✔' if done else '·'} {notebook.ljust(width)}  {title}"
                         + (f"  ({when})" if done else ""))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><td>{html.escape(nb)}</td><td>{html.escape(title)}</td>"
            f"<td style='text-align:center;color:{'#1a7f37' if done else '#999'}'>"
            f"{'✔' if done else '·'}</td><td>{html.escape(when) if done else ''}</td></tr>"
            for nb, _, title, done, when in self.rows)
        return (f"<b>{self.done}/{len(self.rows)} exercises done</b><table>"
                "<tr><th>notebook</th><th>exercise</th><th>done</th><th>when</th></tr>"
                f"{body}</table>")


def progress(path: Path | None = None) -> Progress:
    """Every exercise across the notebooks, and which ones this learner has passed."""
    load_exercises()
    done = load_progress(path).get("exercises", {})
    rows = []
    for entry in sorted(EXERCISES.values(), key=lambda e: (e.notebook, e.id)):
        record = done.get(entry.id)
        rows.append((entry.notebook, entry.id, entry.title, record is not None,
                     (record or {}).get("passed_at", "")))
    return Progress(rows)
