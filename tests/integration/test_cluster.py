"""The lab cluster, checked the way a learner uses it: ssh and vagrant on the host."""

from __future__ import annotations

import json
import re
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from labs.launcher import lifecycle
from labs.launcher.settings import VAGRANT_DIR
from labs.launcher.vagrant import environment
from labs.polling import wait_for

MACHINES = ["core-01", "core-02", "core-03"]


def on(settings, machine: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run COMMAND on MACHINE through the lab's ssh_config, as `ssh -F .lab/ssh_config` would."""
    result = subprocess.run(["ssh", "-F", str(settings.path("ssh_config")), machine, command],
                            capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, f"{machine}: {command!r} -> {result.returncode}: {result.stderr}"
    return result


def lab(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(os.sys.executable).parent / "lab"), *args], text=True,
                          capture_output=True, env=dict(os.environ, LAB_HOME=settings.state),
                          timeout=600)


def test_vagrant_status_lists_the_three_machines(lab_cluster):
    out = subprocess.run(["vagrant", "status"], cwd=VAGRANT_DIR, env=environment(lab_cluster),
                         capture_output=True, text=True, check=True).stdout
    for machine in MACHINES:
        assert re.search(rf"^{machine}\s+running \(docker\)$", out, re.M), out


def test_etcdctl_set_on_one_machine_is_read_on_another(lab_cluster):
    assert on(lab_cluster, "core-01", "etcdctl set /message hi").stdout == "hi\n"
    # etcdctl asks a member at random, and a plain read may lag the write by a moment (flake 27):
    # a quorum read returns what was committed
    assert on(lab_cluster, "core-03", "etcdctl get --quorum /message").stdout == "hi\n"


def test_v2_keys_api_on_the_legacy_port_4001(lab_cluster):
    out = on(lab_cluster, "core-02",
             'curl -sL -X PUT http://127.0.0.1:4001/v2/keys/message -d value="Hi"').stdout
    reply = json.loads(out)
    assert reply["action"] == "set"
    assert reply["node"]["key"] == "/message" and reply["node"]["value"] == "Hi"


@pytest.mark.parametrize("machine", MACHINES)
def test_busybox_runs_on_every_machine(lab_cluster, machine):
    assert on(lab_cluster, machine, "docker run --rm busybox echo hi").stdout == "hi\n"


@pytest.mark.parametrize("machine", MACHINES)
def test_docker0_is_172_17_0_1_on_every_machine(lab_cluster, machine):
    assert "inet 172.17.0.1/16" in on(lab_cluster, machine, "ip -4 addr show docker0").stdout


@pytest.mark.parametrize("machine", MACHINES)
def test_systemd_is_running_with_no_failed_units(lab_cluster, machine):
    assert on(lab_cluster, machine, "systemctl is-system-running").stdout.strip() == "running"


def test_machine_ids_are_unique(lab_cluster):
    ids = {m: on(lab_cluster, m, "cat /etc/machine-id").stdout.strip() for m in MACHINES}
    assert len(set(ids.values())) == 3, ids
    assert all(len(value) == 32 for value in ids.values())


def test_machine_addresses_are_fixed_and_outside_docker0(lab_cluster):
    for index, machine in enumerate(MACHINES, start=1):
        env = on(lab_cluster, machine, "cat /etc/environment").stdout
        assert f"COREOS_PRIVATE_IPV4={lab_cluster.machine_ip(index)}\n" in env
        assert f"COREOS_PUBLIC_IPV4={lab_cluster.machine_ip(index)}\n" in env
        assert not lab_cluster.machine_ip(index).startswith("172.17.")


def test_etcd_cluster_health_has_three_healthy_members(lab_cluster):
    out = on(lab_cluster, "core-01", "etcdctl cluster-health").stdout
    assert out.count("is healthy: got healthy result") == 3
    assert out.rstrip().endswith("cluster is healthy")


