"""fleetd configuration, machine identity and the systemctl layer."""

import subprocess

import pytest

from labs.node.fleet.config import Config, ConfigError, load_config, parse_duration
from labs.node.fleet.machine import MachineIDError, detect_public_ip, parse_metadata, read_machine_id
from labs.node.fleet.systemd import SystemctlManager, parse_show_output


def test_defaults_are_fleet_2015_defaults(tmp_path):
    config = load_config(str(tmp_path / "missing.conf"), environ={})
    assert config == Config()
    assert (config.agent_ttl, config.engine_reconcile_interval, config.etcd_request_timeout) == (30.0, 2.0, 1.0)
    assert config.etcd_servers == ["http://127.0.0.1:2379", "http://127.0.0.1:4001"]
    assert config.etcd_key_prefix == "/_coreos.com/fleet/" and config.units_directory == "/run/fleet/units/"


def test_env_overrides_file_overrides_defaults(tmp_path):
    conf = tmp_path / "fleet.conf"
    conf.write_text('# comment\nagent_ttl = "10s"\nmetadata="region=us-west"\npublic_ip=10.0.0.9\n'
                    'etcd_servers=["http://a:2379","http://b:2379"]\n')
    config = load_config(str(conf), environ={"FLEET_AGENT_TTL": "3s", "FLEET_DISABLE_ENGINE": "true",
                                             "FLEET_ENGINE_RECONCILE_INTERVAL": "0.5"})
    assert (config.agent_ttl, config.metadata, config.public_ip) == (3.0, "region=us-west", "10.0.0.9")
    assert config.etcd_servers == ["http://a:2379", "http://b:2379"]
    assert config.disable_engine is True and config.engine_reconcile_interval == 0.5
    with pytest.raises(ConfigError):
        load_config(str(conf), environ={"FLEET_AGENT_TTL": "soon"})


def test_go_durations():
    assert parse_duration("1m30s") == 90 and parse_duration("500ms") == 0.5
    with pytest.raises(ValueError):
        parse_duration("30")


def test_metadata_parsing():
    assert parse_metadata("'region=us-west, az = b,bogus,role=a,role=b'") == {
        "region": "us-west", "az": "b", "role": "b"}
    assert parse_metadata("") == {}


def test_machine_id(tmp_path):
    path = tmp_path / "machine-id"
    path.write_text("  abc123\n")
    assert read_machine_id(str(path)) == "abc123"
    path.write_text("\n")
    with pytest.raises(MachineIDError, match="unable to determine local machine ID"):
        read_machine_id(str(path))


def test_public_ip_from_default_route_interface():
    outputs = {"route": "default via 10.0.0.1 dev eth0 proto static\n",
               "addr": "2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\\n"}

    def fake_run(command, **_):
        return subprocess.CompletedProcess(command, 0, outputs["route" if "route" in command else "addr"], "")
    assert detect_public_ip(fake_run) == "10.0.0.5"


def test_systemctl_commands(tmp_path):
    log = tmp_path / "calls"
    script = tmp_path / "systemctl"
    script.write_text('#!/bin/sh\necho "$@" >> %s\n'
                      'if [ "$1" = show ]; then printf "Id=a.service\\nLoadState=loaded\\nActiveState=active\\n'
                      'SubState=running\\n\\nId=b.service\\nLoadState=not-found\\nActiveState=inactive\\n'
                      'SubState=dead\\n"; fi\n' % log)
    script.chmod(0o755)
    manager = SystemctlManager(str(tmp_path / "units"), systemctl=str(script))
    manager.load("a.service", "[Service]\nExecStart=/bin/true\n", has_install_section=True)
    manager.start("a.service")
    manager.reload()
    assert manager.unit_names() == ["a.service"]
    assert manager.states(["a.service", "b.service"]) == {
        "a.service": ("loaded", "active", "running"), "b.service": ("not-found", "inactive", "dead")}
    manager.unload("a.service")
    path = tmp_path / "units" / "a.service"
    assert not path.exists()
    assert log.read_text().splitlines() == [
        "link --runtime --force %s" % path, "enable --runtime --force %s" % path, "start --no-block a.service",
        "daemon-reload", "show --property=Id,LoadState,ActiveState,SubState a.service b.service",
        "stop --no-block a.service", "disable --runtime a.service", "reset-failed a.service"]


def test_show_output_parsing_keeps_argument_order():
    output = "Id=x.service\nLoadState=loaded\nActiveState=failed\nSubState=failed\n"
    assert parse_show_output(output, ["x.service"]) == {"x.service": ("loaded", "failed", "failed")}


