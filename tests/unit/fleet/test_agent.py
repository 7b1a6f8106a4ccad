"""Agent desired state, task ordering and task effects (docs/fleet.md §2.3, §2.4)."""

import pytest

from fleet_testkit import FakeSystemd
from labs.node.fleet.agent import Agent, UnitStatePublisher, desired_units, order_tasks, tasks_for_unit
from labs.node.fleet.schema import MachineState, Unit
from labs.node.fleet.unit import UnitFile

M1, M2 = "1" * 32, "2" * 32
BODY = UnitFile.parse("[Service]\nExecStart=/bin/true\n")


def unit(name, *xfleet, state="launched", target=""):
    text = "[Service]\nExecStart=/bin/true\n" + ("\n[X-Fleet]\n" + "\n".join(xfleet) + "\n" if xfleet else "")
    return Unit(name, UnitFile.parse(text), target_state=state, target_machine=target)


def kinds(tasks):
    return [(t.kind, t.unit_name) for t in tasks]


def test_desired_state_global_by_metadata_targets_and_alphabetical_conflict_winner():
    machine = MachineState(M1, metadata={"disk": "ssd"})
    units = [unit("b.service", target=M1), unit("elsewhere.service", target=M2),
             unit("g-ssd.service", "Global=true", "MachineMetadata=disk=ssd"),
             unit("g-hdd.service", "Global=true", "MachineMetadata=disk=hdd"),
             unit("conflict-global.0.service", "Global=true", "Conflicts=conflict-global.*"),
             unit("conflict-global.1.service", "Global=true", "Conflicts=conflict-global.*")]
    assert list(desired_units(machine, units)) == ["b.service", "conflict-global.0.service", "g-ssd.service"]


@pytest.mark.parametrize("desired_state, current, same_hash, expected", [
    (None, "loaded", True, ["UnloadUnit"]),
    ("inactive", "launched", True, ["UnloadUnit"]),
    ("launched", None, True, ["LoadUnit", "StartUnit"]),
    ("loaded", None, True, ["LoadUnit"]),
    ("launched", "launched", False, ["UnloadUnit", "LoadUnit", "StartUnit"]),
    ("launched", "launched", True, []),
    ("launched", "inactive", True, ["LoadUnit", "StartUnit"]),
    ("launched", "loaded", True, ["StartUnit"]),
    ("loaded", "launched", True, ["StopUnit"]),
    (None, None, True, []),
])
def test_tasks_for_unit(desired_state, current, same_hash, expected):
    desired = None if desired_state is None else unit("a.service", state=desired_state, target=M1)
    current_hash = desired.hash if desired is not None and same_hash else "0" * 40
    assert [t.kind for t in tasks_for_unit("a.service", desired, current, current_hash)] == expected


def test_task_order_is_stable_by_type_with_one_reload():
    tasks = (tasks_for_unit("b.service", unit("b.service"), None, None)
             + tasks_for_unit("a.service", None, "loaded", "x")
             + tasks_for_unit("c.service", unit("c.service"), "loaded", unit("c.service").hash)
             + tasks_for_unit("d.service", unit("d.service", state="loaded"), "launched", unit("d.service").hash))
    assert kinds(order_tasks(tasks)) == [
        ("UnloadUnit", "a.service"), ("LoadUnit", "b.service"), ("ReloadUnitFiles", ""),
        ("StopUnit", "d.service"), ("StartUnit", "b.service"), ("StartUnit", "c.service")]
    start_only = tasks_for_unit("c.service", unit("c.service"), "loaded", unit("c.service").hash)
    assert kinds(order_tasks(start_only)) == [("StartUnit", "c.service")]


def test_reconcile_loads_starts_and_sets_job_state(registry):
    systemd = FakeSystemd()
    registry.register_machine(MachineState(M1), ttl=30)
    registry.create_unit("a.service", BODY, "launched")
    registry.schedule_unit("a.service", M1)
    agent = Agent(registry, systemd, MachineState(M1), ttl=30)
    agent.reconcile()
    assert systemd.calls == [("load", "a.service"), ("reload", ""), ("start", "a.service")]
    assert systemd.files["a.service"] == BODY.canonical_text()
    assert registry.unit("a.service").job_state_machine == M1
    agent.reconcile()
    assert len(systemd.calls) == 3  # converged: nothing more to do
    registry.set_target_state("a.service", "loaded")
    agent.reconcile()
    assert systemd.calls[-1] == ("stop", "a.service") and registry.unit("a.service").job_state_machine == ""


