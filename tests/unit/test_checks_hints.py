"""How a check speaks (no cluster: the exercises here are the plumbing's own, not the course's):
hints escalate, a failure never raises unless the reference solution was applied, and
predictions are recorded as written."""

from __future__ import annotations

import json

import pytest

from labs import checks
from labs.cluster import ClusterError

LOOK = "the key /k does not exist yet: step 1 shows how a key is written"
SHOW = "etcdctl set /k v"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_HOME", str(tmp_path))
    monkeypatch.delenv(checks.SOLVE_ENV, raising=False)
    return tmp_path


@pytest.fixture
def exercise(monkeypatch):
    """A registered exercise whose check result the test decides."""
    state = {"outcome": checks.failed(LOOK, SHOW), "solved": False}

    def check(cluster):
        if isinstance(state["outcome"], Exception):
            raise state["outcome"]
        return state["outcome"]

    entry = checks.Exercise("plumbing", "A plumbing exercise", "99-test", check=check,
                            solve=lambda cluster: state.update(solved=True),
                            reset=lambda cluster: None)
    monkeypatch.setitem(checks.EXERCISES, "plumbing", entry)
    return state


def test_first_hint_says_where_to_look_not_the_command(home, exercise):
    result = checks.check("plumbing", cluster=object())
    text = str(result)
    assert text.startswith("✘ A plumbing exercise: " + LOOK)
    assert SHOW not in text and "hint=2" in text


def test_second_hint_names_the_command(home, exercise):
    text = str(checks.check("plumbing", cluster=object(), hint=2))
    assert text.endswith(f"show me: {SHOW}")


def test_html_hides_the_command_behind_show_me(home, exercise):
    closed = checks.check("plumbing", cluster=object())._repr_html_()
    opened = checks.check("plumbing", cluster=object(), hint=2)._repr_html_()
    assert "<details style" in closed and "<summary" in closed and SHOW in closed
    assert "<details open" in opened


def test_unreadable_cluster_is_a_polite_failure(home, exercise):
    exercise["outcome"] = ClusterError("core-02 does not answer", "start it again")
    result = checks.check("plumbing", cluster=object())
    assert not result.ok and result.message.startswith("could not check: core-02 does not answer")


def test_pass_is_recorded_as_the_learners(home, exercise):
    exercise["outcome"] = checks.passed("found it")
    assert str(checks.check("plumbing", cluster=object())) == "✔ A plumbing exercise: found it"
    recorded = json.loads((home / "progress.json").read_text())["exercises"]["plumbing"]
    assert recorded["by"] == "learner" and recorded["notebook"] == "99-test"


def test_failure_after_the_reference_solution_raises(home, exercise, monkeypatch):
    monkeypatch.setenv(checks.SOLVE_ENV, "1")
    with pytest.raises(checks.CheckFailed, match="even after the reference solution"):
        checks.check("plumbing", cluster=object())
    assert exercise["solved"]


def test_a_failed_check_records_nothing(home, exercise):
    checks.check("plumbing", cluster=object())
    assert not (home / "progress.json").exists()


def test_prediction_by_letter_records_the_choice(home):
    shown = checks.predict("99-q", "What happens?", ["it works", "it fails"], answer="b")
    assert shown.answer == "it fails" and "your prediction (recorded): it fails" in str(shown)
    assert checks.recall("99-q") == "You predicted: it fails"
    assert checks.progress().predictions == 1


def test_prediction_in_own_words(home):
    checks.predict("99-own", "Why?", answer="  because the quorum is gone ")
    saved = json.loads((home / "progress.json").read_text())["predictions"]["99-own"]
    assert saved["answer"] == "because the quorum is gone" and saved["question"] == "Why?"


def test_unanswered_prediction_says_how_to_answer_and_records_nothing(home):
    shown = checks.predict("99-q", "What happens?", ["it works", "it fails"])
    assert "(a) it works" in str(shown) and "answer=" in str(shown)
    assert checks.recall("99-q") == "You wrote no prediction for this one."


def test_empty_prediction_is_refused(home):
    with pytest.raises(ValueError, match="empty prediction"):
        checks.predict("99-q", "What happens?", answer="   ")


def test_the_widget_records_the_chosen_answer(home):
    import ipywidgets
    prediction = checks.predict("99-w", "What happens?", ["it works", "it fails"])
    box = checks._prediction_widget(prediction, ipywidgets)
    choices, (button, said) = box.children[1], box.children[2].children
    button.click()
    assert "empty prediction" in said.value and checks.recall("99-w").startswith("You wrote no")
    choices.value = "it works"
    button.click()
    assert checks.recall("99-w") == "You predicted: it works" and "recorded" in said.value
