"""labs.node.cloudinit: the CLI, and applying a cloud-config into a temporary root with a fake runner."""

import base64
import os
import stat

import pytest
from test_cloudconfig import DISCOVERY, SAMPLE

from labs.node import cloudinit
from labs.node.cloudconfig import CloudConfigError

ENV = {"COREOS_PUBLIC_IPV4": "192.0.2.11", "COREOS_PRIVATE_IPV4": "10.17.3.11"}
# core's ids in the fake /etc/passwd: ones chown can give here, and not the default owner if root.
UID, GID = (500, 500) if os.getuid() == 0 else (os.getuid(), os.getgid())


class FakeRunner:
    """Records each command; exits with `statuses[command name]` (default 0); useradd adds to passwd."""

    def __init__(self, root, statuses=None):
        self.root = root
        self.statuses = statuses or {}
        self.commands = []

    def __call__(self, argv):
        self.commands.append(list(argv))
        if argv[0] == "useradd":
            with open(self.root / "etc/passwd", "a") as passwd:
                passwd.write(f"{argv[-1]}:x:{UID}:{GID}::/home/{argv[-1]}:/bin/bash\n")
        return self.statuses.get(argv[0], 0)


@pytest.fixture
def root(tmp_path):
    """A machine root where `core` exists and maps to the test's own uid/gid (so chown works)."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(
        f"root:x:0:0:root:/root:/bin/bash\ncore:x:{UID}:{GID}:CoreOS Admin:/home/core:/bin/bash\n"
    )
    (tmp_path / "etc/group").write_text(f"root:x:0:\ncore:x:{GID}:\n")
    return tmp_path


@pytest.fixture
def runner(root):
    return FakeRunner(root)


def apply(text, root, runner, env=ENV):
    return cloudinit.apply(text, root=root, run=runner, env=env)


def files_under(root):
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if not path.is_dir())


# --- applying the shipped sample -------------------------------------------------------------


def test_sample_writes_the_etcd2_dropin_with_addresses_substituted(root, runner):
    assert apply(SAMPLE, root, runner) == []
    assert (root / "run/systemd/system/etcd2.service.d/20-cloudinit.conf").read_text() == (
        "[Service]\n"
        'Environment="ETCD_ADVERTISE_CLIENT_URLS=http://192.0.2.11:2379"\n'
        f'Environment="ETCD_DISCOVERY={DISCOVERY}"\n'
        'Environment="ETCD_INITIAL_ADVERTISE_PEER_URLS=http://10.17.3.11:2380"\n'
        'Environment="ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379,http://0.0.0.0:4001"\n'
        'Environment="ETCD_LISTEN_PEER_URLS=http://10.17.3.11:2380"\n'
    )


def test_sample_writes_the_fleet_dropin(root, runner):
    apply(SAMPLE, root, runner)
    assert (root / "run/systemd/system/fleet.service.d/20-cloudinit.conf").read_text() == (
        '[Service]\nEnvironment="FLEET_METADATA=role=worker"\nEnvironment="FLEET_PUBLIC_IP=192.0.2.11"\n'
    )


def test_sample_writes_exactly_its_files(root, runner):
    apply(SAMPLE, root, runner)
    assert files_under(root) == [
        "etc/coreos/update.conf",
        "etc/group",
        "etc/passwd",
        "etc/systemd/system/docker-tcp.socket",
        "run/systemd/system/etcd2.service.d/20-cloudinit.conf",
        "run/systemd/system/fleet.service.d/20-cloudinit.conf",
    ]
    socket = root / "etc/systemd/system/docker-tcp.socket"
    assert socket.read_text() == (
        "[Unit]\nDescription=Docker Socket for the API\n\n"
        "[Socket]\nListenStream=2375\nService=docker.service\nBindIPv6Only=both\n\n"
        "[Install]\nWantedBy=sockets.target\n"
    )
    assert stat.S_IMODE(socket.stat().st_mode) == 0o644
    assert (root / "etc/coreos/update.conf").read_text() == "REBOOT_STRATEGY=off\n"


def test_sample_runs_reload_once_then_enable_then_nonblocking_starts(root, runner):
    apply(SAMPLE, root, runner)
    assert runner.commands == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--no-reload", "docker-tcp.socket"],
        ["systemctl", "start", "--no-block", "etcd2.service"],
        ["systemctl", "start", "--no-block", "fleet.service"],
        ["systemctl", "start", "--no-block", "docker-tcp.socket"],
    ]


def test_addresses_fall_back_to_etc_environment(root, runner):
    (root / "etc/environment").write_text(
        '# written by the Vagrantfile\nCOREOS_PUBLIC_IPV4=192.0.2.12\nCOREOS_PRIVATE_IPV4="10.17.3.12"\n'
    )
    apply(SAMPLE, root, runner, env={"COREOS_PUBLIC_IPV4": "192.0.2.99"})
    dropin = (root / "run/systemd/system/etcd2.service.d/20-cloudinit.conf").read_text()
    assert "ETCD_ADVERTISE_CLIENT_URLS=http://192.0.2.99:2379" in dropin
    assert "ETCD_LISTEN_PEER_URLS=http://10.17.3.12:2380" in dropin


# --- units -----------------------------------------------------------------------------------

UNITS = """\
#cloud-config
coreos:
  units:
    - name: hello.service
      runtime: true
      enable: true
      command: restart
      content: |
        [Service]
        ExecStart=/bin/true
    - name: docker.service
      drop-ins:
        - name: 50-insecure-registry.conf
          content: |
            [Service]
            Environment=DOCKER_OPTS=--insecure-registry=10.0.0.0/8
        - name: 60-empty.conf
    - name: update-engine.service
      mask: true
      command: stop
    - name: locksmithd.service
      runtime: true
      mask: true
    - name: 10-eth1.network
      enable: true
      command: start
      content: |
        [Match]
        Name=eth1
    - name: 20-eth2.network
      content: "[Match]\\nName=eth2\\n"
