"""Machine facts and their one table (`lab status` and the dashboard)."""

from __future__ import annotations

import json

from labs import facts
from labs.facts import MachineFacts


def reported(member: str, leader: str, **extra) -> str:
    return json.dumps({"system": "running", "ip": f"10.0.0.{member[-1]}", "etcd_member": member,
                       "etcd_state": "StateFollower", "etcd_leader": leader, "etcd_members": 3,
                       "docker": True, "containers": 1, "busybox": True, "failed_units": [],
                       **extra})


def test_rows_name_the_leader_by_machine_and_show_who_is_down():
    items = [MachineFacts.parse("core-01", reported("m1", "m2")),
             MachineFacts.parse("core-02", reported("m2", "m2", etcd_state="StateLeader")),
             MachineFacts.down("core-03", "stopped")]
    rows = facts.rows(items)
    assert [r.etcd_leader for r in rows[:2]] == ["core-02", "core-02"]
    assert rows[1].etcd_member == "yes (leader)" and rows[0].etcd_member == "yes (follower)"
    assert (rows[2].up, rows[2].system, rows[2].etcd_member) == (False, "down", "-")
    text = facts.text(rows, "12:00:00").splitlines()
    assert text[0].split()[:3] == ["machine", "state", "IP"]
    assert text[3].split()[:2] == ["core-03", "down"]
    assert text[-2:] == ["core-03: stopped", "(as of 12:00:00)"]


def test_health_needs_every_member_a_leader_docker_and_busybox():
    assert MachineFacts.parse("core-01", reported("m1", "m2")).healthy(3)
    assert not MachineFacts.parse("core-01", reported("m1", "m2")).healthy(4)
    assert not MachineFacts.parse("core-01", reported("m1", "")).healthy(3)
    assert not MachineFacts.parse("core-01", reported("m1", "m2", busybox=False)).healthy(3)
    assert not MachineFacts.parse("core-01", reported("m1", "m2", system="starting")).healthy(3)
    # a unit the learner left failed is theirs: `lab up` must not take the machine for broken
    assert MachineFacts.parse("core-01", reported("m1", "m2", system="degraded",
                                                  failed_units=["x.service"])).healthy(3)
    assert not MachineFacts.down("core-01", "stopped").healthy(3)


def test_output_that_is_not_json_is_reported_not_raised():
    item = MachineFacts.parse("core-01", "Traceback (most recent call last) ...")
    assert item.up and item.facts == {} and item.system == "unknown"
    assert "machine-facts printed no JSON" in item.error
    assert not item.healthy(1)


def test_machine_facts_wait_looks_again_until_healthy_then_prints_once(monkeypatch, capsys):
    """`machine-facts --wait 3` (lab up's wait, on the machine): prints the first healthy facts."""
    from labs.node import machine_facts

    looks = iter([{"etcd_members": 1}, {"etcd_members": 3}, json.loads(reported("m1", "m2"))])
    monkeypatch.setattr(machine_facts, "gather", lambda: next(looks))
    monkeypatch.setattr(machine_facts, "WAIT_INTERVAL_S", 0)
    machine_facts.main(["--wait", "3"])
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1 and MachineFacts.parse("core-01", printed[0]).healthy(3)


def test_machine_facts_wait_gives_up_at_its_timeout_with_what_it_saw(monkeypatch, capsys):
    from labs.node import machine_facts

    monkeypatch.setattr(machine_facts, "gather", lambda: {"etcd_members": 2})
    monkeypatch.setattr(machine_facts, "WAIT_INTERVAL_S", 0.01)
    machine_facts.main(["--wait", "3", "--timeout", "0.1"])
    assert json.loads(capsys.readouterr().out) == {"etcd_members": 2}
