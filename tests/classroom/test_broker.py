"""The broker acts for the caller the kernel names, on the caller's own lab, one change at a time."""

from __future__ import annotations

import stat
import subprocess

from conftest import LAB, json_request


def test_a_student_uses_the_lab_command_without_docker(students):
    a = students[0]
    assert "docker" not in subprocess.run(["id", "-Gn", a.name], capture_output=True,
                                          text=True).stdout.split()
    direct = a.run("docker", "info")              # the real engine: not theirs
    assert direct.returncode != 0
    status = a.lab("status")
    assert status.returncode == 0, status.stderr
    for machine in ("core-01", "core-02", "core-03"):
        assert f"{machine}  running" in status.stdout, status.stdout


def test_the_students_copy_of_the_lab_is_theirs(students):
    a = students[0]
    for name in ("settings.json", "ssh_config", "known_hosts", "id_ed25519"):
        info = (a.lab_home / name).stat()
        assert info.st_uid == a.uid, f"{name} is not owned by {a.name}"
    assert stat.S_IMODE((a.lab_home / "id_ed25519").stat().st_mode) == 0o600
    assert stat.S_IMODE(a.home.stat().st_mode) == 0o700
    config = (a.lab_home / "ssh_config").read_text()
    assert f"IdentityFile {a.lab_home}/id_ed25519" in config, config
    login = a.run("ssh", "-F", str(a.lab_home / "ssh_config"), "core-02", "hostname")
    assert login.stdout.strip() == "core-02", login.stderr


def test_asking_for_another_students_lab_is_refused(students, victim):
    a = students[0]
    for op in ("halt", "reset", "down"):
        asked = json_request(a, op, student=victim.name, args=["core-01"] if op == "halt" else [])
        assert asked.returncode == 1
        assert f"you ({a.name}) may act only on your own lab, not on {victim.name}'s" in asked.stderr


def test_lab_home_naming_another_students_lab_is_refused(students, victim):
    a = students[0]
    for args in (("halt", "core-02"), ("reset",), ("down",)):
        tried = a.lab(*args, LAB_HOME=str(victim.lab_home))
        assert tried.returncode == 1
        assert f"you may not use the lab in {victim.lab_home}: permission denied" in tried.stderr


def test_a_forged_copy_of_another_students_settings_is_refused(students, victim):
    a = students[0]
    forged = a.home / "forged-lab"
    forge = a.python("import json, pathlib, sys\n"
                     "mine = json.loads(pathlib.Path(sys.argv[1]).read_text())\n"
                     "mine['name'] = sys.argv[2]\n"
                     "out = pathlib.Path(sys.argv[3]); out.mkdir(exist_ok=True)\n"
                     "(out / 'settings.json').write_text(json.dumps(mine))\n",
                     str(a.lab_home / "settings.json"), victim.settings().name, str(forged))
    assert forge.returncode == 0, forge.stderr
    tried = a.lab("halt", "core-02", LAB_HOME=str(forged))
    assert tried.returncode == 1
    assert f"{forged} is not your lab: yours is {a.lab_home}" in tried.stderr, tried.stderr


def test_someone_outside_the_classroom_cannot_reach_the_broker(room, students, victim):
    from conftest import Student

    teacher = Student(room.teacher, room)
    tried = json_request(teacher, "halt", student=victim.name, args=["core-01"])
    assert tried.returncode == 1
    assert "the classroom's lab service does not answer" in tried.stderr
    assert "Permission denied" in tried.stderr


def test_one_change_at_a_time_per_student(students):
    """A `lab halt` sent while the broker runs the student's `lab up` waits for it, and says so.
    `up` from nothing boots for about 10 s after its first line; a `reset` (about 2 s) once
    ended before a halt sent 3 s after it arrived."""
    a = students[0]
    assert a.lab("down").returncode == 0
    up = a.popen(LAB, "up")
    try:
        first_line = up.stdout.readline()          # the broker has begun the `up`
        halt = a.lab("halt", "core-03")
        up_out = first_line + up.communicate(timeout=600)[0]
        assert up.returncode == 0, up_out
        assert halt.returncode == 0, halt.stderr
        assert "waiting: `lab up` is still running on your lab" in halt.stdout, (first_line, halt.stdout)
    finally:
        up.wait(timeout=600)
        resumed = a.lab("resume", "core-03")
    assert resumed.returncode == 0, resumed.stderr


def test_a_provision_for_another_students_lab_is_refused(students, victim):
    a = students[0]
    text = (a.home / "vagrant" / "user-data").read_text()
    by_name = json_request(a, "provision", student=victim.name, user_data=text)
    assert by_name.returncode == 1
    assert f"you ({a.name}) may act only on your own lab, not on {victim.name}'s" in by_name.stderr
    by_lab = json_request(a, "provision", lab_state=str(victim.lab_home), user_data=text)
    assert by_lab.returncode == 1
    assert f"{victim.lab_home} is not your lab: yours is {a.lab_home}" in by_lab.stderr


def test_a_student_provisions_from_their_own_user_data_checked_first(students):
    """`vagrant provision` sends ~/vagrant/user-data (read as the student); a broken one is
    refused with its line, and the machines keep the cloud-config they had."""
    from labs.exercises.vagrant import UPLOADED

    a = students[0]
    mine = a.home / "vagrant" / "user-data"
    assert mine.stat().st_uid == a.uid, "the student's user-data is their own copy"
    uploaded = a.run("ssh", "-F", str(a.lab_home / "ssh_config"), "core-01", f"cat {UPLOADED}")
    assert uploaded.returncode == 0, uploaded.stderr
    good = mine.read_text()
    try:
        broken = a.run("sh", "-c", f"sed -i 's/command: start/command: launch/' {mine} && "
                                   "cd vagrant && vagrant provision")
        assert broken.returncode == 1, broken.stdout
        assert "vagrant/user-data is not a valid cloud-config; nothing was provisioned" in broken.stderr
        assert ": error: invalid value launch" in broken.stderr, broken.stderr
        after = a.run("ssh", "-F", str(a.lab_home / "ssh_config"), "core-01", f"cat {UPLOADED}")
        assert after.stdout == uploaded.stdout, "a refused provision changed the machines"
    finally:
        a.run("sh", "-c", f"cat > {mine}", input=good)
