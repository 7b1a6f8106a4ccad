"""The SSH layer against a real SSH server in this process (tests/unit/sshd.py): refused
channels, host-key pinning, agent forwarding."""

from __future__ import annotations

import threading
import time

import pytest

from labs import Cluster, HostKeyError
from labs.ssh.config import SSHConfigFile
from labs.ssh.errors import ChannelRefused, ClusterError, MachineDown
from labs.ssh.machine import Machine
from labs.ssh.transport import forward_agent
from labs.tunnels import DOCKER_SOCKET, docker_socket_channel, give_back_read_ahead
from tests.ssh_agent import ssh_agent
from tests.unit.sshd import InProcessSSHD


@pytest.fixture
def sshd(tmp_path):
    server = InProcessSSHD(tmp_path, refuse=("direct-streamlocal@openssh.com",))
    yield server
    server.close()


def machine_on(sshd, **changes) -> Machine:
    return Machine("m", sshd.host_config(**changes))


def test_a_refused_channel_raises_channel_refused(sshd):
    machine = machine_on(sshd)
    with pytest.raises(ChannelRefused) as refused:
        machine.open_unix(DOCKER_SOCKET)
    error = refused.value
    assert isinstance(error, ClusterError)
    assert (error.machine, error.code) == ("m", 1)           # administratively prohibited
    assert f"m refused a channel to the unix socket {DOCKER_SOCKET}" in str(error)
    assert "AllowStreamLocalForwarding" in str(error)
    assert machine.run("true").stdout == "ran: true\n"       # the connection is fine
    assert machine.connects == 1


def test_docker_falls_back_to_dial_stdio_when_the_socket_channel_is_refused(sshd):
    machine = machine_on(sshd)
    channel = docker_socket_channel(machine)
    try:
        assert sshd.commands == ["docker system dial-stdio"]
        assert channel.recv(100) == b"ran: docker system dial-stdio\n"
    finally:
        channel.close()


def test_bytes_a_file_read_ahead_go_back_to_its_channel_first(sshd):
    """Flake 35: http.client reads an upgraded response's headers through a file on the channel,
    then the docker SDK reads the channel itself; what the file had read ahead must come first."""
    machine = machine_on(sshd)
    channel = machine.open_session()
    try:
        channel.exec_command("HTTP/1.1 101 UPGRADED\nframe 1")   # the server answers `ran: <command>`
        while not channel.exit_status_ready():      # all of the answer has arrived
            time.sleep(0.01)
        headers_file = channel.makefile("rb")
        assert headers_file.readline(65537) == b"ran: HTTP/1.1 101 UPGRADED\n"   # as http.client reads
        give_back_read_ahead(headers_file)
        assert channel.recv(100) == b"frame 1\n"
    finally:
        channel.close()


def test_docker_fallback_does_not_hide_a_machine_that_went_away(sshd):
    machine = machine_on(sshd)
    machine.run("true")
    sshd.close()
    with pytest.raises(MachineDown):
        docker_socket_channel(machine)
    assert sshd.commands == ["true"]


