"""Exercise checks and predictions: look at the live cluster, say ✔ or ✘, hint without telling.

    from labs import checks
    checks.check("etcd-json")            # ✔, or ✘ with what is wrong and where to look
    checks.check("etcd-json", hint=2)    # … and the command or setting that does it
    checks.predict("02-quorum", "With 2 of 3 members down, a write …", ["succeeds", "fails"])
    checks.progress()                    # what this learner has done

A failed check says what is wrong and where to look (which command family, which step); only
`hint=2` (or the "show me" button under the result in JupyterLab) names the command. The
full solution stays in the notebook's collapsed cell.

Every exercise has a reference solution. With LABS_SOLVE=1 (set by the test suite) the
solution is applied before the check, and a check that still fails raises CheckFailed, so
CI proves both the solution and the check. Without it a failing check never raises: it
returns its ✘ (also when the cluster cannot be read), so a notebook run with its exercises
left undone ends without a traceback.

Passed exercises and predictions are kept in `<lab state dir>/progress.json` (labs.progress).
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from labs import progress as progress_file
from labs.cluster import Cluster, ClusterError

SOLVE_ENV = "LABS_SOLVE"


class CheckFailed(ClusterError):
    """A check failed although its reference solution was applied (LABS_SOLVE=1)."""


@dataclass
class Outcome:
    ok: bool
    message: str          # passed: what was found; failed: what is wrong, where to look
    show: str = ""        # failed: the command or setting that fixes it (hint=2, "show me")


def passed(message: str) -> Outcome:
    return Outcome(True, message)


def failed(message: str, show: str = "") -> Outcome:
    return Outcome(False, message, show)


@dataclass
class Exercise:
    id: str
    title: str
    notebook: str
    check: Callable[..., Outcome]            # (cluster, **params) -> Outcome
    solve: Callable[..., dict | None]        # (cluster, **params): the reference solution
    reset: Callable[..., None]               # (cluster, **params): the learner's traces removed
    params: dict = field(default_factory=dict)
    # A repair exercise ("break it", then fix it): (cluster, **params) breaks what the learner
    # repairs. Its reset leaves the cluster whole, since lesson.begin resets every exercise.
    breaks: Callable[..., None] | None = None


EXERCISES: dict[str, Exercise] = {}


def exercise(id: str, title: str, notebook: str, **params):
    """Register an exercise: decorate its check; attach `.solution` and `.reset` functions
    (and `.breaks` for an exercise that repairs what a "break it" step broke).

        @exercise("etcd-json", "A JSON value", "02-etcd", key="/workshop/network/config")
        def etcd_json(cluster, key): ...
        @etcd_json.solution
        def _(cluster, key): ...
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

        def breaks(fn):
            entry.breaks = fn
            return fn

        check.solution, check.reset, check.breaks, check.exercise = solution, reset, breaks, entry
        return check
    return register


def load_exercises() -> None:
    """The exercises live in labs.exercises, one module per notebook; importing registers them."""
    import labs.exercises  # noqa: F401


def exercises_of(notebook: str) -> list[Exercise]:
    load_exercises()
    return [entry for entry in EXERCISES.values() if entry.notebook == notebook]


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
    show: str = ""
    hint: int = 1
    solved_by_solution: bool = False

    def __str__(self) -> str:
        mark = "✔" if self.ok else "✘"
        text = f"{mark} {self.exercise.title}: {self.message}"
        if self.ok or not self.show:
            return text
        if self.hint >= 2:
            return f"{text}\n  show me: {self.show}"
        return (f"{text}\n  stuck? checks.check({self.exercise.id!r}, hint=2) names the "
                f"command")

    __repr__ = __str__

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))

    def _repr_html_(self) -> str:
        colour, mark = ("#1a7f37", "✔") if self.ok else ("#cf222e", "✘")
        more = ""
        if not self.ok and self.show:
            more = (f'<details{" open" if self.hint >= 2 else ""} style="margin-top:4px">'
                    f'<summary style="cursor:pointer">show me</summary>'
                    f'<code>{html.escape(self.show)}</code></details>')
        return (f'<div style="border-left:4px solid {colour};padding:4px 10px;margin:4px 0">'
                f'<span style="color:{colour};font-weight:bold">{mark} '
                f'{html.escape(self.exercise.title)}</span><br>'
                f'<span>{html.escape(self.message)}</span>{more}</div>')


def solving() -> bool:
    return os.environ.get(SOLVE_ENV, "") not in ("", "0", "false", "no")


def cluster_errors() -> tuple[type[BaseException], ...]:
    """What a check may meet when the cluster cannot answer: reported as ✘, never raised."""
    import docker.errors
    import etcd
    return ClusterError, OSError, etcd.EtcdException, docker.errors.DockerException


def check(exercise_id: str, cluster: Cluster | None = None, *, hint: int = 1,
          solve: bool | None = None, raise_on_fail: bool | None = None, record: bool = True,
          **params) -> CheckResult:
    """Check one exercise on the live cluster; returns a CheckResult that shows ✔ / ✘.

    hint=2 also names the command that fixes what is wrong."""
    load_exercises()
    try:
        entry = EXERCISES[exercise_id]
    except KeyError:
        raise ClusterError(f"unknown exercise {exercise_id!r}",
                           f"the exercises are {', '.join(sorted(EXERCISES))}") from None
    cluster = cluster or Cluster.default()
    arguments = {**entry.params, **params}
    solve = solving() if solve is None else solve
    if solve:      # a solution may hand the check what the learner hands it (a function, say)
        arguments.update(entry.solve(cluster, **arguments) or {})
    try:
        outcome = entry.check(cluster, **arguments)
    except cluster_errors() as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        outcome = failed(f"could not check: {detail} (`lab status` shows whether every "
                         f"machine is up)")
    result = CheckResult(entry, outcome.ok, outcome.message, outcome.show, hint, solve)
    if result.ok and record:
        record_progress(entry, solve)
    if not result.ok and (solve if raise_on_fail is None else raise_on_fail):
        raise CheckFailed(f"{entry.id}: the check fails even after the reference solution: "
                          f"{outcome.message}")
    return result


