"""The host side of the lab without a cluster: naming, ports, validation, ssh_config, packaging."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from labs.launcher import hostkeys, resources, settings, userdata
from labs.errors import LabError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def registry(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_REGISTRY", str(tmp_path / "labs.json"))
    return tmp_path


def test_two_labs_get_different_names_networks_and_ports(registry):
    first = settings.load(registry / "checkout-a" / ".lab")
    second = settings.load(registry / "checkout-b" / ".lab")
    assert first.name != second.name
    assert first.network != second.network
    assert abs(first.ssh_port_base - second.ssh_port_base) >= settings.PORT_BLOCK


def test_labs_created_side_by_side_get_different_ports(registry):
    """`make test` boots its labs at once, and a classroom pre-warms many: each process must
    see the ports the others chose (it failed: two labs took 2222, one `lab up` failed)."""
    script = ("import sys; from pathlib import Path; from labs.launcher import settings; "
              "print(settings.load(Path(sys.argv[1])).ssh_port_base)")
    makers = [subprocess.Popen([sys.executable, "-c", script, str(registry / f"lab-{n}")],
                               stdout=subprocess.PIPE, text=True, cwd=ROOT) for n in range(6)]
    bases = [int(maker.communicate(timeout=60)[0]) for maker in makers]
    assert len(set(bases)) == len(bases), bases


def test_settings_are_stable_once_chosen(registry):
    directory = registry / "lab"
    assert settings.load(directory) == settings.load(directory)


def test_addresses_follow_coreos_vagrant_and_avoid_docker0(registry):
    lab = settings.load(registry / "lab")
    assert lab.machine_ip(1).endswith(".101") and lab.machine_ip(3).endswith(".103")
    assert not lab.subnet.startswith("172.17.")
    assert lab.ssh_port(2) == lab.ssh_port_base + 1


def test_a_busy_port_is_skipped_when_choosing(registry):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", settings.FIRST_SSH_PORT + 3))
        holder.listen()
        lab = settings.choose(registry / "x", taken_port_bases=set())
    assert lab.ssh_port_base != settings.FIRST_SSH_PORT


def test_a_port_in_use_is_a_clear_error():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(LabError, match=rf"port 127.0.0.1:{port} for core-01's SSH is already in use"):
            resources.require_free_port(port, "core-01's SSH")


def test_shipped_user_data_validates_clean():
    assert userdata.validate(userdata.SOURCE) == []


def test_broken_user_data_stops_the_launch_naming_line_and_key(tmp_path, capsys):
    broken = tmp_path / "user-data"
    broken.write_text("#cloud-config\ncoreos:\n  units:\n    - name: etcd2.service\n"
                      "      command: launch\n")
    with pytest.raises(LabError, match="nothing was started"):
        userdata.validate(broken)
    assert "line 5: error: invalid value launch" in capsys.readouterr().out


def test_lab_validate_command_exit_codes(tmp_path):
    broken = tmp_path / "user-data"
    broken.write_text("#cloud-config\nhostname: [oops\n")
    bad = subprocess.run([sys.executable, "-m", "labs.launcher.cli", "validate", str(broken)],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 1 and re.search(r"line \d+: error:", bad.stdout)
    good = subprocess.run([sys.executable, "-m", "labs.launcher.cli", "validate"], capture_output=True,
                          text=True, cwd=ROOT)
    assert (good.returncode, good.stdout) == (0, "")


def test_ssh_config_gets_pinned_host_keys(tmp_path):
    vagrant_output = ("Host core-01\n  HostName 127.0.0.1\n  Port 2222\n"
                      "  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n")
    pinned = hostkeys.pin_host_keys(vagrant_output, tmp_path / "known_hosts")
    assert f"UserKnownHostsFile {tmp_path / 'known_hosts'}" in pinned
    assert "StrictHostKeyChecking yes" in pinned and "/dev/null" not in pinned
    assert "Port 2222" in pinned


def test_failing_build_step_is_shown():
    from labs.launcher.image import failing_step
    log = "Step 1/3 : FROM x\n ---> abc\nStep 2/3 : RUN apt-get install nope\nE: Unable to locate package nope\n"
    assert failing_step(log) == "Step 2/3 : RUN apt-get install nope\nE: Unable to locate package nope"


def test_pyproject_and_environment_yml_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    pip_section = next(item["pip"] for item in environment if isinstance(item, dict))
    assert sorted(project) == sorted(dep for dep in pip_section if not dep.startswith("-e"))


def test_config_rb_asks_for_three_stable_machines():
    config = (ROOT / "vagrant" / "config.rb").read_text()
    assert re.search(r"^\$num_instances=3$", config, re.M)
    assert re.search(r"^\$update_channel='stable'$", config, re.M)


@pytest.mark.parametrize("args, options, command", [
    (["-A"], ["-A"], []),
    (["hostname"], [], ["hostname"]),
    (["-A", "-o", "LogLevel=ERROR", "ssh-add", "-l"], ["-A", "-o", "LogLevel=ERROR"], ["ssh-add", "-l"]),
])
def test_lab_ssh_puts_options_before_the_machine_and_the_command_after(args, options, command):
    from labs.launcher.cli import split_ssh_args
    assert split_ssh_args(args) == (options, command)
