"""The etcd key layout, checked against a real etcd v2 (docs/fleet.md §1.2)."""

import json

import etcd
import pytest

from labs.node.fleet.schema import MachineState, UnitState, go_json
from labs.node.fleet.unit import UnitFile

M1, M2 = "1" * 32, "2" * 32


def raw(registry, *parts):
    return registry.client.read(registry.key(*parts)).value


def test_create_unit_writes_body_job_object_and_target_state(registry):
    unit_file = UnitFile.parse("[Service]\nExecStart=/bin/sh -c 'echo a > /tmp/x && true'\n")
    registry.create_unit("hello.service", unit_file)
    digest = unit_file.hash()
    assert raw(registry, "unit", digest) == go_json({"Raw": unit_file.canonical_text()})
    assert "\\u003e" in raw(registry, "unit", digest) and "\\u0026\\u0026" in raw(registry, "unit", digest)
    assert json.loads(raw(registry, "job", "hello.service", "object")) == {
        "Name": "hello.service", "UnitHash": list(bytes.fromhex(digest))}
    assert raw(registry, "job", "hello.service", "target-state") == "inactive"
    [unit] = registry.units()
    assert (unit.name, unit.hash, unit.target_state, unit.target_machine) == ("hello.service", digest, "inactive", "")
    registry.create_unit("again.service", unit_file)  # same body: the create-only 105 is ignored
    assert [u.name for u in registry.units()] == ["again.service", "hello.service"]


def test_machine_object_json_and_merged_dynamic_metadata(registry):
    registry.register_machine(MachineState(M2, "10.0.0.2", {"region": "us", "az": "b"}), ttl=30)
    registry.register_machine(MachineState(M1, "", {}), ttl=30)
    assert raw(registry, "machines", M2, "object") == (
        '{"ID":"%s","PublicIP":"10.0.0.2","Metadata":{"az":"b","region":"us"},'
        '"Capabilities":{"DISABLE_ENGINE":false,"GRPC":false},"Version":"1.0.0"}' % M2)
    with pytest.raises(etcd.EtcdAlreadyExist):
        registry.register_machine(MachineState(M1), ttl=30)
    registry.set_machine_metadata(M2, "region", "eu")
    registry.delete_machine_metadata(M2, "az")
    registry.set_machine_metadata(M1, "disk", "ssd")
    assert [(m.id, m.metadata) for m in registry.machines()] == [(M1, {"disk": "ssd"}), (M2, {"region": "eu"})]
    registry.remove_machine(M1)
    assert [m.id for m in registry.machines()] == [M2]  # its metadata dir stays, but it is not live


def test_schedule_is_create_only_and_unschedule_compares_value(registry):
    registry.create_unit("a.service", UnitFile.parse("[Service]\nExecStart=/bin/true\n"), "launched")
    registry.schedule_unit("a.service", M1)
    with pytest.raises(etcd.EtcdAlreadyExist):
        registry.schedule_unit("a.service", M2)
    registry.unschedule_unit("a.service", M2)  # not ours to remove
    assert registry.unit("a.service").target_machine == M1
    registry.unschedule_unit("a.service", M1)
    assert registry.unit("a.service").target_machine == ""


def test_unit_states_and_current_state_derivation(registry):
    registry.create_unit("a.service", UnitFile.parse("[Service]\nExecStart=/bin/true\n"), "launched")
    registry.schedule_unit("a.service", M1)
    assert registry.unit("a.service").current_state(registry.unit_states()) == "inactive"
    state = UnitState("a.service", M1, "loaded", "inactive", "dead", "ab" * 20)
    registry.save_unit_state(state, ttl=30)
    assert json.loads(raw(registry, "states", "a.service", M1)) == {
        "loadState": "loaded", "activeState": "inactive", "subState": "dead",
        "machineState": {"ID": M1, "PublicIP": "", "Metadata": None, "Capabilities": None, "Version": ""},
        "unitHash": "ab" * 20}
    assert raw(registry, "state", "a.service") == raw(registry, "states", "a.service", M1)
    assert registry.unit("a.service").current_state(registry.unit_states()) == "loaded"
    registry.set_job_state("a.service", M1, ttl=30)
    assert registry.unit("a.service").current_state(registry.unit_states()) == "launched"
    registry.remove_unit_state("a.service")
    assert registry.unit_states() == []


def test_destroy_removes_job_directory(registry):
    registry.create_unit("a.service", UnitFile.parse("[Service]\nExecStart=/bin/true\n"))
    assert registry.destroy_unit("a.service") is True
    assert registry.unit("a.service") is None and registry.units() == []
    assert registry.destroy_unit("a.service") is False


def test_a_new_unit_does_not_inherit_a_stale_target(registry):
    """An engine's late `target` write for a destroyed unit must not place its successor."""
    registry.create_unit("web@4.service", UnitFile.parse("[Service]\nExecStart=/bin/true\n"))
    registry.destroy_unit("web@4.service")
    registry.schedule_unit("web@4.service", "1" * 32)  # the late write re-creates the directory
    registry.create_unit("web@4.service", UnitFile.parse("[Service]\nExecStart=/bin/true\n"))
    assert registry.unit("web@4.service").target_machine == ""


def test_lease_create_renew_and_stale_renewal(registry):
    lease = registry.acquire_lease(M1, ttl=10)
    assert raw(registry, "lease", "engine-leader") == '{"MachineID":"%s","Version":1}' % M1
    assert registry.acquire_lease(M2, ttl=10) is None
    renewed = registry.renew_lease(lease, ttl=10)
    with pytest.raises(etcd.EtcdCompareFailed):
        registry.renew_lease(lease, ttl=10)  # the old index is stale
    registry.release_lease(renewed)
    assert registry.lease() is None
