"""The progress file: a damaged one is kept aside (never overwritten), and the learner is told."""

from __future__ import annotations

import json

from labs import checks


def entry(id="etcd-json"):
    return checks.Exercise(id, "Write a key", "02-etcd", check=None, solve=None, reset=None)


def test_damaged_progress_file_is_kept_aside_and_reported(tmp_path, capsys):
    path = tmp_path / "progress.json"
    damaged = '{"exercises": {"welcome-file": {"title": "Create a fi'     # cut off mid-write
    path.write_text(damaged)

    checks.record_progress(entry(), path=path)

    kept = sorted(tmp_path.glob("progress.json.damaged-*"))
    assert len(kept) == 1 and kept[0].read_text() == damaged
    assert list(json.loads(path.read_text())["exercises"]) == ["etcd-json"]
    said = capsys.readouterr()
    assert str(kept[0]) in said.out + said.err


def test_progress_file_of_the_wrong_shape_is_kept_aside_too(tmp_path):
    path = tmp_path / "progress.json"
    path.write_text('["not", "a", "progress", "file"]')
    assert checks.load_progress(path) == {"exercises": {}, "predictions": {}}
    assert [p.read_text() for p in tmp_path.glob("progress.json.damaged-*")] == \
        ['["not", "a", "progress", "file"]']


def test_two_damaged_files_in_one_second_both_survive(tmp_path):
    path = tmp_path / "progress.json"
    for text in ("{", "[1"):
        path.write_text(text)
        checks.load_progress(path)
    assert sorted(p.read_text() for p in tmp_path.glob("progress.json.damaged-*")) == ["[1", "{"]


def test_a_missing_progress_file_is_simply_empty(tmp_path):
    assert checks.load_progress(tmp_path / "progress.json") == {"exercises": {}, "predictions": {}}
    assert not list(tmp_path.iterdir())


def test_a_good_progress_file_keeps_earlier_entries(tmp_path):
    path = tmp_path / "progress.json"
    checks.record_progress(entry("welcome-file"), path=path)
    checks.record_progress(entry("etcd-json"), path=path)
    assert sorted(json.loads(path.read_text())["exercises"]) == ["etcd-json", "welcome-file"]
    assert not list(tmp_path.glob("*.damaged-*"))


def test_labs_progress_names_another_progress_file(tmp_path, monkeypatch):
    from labs import progress
    monkeypatch.setenv("LABS_PROGRESS", str(tmp_path / "elsewhere.json"))
    checks.record_progress(entry())
    assert list(json.loads((tmp_path / "elsewhere.json").read_text())["exercises"]) == ["etcd-json"]
    assert progress.default_path() == tmp_path / "elsewhere.json"
