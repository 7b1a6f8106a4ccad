"""Exercises of notebook 05-systemd."""

from __future__ import annotations

import re
import time

from labs.checks import exercise, failed, passed


def unit_properties(machine, unit: str, *names: str) -> dict[str, str]:
    """`systemctl show -p NAME ... UNIT` as a dict (a unit systemd does not know: LoadState=not-found)."""
    options = " ".join(f"-p {name}" for name in names)
    out = machine.run(f"systemctl show {options} {unit}", check=False).stdout
    properties: dict[str, str] = {}
    for line in out.splitlines():
        if "=" in line:                  # some properties (TimersMonotonic) come once per value
            name, value = line.split("=", 1)
            properties[name] = f"{properties[name]}\n{value}" if name in properties else value
    return properties


def own_dropins(properties: dict[str, str], unit: str) -> list[str]:
    """The unit's own drop-ins (not the ones systemd applies to every service)."""
    return [path for path in properties.get("DropInPaths", "").split() if f"/{unit}.d/" in path]


# --- your own unit, running and enabled ------------------------------------------------------

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
        enabled = m.run(f"systemctl is-enabled {unit}", check=False).stdout.strip()
        if enabled != "enabled":
            return failed(f"{unit} runs on {machine}, but is {enabled or 'not enabled'}: it would "
                          f"not start at the next boot; give it an [Install] section with "
                          f"WantedBy=multi-user.target, then `sudo systemctl enable {unit}`")
        return passed(f"{unit} is active on {machine}, and enabled: "
                      f"/etc/systemd/system/multi-user.target.wants/{unit} links to it")
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
                         f"sudo systemctl daemon-reload && sudo systemctl enable {unit} && "
                         f"sudo systemctl restart {unit}", input=HELLO_UNIT)


@systemd_hello.reset
def _(cluster, machine, unit):
    cluster[machine].run(f"sudo systemctl disable --now {unit}; "
                         f"sudo rm -f /etc/systemd/system/{unit} "
                         f"/etc/systemd/system/multi-user.target.wants/{unit}; "
                         f"sudo systemctl daemon-reload; sudo systemctl reset-failed {unit}",
                         check=False)


# --- a drop-in that changes one setting ------------------------------------------------------

QUITTER_UNIT = """[Unit]
Description=A service that gives up after 4 seconds

[Service]
ExecStart=/bin/sh -c 'echo "quitter: started"; sleep 4; echo "quitter: giving up"; exit 1'
"""

QUITTER_DROPIN = """[Service]
Restart=on-failure
"""

RESTARTING = ("on-failure", "always", "on-abnormal", "on-abort")


@exercise("systemd-dropin", "Change one setting with a drop-in", "05-systemd",
          machine="core-02", unit="quitter.service")
def systemd_dropin(cluster, machine, unit):
    m = cluster[machine]
    props = unit_properties(m, unit, "LoadState", "Restart", "DropInPaths", "NeedDaemonReload",
                            "ActiveState", "FragmentPath")
    if props.get("LoadState") == "not-found":
        return failed(f"systemd on {machine} does not know {unit}: the cell of step 7 writes "
                      f"/etc/systemd/system/{unit}; run it first")
    fragment = props.get("FragmentPath", "")
    base = m.run(f"cat {fragment}", check=False).stdout if fragment else ""
    if re.search(r"^\s*Restart\s*=", base, re.M):
        return failed(f"{fragment} itself sets Restart=: leave the unit file as it was (run the "
                      f"cell of step 7 again to write it back) and put the setting in a drop-in, "
                      f"/etc/systemd/system/{unit}.d/<name>.conf")
    if props.get("NeedDaemonReload") == "yes":
        return failed(f"a file of {unit} changed on {machine} since systemd last read it: "
                      f"`sudo systemctl daemon-reload`")
    dropins = own_dropins(props, unit)
    restart = props.get("Restart", "?")
    on_disk = m.run(f"ls /etc/systemd/system/{unit}.d/*.conf /run/systemd/system/{unit}.d/*.conf",
                    check=False).stdout.split()
    if on_disk and not dropins:
        return failed(f"systemd has not read {', '.join(on_disk)} yet: "
                      f"`sudo systemctl daemon-reload`, then `sudo systemctl restart {unit}`")
    if not dropins:
        return failed(f"{unit} on {machine} has Restart={restart} and no drop-in: write "
                      f"/etc/systemd/system/{unit}.d/restart.conf (with sudo) holding a "
                      f"[Service] section with Restart=on-failure, then "
                      f"`sudo systemctl daemon-reload`")
    if restart not in RESTARTING:
        return failed(f"systemd reads {', '.join(dropins)}, but {unit} still has "
                      f"Restart={restart}: is `Restart=on-failure` spelt so, under a "
                      f"`[Service]` line?")
    state = props.get("ActiveState", "?")
    if state not in ("active", "activating"):
        return failed(f"{unit} has Restart={restart} now, but is {state}: systemd restarts "
                      f"only a service that was running; `sudo systemctl restart {unit}`")
    return passed(f"{unit} on {machine}: Restart={restart} from {', '.join(dropins)}, "
                  f"the unit file untouched; it is {state}")


