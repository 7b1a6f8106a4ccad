"""Engine leader election and reconcile against a real etcd (docs/fleet.md §2.1, §2.2)."""

from labs.node.fleet.engine import Engine
from labs.node.fleet.schema import Lease, MachineState
from labs.node.fleet.unit import UnitFile

M1, M2 = "1" * 32, "2" * 32
BODY = UnitFile.parse("[Service]\nExecStart=/bin/true\n")


def test_only_the_lease_holder_schedules(registry):
    registry.register_machine(MachineState(M1), ttl=30)
    registry.register_machine(MachineState(M2), ttl=30)
    first, second = Engine(registry, M1, 2), Engine(registry, M2, 2)
    first.tick()
    registry.create_unit("a.service", BODY, "launched")
    second.tick()
    assert not second.is_leader() and registry.unit("a.service").target_machine == ""
    first.tick()
    assert first.is_leader() and registry.unit("a.service").target_machine == M1
    assert registry.client.read(registry.key("engine", "version")).value == "1"
    assert registry.lease().ttl <= 10


def test_failover_after_release_and_resume_after_restart(registry):
    registry.register_machine(MachineState(M1), ttl=30)
    first, second = Engine(registry, M1, 2), Engine(registry, M2, 2)
    first.tick()
    first.purge()
    assert registry.lease() is None
    second.tick()
    assert second.is_leader() and registry.lease().machine_id == M2
    restarted = Engine(registry, M2, 2)
    restarted.tick()
    assert restarted.is_leader()


def test_old_version_lease_is_stolen(registry):
    registry.client.write(registry.key("lease", "engine-leader"), M2, ttl=10)  # a bare ID = version 0
    slept = []
    engine = Engine(registry, M1, 2, sleep=slept.append)
    engine.tick()
    assert engine.is_leader() and registry.lease() == Lease(M1, 1, registry.lease().index, registry.lease().ttl)
    assert slept and 0 < slept[0] <= 10


def test_higher_cluster_engine_version_keeps_engine_out(registry):
    registry.client.write(registry.key("engine", "version"), "2")
    engine = Engine(registry, M1, 2)
    engine.tick()
    assert not engine.is_leader() and registry.lease() is None


def test_unit_on_vanished_machine_is_rescheduled_in_one_pass(registry):
    registry.register_machine(MachineState(M2), ttl=30)
    registry.create_unit("a.service", BODY, "launched")
    registry.schedule_unit("a.service", M1)  # M1 is not live
    Engine(registry, M2, 2).tick()
    assert registry.unit("a.service").target_machine == M2