def test_settings_fleetd_does_not_act_on_are_said_in_the_log():
    """verify_units and authorized_keys_file as v1.0.0 logs them; enable_grpc and TLS files
    for plain-http etcd servers are refused the same way, never silently dropped (issue 10, item 5)."""
    from labs.node.fleet.fleetd import config_problems

    assert config_problems(Config()) == []
    assert config_problems(Config(verify_units=True, authorized_keys_file="/home/core/.ssh/authorized_keys",
                                  enable_grpc=True, etcd_cafile="/etc/ssl/ca.pem")) == [
        "Config option verify_units is no longer supported - ignoring",
        "Config option authorized_keys_file is no longer supported - ignoring",
        "Config option enable_grpc is not supported by this fleet (no gRPC registry) - ignoring",
        "Config options etcd_cafile, etcd_certfile and etcd_keyfile secure https:// etcd_servers only; "
        "none of http://127.0.0.1:2379,http://127.0.0.1:4001 is one"]


def test_fleetd_reaches_etcd_over_tls_with_its_client_certificate(tls_etcd, prefix):
    from labs.node.fleet.fleetd import build_registry
    from labs.node.fleet.schema import MachineState

    url, files = tls_etcd
    config = Config(etcd_servers=[url], etcd_key_prefix=prefix, etcd_cafile=files["ca"],
                    etcd_certfile=files["client-cert"], etcd_keyfile=files["client-key"])
    registry = build_registry(config)
    registry.register_machine(MachineState("1" * 32, "10.0.0.1", {}), ttl=30)
    assert [m.id for m in registry.machines()] == ["1" * 32]


def test_systemd_user_drives_the_users_systemd(tmp_path):
    log = tmp_path / "calls"
    script = tmp_path / "systemctl"
    script.write_text('#!/bin/sh\necho "$@" >> %s\n' % log)
    script.chmod(0o755)
    machine_id = tmp_path / "machine-id"
    machine_id.write_text("1" * 32 + "\n")
    from labs.node.fleet.fleetd import build_server

    server = build_server(Config(systemd_user=True, public_ip="10.0.0.1", units_directory=str(tmp_path / "u")),
                          str(machine_id))
    server.agent.systemd.systemctl[0] = str(script)
    server.agent.systemd.start("a.service")
    assert log.read_text() == "--user start --no-block a.service\n"


def test_fleet_tests_fail_without_etcd():
    """The etcd-backed fleet tests fail, not skip, when etcd is missing (issue 10, item 7)."""
    from fleet_testkit import require_etcd

    with pytest.raises(pytest.fail.Exception, match="etcd-server"):
        require_etcd("/nonexistent/etcd")


def test_test_etcd_starts_again_when_its_port_was_taken_meanwhile(tmp_path, monkeypatch):
    """A port taken between choosing it and etcd binding it costs one retry, not a failed test (flake 23)."""
    import socket

    import fleet_testkit

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        real_free_port = fleet_testkit.free_port
        handed_out = iter([taken])
        monkeypatch.setattr(fleet_testkit, "free_port", lambda: next(handed_out, None) or real_free_port())
        url, process, log_file = fleet_testkit.start_etcd(tmp_path)
    try:
        assert not url.endswith(":%d" % taken)
        assert fleet_testkit._serving(url)
    finally:
        fleet_testkit.stop_etcd(process, log_file, tmp_path)


def test_fleetd_authenticates_to_etcd_with_its_username_and_password(tmp_path):
    """etcd_username/etcd_password reach etcd (v2 auth): the right password works, a wrong one fails."""
    import json
    import urllib.request

    import etcd

    from fleet_testkit import start_etcd, stop_etcd
    from labs.node.fleet.fleetd import build_registry

    url, process, log_file = start_etcd(tmp_path)
    try:
        for path, body in (("/v2/auth/users/root", {"user": "root", "password": "secret"}), ("/v2/auth/enable", None)):
            request = urllib.request.Request(url + path, data=json.dumps(body).encode() if body else b"",
                                             method="PUT", headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=60).close()
        # generous timeouts: etcd checks a password with bcrypt, slow on a busy host
        right = build_registry(Config(etcd_servers=[url], etcd_username="root", etcd_password="secret",
                                      etcd_request_timeout=30))
        assert right.machines() == []
        wrong = build_registry(Config(etcd_servers=[url], etcd_username="root", etcd_password="wrong",
                                      etcd_request_timeout=30))
        with pytest.raises(etcd.EtcdInsufficientPermissions):
            wrong.machines()
    finally:
        stop_etcd(process, log_file, tmp_path)