def test_restarted_agent_reloads_idempotently_and_unloads_strays(registry):
    systemd = FakeSystemd()
    systemd.files = {"a.service": BODY.canonical_text(), "stray.service": BODY.canonical_text()}
    registry.create_unit("a.service", BODY, "launched")
    registry.schedule_unit("a.service", M1)
    Agent(registry, systemd, MachineState(M1), ttl=30).reconcile()
    assert systemd.calls == [("stop", "stray.service"), ("unload", "stray.service"), ("load", "a.service"),
                             ("reload", ""), ("start", "a.service")]


def test_failed_stop_keeps_the_unit_file_and_ends_the_pass(registry):
    systemd = FakeSystemd()
    systemd.files = {"a.service": BODY.canonical_text(), "b.service": BODY.canonical_text()}
    systemd.fail_stop = {"a.service"}
    Agent(registry, systemd, MachineState(M1), ttl=30).reconcile()
    assert sorted(systemd.files) == ["a.service", "b.service"]
    assert systemd.calls == [("stop", "a.service")]


def test_dynamic_metadata_is_read_from_the_registry(registry):
    systemd = FakeSystemd()
    registry.register_machine(MachineState(M1), ttl=30)
    registry.create_unit("g.service", unit("g.service", "Global=true", "MachineMetadata=role=web").unit_file,
                         "launched")
    agent = Agent(registry, systemd, MachineState(M1), ttl=30)
    agent.reconcile()
    assert systemd.files == {}
    registry.set_machine_metadata(M1, "role", "web")
    agent.reconcile()
    assert list(systemd.files) == ["g.service"] and "g.service" in systemd.active


def test_publisher_publishes_changes_and_removes_unloaded(registry):
    systemd = FakeSystemd()
    registry.create_unit("a.service", BODY, "loaded")
    registry.schedule_unit("a.service", M1)
    agent = Agent(registry, systemd, MachineState(M1), ttl=30)
    publisher = UnitStatePublisher(registry, systemd, agent, ttl=30)
    agent.reconcile()
    publisher.poll()
    [state] = registry.unit_states()
    assert (state.machine_id, state.load_state, state.active_state, state.sub_state, state.unit_hash) == (
        M1, "loaded", "inactive", "dead", BODY.hash())
    systemd.start("a.service")
    publisher.poll()
    assert registry.unit_states()[0].active_state == "active"
    registry.set_target_state("a.service", "inactive")
    agent.reconcile()
    publisher.poll()
    assert registry.unit_states() == []


def test_purge_unloads_everything(registry):
    systemd = FakeSystemd()
    registry.create_unit("a.service", BODY, "launched")
    registry.schedule_unit("a.service", M1)
    agent = Agent(registry, systemd, MachineState(M1), ttl=30)
    agent.reconcile()
    agent.purge()
    assert systemd.files == {} and systemd.active == set()
    assert registry.unit("a.service").job_state_machine == ""
    # stopped, then removed, then systemd told once that its unit files changed
    assert systemd.calls[-3:] == [("stop", "a.service"), ("unload", "a.service"), ("reload", "")]


def test_runs_of_loads_starts_and_unloads_are_batched(registry):
    from fleet_testkit import BatchFakeSystemd

    systemd = BatchFakeSystemd()
    registry.register_machine(MachineState(M1), ttl=30)
    names = ["a.service", "b.service", "c.service"]
    for name in names:
        registry.create_unit(name, BODY, "launched")
        registry.schedule_unit(name, M1)
    agent = Agent(registry, systemd, MachineState(M1), ttl=30)
    agent.reconcile()
    assert systemd.calls == [("load_many", names), ("reload", ""), ("start_many", names)]
    assert all(registry.unit(n).job_state_machine == M1 for n in names)
    assert agent.job_states == {n: "launched" for n in names}
    agent.reconcile()
    assert len(systemd.calls) == 3  # converged
    for name in names:
        registry.set_target_state(name, "inactive")
    agent.reconcile()
    assert systemd.calls[3:] == [("unload_many", names), ("reload", "")]
    assert systemd.files == {} and agent.job_states == {} and agent.hashes == {}


def test_a_failed_batch_is_redone_one_by_one_stopping_at_the_first_failure(registry):
    from fleet_testkit import BatchFakeSystemd

    systemd = BatchFakeSystemd()
    systemd.fail_batches = True
    systemd.files = {"a.service": BODY.canonical_text(), "b.service": BODY.canonical_text(),
                     "c.service": BODY.canonical_text()}
    systemd.fail_stop = {"b.service"}
    Agent(registry, systemd, MachineState(M1), ttl=30).reconcile()
    assert systemd.calls == [("unload_many", ["a.service", "b.service", "c.service"]),
                             ("stop", "a.service"), ("unload", "a.service"), ("stop", "b.service")]
    assert sorted(systemd.files) == ["b.service", "c.service"]
