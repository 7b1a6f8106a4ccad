"""fleetd's HTTP API (docs/fleet.md §5): the PUT decision tree, errors, machines PATCH, pagination."""

import http.client
import json
import socket
import threading

import pytest

from labs.node.fleet import api
from labs.node.fleet.schema import MachineState
from labs.node.fleet.unit import UnitFile

JSON = {"Content-Type": "application/json"}
M1, M2 = "1" * 32, "2" * 32
OPTIONS = [{"section": "Service", "name": "ExecStart", "value": "/bin/true"}]


class Backend:
    def __init__(self, registry, registered=True):
        self.registry = registry
        self.registered = registered
        self.healthy = threading.Event()
        if registered:
            self.healthy.set()


def call(the_api, method, path, body=None, headers=JSON):
    data = b"" if body is None else json.dumps(body).encode()
    try:
        return the_api.handle(method, path, headers, data)
    except api.APIError as error:
        return error.code, error.message


@pytest.fixture
def the_api(registry):
    return api.API(Backend(registry))


def test_unavailable_until_registered(registry):
    the_api = api.API(Backend(registry, registered=False))
    assert call(the_api, "GET", "/fleet/v1/machines") == (503, "fleet server unable to communicate with etcd")
    the_api.backend.registered = True
    the_api.backend.healthy.set()
    assert call(the_api, "GET", "/fleet/v1/machines") == (200, {"machines": []})


def test_put_decision_tree(the_api, registry):
    assert call(the_api, "PUT", "/fleet/v1/units/foo.bar", {}) == (400, 'invalid unit type: "bar"')
    assert call(the_api, "PUT", "/fleet/v1/units/foo@.mount", {}) == \
        (400, 'invalid unit type for template: "mount"')
    assert call(the_api, "PUT", "/fleet/v1/units/new.service", {"desiredState": "launched"}) == \
        (409, "unit does not exist and options field empty")
    assert call(the_api, "PUT", "/fleet/v1/units/a.service", {"name": "b.service"}) == \
        (400, 'name in URL "a.service" differs from unit name in request body "b.service"')
    bad = OPTIONS + [{"section": "X-Fleet", "name": "MachineID", "value": "x"},
                     {"section": "X-Fleet", "name": "Conflicts", "value": "y*"}]
    assert call(the_api, "PUT", "/fleet/v1/units/bad.service", {"options": bad}) == \
        (400, "MachineID cannot be used with Conflicts")
    assert registry.unit("bad.service") is None
    assert call(the_api, "PUT", "/fleet/v1/units/a.service", {"options": OPTIONS}, headers={}) == \
        (415, "Content-Type must be application/json")

    assert call(the_api, "PUT", "/fleet/v1/units/a.service", {"options": OPTIONS}) == (201, None)
    assert registry.unit("a.service").target_state == "inactive"
    assert call(the_api, "PUT", "/fleet/v1/units/a.service", {"options": OPTIONS}) == \
        (409, "must provide DesiredState to update existing unit")
    assert call(the_api, "PUT", "/fleet/v1/units/a.service", {"desiredState": "launched"}) == (204, None)
    assert registry.unit("a.service").target_state == "launched"
    assert call(the_api, "PUT", "/fleet/v1/units/a.service", {"desiredState": "running"})[0] == 400

    # new options + desired state: replaced in place (the target stays, the hash changes)
    registry.schedule_unit("a.service", M1)
    new = [{"section": "Service", "name": "ExecStart", "value": "/bin/false"}]
    assert call(the_api, "PUT", "/fleet/v1/units/a.service", {"options": new, "desiredState": "launched"}) == \
        (201, None)
    unit = registry.unit("a.service")
    assert (unit.hash, unit.target_machine, unit.target_state) == \
        (UnitFile([("Service", "ExecStart", "/bin/false")]).hash(), M1, "launched")

    assert call(the_api, "PUT", "/fleet/v1/units/t@.service", {"options": OPTIONS}) == (201, None)
    assert call(the_api, "PUT", "/fleet/v1/units/t@.service", {"desiredState": "launched"}) == \
        (400, 'cannot activate template "t@.service"')


def test_get_list_delete_units_and_states(the_api, registry):
    call(the_api, "PUT", "/fleet/v1/units/a.service", {"options": OPTIONS, "desiredState": "loaded"})
    status, unit = call(the_api, "GET", "/fleet/v1/units/a.service")
    assert status == 200
    assert unit == {"name": "a.service", "options": OPTIONS, "desiredState": "loaded", "currentState": "inactive"}
    assert call(the_api, "GET", "/fleet/v1/units") == (200, {"units": [unit]})
    assert call(the_api, "GET", "/fleet/v1/units/nope.service") == (404, "unit does not exist")
    assert call(the_api, "GET", "/fleet/v1/state") == (200, {"states": []})
    assert call(the_api, "GET", "/fleet/v1/state/a.service") == (404, "unit state does not exist")
    assert call(the_api, "DELETE", "/fleet/v1/units/a.service") == (204, None)
    assert call(the_api, "DELETE", "/fleet/v1/units/a.service") == (404, "unit does not exist")


