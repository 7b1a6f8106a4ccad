"""fleetctl against a real etcd and in-process fleetds with fake systemd (docs/fleet.md §4, §7)."""

import hashlib
import io
import json
import os
import re
import shutil
import socket
import tempfile

import pytest

from fleet_testkit import HealthyBackend, wait_for
from labs.node.fleet import api, fleetctl
from labs.node.fleet.fleetctl import parse_command_line

@pytest.fixture(params=["API", "etcd"])
def cluster(request, cluster):
    """Each fleetctl test runs with both drivers: fleetd's API (the default) and etcd."""
    if request.param == "etcd":
        yield cluster
        return
    directory = tempfile.mkdtemp(prefix="fleet-api-")  # unix socket paths must be short
    cluster.serve_api(os.path.join(directory, "fleet.sock"))
    yield cluster
    shutil.rmtree(directory, ignore_errors=True)


M1, M2, M3, M4 = ("1" * 32, "2" * 32, "3" * 32, "4" * 32)
HELLO = "[Unit]\nDescription=Hello\n\n[Service]\nExecStart=/bin/sh -c 'while true; do echo hi; sleep 1; done'\n"


def write_unit(directory, name, text=HELLO, xfleet=()):
    if xfleet:
        text += "\n[X-Fleet]\n" + "\n".join(xfleet) + "\n"
    (directory / name).write_text(text)
    return name


def test_submit_list_unit_files_cat_and_keys_acceptance_1(cluster, tmp_path):
    messy = ("# comment\n[Unit]\nDescription = Hello \n\n; other\n[Service]\nExecStart=/bin/true\n"
             "[Unit]\nAfter=network.target\n")
    canonical = "[Unit]\nDescription=Hello\nAfter=network.target\n\n[Service]\nExecStart=/bin/true\n"
    digest = hashlib.sha1(canonical.encode()).hexdigest()
    write_unit(tmp_path, "hello.service", messy)
    write_unit(tmp_path, "hello2.service", HELLO)

    assert cluster.fleetctl("submit", "hello.service", "hello2.service", cwd=tmp_path) == (
        0, "Unit hello.service inactive\nUnit hello2.service inactive\n", "")
    code, out, _ = cluster.fleetctl("list-unit-files", "--no-legend", "--fields=unit,hash,dstate,state,target")
    assert out.splitlines()[0] == "hello.service\t%s\tinactive\tinactive\t-" % digest[:7]
    assert cluster.fleetctl("cat", "hello.service") == (0, canonical, "")
    assert cluster.fleetctl("cat", "hello2") == (0, HELLO, "")

    registry = cluster_registry(cluster)
    assert json.loads(registry.client.read(registry.key("unit", digest)).value) == {"Raw": canonical}
    assert json.loads(registry.client.read(registry.key("job", "hello.service", "object")).value)["UnitHash"] == \
        list(bytes.fromhex(digest))
    assert registry.client.read(registry.key("job", "hello.service", "target-state")).value == "inactive"


def cluster_registry(cluster):
    from labs.node.fleet.etcdclient import FailoverClient
    from labs.node.fleet.registry import Registry
    return Registry(FailoverClient([cluster.etcd_url], 2.0), cluster.prefix)


