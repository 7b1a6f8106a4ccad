"""fleetctl's command line as v1.0.0's cobra handles it, its error texts, --debug, TLS,
fd-forward and ssh (docs/fleet.md §4; issue 10, items 3-5)."""

import io
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

import pytest

from fleet_testkit import FakeSystemd, HealthyBackend
from labs.node.fleet import api, fleetctl
from labs.node.fleet.etcdclient import FailoverClient
from labs.node.fleet.registry import Registry
from labs.node.fleet.schema import UnitState
from labs.node.fleet.unit import UnitFile

M1, M9 = "1" * 32, "9" * 32
HELLO = "[Unit]\nDescription=Hello\n\n[Service]\nExecStart=/bin/sh -c 'while true; do echo hi; sleep 1; done'\n"
PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture(params=["API", "etcd"])
def cluster(request, cluster):
    """Both drivers, as in test_fleetctl.py."""
    if request.param == "etcd":
        yield cluster
        return
    directory = tempfile.mkdtemp(prefix="fleet-api-")
    cluster.serve_api(os.path.join(directory, "fleet.sock"))
    yield cluster
    shutil.rmtree(directory, ignore_errors=True)


def run(*args, environ=None, machine_id_path="/nonexistent/machine-id", run_command=None):
    out, err = io.StringIO(), io.StringIO()
    extra = {"run_command": run_command} if run_command else {}
    code = fleetctl.main(list(args), stdout=out, stderr=err, environ=environ or {},
                         machine_id_path=machine_id_path, **extra)
    return code, out.getvalue(), err.getvalue()


def registry_of(cluster):
    return Registry(FailoverClient([cluster.etcd_url], 2.0), cluster.prefix)


# --- help, flags, unknown commands (item 3) ------------------------------------------------

def test_command_help_is_printed_and_the_command_not_run(cluster, tmp_path):
    (tmp_path / "hello.service").write_text(HELLO)
    usage = cluster.fleetctl("help", "start")
    assert usage[0] == 0 and usage[2] == ""
    assert usage[1].startswith("NAME:\n\tstart - Instruct systemd to start one or more units in the cluster, "
                               "first submitting and loading if necessary.\n\nUSAGE:\n"
                               "\tfleetctl start [--no-block|--block-attempts=N] UNIT...\n\nDESCRIPTION:\n")
    assert "\nOPTIONS:\n      --block-attempts int  Wait until the units are launched, " in usage[1]
    assert "\nGLOBAL OPTIONS:\n      --ca-file string  " in usage[1]
    assert cluster.fleetctl("start", "--help", "hello.service", cwd=tmp_path) == usage
    assert cluster.fleetctl("start", "hello.service", "-h", cwd=tmp_path) == usage
    assert cluster.fleetctl("star", "--help") == usage  # prefix matching
    assert registry_of(cluster).units() == []  # nothing was submitted

    assert cluster.fleetctl("submit", "hello.service", cwd=tmp_path)[0] == 0
    code, out, err = cluster.fleetctl("destroy", "--help", "hello.service")
    assert (code, err) == (0, "") and out.startswith("NAME:\n\tdestroy - Destroy one or more units in the cluster\n")
    assert [u.name for u in registry_of(cluster).units()] == ["hello.service"]  # still there


def test_root_help_lists_every_command():
    usage = run("help")
    assert usage == run() == run("--help") == run("-h")
    code, out, err = usage
    assert (code, err) == (0, "")
    assert out.startswith("NAME:\n\tfleetctl - fleetctl is a command-line interface to fleet, the cluster-wide "
                          "CoreOS init system.\n\nUSAGE:\n\tfleetctl\n\nVERSION:\n\t1.0.0\n\nCOMMANDS:\n"
                          "\tcat\t\tOutput the contents of a submitted unit\n")
    assert "\tlist-unit-files\tList the units that exist in the cluster.\n" in out
    assert "\nOPTIONS:\n      --ca-file string " in out
    assert run("help", "nosuch") == (0, out, "Unknown help topic [`nosuch`].")


def test_bad_flags_are_refused_as_cobra_does():
    """Error on stderr, the command's usage on stdout, and v1.0.0's exit status 0."""
    usage = run("help", "list-units")[1]
    assert run("list-units", "--bogus") == (
        0, usage, "Error: unknown flag: --bogus\n\ncannot execute cmdFleet: unknown flag: --bogus\n")
    code, out, err = run("stop", "--block-attempts=abc", "x.service")
    assert (code, out) == (0, run("help", "stop")[1])
    assert err.startswith('Error: invalid argument "abc" for --block-attempts=abc: strconv.ParseInt: '
                          'parsing "abc": invalid syntax\n')
    assert run("journal", "--lines")[2].startswith("Error: flag needs an argument: --lines\n")
    assert run("list-units", "-x")[2].startswith("Error: unknown shorthand flag: 'x' in -x\n")


