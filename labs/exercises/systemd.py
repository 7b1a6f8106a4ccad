"""Exercises of notebook 05-systemd."""

from __future__ import annotations

from labs.checks import exercise, failed, passed


HELLO_UNIT = """[Unit]
Description=Say hello every 10 seconds

[Service]
ExecStart=/bin/sh -c 'while true; do echo hello from $(hostname); sleep 10; done'

[Install]
WantedBy=multi-user.target
"""


@exercise("systemd-hello", "Your own systemd unit", "05-systemd", machine="core-01",
          unit="hello.service")
def systemd_hello(cluster, machine, unit):
    m = cluster[machine]
    state = m.run(f"systemctl is-active {unit}", check=False).stdout.strip()
    if state == "active":
        return passed(f"{unit} is active on {machine}")
    loaded = m.run(f"systemctl show -p LoadState --value {unit}", check=False).stdout.strip()
    if loaded == "not-found":
        return failed(f"systemd on {machine} does not know {unit}: write it to "
                      f"/etc/systemd/system/{unit} (with sudo), then `sudo systemctl daemon-reload`")
    if state == "failed":
        return failed(f"{unit} on {machine} failed: read `journalctl -u {unit} -n 20`, fix "
                      f"ExecStart, then `sudo systemctl restart {unit}`")
    return failed(f"{unit} is known on {machine} but {state or 'not running'}: "
                  f"`sudo systemctl start {unit}`")


@systemd_hello.solution
def _(cluster, machine, unit):
    cluster[machine].run(f"sudo tee /etc/systemd/system/{unit} >/dev/null && "
                         f"sudo systemctl daemon-reload && sudo systemctl restart {unit}",
                         input=HELLO_UNIT)


@systemd_hello.reset
def _(cluster, machine, unit):
    cluster[machine].run(f"sudo systemctl stop {unit}; sudo rm -f /etc/systemd/system/{unit}; "
                         f"sudo systemctl daemon-reload; sudo systemctl reset-failed {unit}",
                         check=False)