def test_lifecycle_on_one_machine_acceptance_3(cluster, tmp_path):
    cluster.add_machine(M1, "10.0.0.1")
    write_unit(tmp_path, "hello.service")
    code, out, err = cluster.fleetctl("start", "hello.service", cwd=tmp_path)
    assert (code, out) == (0, "Unit hello.service inactive\nUnit hello.service launched on 11111111.../10.0.0.1\n")
    assert cluster.active_on("hello.service") == [M1]
    assert cluster.systemds[M1].files["hello.service"] == HELLO
    wait_for(lambda: "running" in cluster.fleetctl("list-units")[1], message="list-units running")
    assert cluster.fleetctl("list-units") == (0, "UNIT\t\tMACHINE\t\t\tACTIVE\tSUB\n"
                                                 "hello.service\t11111111.../10.0.0.1\tactive\trunning\n", "")

    assert cluster.fleetctl("start", "hello.service", cwd=tmp_path) == (0, "", "")  # already launched
    code, out, err = cluster.fleetctl("stop", "hello.service")
    assert (code, out, err) == (0, "Unit hello.service loaded on 11111111.../10.0.0.1\n",
                                "Successfully stopped units [hello.service].\n")
    wait_for(lambda: "inactive\tdead" in cluster.fleetctl("list-units", "--no-legend")[1], message="dead")
    assert "\tloaded\tloaded\t" in cluster.fleetctl("list-unit-files", "--no-legend")[1]

    code, out, err = cluster.fleetctl("unload", "hello.service")
    # "inactive", with the machine while the engine has not unscheduled it yet (flake 30's race)
    assert (code, err) == (0, "Successfully unloaded units [hello.service].\n")
    assert re.fullmatch(r"Unit hello.service inactive( on 11111111\.\.\./10\.0\.0\.1)?\n", out), out
    wait_for(lambda: cluster.fleetctl("list-units", "--no-legend")[1] == "", message="no list-units rows")
    # the agent unloads and the engine unschedules on rounds of their own (ci-36): wait for both
    unit_files = lambda: cluster.fleetctl("list-unit-files", "--no-legend", "--fields=unit,dstate,state,target")[1]
    row = wait_for(lambda: (out := unit_files()).endswith("\t-\n") and out, message="the engine unscheduled hello.service")
    assert row == "hello.service\tinactive\tinactive\t-\n"
    assert "hello.service" not in cluster.systemds[M1].files
    assert cluster.fleetctl("stop", "hello.service") == (1, "", "Unable to stop unit hello.service in state inactive\n")
    assert cluster.fleetctl("destroy", "hello.service") == (0, "Destroyed hello.service\n", "")
    assert cluster.fleetctl("list-unit-files", "--no-legend") == (0, "", "")
    assert cluster_registry(cluster).unit("hello.service") is None


def test_least_loaded_placement_and_tie_break_acceptance_4(cluster, tmp_path):
    for machine_id in (M3, M1, M2):
        cluster.add_machine(machine_id)
    for name in "abcd":
        write_unit(tmp_path, name + ".service")
        code, out, _ = cluster.fleetctl("start", "--no-block", name + ".service", cwd=tmp_path)
        assert code == 0 and out.endswith("Triggered unit %s.service start\n" % name * 2)
        wait_for(lambda: cluster_registry(cluster).unit(name + ".service").target_machine, message="placed")
    placed = {u.name: u.target_machine for u in cluster_registry(cluster).units()}
    assert placed == {"a.service": M1, "b.service": M2, "c.service": M3, "d.service": M1}


def test_global_unit_acceptance_5(cluster, tmp_path):
    for machine_id in (M1, M2, M3):
        cluster.add_machine(machine_id)
    write_unit(tmp_path, "global.service", xfleet=["Global=true"])
    code, out, _ = cluster.fleetctl("start", "global.service", cwd=tmp_path)
    assert (code, out) == (0, "Unit global.service \nTriggered global unit global.service start\n")
    rows = lambda: [l for l in cluster.fleetctl("list-units", "--no-legend")[1].splitlines() if "global" in l]
    wait_for(lambda: len(rows()) == 3, message="3 rows")
    assert cluster.fleetctl("list-unit-files", "--no-legend", "--fields=unit,dstate,state,target")[1] == \
        "global.service\tlaunched\t-\tglobal\n"
    cluster.add_machine(M4)
    wait_for(lambda: len(rows()) == 4, message="4th machine picks it up")
    assert cluster.active_on("global.service") == [M1, M2, M3, M4]


def test_conflicts_with_no_block_acceptance_8(cluster, tmp_path):
    for machine_id in (M1, M2, M3):
        cluster.add_machine(machine_id)
    names = [write_unit(tmp_path, "conflict.%d.service" % i, xfleet=["Conflicts=conflict.*.service"])
             for i in range(5)]
    assert cluster.fleetctl("start", "--no-block", *names, cwd=tmp_path)[0] == 0
    wait_for(lambda: sum(len(cluster.active_on(n)) for n in names) == 3, message="3 active")
    machines = [cluster.active_on(n) for n in names if cluster.active_on(n)]
    assert sorted(m[0] for m in machines) == [M1, M2, M3]
    files = cluster.fleetctl("list-unit-files", "--no-legend", "--fields=unit,dstate,state,target")[1]
    assert files.count("launched\tinactive\t-\n") == 2 and len(files.splitlines()) == 5