def test_unknown_command_with_suggestions():
    message = ('unknown command "list" for "fleetctl"\n\nDid you mean this?\n'
               "\tlist-machines\n\tlist-unit-files\n\tlist-units\n")
    assert run("list") == (0, "", "Error: %s\nRun 'fleetctl --help' for usage.\ncannot execute cmdFleet: %s\n"
                           % (message, message))


def test_one_letter_flags_take_one_dash_as_in_the_2015_docs():
    from labs.node.fleet.fleetctl import parse_command_line

    _, command, flags, _ = parse_command_line(["list-machines", "-l", "--no-legend"], {})
    assert (command.name, flags["full"], flags["no-legend"]) == ("list-machines", True, True)
    _, command, flags, args = parse_command_line(["ssh", "-A", "abc", "ls", "-l"], {})
    assert (flags["forward-agent"], args) == (True, ["abc", "ls", "-l"])  # ssh: the command keeps its flags


# --- messages (item 5) ------------------------------------------------------------------------

def test_start_wait_failure_names_the_real_error(cluster, tmp_path):
    cluster.add_machine(M1)
    (tmp_path / "eu.service").write_text(HELLO + "\n[X-Fleet]\nMachineMetadata=region=eu\n")
    error = "timed out waiting for unit eu.service to report state launched"
    assert cluster.fleetctl("start", "--block-attempts=1", "eu.service", cwd=tmp_path) == (
        1, "Unit eu.service inactive\n",
        "Error waiting for units: %s\nError waiting for unit states, exit status: %s\n" % (error, error))


def launched_on_a_gone_machine(cluster, name):
    """A unit the registry shows launched on M9, a machine without fleetd: nothing will change it."""
    registry = registry_of(cluster)
    body = UnitFile.parse(HELLO)
    registry.create_unit(name, body, "launched")
    registry.schedule_unit(name, M9)
    registry.set_job_state(name, M9, 60)
    registry.save_unit_state(UnitState(name, M9, "loaded", "active", "running", body.hash()), 60)


@pytest.mark.parametrize("command, state, failure", [
    ("stop", "loaded", "Failed to stop units [a.service]. err: %s"),
    ("unload", "inactive", "Failed to unload units [a.service]. err: %s"),
    ("restart", "loaded", "Error waiting for unit states, exit status: %s"),
])
def test_stop_unload_and_restart_failures_name_the_error(cluster, command, state, failure):
    launched_on_a_gone_machine(cluster, "a.service")
    error = "timed out waiting for unit a.service to report state %s" % state
    assert cluster.fleetctl(command, "--block-attempts=1", "a.service") == (
        1, "", "Error waiting for units: %s\n%s\n" % (error, failure % error))


def test_destroy_of_an_unknown_unit_says_so(cluster):
    assert cluster.fleetctl("destroy", "nope.service") == (0, "", "Units not found in registry\n")


class NeverActive(FakeSystemd):
    """Starts nothing: the unit stays inactive/dead in systemd."""

    def start(self, name):
        self.calls.append(("start", name))


def test_start_of_a_unit_systemd_does_not_run(cluster, tmp_path):
    cluster.systemds[M1] = NeverActive()
    cluster.add_machine(M1)
    (tmp_path / "dead.service").write_text(HELLO)
    error = "Failed to find an active unit dead.service within 2s, err: Failed to fetch states within 2s"
    assert cluster.fleetctl("start", "dead.service", cwd=tmp_path) == (
        1, "Unit dead.service inactive\nUnit dead.service launched on 11111111...\n",
        "Error waiting for units: %s\nError waiting for systemd unit states, err: %s\n" % (error, error))


def test_debug_logs_what_fleetctl_does(cluster, tmp_path):
    (tmp_path / "hello.service").write_text(HELLO)
    code, _, err = cluster.fleetctl("--debug", "submit", "hello.service", cwd=tmp_path)
    assert code == 0
    assert " DEBUG Looking for Unit(hello.service) or its corresponding template\n" in err
    assert " DEBUG Created Unit(hello.service) in Registry\n" in err
    assert cluster.fleetctl("submit", "hello.service", cwd=tmp_path) == (0, "", "")


# --- TLS (item 5) -------------------------------------------------------------------------------

def tls_flags(files, cert=True):
    flags = ["--ca-file", files["ca"]]
    return flags + ["--cert-file", files["client-cert"], "--key-file", files["client-key"]] if cert else flags


def test_etcd_driver_over_tls_with_a_client_certificate(tls_etcd, prefix):
    url, files = tls_etcd
    base = ["--driver=etcd", "--endpoint", url, "--etcd-key-prefix", prefix]
    assert run(*base, *tls_flags(files), "list-machines") == (0, "MACHINE\tIP\tMETADATA\n", "")
    code, _, err = run(*base, *tls_flags(files, cert=False), "list-machines")  # etcd wants a client cert
    assert code == 1 and err.startswith("Error retrieving list of active machines from fleet API (")