def test_members_registered_through_the_discovery_service(lab_cluster, cluster):
    """Found as notebook 01 finds it: a `vagrant up` or notebook 01's re-provisioning since the
    cluster formed uploads a fresh token, which the drop-ins then name (members with data ignore it)."""
    from labs.exercises.vagrant import cluster_discovery_url
    token = cluster_discovery_url(cluster).rsplit("/", 1)[1]
    with urllib.request.urlopen(f"{lab_cluster.discovery_host_url}/{token}") as reply:
        registry = json.load(reply)
    members = [node["value"] for node in registry["node"]["nodes"]]
    assert len(members) == 3
    for index in range(1, 4):
        assert any(f"http://{lab_cluster.machine_ip(index)}:2380" in m for m in members)


def test_cloud_config_was_applied_and_logged(lab_cluster):
    journal = on(lab_cluster, "core-02", "journalctl --identifier=coreos-cloudinit --no-pager").stdout
    assert "Wrote etcd2 settings" in journal
    dropin = on(lab_cluster, "core-02",
                "cat /run/systemd/system/etcd2.service.d/20-cloudinit.conf").stdout
    assert f'ETCD_ADVERTISE_CLIENT_URLS=http://{lab_cluster.machine_ip(2)}:2379' in dropin
    assert on(lab_cluster, "core-02", "systemctl is-active docker-tcp.socket").stdout == "active\n"


def test_ssh_and_etcd_and_docker_are_not_published_to_the_host(lab_cluster):
    container = lab_cluster.container_name("core-01")
    ports = subprocess.run(["docker", "port", container], capture_output=True, text=True,
                           check=True).stdout.split("\n")
    assert [p for p in ports if p] == [f"22/tcp -> 127.0.0.1:{lab_cluster.ssh_port(1)}"]


def test_agent_forwarding_from_vagrant_ssh_reaches_core_02(lab_cluster, tmp_path):
    agent_socket = tmp_path / "agent.sock"
    agent = subprocess.run(["ssh-agent", "-a", str(agent_socket)], capture_output=True, text=True,
                           check=True)
    agent_pid = agent.stdout.split("SSH_AGENT_PID=", 1)[1].split(";", 1)[0]
    env = dict(environment(lab_cluster), SSH_AUTH_SOCK=str(agent_socket))
    try:
        subprocess.run(["ssh-add", os.path.expanduser(lab_cluster.login_key)],
                       env=env, check=True, capture_output=True)
        result = subprocess.run(
            ["vagrant", "ssh", "core-01", "--", "-A", "ssh-add -l && ssh core-02 hostname"],
            cwd=VAGRANT_DIR, env=env, capture_output=True, text=True, timeout=120)
    finally:
        subprocess.run(["kill", agent_pid], check=False)
    assert result.returncode == 0, result.stderr
    assert "(RSA)" in result.stdout
    assert result.stdout.rstrip().endswith("core-02")


def test_lab_status_table(lab_cluster):
    out = lab(lab_cluster, "status").stdout.splitlines()
    assert out[0].split()[:3] == ["machine", "state", "IP"]      # the dashboard's table
    assert [line.split()[0] for line in out[1:]] == MACHINES
    assert all(line.split()[1] == "running" for line in out[1:])
    leaders = {line.split()[5] for line in out[1:]}            # after "yes (leader|follower)"
    assert len(leaders) == 1 and leaders <= set(MACHINES), out


def test_unknown_machine_is_named_with_the_known_ones(lab_cluster):
    result = lab(lab_cluster, "halt", "core-09")
    assert result.returncode == 1
    assert "unknown machine 'core-09'" in result.stderr
    assert "core-01, core-02, core-03" in result.stderr


def test_lab_up_twice_is_a_no_op_on_a_healthy_cluster(lab_cluster):
    result = lab(lab_cluster, "up")
    assert result.returncode == 0, result.stderr
    assert "already up and healthy" in result.stdout


