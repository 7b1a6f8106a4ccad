"""fleet's HTTP API (docs/fleet.md §5) on the live cluster: the API halves of scenarios 7, 12, 14, 15.

fleetd serves the API on the socket systemd passes it (fleet.socket, /var/run/fleet.sock),
which is also where fleetctl's default driver talks to it.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.fleet_fixtures import UNAVAILABLE, FleetAPI, wait_for


@pytest.fixture(scope="module")
def api(fleet):
    endpoint = FleetAPI(fleet, "core-01")
    endpoint.wait_ready()
    return endpoint


def error(code, message):
    return code, {"error": {"code": code, "message": message}}


def options(exec_start, **xfleet):
    opts = [{"section": "Service", "name": "ExecStart", "value": exec_start}]
    return opts + [{"section": "X-Fleet", "name": k, "value": v} for k, v in xfleet.items()]


def test_api_validation_errors(fleet, units, api):
    """Scenario 12, API part."""
    assert api.call("PUT", "/units/foo.bar", {}) == error(400, 'invalid unit type: "bar"')
    assert api.call("PUT", "/units/foo@.mount", {}) == error(400, 'invalid unit type for template: "mount"')
    name = units.name("no-options")
    assert api.call("PUT", f"/units/{name}", {"desiredState": "launched"}) == \
        error(409, "unit does not exist and options field empty")
    bad = options("/bin/true", MachineID="x", Conflicts="y*")
    assert api.call("PUT", f"/units/{name}", {"options": bad}) == \
        error(400, "MachineID cannot be used with Conflicts")
    assert api.call("PUT", f"/units/{name}", {"options": options("/bin/true")}, content_type="text/plain")[0] == 415
    assert api.call("GET", f"/units/{name}") == error(404, "unit does not exist")
    assert fleet.etcd_get(f"job/{name}") is None


def test_api_machines_and_patch_metadata(fleet, units, api):
    """Scenario 7, API part: PATCH region=eu onto m3 → the waiting unit runs there."""
    m1, m2, m3 = fleet.machines
    status, body = api.call("GET", "/machines")
    assert status == 200 and [m["id"] for m in body["machines"]] == [m.id for m in fleet.machines]
    assert body["machines"][0]["primaryIP"] == m1.ip
    eu = units.name("eu")
    units.service(eu, "MachineMetadata=region=eu")
    assert units.fleetctl("start", "--no-block", eu).returncode == 0
    row = fleet.unit_files()[eu]
    assert (row["dstate"], row["target"]) == ("launched", "-")
    patch = [{"op": "add", "path": f"/{m3.id}/metadata/region", "value": {"value": "eu"}}]
    assert api.call("PATCH", "/machines", patch) == (204, None)
    assert fleet.wait_active(eu) == m3.id
    assert f"{m3.short}...\t{m3.ip}\tregion=eu\n" in fleet.fleetctl("list-machines", "--no-legend").stdout
    assert api.call("PATCH", "/machines", [{"op": "remove", "path": f"/{m3.id}/metadata/region"}]) == (204, None)
    assert f"{m3.short}...\t{m3.ip}\t-\n" in fleet.fleetctl("list-machines", "--no-legend").stdout


def test_api_create_start_and_replace_in_place(fleet, units, api):
    """Scenario 15, API part: PUT with new options + desiredState launched replaces the unit
    on the same machine (the agent's hash-mismatch path)."""
    name = units.name("hello")
    units.names.add(name)
    first = options('/bin/sh -c "while true; do echo first; sleep 1; done"')
    assert api.call("PUT", f"/units/{name}", {"options": first, "desiredState": "launched"}) == (201, None)
    where = fleet.wait_active(name)
    old_hash = fleet.unit_files()[name]["hash"]
    status, unit = api.call("GET", f"/units/{name}")
    assert status == 200
    assert (unit["desiredState"], unit["currentState"], unit["machineID"]) == ("launched", "launched", where)

    second = options('/bin/sh -c "while true; do echo second; sleep 1; done"')
    assert api.call("PUT", f"/units/{name}", {"options": second, "desiredState": "launched"}) == (201, None)
    wait_for(lambda: "echo second" in fleet.ssh(fleet.by_id[where].name,
                                                 f"systemctl show -p ExecStart {name}").stdout
             and fleet.systemd_active(fleet.by_id[where].name, name) == "active", what="the new ExecStart running")
    row = fleet.unit_files()[name]
    assert row["hash"] != old_hash and row["target"] == where  # same machine: replaced in place
    # The agent drops the old unit's state row when it unloads it and publishes the new one on
    # its next pass, so the row comes back shortly after systemd reports the unit active.
    def state_machines():
        status, states = api.call("GET", f"/state?unitName={name}")
        assert status == 200
        return [s["machineID"] for s in states["states"]]
    assert wait_for(lambda: state_machines() or None, what="the replaced unit's state row") == [where]
    assert api.call("DELETE", f"/units/{name}") == (204, None)
    assert api.call("DELETE", f"/units/{name}") == error(404, "unit does not exist")


def test_api_503_for_a_duplicate_machine_id(fleet, units, api):
    """Scenario 14: a fleetd that cannot register answers 503, and fleetctl there says so."""
    m1, m2, m3 = fleet.machines
    dup = FleetAPI(fleet, m2.name)
    id_file = f"/run/{units.prefix}-machine-id"
    dropin = f"/run/systemd/system/fleet.service.d/99-{units.prefix}.conf"
    try:
        fleet.ssh(m2.name, f"echo {m1.id} | sudo tee {id_file} >/dev/null && sudo mkdir -p $(dirname {dropin})"
                           f" && printf '[Service]\\nBindReadOnlyPaths={id_file}:/etc/machine-id\\n'"
                           f" | sudo tee {dropin} >/dev/null && sudo systemctl daemon-reload && "
                           "sudo systemctl restart fleet.service")
        wait_for(lambda: dup.call("GET", "/machines")[0] == 503, what="503 from the duplicate")
        assert dup.call("GET", "/units") == error(503, UNAVAILABLE)
        listed = fleet.fleetctl("list-machines", machine=m2.name, wait_for_api=False)
        assert listed.returncode == 1 and UNAVAILABLE in listed.stderr, listed
        journal = fleet.ssh(m2.name, "journalctl --no-pager -u fleet.service -n 50").stdout
        assert f"Failed registering machine: machine {m1.id} already registered" in journal
        # m1 is unaffected: still registered under its own object
        machines = fleet.fleetctl("list-machines", "--full", "--no-legend", machine=m3.name, check=True).stdout
        assert f"{m1.id}\t{m1.ip}\t-\n" in machines and m2.id not in machines
        assert json.loads(fleet.etcd_get(f"machines/{m1.id}/object", machine=m3.name)["value"])["PublicIP"] == m1.ip
    finally:
        fleet.ssh(m2.name, f"sudo rm -f {dropin} {id_file}; sudo systemctl daemon-reload; "
                           "sudo systemctl restart fleet.service", check=False)
    fleet.wait_machines()