def test_api_driver_over_tls(tls_etcd, registry, tmp_path):
    _, files = tls_etcd
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=files["ca"])
    context.load_cert_chain(files["server-cert"], files["server-key"])
    context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    endpoint = "https://127.0.0.1:%d" % listener.getsockname()[1]
    server = api.APIServer([context.wrap_socket(listener, server_side=True)], api.API(HealthyBackend(registry)))
    server.start()
    try:
        assert run("--endpoint", endpoint, *tls_flags(files), "list-units") == (
            0, "UNIT\tMACHINE\tACTIVE\tSUB\n", "")
    finally:
        server.close()


def test_tls_files_without_an_https_endpoint_are_refused():
    assert run("--ca-file", "/etc/ssl/ca.pem", "list-units") == (
        1, "", "Unable to initialize client: --ca-file, --cert-file and --key-file secure an https:// endpoint "
               "without --tunnel; unix:///var/run/fleet.sock is not one\n")


# --- fd-forward (item 5) ------------------------------------------------------------------------

def test_fd_forward_pipes_stdin_and_stdout_through_a_unix_socket(tmp_path):
    path = str(tmp_path / "echo.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)

    def echo():
        connection, _ = listener.accept()
        received = b""
        while chunk := connection.recv(4096):
            received += chunk
        connection.sendall(b"echo:" + received)
        connection.close()
    threading.Thread(target=echo, daemon=True).start()
    forward = [sys.executable, "-m", "labs.node.fleet.fleetctl", "fd-forward"]
    env = dict(os.environ, PYTHONPATH=PROJECT)
    result = subprocess.run(forward + [path], input=b"hello", capture_output=True, timeout=30, env=env)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"echo:hello", b"")
    missing = subprocess.run(forward + [path + ".gone"], capture_output=True, text=True, timeout=30, env=env)
    assert (missing.returncode, missing.stderr) == (
        0, "Failed dialing remote address: dial unix %s.gone: connect: no such file or directory\n" % path)
    assert run("fd-forward") == (1, "", "Provide a single argument\n")


# --- ssh (item 4) ---------------------------------------------------------------------------------

def test_ssh_with_both_machine_and_unit(cluster):
    assert cluster.fleetctl("ssh", "--machine", "1", "--unit", "a.service") == (
        1, "", "Both machine and unit flags provided, please specify only one.\n")


def test_ssh_runs_a_command_on_this_machine_in_its_shell(cluster, tmp_path, capfd):
    """`fleetctl ssh <unit here> "docker ps"` crashed with a traceback: the joined arguments are
    one shell command, as ssh(1) and fleet run them."""
    cluster.add_machine(M1, "10.0.0.1")
    (tmp_path / "hello.service").write_text(HELLO)
    assert cluster.fleetctl("start", "hello.service", cwd=tmp_path)[0] == 0
    machine_id = tmp_path / "machine-id"
    machine_id.write_text(M1 + "\n")
    connection = (["--endpoint", "unix://" + cluster.api_socket] if cluster.api_socket else
                  ["--driver=etcd", "--endpoint", cluster.etcd_url, "--etcd-key-prefix", cluster.prefix])
    capfd.readouterr()
    code, _, err = run(*connection, "ssh", "hello.service", "echo ran here; exit 3",
                       machine_id_path=str(machine_id))
    assert (code, err, capfd.readouterr().out) == (3, "", "ran here\n")


def test_ssh_ambiguous_between_a_machine_and_a_unit(cluster, tmp_path):
    cluster.add_machine(M1, "10.0.0.1")
    (tmp_path / "11111111.service").write_text(HELLO)
    assert cluster.fleetctl("start", "11111111.service", cwd=tmp_path)[0] == 0
    assert cluster.fleetctl("ssh", "11111111", "true") == (
        1, "", "Unable to proceed: ambiguous argument, both machine and unit found for `11111111`.\n"
               "Please use flag `-m` or `-u` to refine the search\n")
    assert cluster.fleetctl("ssh", "--unit", "nope", "true") == (1, "", "Unable to proceed: unit does not exist\n")


@pytest.mark.parametrize("driver, loads_python_etcd", [("API", False), ("etcd", True)])
def test_only_the_etcd_driver_imports_python_etcd(tmp_path, driver, loads_python_etcd):
    """The machines' fleetctl (API driver) starts without python-etcd, urllib3 and dnspython
    (~60 ms a call); with --driver=etcd, etcd's errors still get fleet's message."""
    from fleet_testkit import free_port

    endpoint = "unix://%s" % (tmp_path / "no-fleet.sock") if driver == "API" else "http://127.0.0.1:%d" % free_port()
    script = ("import sys\nfrom labs.node.fleet import fleetctl\n"
              "code = fleetctl.main(sys.argv[1:], environ={}, machine_id_path='/nonexistent')\n"
              "print('python-etcd loaded:', 'etcd' in sys.modules)\nsys.exit(code)\n")
    result = subprocess.run([sys.executable, "-c", script, "--driver=" + driver, "--endpoint", endpoint,
                             "--request-timeout=1", "list-machines"],
                            cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("Error retrieving list of active machines from fleet API (")
    assert result.stdout == "python-etcd loaded: %s\n" % loads_python_etcd
