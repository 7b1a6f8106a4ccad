"""The uploaded user-data: one renderer for config.rb's `vagrant up` and for `lab reset`."""

from __future__ import annotations

import http.server
import os
import threading

import pytest
import yaml

from labs.errors import LabError
from labs.launcher import settings, userdata

URL = "http://10.1.2.10:8087/abc123"


def parse(text: str) -> dict:
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)


def test_discovery_goes_where_2015_config_rb_put_it_in_etcd_and_etcd2():
    text = "#cloud-config\ncoreos:\n  etcd:\n    addr: $public_ipv4:4001\n  etcd2:\n    name: x\n"
    coreos = parse(userdata.with_discovery(text, URL))["coreos"]
    assert coreos["etcd"]["discovery"] == URL and coreos["etcd2"]["discovery"] == URL


def test_a_cloud_config_without_etcd_sections_is_copied_unchanged():
    text = "#cloud-config\nhostname: lonely\ncoreos:\n  fleet:\n    public-ip: $public_ipv4\n"
    assert parse(userdata.with_discovery(text, URL)) == yaml.safe_load(text)
    assert parse(userdata.with_discovery("#cloud-config\nhostname: h\n", URL)) == {"hostname": "h"}


def test_reboot_strategy_off_stays_the_string_off():
    text = "#cloud-config\ncoreos:\n  etcd2: {}\n  update:\n    reboot-strategy: off\n"
    rendered = userdata.with_discovery(text, URL)
    assert "reboot-strategy: 'off'" in rendered
    assert parse(rendered)["coreos"]["update"]["reboot-strategy"] == "off"


def test_the_shipped_user_data_changes_only_in_its_discovery_url():
    source = userdata.SOURCE.read_text()
    rendered = parse(userdata.with_discovery(source, URL))
    assert rendered["coreos"]["etcd2"].pop("discovery") == URL
    expected = yaml.safe_load(source)
    expected["coreos"]["update"]["reboot-strategy"] = "off"
    assert rendered == expected


@pytest.fixture
def discovery_service():
    """A real HTTP server answering /new like the lab's discovery service."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"http://10.1.2.10:8087/token-for-{self.path.split('size=')[1]}".encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_write_with_new_token_writes_the_uploaded_copy(tmp_path, monkeypatch, discovery_service):
    monkeypatch.setenv("LAB_REGISTRY", str(tmp_path / "labs.json"))
    lab = settings.load(tmp_path / "lab")
    text = userdata.write_with_new_token(lab, f"{discovery_service}/new?size=3")
    assert lab.path("user-data").read_text() == text
    assert parse(text)["coreos"]["etcd2"]["discovery"] == "http://10.1.2.10:8087/token-for-3"


def test_no_discovery_service_is_a_clear_error():
    with pytest.raises(LabError, match="no discovery token from http://127.0.0.1:9/new"):
        userdata.fetch_token("http://127.0.0.1:9/new?size=3", timeout=2)


def test_provision_keeps_the_clusters_discovery_url_and_takes_the_edited_source(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_REGISTRY", str(tmp_path / "labs.json"))
    lab = settings.load(tmp_path / "lab")
    lab.path("user-data").write_text(userdata.with_discovery(userdata.SOURCE.read_text(), URL))
    edited = tmp_path / "user-data"
    edited.write_text(userdata.SOURCE.read_text().replace(
        "public-ip: $public_ipv4", "public-ip: $public_ipv4\n    metadata: disk=ssd"))
    text = userdata.write_keeping_token(lab, edited)
    coreos = parse(text)["coreos"]
    assert coreos["etcd2"]["discovery"] == URL
    assert coreos["fleet"]["metadata"] == "disk=ssd"
    assert lab.path("user-data").read_text() == text


def test_provision_before_any_up_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_REGISTRY", str(tmp_path / "labs.json"))
    lab = settings.load(tmp_path / "lab")
    with pytest.raises(LabError, match="names no discovery URL yet"):
        userdata.write_keeping_token(lab)


def test_a_retried_vagrant_up_keeps_the_token_of_its_first_attempt(tmp_path, monkeypatch):
    """`lab` runs `vagrant up` again when Vagrant found a machine locked; config.rb then asks for
    a new token, but the machines provisioned the first time joined the old one (a cluster split
    in two, seen in `make test`): vagrant.py marks the retry and the renderer keeps the token."""
    from labs.launcher import cli, vagrant
    monkeypatch.setenv("LAB_REGISTRY", str(tmp_path / "labs.json"))
    lab = settings.load(tmp_path / "lab")
    lab.path("user-data").write_text(userdata.with_discovery(userdata.SOURCE.read_text(), URL))
    fake = tmp_path / "bin" / "vagrant"   # locked on the first call, as Vagrant says it
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n"
                    f"if [ ! -e {tmp_path}/called ]; then touch {tmp_path}/called;"
                    " echo 'Vagrant can not use the machine because it is locked'; exit 1; fi\n"
                    f"echo \"$LAB_KEEP_DISCOVERY\" > {tmp_path}/second\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    monkeypatch.setattr(vagrant.time, "sleep", lambda seconds: None)
    vagrant.vagrant(lab, "up", capture=True)
    assert (tmp_path / "second").read_text().strip() == "1"
    monkeypatch.setenv(vagrant.KEEP_DISCOVERY_ENV, "1")  # what config.rb's `lab user-data` sees
    args = cli.build_parser().parse_args(["user-data", "--new-discovery-url", "http://unused/new"])
    cli.write_user_data(lab, args)
    assert parse(lab.path("user-data").read_text())["coreos"]["etcd2"]["discovery"] == URL
