"""Reading the ssh_config `lab up` writes (from `vagrant ssh-config`, host keys pinned)."""

from pathlib import Path

import pytest

from labs.ssh.config import SSHConfigFile, host_names

VAGRANT_OUTPUT = """\
Host core-02
  HostName 127.0.0.1
  User core
  Port 2223
  UserKnownHostsFile /lab/known_hosts
  StrictHostKeyChecking yes
  PasswordAuthentication no
  IdentityFile "/home/me/.vagrant.d/insecure_private_key"
  IdentitiesOnly yes
  LogLevel FATAL
  ForwardAgent yes

Host core-01
  HostName 127.0.0.1
  User core
  Port 2222
  UserKnownHostsFile /lab/known_hosts
  StrictHostKeyChecking yes
  IdentityFile /home/me/.vagrant.d/insecure_private_key
  IdentitiesOnly yes
  ForwardAgent no

Host *
  ConnectTimeout 7
"""


def test_hosts_in_file_order_without_patterns():
    config = SSHConfigFile(VAGRANT_OUTPUT)
    assert config.hosts == ["core-02", "core-01"]
    assert "core-01" in config and "*" not in config


def test_host_names_handles_several_names_equals_and_negation():
    text = "Host a b\nhost=c\n  HOST  d*  !e f\nHostName x\n"
    assert host_names(text) == ["a", "b", "c", "f"]


def test_lookup_resolves_what_the_ssh_layer_needs():
    entry = SSHConfigFile(VAGRANT_OUTPUT).lookup("core-02")
    assert entry.name == "core-02"
    assert (entry.hostname, entry.port, entry.user) == ("127.0.0.1", 2223, "core")
    assert entry.identity_files == ("/home/me/.vagrant.d/insecure_private_key",)  # quotes gone
    assert entry.known_hosts_files == ("/lab/known_hosts",)
    assert entry.forward_agent is True and entry.identities_only is True
    assert entry.connect_timeout == 7.0          # from `Host *`
    assert entry.host_key_name == "[127.0.0.1]:2223"
    assert entry.address == "127.0.0.1:2223"


def test_forward_agent_no_and_port_22_key_name():
    config = SSHConfigFile(VAGRANT_OUTPUT + "\nHost plain\n  HostName 10.0.0.5\n")
    assert config.lookup("core-01").forward_agent is False
    plain = config.lookup("plain")
    assert plain.port == 22 and plain.host_key_name == "10.0.0.5"
    assert plain.known_hosts_files[0].endswith(".ssh/known_hosts")   # OpenSSH's default


def test_several_known_hosts_files_and_home_expansion(monkeypatch):
    monkeypatch.setenv("HOME", "/home/me")
    entry = SSHConfigFile("Host m\n  UserKnownHostsFile ~/a /b\n  IdentityFile ~/k\n").lookup("m")
    assert entry.known_hosts_files == ("/home/me/a", "/b")
    assert entry.identity_files == ("/home/me/k",)


def test_from_path(tmp_path: Path):
    path = tmp_path / "ssh_config"
    path.write_text(VAGRANT_OUTPUT)
    config = SSHConfigFile.from_path(path)
    assert config.path == path
    assert config.hosts == ["core-02", "core-01"]
    assert config.lookup("core-01").port == 2222


def test_cluster_lists_machines_sorted_and_rejects_unknown(tmp_path: Path):
    from labs import Cluster, UnknownMachine
    path = tmp_path / "ssh_config"
    path.write_text(VAGRANT_OUTPUT)
    cluster = Cluster.from_ssh_config(path)
    assert cluster.machines == ["core-01", "core-02"]
    assert cluster["core-02"].config.port == 2223
    with pytest.raises(UnknownMachine) as error:
        cluster["core-09"]
    assert "core-09" in str(error.value) and "core-01, core-02" in str(error.value)
    assert cluster.select("all") == ["core-01", "core-02"]
    assert cluster.select("core-02,core-01") == ["core-01", "core-02"]


def test_missing_ssh_config_suggests_make_cluster(tmp_path: Path, monkeypatch):
    from labs import Cluster, ClusterNotRunning
    from labs.cluster import default_ssh_config_path
    monkeypatch.setenv("LAB_HOME", str(tmp_path))
    monkeypatch.delenv("LAB_SSH_CONFIG", raising=False)
    assert default_ssh_config_path() == tmp_path.resolve() / "ssh_config"
    with pytest.raises(ClusterNotRunning, match="make cluster"):
        Cluster.from_ssh_config()
    monkeypatch.setenv("LAB_SSH_CONFIG", str(tmp_path / "other"))
    assert default_ssh_config_path() == (tmp_path / "other").resolve()


def test_unreachable_machine_names_it_and_suggests_resume(tmp_path: Path):
    import socket
    from labs import Cluster, MachineDown
    with socket.socket() as probe:           # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = tmp_path / "ssh_config"
    path.write_text(f"Host core-07\n  HostName 127.0.0.1\n  Port {port}\n  User core\n")
    with pytest.raises(MachineDown) as error:
        Cluster.from_ssh_config(path)["core-07"].run("true")
    assert "core-07" in str(error.value) and "lab resume core-07" in str(error.value)


def test_package_import_stays_light():
    import subprocess
    import sys
    code = ("import sys, labs; assert not {'paramiko', 'ipywidgets', 'docker', 'etcd'} & "
            "set(sys.modules), sorted(sys.modules); print(labs.Cluster.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Cluster"