"""


def test_units_go_to_etc_or_run_with_their_dropins(root, runner):
    assert apply(UNITS, root, runner) == []
    assert (root / "run/systemd/system/hello.service").read_text() == "[Service]\nExecStart=/bin/true\n"
    assert not (root / "etc/systemd/system/hello.service").exists()
    assert (root / "etc/systemd/system/docker.service.d/50-insecure-registry.conf").read_text() == (
        "[Service]\nEnvironment=DOCKER_OPTS=--insecure-registry=10.0.0.0/8\n"
    )
    assert not (root / "etc/systemd/system/docker.service.d/60-empty.conf").exists()
    assert not (root / "etc/systemd/system/docker.service").exists()
    assert (root / "etc/systemd/network/10-eth1.network").read_text() == "[Match]\nName=eth1\n"


def test_masks_are_symlinks_to_dev_null(root, runner):
    apply(UNITS, root, runner)
    for mask in ("etc/systemd/system/update-engine.service", "run/systemd/system/locksmithd.service"):
        assert os.readlink(root / mask) == "/dev/null"


def test_a_runtime_unit_that_is_no_longer_masked_is_unmasked(root, runner):
    runtime_mask = root / "run/systemd/system/locksmithd.service"
    runtime_mask.parent.mkdir(parents=True)
    runtime_mask.symlink_to("/dev/null")
    text = "#cloud-config\ncoreos:\n  units:\n    - name: locksmithd.service\n      runtime: true\n"
    apply(text, root, runner)
    assert not os.path.lexists(runtime_mask)
    assert runner.commands == [["systemctl", "daemon-reload"]]


def test_unit_commands_in_order_with_networkd_restarted_for_network_units(root, runner):
    apply(UNITS, root, runner)
    assert runner.commands == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--no-reload", "--runtime", "hello.service"],
        ["systemctl", "restart", "--no-block", "hello.service"],
        ["systemctl", "stop", "--no-block", "update-engine.service"],
        ["systemctl", "restart", "--no-block", "systemd-networkd.service"],
    ]


def test_commands_on_existing_units_need_no_reload(root, runner):
    text = "#cloud-config\ncoreos:\n  units:\n    - name: etcd2.service\n      command: start\n"
    apply(text, root, runner)
    assert runner.commands == [["systemctl", "start", "--no-block", "etcd2.service"]]


def test_a_failing_command_is_reported_and_the_rest_still_runs(root):
    failing = FakeRunner(root, statuses={"systemctl": 5})
    failures = apply(SAMPLE, root, failing)
    assert len(failing.commands) == 5
    assert failures[0] == "'systemctl daemon-reload' exited with status 5"
    assert len(failures) == 5


# --- service drop-ins and update.conf --------------------------------------------------------


def test_dropins_render_values_and_upstream_variable_names(root, runner):
    text = (
        "#cloud-config\n"
        "coreos:\n"
        "  etcd2:\n    proxy: on\n    heartbeat-interval: 100\n    debug: false\n    name: ''\n"
        "  etcd:\n    snapshot_count: 5\n"
        "  flannel:\n    interface: $public_ipv4\n"
        "  locksmith:\n    group: lab\n    window_start: Thu 04:00\n    window-length: 1h\n"
    )
    apply(text, root, runner)
    dropins = root / "run/systemd/system"
    assert (dropins / "etcd2.service.d/20-cloudinit.conf").read_text() == (
        "[Service]\n"
        'Environment="ETCD_DEBUG=false"\n'
        'Environment="ETCD_HEARTBEAT_INTERVAL=100"\n'
        'Environment="ETCD_PROXY=on"\n'
    )
    assert (dropins / "etcd.service.d/20-cloudinit.conf").read_text() == (
        '[Service]\nEnvironment="ETCD_SNAPSHOTCOUNT=5"\n'
    )
    assert (dropins / "flanneld.service.d/20-cloudinit.conf").read_text() == (
        '[Service]\nEnvironment="FLANNELD_IFACE=192.0.2.11"\n'
    )
    assert (dropins / "locksmithd.service.d/20-cloudinit.conf").read_text() == (
        "[Service]\n"
        'Environment="LOCKSMITHD_GROUP=lab"\n'
        'Environment="REBOOT_WINDOW_LENGTH=1h"\n'
        'Environment="REBOOT_WINDOW_START=Thu 04:00"\n'
    )
    assert runner.commands == [["systemctl", "daemon-reload"]]


def test_update_conf_is_merged_into_the_existing_file(root, runner):
    update_conf = root / "etc/coreos/update.conf"
    update_conf.parent.mkdir(parents=True)
    update_conf.write_text("GROUP=alpha\n# keep me\nREBOOT_STRATEGY=reboot\nLOCKSMITHD_ENDPOINT=x\n")
    text = (
        "#cloud-config\ncoreos:\n  update:\n"
        "    reboot-strategy: off\n    group: stable\n    server: https://u.example/v1/update/\n"
    )
    apply(text, root, runner)
    assert update_conf.read_text() == (
        "GROUP=stable\n# keep me\nREBOOT_STRATEGY=off\nLOCKSMITHD_ENDPOINT=x\nSERVER=https://u.example/v1/update/\n"
    )


# --- files, hostname, users, keys ------------------------------------------------------------


def test_write_files_decodes_sets_mode_and_owner(root, runner, capsys):
    encoded = base64.b64encode(b"\x00binary\n").decode()
    text = (
        "#cloud-config\n"
        "write_files:\n"
        "  - path: /etc/motd\n    content: Welcome to $private_ipv4\n"
        "  - path: /opt/bin/blob\n    encoding: b64\n    content: "
        + encoded
        + "\n    permissions: '0755'\n    owner: core:core\n"
        "  - path: /etc/owned-by-ghost\n    content: x\n    owner: ghost\n"
    )
    assert apply(text, root, runner) == []
    motd = root / "etc/motd"
    assert motd.read_text() == "Welcome to 10.17.3.11"
    assert stat.S_IMODE(motd.stat().st_mode) == 0o644
    blob = root / "opt/bin/blob"
    assert blob.read_bytes() == b"\x00binary\n"
    assert stat.S_IMODE(blob.stat().st_mode) == 0o755
    assert (blob.stat().st_uid, blob.stat().st_gid) == (UID, GID)
    assert (root / "etc/owned-by-ghost").read_text() == "x"
    assert "owner 'ghost' of /etc/owned-by-ghost does not exist here" in capsys.readouterr().err


def test_hostname_is_written_and_set(root, runner):
    assert apply("#cloud-config\nhostname: core-01\n", root, runner) == []
    assert (root / "etc/hostname").read_text() == "core-01\n"
    assert runner.commands == [["hostname", "core-01"]]


def test_a_refused_hostname_command_is_only_a_warning(root, capsys):
    refusing = FakeRunner(root, statuses={"hostname": 1})
    assert apply("#cloud-config\nhostname: core-01\n", root, refusing) == []
    assert (root / "etc/hostname").read_text() == "core-01\n"
    assert "warning: 'hostname core-01' exited with status 1" in capsys.readouterr().err


KEYS_DIR = "home/core/.ssh/authorized_keys.d"


def test_ssh_keys_regenerate_authorized_keys_keeping_the_old_ones(root, runner):
    ssh_dir = root / "home/core/.ssh"
    ssh_dir.mkdir(parents=True)
    (ssh_dir / "authorized_keys").write_text("ssh-rsa VAGRANT vagrant insecure public key\n")
    text = "#cloud-config\nssh_authorized_keys:\n  - ssh-ed25519 AAAA1 alice\n  - '  ssh-rsa AAAA2 bob  '\n"
    assert apply(text, root, runner) == []
    assert (
        root / KEYS_DIR / "coreos-cloudinit"
    ).read_text() == "ssh-ed25519 AAAA1 alice\nssh-rsa AAAA2 bob\n"
    assert (
        root / KEYS_DIR / "old_authorized_keys"
    ).read_text() == "ssh-rsa VAGRANT vagrant insecure public key\n"
    assert (ssh_dir / "authorized_keys").read_text() == (
        "# auto-generated by update-ssh-keys\n"
        "ssh-ed25519 AAAA1 alice\nssh-rsa AAAA2 bob\n"
        "ssh-rsa VAGRANT vagrant insecure public key\n"
    )
    for path, mode in (
        (ssh_dir, 0o700),
        (root / KEYS_DIR, 0o700),
        (ssh_dir / "authorized_keys", 0o600),
        (root / KEYS_DIR / "coreos-cloudinit", 0o600),
    ):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
        assert (path.stat().st_uid, path.stat().st_gid) == (UID, GID)


def test_ssh_keys_replace_only_their_own_file_on_a_second_run(root, runner):
    apply("#cloud-config\nssh_authorized_keys:\n  - ssh-rsa FIRST\n", root, runner)
    (root / KEYS_DIR / "vagrant").write_text("ssh-rsa VAGRANT")
    apply("#cloud-config\nssh_authorized_keys:\n  - ssh-rsa SECOND\n", root, runner)
    assert sorted(os.listdir(root / KEYS_DIR)) == ["coreos-cloudinit", "vagrant"]
    assert (root / "home/core/.ssh/authorized_keys").read_text() == (
        "# auto-generated by update-ssh-keys\nssh-rsa SECOND\nssh-rsa VAGRANT\n"
    )


def test_ssh_keys_without_a_core_user_fail(root, runner):
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    failures = apply("#cloud-config\nssh_authorized_keys:\n  - ssh-rsa A\n", root, runner)
    assert failures == ["cannot authorize SSH keys: no user 'core'"]


USERS = """\
#cloud-config
users:
  - name: elroy
    passwd: $6$5s2u6/jR$un0AvWnqilcgaNB3Mkxd5yYv6mTlWfOoCYHZmfi3LDKVltj.E8XNKEcwWm
    gecos: Elroy Jetson
    groups: [sudo, docker]
    shell: /bin/bash
    ssh-authorized-keys:
      - ssh-rsa ELROY
  - name: core
    passwd: $6$hash
  - name: svc
    system: true
    no-create-home: true
    primary-group: daemon
