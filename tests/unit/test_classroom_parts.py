"""The classroom's parts that need no accounts or cluster: roster, limits, what the broker lets
students run, firewall rules, the student's copy of their lab."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from labs.classroom import config, netfilter, passthrough, studentlab
from labs.classroom.config import Classroom
from labs.errors import LabError
from labs.launcher import brokered, settings, userdata
from labs.launcher.settings import LabSettings

LAB = LabSettings(name="class-ada", subnet="10.200.3.0/24", ssh_port_base=2302,
                  state="/var/lib/coreos-lab/labs/ada", own_key=True, own_vagrant_home=True,
                  machine_memory="512m", machine_pids=1024)


def test_a_roster_is_one_username_per_line(tmp_path):
    roster = tmp_path / "roster.txt"
    roster.write_text("# the morning group\nada\n\ngrace  # room 2\nlinus\n")
    assert config.read_roster(roster) == ["ada", "grace", "linus"]


@pytest.mark.parametrize("text, message", [
    ("ada\nAda Lovelace\n", "2: 'Ada Lovelace' is not a valid username"),
    ("ada\nada\n", "2: 'ada' is listed twice"),
    ("# nobody yet\n", "lists no students"),
])
def test_a_bad_roster_is_refused_with_its_line(tmp_path, text, message):
    roster = tmp_path / "roster.txt"
    roster.write_text(text)
    with pytest.raises(LabError, match=message):
        config.read_roster(roster)


def test_a_classroom_lab_has_its_own_key_vagrant_home_and_limits():
    assert LAB.ssh_private_key == "/var/lib/coreos-lab/labs/ada/id_ed25519"
    assert LAB.vagrant_home == "/var/lib/coreos-lab/labs/ada/vagrant.d"
    assert LAB.limit_flags() == ["--memory", "512m", "--memory-swap", "512m", "--pids-limit", "1024"]


def test_the_single_learners_lab_keeps_vagrants_key_and_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_REGISTRY", str(tmp_path / "labs.json"))
    lab = settings.load(tmp_path / ".lab")
    assert lab.ssh_private_key is None and lab.limit_flags() == []
    data = lab.as_json()
    assert data["ssh_private_key"] is None and data["ssh_public_key"] is None
    checkout_lab = replace(lab, state=str(settings.PROJECT_ROOT / ".lab"))
    assert checkout_lab.vagrant_home is None and checkout_lab.vagrant_dotfile_path is None
    monkeypatch.delenv("VAGRANT_HOME", raising=False)
    assert checkout_lab.login_key == "~/.vagrant.d/insecure_private_key"   # the seed's ssh-add


def test_ssh_add_takes_the_key_from_the_labs_own_vagrant_home(tmp_path, monkeypatch):
    """A fresh host where only test labs ran has no ~/.vagrant.d: Vagrant copied its insecure
    key into each lab's own Vagrant home (notebook 01's ssh-add failed there, 1 fresh clone)."""
    monkeypatch.setenv("LAB_REGISTRY", str(tmp_path / "labs.json"))
    lab = settings.load(tmp_path / "lane")
    assert lab.login_key == str(tmp_path / "lane" / "vagrant.d" / "insecure_private_key")
    assert LAB.login_key == LAB.ssh_private_key


def test_another_lab_of_the_checkout_has_a_vagrant_home_of_its_own(tmp_path, monkeypatch):
    """Vagrant matched a new machine to another lab's index entry by Vagrantfile and name: the
    test lanes' core-02 took each other's entry and lock, and a token split the cluster."""
    monkeypatch.setenv("LAB_REGISTRY", str(tmp_path / "labs.json"))
    lab = settings.load(tmp_path / "lane")
    assert lab.vagrant_home == str(tmp_path / "lane" / "vagrant.d") == lab.as_json()["vagrant_home"]


def test_without_a_broker_a_lifecycle_call_is_made_here():
    calls = []
    wrapped = brokered.brokered(lambda lab, *args: calls.append(args) or "done")
    assert wrapped(replace(LAB, broker=""), "core-02") == "done"
    assert calls == [("core-02",)]


def test_a_broker_that_does_not_answer_is_a_clear_error(tmp_path):
    wrapped = brokered.brokered(lambda lab: pytest.fail("called here instead of the broker"))
    with pytest.raises(LabError, match="the classroom's lab service does not answer"):
        wrapped(replace(LAB, broker=str(tmp_path / "no.sock")))


@pytest.mark.parametrize("args", [
    ["version", "--format", "{{.Server.Version}}"],
    ["inspect", "class-ada-core-01", "--format", "{{.State.Status}}"],
    ["ps", "-a"],
])
def test_students_may_read_their_own_containers(args):
    allowed = passthrough.docker_args(LAB, args)
    assert allowed[: len(args)] == args
    if args[0] == "ps":
        assert allowed[-2:] == ["--filter", "label=io.coreos-lab.lab=class-ada"]


@pytest.mark.parametrize("args, why", [
    (["run", "busybox"], "this server's Docker engine runs every student's machines"),
    (["inspect", "class-grace-core-01"], "class-grace-core-01 is not one of your lab's containers"),
    (["ps", "--filter", "label=x"], "the option '--filter' is not offered"),
    (["exec", "class-ada-core-01", "sh"], "this server's Docker engine"),
])
def test_anything_else_on_the_servers_docker_is_refused(args, why):
    with pytest.raises(LabError, match=why):
        passthrough.docker_args(LAB, args)


def test_vagrant_reads_only_status_and_ssh_config_of_machines():
    assert passthrough.vagrant_args(LAB, ["status", "--machine-readable"])
    assert passthrough.vagrant_args(LAB, ["ssh-config", "core-01"])
    for args in (["destroy", "-f"], ["status", "../../etc"], ["ssh-config", "--help"]):
        with pytest.raises(LabError, match="is not available in the classroom"):
            passthrough.vagrant_args(LAB, args)


def test_each_side_of_a_lab_launches_from_its_own_user_data(tmp_path):
    """The single learner edits the checkout's vagrant/user-data; a student their own copy,
    ~/vagrant/user-data; the broker's side of their lab launches from what they last sent."""
    single = replace(LAB, state=str(tmp_path / "lane"), own_key=False, own_vagrant_home=False)
    assert (single.work_dir, single.user_data) == (settings.VAGRANT_DIR, userdata.SOURCE)
    student = replace(LAB, state=str(tmp_path / "home" / ".lab"), broker="/run/x.sock")
    assert student.work_dir == tmp_path / "home" / "vagrant"
    assert student.user_data == tmp_path / "home" / "vagrant" / "user-data"
    broker_side = replace(LAB, state=str(tmp_path / "labs" / "ada"))
    assert broker_side.user_data == userdata.SOURCE          # nothing sent yet: the course's
    broker_side.path().mkdir(parents=True)
    broker_side.path(settings.SENT_USER_DATA).write_text("#cloud-config\n")
    assert broker_side.user_data == broker_side.path(settings.SENT_USER_DATA)