def test_sessions_refused_at_once_are_retried_on_the_same_connection(tmp_path):
    sshd = InProcessSSHD(tmp_path, max_sessions=2)
    machine = machine_on(sshd)
    outputs, errors = [], []

    def command(i):
        try:
            outputs.append(machine.run(f"echo {i}").stdout)
        except Exception as error:      # pragma: no cover - shown on failure
            errors.append(error)

    try:
        threads = [threading.Thread(target=command, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sshd.close()
    assert errors == [] and len(outputs) == 16
    assert sshd.refused_sessions > 0 and machine.connects == 1


def test_a_late_channel_open_does_not_cut_off_the_commands_running_on_the_connection(
        tmp_path, monkeypatch):
    """sshd too busy to answer one open in time (flake 25): the command already running on
    that connection goes on, the new one is asked again on it, and nobody reconnects."""
    import labs.ssh.machine as machine_module

    monkeypatch.setattr(machine_module, "CHANNEL_OPEN_TIMEOUT_S", 1.0)
    sshd = InProcessSSHD(tmp_path)
    machine = machine_on(sshd)
    results, errors = {}, []

    def command(text):
        try:
            results[text] = machine.run(text).stdout
        except Exception as error:      # pragma: no cover - shown on failure
            errors.append(error)

    try:
        machine.run("true")
        running = threading.Thread(target=command, args=("sleep 3",))
        running.start()
        while "sleep 3" not in sshd.commands:
            time.sleep(0.01)
        sshd.open_delay, sshd.slow_opens = 1.5, 1      # the first try times out, the second not
        command("echo late")
        running.join(30)
    finally:
        sshd.close()
    assert errors == [] and results == {"sleep 3": "ran: sleep 3\n", "echo late": "ran: echo late\n"}
    assert machine.connects == 1


def test_an_unreadable_known_hosts_file_is_named_with_the_reason(sshd, tmp_path):
    unreadable = tmp_path / "known_hosts.d"
    unreadable.mkdir()                        # root reads any file: a directory cannot be read
    missing = tmp_path / "nowhere"
    machine = machine_on(sshd, known_hosts_files=(str(unreadable), str(missing)))
    with pytest.raises(HostKeyError) as refused:
        machine.run("true")
    first_line = str(refused.value).splitlines()[0]
    assert f"{unreadable} cannot be read (Is a directory)" in first_line
    assert f"{missing} does not exist" in first_line
    assert "has no key" not in first_line
    assert f"make {unreadable} readable" in str(refused.value)
    assert sshd.commands == []


def test_a_readable_known_hosts_without_the_key_still_says_so(sshd, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError, match=f"{empty} has no key for it: refusing to connect"):
        machine_on(sshd, known_hosts_files=(str(empty),)).run("true")


def test_a_changed_host_key_is_refused(sshd, tmp_path):
    import paramiko
    other = tmp_path / "other_known_hosts"
    other.write_text(sshd.known_hosts_line(paramiko.RSAKey.generate(2048)))
    with pytest.raises(HostKeyError, match=f"does not match the key pinned in {other}"):
        machine_on(sshd, known_hosts_files=(str(other),)).run("true")
    assert sshd.commands == []


def test_strict_host_key_checking_no_does_not_switch_the_check_off(sshd):
    """What Vagrant's ssh-config says; the toolkit pins keys anyway (see labs.ssh.config)."""
    config = SSHConfigFile(sshd.ssh_config("StrictHostKeyChecking no",
                                           "UserKnownHostsFile /dev/null"))
    with Cluster(config) as cluster, pytest.raises(HostKeyError, match="/dev/null has no key"):
        cluster["m"].run("true")
    assert sshd.commands == []


def test_forward_agent_yes_offers_our_agent_to_commands(sshd, tmp_path, monkeypatch):
    config = SSHConfigFile(sshd.ssh_config(f"UserKnownHostsFile {sshd.known_hosts}",
                                           "ForwardAgent yes"))
    with ssh_agent(sshd.identity, tmp_path) as socket_path:
        monkeypatch.setenv("SSH_AUTH_SOCK", socket_path)
        with Cluster(config) as cluster:
            assert cluster["m"].run("agent-keys").stdout == "1 keys\n"
            transcript = cluster["m"].interact("agent-keys", timeout=10)
            assert transcript.text.strip() == "1 keys" and transcript.exit_status == 0
    assert sshd.agent_requests == 2


def test_an_agent_gone_after_forwarding_was_offered_does_not_hang_the_command(sshd, tmp_path,
                                                                            monkeypatch):
    machine = machine_on(sshd, forward_agent=True)
    with ssh_agent(sshd.identity, tmp_path) as socket_path:
        monkeypatch.setenv("SSH_AUTH_SOCK", socket_path)
        channel = machine.open_session()
        assert forward_agent(channel)
    channel.exec_command("agent-keys")          # the machine asks an agent that is gone now
    assert channel.status_event.wait(10), "the command still waits for the agent"
    assert channel.exit_status == 1
    channel.close()


def test_forward_agent_no_or_no_agent_offers_nothing(sshd, tmp_path, monkeypatch):
    plain = SSHConfigFile(sshd.ssh_config(f"UserKnownHostsFile {sshd.known_hosts}"))
    with ssh_agent(sshd.identity, tmp_path) as socket_path:
        monkeypatch.setenv("SSH_AUTH_SOCK", socket_path)
        with Cluster(plain) as cluster:
            result = cluster["m"].run("agent-keys", check=False)
    assert result.exit_status == 2 and "authentication agent" in result.stderr

    monkeypatch.delenv("SSH_AUTH_SOCK")          # ForwardAgent yes, but there is no agent
    wanting = SSHConfigFile(sshd.ssh_config(f"UserKnownHostsFile {sshd.known_hosts}",
                                            "ForwardAgent yes"))
    with Cluster(wanting) as cluster:
        assert cluster["m"].run("agent-keys", check=False).exit_status == 2
    assert sshd.agent_requests == 0
