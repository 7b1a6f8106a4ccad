"""The ssh command lines fleetctl builds for --tunnel and remote commands."""

from labs.fleet.transport import SSHOptions, remote_command, split_host_port


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
