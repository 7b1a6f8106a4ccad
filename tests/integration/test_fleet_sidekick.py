"""The 2015 CoreOS docs' service-discovery pattern on the live cluster, and plain `etcdctl` speaking
etcd's v2 API wherever a 2015 user ran it (issue 10, item 2).

`apache@.service` and `apache-discovery@.service` are the units of CoreOS's "Launching Containers
with fleet" (coreos/docs, fleet/launching-containers-fleet.md, 2015). The sidekick is verbatim: a
plain `etcdctl set … --ttl 60` in a unit systemd starts. The apache unit is the docs' too, except
for its image: no registry is reachable, so it runs busybox's httpd instead of `coreos/apache`
(its `docker pull coreos/apache` line is dropped and its ExecStart starts busybox httpd on port 80,
under a shell that exits on SIGTERM, as notebook 07's web units do: httpd as a container's PID 1
ignores SIGTERM, so the docs' `docker stop apache1` waited 10 s and then killed it, and the unit
failed — docs/flakes.md, row 37).
"""

from __future__ import annotations

import json
import re
import shlex

import pytest

from tests.integration.fleet_fixtures import EVENTUALLY, wait_for

APACHE = """\
[Unit]
Description=My Apache Frontend
After=docker.service
Requires=docker.service

[Service]
TimeoutStartSec=0
ExecStartPre=-/usr/bin/docker kill apache1
ExecStartPre=-/usr/bin/docker rm apache1
ExecStart=/usr/bin/docker run --rm --name apache1 -p 80:80 busybox /bin/sh -c "echo apache@%i on %H > /var/www/index.html && trap 'exit 0' TERM; httpd -f -p 80 -h /var/www & wait"
ExecStop=/usr/bin/docker stop apache1

[X-Fleet]
Conflicts=apache@*.service
"""

DISCOVERY = """\
[Unit]
Description=Announce Apache1
BindsTo=apache@%i.service
After=apache@%i.service

[Service]
ExecStart=/bin/sh -c "while true; do etcdctl set /services/website/apache@%i '{ \\"host\\": \\"%H\\", \\"port\\": 80, \\"version\\": \\"52c7248a14\\" }' --ttl 60;sleep 45;done"
ExecStop=/usr/bin/etcdctl rm /services/website/apache@%i

[X-Fleet]
MachineOf=apache@%i.service
"""

DOCS_UNITS = ("apache@1.service", "apache@2.service", "apache-discovery@1.service", "apache-discovery@2.service")


@pytest.fixture
def docs_units(fleet, units):
    """The docs' unit names are fixed: destroy them and their keys before and after."""
    def clean():
        present = [name for name in fleet.unit_files() if name.startswith("apache")]
        if present:
            fleet.fleetctl("destroy", *present)
        wait_for(lambda: not any(row[0].startswith("apache") for row in fleet.unit_rows()), what="apache units gone")
        fleet.ssh("core-01", "etcdctl rm --recursive /services/website >/dev/null 2>&1; true")
    clean()
    units.write("apache@.service", APACHE)
    units.write("apache-discovery@.service", DISCOVERY)
    yield units
    clean()


def test_the_docs_apache_and_its_sidekick_announce_themselves_in_etcd(fleet, docs_units):
    for name in ("apache@1", "apache@2", "apache-discovery@1", "apache-discovery@2"):  # as the docs type them
        started = docs_units.fleetctl("start", name)
        assert started.returncode == 0, started.stderr
    placed = {name: fleet.wait_active(name) for name in DOCS_UNITS}
    assert placed["apache@1.service"] != placed["apache@2.service"]  # Conflicts=apache@*.service
    for instance in ("1", "2"):
        assert placed[f"apache-discovery@{instance}.service"] == placed[f"apache@{instance}.service"]  # MachineOf

    listing = wait_for(lambda: (out := fleet.ssh("core-02", "etcdctl ls /services/ --recursive", check=False).stdout)
                       .count("/apache@") == 2 and out, what="both apaches announced")
    # etcd v2 lists a directory in no set order (`etcdctl ls --sort` sorts)
    assert sorted(listing.splitlines()) == ["/services/website", "/services/website/apache@1",
                                            "/services/website/apache@2"]
    for instance in ("1", "2"):
        machine = fleet.by_id[placed[f"apache@{instance}.service"]]
        value = fleet.ssh("core-03", f"etcdctl get --quorum /services/website/apache@{instance}").stdout
        assert json.loads(value) == {"host": machine.name, "port": 80, "version": "52c7248a14"}
        extended = fleet.ssh("core-03", f"etcdctl -o extended get --quorum /services/website/apache@{instance}").stdout
        assert 0 < int(re.search(r"^TTL: (\d+)$", extended, re.M).group(1)) <= 60
        # systemd calls apache active when `docker run` starts, about 1 s before httpd listens
        page = wait_for(lambda: fleet.ssh("core-01", f"curl -s --max-time 10 http://{machine.ip}:80/", check=False).stdout,
                        what=f"apache@{instance} to answer")
        assert page == f"apache@{instance} on {machine.name}\n"

    # BindsTo: stopping apache@1 stops its sidekick, whose ExecStop removes the key at once
    assert docs_units.fleetctl("stop", "apache@1").returncode == 0
    wait_for(lambda: "apache@1" not in fleet.ssh("core-02", "etcdctl ls /services/website").stdout,
             EVENTUALLY, "apache@1 forgotten by the registry")
    machine = fleet.by_id[placed["apache-discovery@1.service"]].name
    assert fleet.systemd_active(machine, "apache-discovery@1.service") == "inactive"


def test_plain_etcdctl_speaks_v2_in_logins_units_and_containers(fleet, units):
    key = f"/{units.prefix}/etcdctl"
    fleet.ssh("core-01", f"etcdctl set {key} v2-everywhere >/dev/null")  # a login (sshd: /etc/environment)
    try:
        # quorum reads (a plain one may lag the write); v3's etcdctl has no `get --quorum`
        login = fleet.ssh("core-02", f"bash -lc {shlex.quote(f'etcdctl get --quorum {key}')}").stdout
        unit = fleet.ssh("core-02", f"sudo systemd-run --quiet --wait --pipe etcdctl get --quorum {key}").stdout
        container = fleet.ssh("core-03", f"docker run --rm --net=host busybox etcdctl get --quorum {key}").stdout
        assert (login, unit, container) == ("v2-everywhere\n",) * 3
    finally:
        fleet.ssh("core-01", f"etcdctl rm --recursive /{units.prefix}", check=False)