def test_discovery_new_prints_a_fresh_url(lab_cluster):
    first = lab(lab_cluster, "discovery", "new", "--size", "3").stdout.strip()
    second = lab(lab_cluster, "discovery", "new", "--size", "3").stdout.strip()
    assert first.startswith(lab_cluster.discovery_internal_url + "/") and first != second
    token = first.rsplit("/", 1)[1]
    with urllib.request.urlopen(f"{lab_cluster.discovery_host_url}/{token}/_config/size") as reply:
        assert json.load(reply)["node"]["value"] == "3"


def test_quorum_survives_one_halted_machine_and_it_rejoins(lab_cluster):
    halted = lab(lab_cluster, "halt", "core-02")
    assert halted.returncode == 0, halted.stderr
    try:
        assert on(lab_cluster, "core-01", "etcdctl set /during-halt still-works").stdout == "still-works\n"
        assert on(lab_cluster, "core-03", "etcdctl get --quorum /during-halt").stdout == "still-works\n"
    finally:
        resumed = lab(lab_cluster, "resume", "core-02")
    assert resumed.returncode == 0, resumed.stderr
    # the member that rejoined serves, from its own copy, what was written while it was down
    # (it catches up a moment after it answers again)
    wait_for(lambda: on(lab_cluster, "core-02", "etcdctl --no-sync get /during-halt", check=False).stdout
             == "still-works\n", 10, "core-02's own member to read /during-halt")
    assert on(lab_cluster, "core-02", "etcdctl cluster-health").stdout.count("is healthy: got healthy result") == 3


def test_reset_gives_a_fresh_cluster(lab_cluster):
    on(lab_cluster, "core-01", "etcdctl set /before-reset x && docker run -d --name sleeper busybox sleep 600")
    result = lab(lab_cluster, "reset")
    assert result.returncode == 0, result.stderr
    assert on(lab_cluster, "core-02", "etcdctl get /before-reset", check=False).returncode != 0
    assert on(lab_cluster, "core-01", "docker ps -aq").stdout == ""
    assert on(lab_cluster, "core-03", "etcdctl cluster-health").stdout.count("is healthy: got healthy result") == 3
    assert lifecycle.healthy(lab_cluster)


def test_vagrant_up_typed_by_hand_prepares_and_mints_a_token_as_in_2015(lab_cluster):
    """`vagrant halt core-02 && vagrant up core-02` in vagrant/, without `lab`: the Vagrantfile
    asks the lab to prepare, and config.rb asks it for a fresh token in the uploaded copy."""
    before = lab_cluster.path("user-data").read_text()
    env = environment(lab_cluster)
    assert "LAB_PREPARED" not in env
    try:
        for command in (["vagrant", "halt", "core-02"], ["vagrant", "up", "core-02"]):
            done = subprocess.run(command, cwd=VAGRANT_DIR, env=env, capture_output=True,
                                  text=True, timeout=600)
            assert done.returncode == 0, done.stdout + done.stderr
        lifecycle.wait_for_health(lab_cluster, machines=["core-02"])
        after = lab_cluster.path("user-data").read_text()
        url = re.compile(r"discovery: (\S+)")
        assert url.search(after).group(1) != url.search(before).group(1)
        assert url.sub("", after) == url.sub("", before)
        assert on(lab_cluster, "core-02", "hostname").stdout == "core-02\n"
    finally:   # core-02 named the new token, the others the cluster's: give it the cluster's back
        lab_cluster.path("user-data").write_text(before)
        subprocess.run(["vagrant", "provision", "core-02"], cwd=VAGRANT_DIR, env=env,
                       capture_output=True, timeout=600)


def test_vagrant_provision_uploads_user_data_with_the_clusters_own_token(lab_cluster):
    """`vagrant provision core-02` (coreos-vagrant's way to apply an edited user-data): the
    uploaded copy keeps the discovery URL the cluster formed under."""
    before = lab_cluster.path("user-data").read_text()
    done = subprocess.run(["vagrant", "provision", "core-02"], cwd=VAGRANT_DIR,
                          env=environment(lab_cluster), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert lab_cluster.path("user-data").read_text() == before
    uploaded = on(lab_cluster, "core-02", "cat /var/lib/coreos-vagrant/vagrantfile-user-data").stdout
    assert uploaded == before