def test_machine_death_reschedules_after_ttl_acceptance_10(cluster, tmp_path):
    for machine_id in (M1, M2):
        cluster.add_machine(machine_id)
    write_unit(tmp_path, "a.service")
    assert cluster.fleetctl("start", "a.service", cwd=tmp_path)[0] == 0
    # where it lands is the scheduler's choice: on a busy host M1's 2-second TTL can lapse once
    # before the engine runs, and the unit goes to M2 (flake 24). The drill follows the unit.
    [first] = cluster.active_on("a.service")
    survivor = M2 if first == M1 else M1
    cluster.crash(first)
    # the crashed machine's systemd keeps running it (nobody stopped it), the survivor starts it
    wait_for(lambda: cluster.active_on("a.service") == [M1, M2], timeout=10, message="moved after TTL")
    assert cluster_registry(cluster).unit("a.service").target_machine == survivor
    assert [m.id for m in cluster_registry(cluster).machines()] == [survivor]


def test_graceful_shutdown_purges_and_others_take_over(cluster, tmp_path):
    for machine_id in (M1, M2):
        cluster.add_machine(machine_id)
    write_unit(tmp_path, "a.service")
    assert cluster.fleetctl("start", "a.service", cwd=tmp_path)[0] == 0
    registry = cluster_registry(cluster)
    leader = registry.lease().machine_id
    [first] = cluster.active_on("a.service")  # the scheduler's choice, see acceptance 10
    survivor = M2 if first == M1 else M1
    cluster.shutdown(first)
    assert cluster.systemds[first].files == {} and cluster.systemds[first].active == set()
    assert [m.id for m in registry.machines()] == [survivor]  # gone at once, no TTL wait
    if leader == first:
        assert registry.lease() is None or registry.lease().machine_id == survivor
    wait_for(lambda: cluster.active_on("a.service") == [survivor], timeout=4,
             message="moved within a few intervals")


def test_engine_failover_after_leader_crash_acceptance_16(cluster, tmp_path):
    for machine_id in (M1, M2):
        cluster.add_machine(machine_id)
    registry = cluster_registry(cluster)
    wait_for(registry.lease, message="a leader")
    leader = registry.lease().machine_id
    survivor = M2 if leader == M1 else M1
    cluster.crash(leader)
    # one read per poll: the crashed leader's lease can expire between two reads
    wait_for(lambda: (lease := registry.lease()) is not None and lease.machine_id == survivor,
             timeout=10, message="new leader")
    write_unit(tmp_path, "late.service")
    assert cluster.fleetctl("start", "late.service", cwd=tmp_path)[0] == 0
    assert cluster.active_on("late.service") == [survivor]


@pytest.mark.parametrize("xfleet, message", [
    (["MachineID=x", "Conflicts=y*"], "MachineID cannot be used with Conflicts"),
    (["Global=true", "MachineOf=y.service"], "Global cannot be used with Peers"),
    (["Conflicts=x", "Replaces=y"], "Conflicts cannot be used with Replaces"),
])
def test_validation_errors_leave_etcd_untouched_acceptance_12(cluster, tmp_path, xfleet, message):
    write_unit(tmp_path, "bad.service", xfleet=xfleet)
    assert cluster.fleetctl("submit", "bad.service", cwd=tmp_path) == (1, "", "Error creating units: %s\n" % message)
    assert cluster_registry(cluster).units() == []


def test_unknown_unit_and_no_args_messages(cluster, tmp_path):
    assert cluster.fleetctl("load", "x.service", cwd=tmp_path) == (
        1, "", "Error creating units: unable to find Unit(x.service) in Registry or on filesystem\n")
    assert cluster.fleetctl("start") == (0, "", "No units given\n")
    assert cluster.fleetctl("cat", "nope") == (1, "", "Unit nope.service not found\n")
    assert cluster.fleetctl("cat") == (1, "", "One unit file must be provided\n")
    assert cluster.fleetctl("stop", "nope") == (0, "", "Units not found in registry\n")
    assert cluster.fleetctl("verify")[0] == 2