"""


def test_users_are_created_or_updated(root, runner):
    assert apply(USERS, root, runner) == []
    assert runner.commands == [
        [
            "useradd",
            "--password",
            "$6$5s2u6/jR$un0AvWnqilcgaNB3Mkxd5yYv6mTlWfOoCYHZmfi3LDKVltj.E8XNKEcwWm",
            "--comment",
            "Elroy Jetson",
            "--shell",
            "/bin/bash",
            "--create-home",
            "--groups",
            "sudo,docker",
            "elroy",
        ],
        ["usermod", "--password", "$6$hash", "core"],
        ["useradd", "--password", "*", "--gid", "daemon", "--no-create-home", "--system", "svc"],
    ]
    assert (
        root / "home/elroy/.ssh/authorized_keys"
    ).read_text() == "# auto-generated by update-ssh-keys\nssh-rsa ELROY\n"


# --- invalid user-data and scripts -----------------------------------------------------------

INVALID = """\
#cloud-config
hostname: core-01
write_files:
  - path: /etc/a
    content: a
coreos:
  units:
    - name: a.service
      command: begin
"""


def test_invalid_user_data_applies_nothing(root, runner, capsys):
    with pytest.raises(CloudConfigError):
        apply(INVALID, root, runner)
    assert files_under(root) == ["etc/group", "etc/passwd"]
    assert runner.commands == []
    assert "line 9: error: invalid value begin" in capsys.readouterr().out


def test_a_script_is_saved_and_run_with_bash(root, runner):
    assert apply("#!/bin/bash\necho $private_ipv4\n", root, runner) == []
    script = root / "var/lib/coreos-cloudinit/scripts/user-data"
    assert script.read_text() == "#!/bin/bash\necho 10.17.3.11\n"
    assert runner.commands == [["bash", str(script)]]


# --- command line ----------------------------------------------------------------------------


@pytest.fixture
def user_data(tmp_path):
    def write(text):
        path = tmp_path / "user-data"
        path.write_text(text)
        return str(path)

    return write


@pytest.mark.parametrize("flag", ["-validate", "--validate"])
def test_validate_exits_0_and_prints_nothing_for_the_sample(user_data, capsys, flag):
    assert cloudinit.main([flag, "--from-file", user_data(SAMPLE)]) == 0
    assert capsys.readouterr().out == ""


def test_validate_exits_1_on_any_entry_even_a_warning(user_data, capsys):
    path = user_data("#cloud-config\nhostnam: core-01\n")
    assert cloudinit.main(["-validate", f"--from-file={path}"]) == 1
    assert capsys.readouterr().out == 'line 2: warning: unrecognized key "hostnam"\n'


def test_validate_exits_1_on_errors_and_lists_them(user_data, capsys):
    assert cloudinit.main(["-validate", "-from-file", user_data(INVALID)]) == 1
    assert capsys.readouterr().out == "line 9: error: invalid value begin\n"


def test_missing_source_exits_2_with_upstream_message(capsys):
    assert cloudinit.main(["-validate"]) == 2
    assert capsys.readouterr().err == (
        "Provide at least one of --from-file, --from-configdrive, --from-ec2-metadata, "
        "--from-cloudsigma-metadata, --from-packet-metadata, --from-digitalocean-metadata, "
        "--from-vmware-guestinfo, --from-waagent, --from-url or --from-proc-cmdline\n"
    )


def test_unreadable_file_exits_1_with_a_clear_message(tmp_path, capsys):
    missing = tmp_path / "no-such-user-data"
    assert cloudinit.main(["--from-file", str(missing)]) == 1
    assert f"Failed to read user-data from {missing}" in capsys.readouterr().err


def test_applying_invalid_user_data_from_the_cli_exits_1(user_data, capsys):
    assert cloudinit.main(["--from-file", user_data(INVALID)]) == 1
    assert "nothing was applied" in capsys.readouterr().err