def test_delete_after_an_agents_late_job_state_heartbeat_is_404(the_api, registry):
    """ci-41: an agent's job-state heartbeat, written just after a destroy, makes `job/<name>/`
    again; fleet reads the unit before it deletes, so a second DELETE is still 404."""
    call(the_api, "PUT", "/fleet/v1/units/a.service", {"options": OPTIONS, "desiredState": "launched"})
    assert call(the_api, "DELETE", "/fleet/v1/units/a.service") == (204, None)
    registry.set_job_state("a.service", M1, ttl=30)
    assert call(the_api, "DELETE", "/fleet/v1/units/a.service") == (404, "unit does not exist")
    assert call(the_api, "GET", "/fleet/v1/units/a.service") == (404, "unit does not exist")


def test_pagination(registry):
    the_api = api.API(Backend(registry), token_limit=2)
    for name in ("a", "b", "c"):
        call(the_api, "PUT", "/fleet/v1/units/%s.service" % name, {"options": OPTIONS})
    status, first = call(the_api, "GET", "/fleet/v1/units")
    assert [u["name"] for u in first["units"]] == ["a.service", "b.service"]
    assert first["nextPageToken"] == api.encode_token(2, 2)
    status, second = call(the_api, "GET", "/fleet/v1/units?nextPageToken=" + first["nextPageToken"])
    assert [u["name"] for u in second["units"]] == ["c.service"] and "nextPageToken" not in second
    assert call(the_api, "GET", "/fleet/v1/units?nextPageToken=" + api.encode_token(100, 1)) == \
        (400, "token limit must be 2")
    assert call(the_api, "GET", "/fleet/v1/units?nextPageToken=" + api.encode_token(2, 0))[0] == 400


def test_patch_machine_metadata(the_api, registry):
    registry.register_machine(MachineState(M1, "10.0.0.1", {"disk": "ssd"}), ttl=30)
    ops = [{"op": "add", "path": "/%s/metadata/region" % M1, "value": {"value": "eu"}},
           {"op": "replace", "path": "/%s/metadata/az" % M1, "value": "b"},  # the docs' bare value
           {"op": "remove", "path": "/%s/metadata/disk" % M1}]
    assert call(the_api, "PATCH", "/fleet/v1/machines", ops) == (204, None)
    assert call(the_api, "GET", "/fleet/v1/machines") == \
        (200, {"machines": [{"id": M1, "primaryIP": "10.0.0.1", "metadata": {"az": "b", "region": "eu"}}]})
    assert call(the_api, "PATCH", "/fleet/v1/machines", [{"op": "move", "path": "/x/metadata/a"}]) == \
        (400, "invalid op: expect add, remove, or replace")
    assert call(the_api, "PATCH", "/fleet/v1/machines", [{"op": "add", "path": "/x/meta/a", "value": "1"}]) == \
        (400, "machine metadata path invalid")
    assert call(the_api, "PATCH", "/fleet/v1/machines", [{"op": "add", "path": "/x/metadata/a"}]) == \
        (400, "invalid value: add and replace require a value")
    # the machine need not exist
    assert call(the_api, "PATCH", "/fleet/v1/machines",
                [{"op": "add", "path": "/%s/metadata/a" % M2, "value": "1"}]) == (204, None)


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


def test_served_on_a_passed_unix_socket(registry, tmp_path):
    path = str(tmp_path / "fleet.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()
    server = api.APIServer([listener], api.API(Backend(registry)))
    server.start()
    try:
        connection = UnixConnection(path)
        connection.request("PUT", "/fleet/v1/units/foo.bar", body="{}", headers=JSON)
        response = connection.getresponse()
        assert response.status == 400
        assert response.getheader("Server") == "fleetd/1.0.0"
        assert json.loads(response.read()) == {"error": {"code": 400, "message": 'invalid unit type: "bar"'}}
        connection.request("GET", "/fleet/v1/machines")  # keep-alive: same connection
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (200, {"machines": []})
        connection.close()
    finally:
        server.close()
        listener.close()


def test_listeners_from_env_are_consumed_once():
    assert api.listeners_from_env({}) == []
    assert api.listeners_from_env({"LISTEN_FDS": "1", "LISTEN_PID": "1"}) == []  # not for us