def test_a_provision_with_broken_user_data_changes_nothing(tmp_path, monkeypatch):
    """Refused before Vagrant runs, each finding with its line; the last good copy stays."""
    from labs.exercises.vagrant import BROKEN_USER_DATA
    from labs.launcher import vagrant

    lab = replace(LAB, state=str(tmp_path))
    lab.path(settings.SENT_USER_DATA).write_text("#cloud-config\n")
    monkeypatch.setattr(vagrant, "vagrant", lambda *a, **k: pytest.fail("Vagrant ran"))
    with pytest.raises(LabError, match="nothing was provisioned") as refused:
        passthrough.provision(lab, BROKEN_USER_DATA, [])
    assert "line 16: error: invalid value launch" in str(refused.value)
    assert 'line 8: warning: unrecognized key "listen-client-url"' in str(refused.value)
    assert lab.path(settings.SENT_USER_DATA).read_text() == "#cloud-config\n"
    for machines, text in ((["../core-01"], "#cloud-config\n"), ([], "x" * 70000), ([], None)):
        with pytest.raises(LabError, match="is not available in the classroom"):
            passthrough.provision(lab, text, machines)


def test_the_firewall_lets_only_the_owner_and_root_reach_a_lab():
    rules = netfilter.rules("ada", 20001, LAB)
    subnet = [r for r in rules if "10.200.3.0/24" in r]
    ports = [r for r in rules if "2302:2311" in r]
    assert [r[r.index("--uid-owner") + 1] for r in subnet if "--uid-owner" in r] == ["0", "20001"]
    assert subnet[-1][-4:] == ["-j", "REJECT", "--reject-with", "icmp-admin-prohibited"]
    assert ports[-1][-4:] == ["-j", "REJECT", "--reject-with", "tcp-reset"]
    assert all("coreos-lab:ada" in rule for rule in rules)


def test_the_students_copy_names_their_own_paths_and_the_broker(tmp_path, monkeypatch):
    state = tmp_path / "root" / "labs" / "ada"
    state.mkdir(parents=True)
    lab = replace(LAB, state=str(state))
    (state / "ssh_config").write_text(f"Host core-01\n  IdentityFile {state}/id_ed25519\n"
                                      f"  UserKnownHostsFile {state}/known_hosts\n")
    (state / "id_ed25519").write_text("PRIVATE")
    room = Classroom(students=["ada"], root=str(tmp_path / "root"), socket="/run/x.sock")
    monkeypatch.setattr(Classroom, "student_lab", lambda self, student: tmp_path / "home" / ".lab")
    files = studentlab.student_view(room, "ada", lab)
    assert json.loads(files["settings.json"]["text"])["broker"] == "/run/x.sock"
    assert str(state) not in files["ssh_config"]["text"]
    assert f"IdentityFile {tmp_path}/home/.lab/id_ed25519" in files["ssh_config"]["text"]
    assert files["id_ed25519"]["mode"] == 0o600
    assert files["known_hosts"] is None           # not there on the broker's side: removed
