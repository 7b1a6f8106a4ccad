"""The ssh command lines fleetctl builds for --tunnel and remote commands."""

from labs.node.fleet.transport import SSHOptions, remote_command, split_host_port, tunnel_command


def test_split_host_port():
    assert split_host_port("core-01") == ("core-01", 22)
    assert split_host_port("10.0.0.1:2222") == ("10.0.0.1", 2222)


def test_remote_command_with_ssh_config_agent_forwarding_and_jump_host():
    options = SSHOptions("core", 10.0, strict_host_key_checking=False, config_file="/lab/ssh_config")
    argv = remote_command("10.0.0.2", ["systemctl", "status", "-l", "a.service"], options, 22,
                          forward_agent=True, via="core-01")
    assert argv == ["ssh", "-F", "/lab/ssh_config", "-o", "StrictHostKeyChecking=no", "-o",
                    "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-p", "22", "-A",
                    "-J", "core-01", "-l", "core", "10.0.0.2", "--", "systemctl", "status", "-l", "a.service"]


def test_interactive_shell_and_strict_host_key_checking():
    options = SSHOptions("core", 10.0, True, "/home/u/.fleetctl/known_hosts", config_file="")
    argv = remote_command("10.0.0.2", [], options, 2222)
    assert argv[-2:] == ["-t", "10.0.0.2"]
    assert "StrictHostKeyChecking=yes" in argv and "UserKnownHostsFile=/home/u/.fleetctl/known_hosts" in argv
    assert "-F" not in argv


def test_tunnel_through_an_ssh_config_keeps_its_port_and_host_keys():
    """`--tunnel core-01` with FLEETCTL_SSH_CONFIG: the config's Port and known_hosts apply
    (a forced `-p 22` and ~/.fleetctl/known_hosts made the lab's tunnel from the host fail)."""
    options = SSHOptions("core", 10.0, True, "/home/u/.fleetctl/known_hosts", config_file="/lab/ssh_config")
    argv = tunnel_command("core-01", "127.0.0.1", 2379, options, 40000)
    assert argv == ["ssh", "-F", "/lab/ssh_config", "-o", "ConnectTimeout=10", "-l", "core",
                    "-o", "ExitOnForwardFailure=yes", "-o", "BatchMode=yes", "-N",
                    "-L", "127.0.0.1:40000:127.0.0.1:2379", "core-01"]
    assert "-p" in tunnel_command("core-01:2222", "127.0.0.1", 2379, options, 40000)


def test_tunnel_without_ssh_config_checks_fleetctls_known_hosts_on_port_22():
    options = SSHOptions("core", 10.0, True, "/home/u/.fleetctl/known_hosts", config_file="")
    argv = tunnel_command("10.0.0.1", "127.0.0.1", 2379, options, 40000)
    assert argv[:8] == ["ssh", "-o", "StrictHostKeyChecking=yes", "-o",
                        "UserKnownHostsFile=/home/u/.fleetctl/known_hosts", "-o", "ConnectTimeout=10", "-p"]
    assert argv[8] == "22" and argv[-1] == "10.0.0.1"


def test_tunnel_to_fleets_api_socket():
    """The API driver's default endpoint is a unix socket: ssh forwards to the remote socket."""
    options = SSHOptions("core", 10.0, True, config_file="/lab/ssh_config")
    argv = tunnel_command("core-01", "/var/run/fleet.sock", None, options, 40000)
    assert argv[-3:] == ["-L", "127.0.0.1:40000:/var/run/fleet.sock", "core-01"]


def test_an_unknown_host_key_is_shown_and_saved_when_trusted(tmp_path):
    """fleet's HostKeyChecker: upstream's question, the key's MD5 fingerprint, and on yes the key
    in --known-hosts-file (issue 10, item 4)."""
    import base64
    import io

    import pytest

    from labs.node.fleet.transport import HostKeyError, trust_host

    blob = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + b"k" * 36).decode()
    keys = [("ssh-rsa", base64.b64encode(b"rsa").decode()), ("ssh-ed25519", blob)]
    known_hosts = tmp_path / "fleetctl" / "known_hosts"
    options = SSHOptions("core", 10.0, True, str(known_hosts), config_file="")
    err = io.StringIO()
    with pytest.raises(HostKeyError, match="unauthorized host"):
        trust_host("10.0.0.7", 2222, options, scan=lambda *a: keys, stdin=io.StringIO("no\n"), stderr=err)
    assert err.getvalue().endswith("(yes/no)? Host key verification failed.\n") and not known_hosts.exists()

    err = io.StringIO()
    trust_host("10.0.0.7", 2222, options, scan=lambda *a: keys, stdin=io.StringIO("yes\n"), stderr=err)
    import hashlib
    fingerprint = ":".join("%02x" % b for b in hashlib.md5(base64.b64decode(blob)).digest())
    assert err.getvalue() == (
        "The authenticity of host '[10.0.0.7]:2222' can't be established.\n"
        "ssh-ed25519 key fingerprint is %s.\n"
        "Are you sure you want to continue connecting (yes/no)? "
        "Warning: Permanently added '[10.0.0.7]:2222' (ssh-ed25519) to the list of known hosts.\n" % fingerprint)
    assert known_hosts.read_text() == "[10.0.0.7]:2222 ssh-ed25519 %s\n" % blob
    # known now: no question, no scan
    trust_host("10.0.0.7", 2222, options, scan=lambda *a: pytest.fail("scanned a known host"),
               stdin=io.StringIO(""), stderr=err)