def test_templates_acceptance_13(cluster, tmp_path):
    cluster.add_machine(M1)
    write_unit(tmp_path, "hello@.service")
    assert cluster.fleetctl("submit", "hello@.service", cwd=tmp_path)[0] == 0
    code, out, _ = cluster.fleetctl("start", "hello@1.service", "hello@2.service", cwd=tmp_path)
    assert code == 0 and "Unit hello@1.service launched on 11111111...\n" in out
    units = {u.name: u for u in cluster_registry(cluster).units()}
    assert units["hello@1.service"].hash == units["hello@.service"].hash == units["hello@2.service"].hash
    assert cluster.fleetctl("start", "hello@.service", cwd=tmp_path) == (
        1, "", 'Error starting units: cannot activate template "hello@.service"\n')
    (tmp_path / "hello@.service").unlink()
    assert cluster.fleetctl("submit", "other@1.service", cwd=tmp_path)[2] == (
        "Error creating units: unable to find template Unit(other@.service) in Registry or on filesystem\n")


def test_machine_id_pinning_with_instance_specifier_acceptance_11(cluster, tmp_path):
    for machine_id in (M1, M2):
        cluster.add_machine(machine_id)
    write_unit(tmp_path, "pin@.service", xfleet=["MachineID=%i"])
    assert cluster.fleetctl("start", "pin@%s.service" % M2, cwd=tmp_path)[0] == 0
    assert cluster.active_on("pin@%s.service" % M2) == [M2]


def test_replace_acceptance_15(cluster, tmp_path):
    cluster.add_machine(M1)
    write_unit(tmp_path, "hello.service")
    assert cluster.fleetctl("start", "hello.service", cwd=tmp_path)[0] == 0
    changed = HELLO.replace("echo hi", "echo bye")
    write_unit(tmp_path, "hello.service", changed)
    assert cluster.fleetctl("start", "hello.service", cwd=tmp_path) == (0, "", (
        "WARNING: Unit hello.service in registry differs from local unit file hello.service. "
        "Add --replace to override.\n"))
    code, out, _ = cluster.fleetctl("start", "--replace", "hello.service", cwd=tmp_path)
    # fleet's assertUnitState names the machine while the unit still has one: whether the engine
    # unscheduled it before the agent reported it inactive is a race, in fleet too (flake 30)
    assert code == 0 and re.fullmatch(r"Unit hello.service inactive( on 11111111\.\.\.)?\n"
                                      r"Unit hello.service launched on 11111111\.\.\.\n", out), out
    assert cluster.systemds[M1].files["hello.service"] == changed
    assert cluster.fleetctl("cat", "hello.service")[1] == changed


def test_list_machines_acceptance_2(cluster):
    cluster.add_machine(M2, "10.0.0.2")
    cluster.add_machine(M1, "10.0.0.1", {"region": "us-west", "az": "b"})
    assert cluster.fleetctl("list-machines") == (0, (
        "MACHINE\t\tIP\t\tMETADATA\n"
        "11111111...\t10.0.0.1\taz=b,region=us-west\n"
        "22222222...\t10.0.0.2\t-\n"), "")
    assert cluster.fleetctl("list-machines", "--full", "--no-legend", "--fields=machine")[1] == M1 + "\n" + M2 + "\n"
    assert cluster.fleetctl("list-machines", "--fields=") == (1, "", "Must define output format\n")
    assert cluster.fleetctl("list-machines", "--fields=foo") == (1, "", 'Invalid key in output format: "foo"\n')


def test_list_units_fields_and_full(cluster, tmp_path):
    cluster.add_machine(M1, "10.0.0.1")
    write_unit(tmp_path, "hello.service")
    assert cluster.fleetctl("start", "hello.service", cwd=tmp_path)[0] == 0
    digest = hashlib.sha1(HELLO.encode()).hexdigest()
    wait_for(lambda: "running" in cluster.fleetctl("list-units")[1], message="running")
    assert cluster.fleetctl("list-units", "--full", "--fields=unit,load,machine,hash")[1] == (
        "UNIT\t\tLOAD\tMACHINE\t\t\t\t\t\tHASH\n"
        "hello.service\tloaded\t%s/10.0.0.1\t%s\n" % (M1, digest))
    code, out, err = cluster.fleetctl("list-unit-files", "--fields=unit,tmachine,desc,global")
    assert out == "UNIT\t\tTMACHINE\t\tDESC\tGLOBAL\nhello.service\t11111111.../10.0.0.1\tHello\tfalse\n"
    assert err == 'WARNING: The "tmachine" field is deprecated. Use "target" instead\n'