@systemd_dropin.solution
def _(cluster, machine, unit):
    m = cluster[machine]
    m.run(f"sudo tee /etc/systemd/system/{unit} >/dev/null", input=QUITTER_UNIT)
    m.run(f"sudo mkdir -p /etc/systemd/system/{unit}.d && "
          f"sudo tee /etc/systemd/system/{unit}.d/restart.conf >/dev/null && "
          f"sudo systemctl daemon-reload && sudo systemctl restart {unit}", input=QUITTER_DROPIN)


@systemd_dropin.reset
def _(cluster, machine, unit):
    cluster[machine].run(f"sudo systemctl stop {unit}; sudo rm -rf /etc/systemd/system/{unit} "
                         f"/etc/systemd/system/{unit}.d; sudo systemctl daemon-reload; "
                         f"sudo systemctl reset-failed {unit}", check=False)


# --- a timer ---------------------------------------------------------------------------------

STAMP_SERVICE = """[Unit]
Description=Write a time stamp into the journal

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "stamp: $(date +%%T)"'
"""

STAMP_TIMER = """[Unit]
Description=Run stamp.service every 10 seconds

[Timer]
OnActiveSec=1s
OnUnitActiveSec=10s
AccuracySec=1s

[Install]
WantedBy=timers.target
"""


@exercise("systemd-timer", "A timer instead of cron", "05-systemd", machine="core-03",
          timer="stamp.timer", service="stamp.service")
def systemd_timer(cluster, machine, timer, service):
    m = cluster[machine]
    t = unit_properties(m, timer, "LoadState", "ActiveState", "Triggers", "TimersMonotonic",
                        "TimersCalendar", "LastTriggerUSec", "NeedDaemonReload", "UnitFileState")
    s = unit_properties(m, service, "LoadState", "Result", "NeedDaemonReload")
    if t.get("LoadState") == "not-found":
        return failed(f"systemd on {machine} does not know {timer}: write "
                      f"/etc/systemd/system/{service} and /etc/systemd/system/{timer} (with "
                      f"sudo), then `sudo systemctl daemon-reload`")
    if "yes" in (t.get("NeedDaemonReload"), s.get("NeedDaemonReload")):
        return failed(f"{timer} or {service} changed on {machine} since systemd last read "
                      f"them: `sudo systemctl daemon-reload`")
    if s.get("LoadState") == "not-found":
        return failed(f"{timer} exists on {machine}, but systemd does not know {service}, the "
                      f"unit it starts: write /etc/systemd/system/{service}")
    if service not in t.get("Triggers", "").split():
        return failed(f"{timer} starts {t.get('Triggers') or 'nothing'}, not {service}: a timer "
                      f"starts the service of the same name unless [Timer] has Unit=")
    repeats = re.search(r"OnUnit(Active|Inactive)USec=", t.get("TimersMonotonic", "")) or \
        t.get("TimersCalendar", "").strip()
    if not repeats:
        return failed(f"{timer} fires once at most: to run every 10 s it needs "
                      f"OnUnitActiveSec=10s (and OnActiveSec=1s for the first time) in [Timer]")
    if t.get("UnitFileState") != "enabled":
        return failed(f"{timer} is {t.get('UnitFileState') or 'not enabled'} on {machine}: give "
                      f"it [Install] WantedBy=timers.target and `sudo systemctl enable --now {timer}`")
    if t.get("ActiveState") != "active":
        return failed(f"{timer} is enabled but {t.get('ActiveState')}: `sudo systemctl start {timer}`")
    if t.get("LastTriggerUSec", "n/a") in ("", "n/a", "0"):
        return failed(f"{timer} is active but has not fired yet: `systemctl list-timers {timer}` "
                      f"says when it will; with OnUnitActiveSec= alone it waits for {service} to "
                      f"have run once — add OnActiveSec=1s, and AccuracySec=1s (the default is 1 min)")
    if s.get("Result") not in ("success", None):
        return failed(f"{timer} fired, but {service} ended with result {s.get('Result')}: "
                      f"`journalctl -u {service} -n 20` on {machine}")
    return passed(f"{timer} on {machine} starts {service} again and again (last: "
                  f"{t.get('LastTriggerUSec')}), and is enabled: timers.target wants it")


@systemd_timer.solution
def _(cluster, machine, timer, service):
    m = cluster[machine]
    m.run(f"sudo tee /etc/systemd/system/{service} >/dev/null", input=STAMP_SERVICE)
    m.run(f"sudo tee /etc/systemd/system/{timer} >/dev/null && sudo systemctl daemon-reload && "
          f"sudo systemctl enable {timer} && sudo systemctl restart {timer}", input=STAMP_TIMER)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:           # the first run, 1 s after the timer started
        last = unit_properties(m, timer, "LastTriggerUSec").get("LastTriggerUSec", "n/a")
        if last not in ("", "n/a", "0"):
            break
        time.sleep(0.5)


@systemd_timer.reset
def _(cluster, machine, timer, service):
    cluster[machine].run(f"sudo systemctl disable --now {timer}; sudo systemctl stop {service}; "
                         f"sudo rm -f /etc/systemd/system/{timer} /etc/systemd/system/{service} "
                         f"/etc/systemd/system/timers.target.wants/{timer}; "
                         f"sudo systemctl daemon-reload; "
                         f"sudo systemctl reset-failed {timer} {service}", check=False)