# --- progress --------------------------------------------------------------------------------

def load_progress(path: Path | None = None) -> dict:
    return progress_file.load(path)


def record_progress(entry: Exercise, by_solution: bool = False, path: Path | None = None) -> None:
    progress_file.update("exercises", entry.id, {
        "title": entry.title, "notebook": entry.notebook, "passed_at": progress_file.now(),
        "by": "reference solution" if by_solution else "learner"}, path)


def has_passed(exercise_id: str, path: Path | None = None) -> bool:
    return exercise_id in load_progress(path)["exercises"]


@dataclass
class Progress:
    rows: list[tuple[str, str, str, bool, str]]     # notebook, id, title, done, when
    predictions: int = 0

    @property
    def done(self) -> int:
        return sum(1 for row in self.rows if row[3])

    def __str__(self) -> str:
        lines = [f"progress: {self.done}/{len(self.rows)} exercises done, "
                 f"{self.predictions} predictions written down"]
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
        return (f"<b>{self.done}/{len(self.rows)} exercises done, {self.predictions} "
                f"predictions written down</b><table>"
                "<tr><th>notebook</th><th>exercise</th><th>done</th><th>when</th></tr>"
                f"{body}</table>")


def progress(path: Path | None = None) -> Progress:
    """Every exercise across the notebooks, and which ones this learner has passed."""
    load_exercises()
    data = load_progress(path)
    done = data["exercises"]
    rows = []
    for entry in sorted(EXERCISES.values(), key=lambda e: (e.notebook, e.id)):
        record = done.get(entry.id)
        rows.append((entry.notebook, entry.id, entry.title, record is not None,
                     (record or {}).get("passed_at", "")))
    return Progress(rows, len(data["predictions"]))


# --- predictions -----------------------------------------------------------------------------

@dataclass
class Prediction:
    """A question asked before a "break it" runs; the learner's answer is recorded, not graded."""
    id: str
    question: str
    choices: tuple[str, ...] = ()
    answer: str | None = None

    def record(self, answer: str, path: Path | None = None) -> None:
        answer = answer.strip()
        if not answer:
            raise ValueError("an empty prediction: write what you expect first")
        progress_file.update("predictions", self.id, {
            "question": self.question, "answer": answer, "at": progress_file.now()}, path)
        self.answer = answer

    def __str__(self) -> str:
        lines = [f"Predict: {self.question}"]
        lines += [f"  ({chr(97 + i)}) {choice}" for i, choice in enumerate(self.choices)]
        if self.answer:
            lines.append(f"your prediction (recorded): {self.answer}")
        else:
            how = "a letter or your own words" if self.choices else "your answer"
            lines.append(f"write it down: checks.predict({self.id!r}, answer=…) with {how}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))

    def _ipython_display_(self):
        from IPython.display import display
        try:
            import ipywidgets
        except ImportError:
            print(self)
            return
        display(_prediction_widget(self, ipywidgets))


def _prediction_widget(prediction: Prediction, widgets):
    """Choices as radio buttons (or a text box) and a button that records the answer."""
    question = widgets.HTML(f"<b>Predict:</b> {html.escape(prediction.question)}")
    if prediction.choices:
        entry = widgets.RadioButtons(options=list(prediction.choices), value=None,
                                     layout=widgets.Layout(width="auto"))
    else:
        entry = widgets.Textarea(placeholder="what do you expect, and why?",
                                 layout=widgets.Layout(width="80%"))
    button = widgets.Button(description="Record my prediction", icon="pencil")
    said = widgets.HTML(f"your prediction (recorded): {html.escape(prediction.answer)}"
                        if prediction.answer else "")

    def on_click(_):
        try:
            prediction.record(entry.value or "")
        except ValueError as error:
            said.value = html.escape(str(error))
        else:
            said.value = f"recorded: {html.escape(prediction.answer)} — now run the next cells"
    button.on_click(on_click)
    return widgets.VBox([question, entry, widgets.HBox([button, said])])


def predict(id: str, question: str, choices: Sequence[str] = (), *, answer: str | None = None,
            path: Path | None = None) -> Prediction:
    """Ask before a "break it": shows choices (or a text box) and records the answer.

    `answer` records it from code instead: a letter for a choice ("b"), or your own words.
    """
    prediction = Prediction(id, question, tuple(choices),
                            load_progress(path)["predictions"].get(id, {}).get("answer"))
    if answer is not None:
        letter = answer.strip().lower()
        if len(letter) == 1 and 0 <= ord(letter) - 97 < len(prediction.choices):
            answer = prediction.choices[ord(letter) - 97]
        prediction.record(answer, path)
    return prediction


def recall(id: str, path: Path | None = None) -> str:
    """What the learner predicted for `id`, to compare with what happened."""
    record = load_progress(path)["predictions"].get(id)
    if record is None:
        return "You wrote no prediction for this one."
    return f"You predicted: {record['answer']}"