def test_etcd_unreachable_messages_and_exit_codes(prefix):
    from fleet_testkit import FleetCluster
    dead = FleetCluster("http://127.0.0.1:9", prefix)
    code, out, err = dead.fleetctl("list-machines")
    assert code == 1 and out == ""
    assert err.startswith("Error retrieving list of active machines from fleet API (")
    assert err.endswith(")\nPossible issues:\n  etcd is unhealthy and/or lost quorum\n"
                        "  connection cannot be established to any etcd servers\n")
    code, _, err = dead.fleetctl("list-units")
    assert code == 1 and err.startswith("Error retrieving list of units from repository: ")
    code, _, err = dead.fleetctl("list-unit-files")
    assert code == 1 and err.startswith("Error retrieving list of units from repository: ")


def run_fleetctl(*args):
    out, err = io.StringIO(), io.StringIO()
    code = fleetctl.main(list(args), stdout=out, stderr=err, environ={},
                         machine_id_path="/nonexistent/machine-id")
    return code, out.getvalue(), err.getvalue()


def test_api_driver_unavailable_fleetd_and_missing_socket(registry):
    """fleetd answers 503 until it has registered (acceptance 14's message); without a socket
    fleetctl cannot dial. Both exit 1 with the list-machines wrapper message."""
    directory = tempfile.mkdtemp(prefix="fleet-api-")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(os.path.join(directory, "fleet.sock"))
    listener.listen(4)
    backend = HealthyBackend(registry)
    backend.registered = False
    backend.healthy.clear()
    server = api.APIServer([listener], api.API(backend))
    server.start()
    try:
        code, out, err = run_fleetctl("--endpoint", "unix://%s/fleet.sock" % directory, "list-machines")
        assert (code, out) == (1, "")
        assert err.startswith("Error retrieving list of active machines from fleet API (")
        assert "googleapi: Error 503: fleet server unable to communicate with etcd" in err
    finally:
        server.close()
        shutil.rmtree(directory, ignore_errors=True)
    code, _, err = run_fleetctl("--endpoint", "unix://%s/fleet.sock" % directory, "list-units")
    assert code == 1
    assert err.startswith("Error retrieving list of units from repository: Get http://domain-sock/fleet/v1/")
    assert err.endswith(": dial unix %s/fleet.sock: connect: no such file or directory\n" % directory)


def test_global_flags_before_or_after_command_and_from_environment():
    options, command, flags, args = parse_command_line(
        ["list-m", "--no-legend", "--endpoint=http://e:1", "-l"], {"FLEETCTL_TUNNEL": "bastion"})
    assert (command.name, flags["no-legend"], flags["full"]) == ("list-machines", True, True)
    assert (options["endpoint"], options["tunnel"]) == ("http://e:1", "bastion")
    options, command, _, _ = parse_command_line(["--strict-host-key-checking=false", "version"],
                                                {"FLEETCTL_STRICT_HOST_KEY_CHECKING": "true"})
    assert options["strict-host-key-checking"] is False and command.name == "version"


def test_start_without_suffix_reads_the_service_file(cluster, tmp_path):
    """`fleetctl start hello` with hello.service on disk: fleetctl adds `.service` to the file
    name too (fleetctl.go maybeAppendDefaultUnitType), as the 2015 docs' `fleetctl start apache@1`."""
    cluster.add_machine(M1, "10.0.0.1")
    write_unit(tmp_path, "hello.service")
    write_unit(tmp_path, "web@.service")
    assert cluster.fleetctl("start", "hello", cwd=tmp_path) == (
        0, "Unit hello.service inactive\nUnit hello.service launched on 11111111.../10.0.0.1\n", "")
    code, out, err = cluster.fleetctl("start", "web@1", cwd=tmp_path)
    assert (code, err) == (0, "") and out.endswith("Unit web@1.service launched on 11111111.../10.0.0.1\n")
    assert cluster.active_on("hello.service") == cluster.active_on("web@1.service") == [M1]
