"""Beyond one server: a second Docker engine on this host (its own socket, data root and bridge)
stands in for a second server. A new student's lab is placed there; they use it like any other,
and the classroom's isolation holds across engines."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import LAB, Student
from test_isolation import machine_targets, probe


@pytest.fixture(scope="module")
def engine2(room, students):
    from labs.classroom import config as classroom_config, engines

    url = engines.up(room.config_path)
    room.config = classroom_config.load(room.config_path)
    try:
        yield url
    finally:
        engines.down(room.config_path)
        room.config = classroom_config.load(room.config_path)


@pytest.fixture(scope="module")
def third(room, students, engine2):
    """A student who joins late: the engine with the fewest labs (the second) gets their lab."""
    from labs.classroom import accounts, config as classroom_config, netfilter, setup, studentlab
    from labs.classroom.worker import call

    classroom = classroom_config.load(room.config_path)
    name = classroom.students[0][:-1] + "c"
    classroom.students.append(name)
    classroom.save(room.config_path)
    setup.add_people(classroom)
    try:
        yield Student(name, room)
    finally:
        lab = studentlab.load(classroom, name)
        call(lab.state, studentlab.engine(classroom, name), "down", [], lambda line: None)
        netfilter.remove(classroom, name)
        accounts.remove_account(name)
        classroom = classroom_config.load(room.config_path)
        classroom.students.remove(name)
        classroom.save(room.config_path)
        room.config = classroom


def containers_on(engine: str, lab_name: str) -> list[str]:
    from labs.launcher.settings import LABEL
    done = subprocess.run(["docker", "ps", "--filter", f"label={LABEL}={lab_name}", "--format",
                           "{{.Names}}"], env=dict(os.environ, DOCKER_HOST=engine) if engine
                          else {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return sorted(done.stdout.split())


def test_a_late_student_is_placed_on_the_second_engine(room, third, engine2):
    from labs.classroom import studentlab
    assert studentlab.engine(room.config, third.name) == engine2
    assert all(studentlab.engine(room.config, s) == "" for s in room.config.students[:2])


def test_their_cluster_runs_on_the_second_engine_and_works_as_any_other(room, students, third,
                                                                      engine2):
    up = third.lab("up", timeout=1800)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    lab = json.loads((third.lab_home / "settings.json").read_text())["name"]
    assert containers_on(engine2, lab) == [f"{lab}-core-01", f"{lab}-core-02", f"{lab}-core-03",
                                           f"{lab}-discovery"]
    assert containers_on("", lab) == [], "nothing of theirs on the first engine"
    health = third.run("ssh", "-F", str(third.lab_home / "ssh_config"), "core-02",
                       "etcdctl cluster-health")
    assert health.returncode == 0 and "cluster is healthy" in health.stdout, health.stdout
    status = third.lab("status")
    assert status.returncode == 0 and status.stdout.count(" running ") == 3, status.stdout


def test_the_teacher_sees_students_on_both_engines(room, students, third, engine2):
    table = subprocess.run([LAB, "class", "status"],
                           env=dict(os.environ, CLASSROOM_CONFIG=str(room.config_path)),
                           capture_output=True, text=True, timeout=300)
    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
    for name in (students[0].name, students[1].name, third.name):
        assert "3/3 up" in rows[name], table.stdout


def test_isolation_holds_across_engines(students, third, engine2):
    a = students[0]
    targets = machine_targets(third.settings(), ports=(22, 2379))
    for target, outcome in probe(a, *targets).items():
        assert outcome.startswith("EHOSTUNREACH"), (target, outcome)
    assert set(probe(third, *targets).values()) == {"open"}
