"""Exercises of notebook 05-systemd."""

from __future__ import annotations

import re
import time

from labs import lesson
from labs.checks import exercise, failed, passed
from labs.exercises.common import CORE_01, CORE_02, CORE_03, settled


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


# --- what this notebook leaves on the machines --------------------------------------------------

NOTEBOOK_UNITS = ("clock.service crasher.service failing.service boot-note.service quitter.service "
                  "stamp.timer stamp.service lab-later.timer lab-later.service")
# its files under /etc/systemd/system, with the links `enable` made (in case a unit file is gone)
NOTEBOOK_FILES = ("clock.service clock.service.d crasher.service failing.service failing.service.d "
                  "boot-note.service quitter.service quitter.service.d stamp.timer stamp.service "
                  "multi-user.target.wants/clock.service multi-user.target.wants/boot-note.service "
                  "timers.target.wants/stamp.timer")


def remove_units(units: str, files: str) -> str:
    """Shell that stops UNITS and, if any of FILES (under /etc/systemd/system) exists, disables
    the units, removes the files and reloads systemd once; then clears their failed state.

    One reload in all: a `disable` per unit reloads systemd each time, about 0.3 s a machine
    (the notebook's cleanup took 3.6-5.4 s on three machines that way, 0.9-1.3 s this way). An
    exercise's reset usually finds nothing (the cleanup ran first): then no reload at all."""
    return (f"sudo systemctl stop {units} 2>/dev/null; cd /etc/systemd/system; "
            f"present=$(ls -d {files} 2>/dev/null); "
            f'if [ -n "$present" ]; then for unit in {units}; do [ ! -e "$unit" ] || '
            f'sudo systemctl disable --no-reload "$unit" 2>/dev/null; done; '
            f"sudo rm -rf $present; sudo systemctl daemon-reload; fi; "
            f"sudo systemctl reset-failed {units} 2>/dev/null; cd")


CLEAN = f"""
{remove_units(NOTEBOOK_UNITS, NOTEBOOK_FILES)}
rm -f /home/core/booted-at /tmp/failing.since
sudo systemctl start docker.socket docker.service
"""


@lesson.cleanup("05-systemd")
def _(cluster):
    cluster.run_all(CLEAN, timeout=120)


# --- a oneshot that runs at every boot, and stays "active" ------------------------------------

BOOT_NOTE_UNIT = """[Unit]
Description=Note the time this machine booted

[Service]
Type=oneshot
RemainAfterExit=yes
User=core
ExecStart=/bin/sh -c 'date > /home/core/booted-at'

[Install]
WantedBy=multi-user.target
"""


@exercise("systemd-oneshot", "A job at every boot, done and remembered", "05-systemd",
          machine=CORE_01, unit="boot-note.service", path="/home/core/booted-at")
def systemd_oneshot(cluster, machine, unit, path):
    m = cluster[machine]
    show = f"sudo tee /etc/systemd/system/{unit}:\n{BOOT_NOTE_UNIT}then: sudo systemctl daemon-reload && sudo systemctl enable --now {unit}"
    p = unit_properties(m, unit, "LoadState", "Type", "RemainAfterExit", "ActiveState",
                        "UnitFileState", "NeedDaemonReload", "Result")
    if p.get("LoadState") == "not-found":
        return failed(f"systemd on {machine} does not know {unit}: unit files of your own go to "
                      f"/etc/systemd/system, and systemd reads them at daemon-reload (step 3)", show)
    if p.get("NeedDaemonReload") == "yes":
        return failed(f"{unit} changed on {machine} since systemd last read it: reload first "
                      f"(step 3)", show)
    if p.get("Type") != "oneshot":
        return failed(f"{unit} is Type={p.get('Type')}: systemd counts such a service started as "
                      f"soon as its process runs; a job that must finish before others go on is "
                      f"another Type= (`man systemd.service`, Type=)", show)
    if p.get("Result") not in ("success", None):
        return failed(f"{unit} ran and failed ({p.get('Result')}): `journalctl -u {unit}` on "
                      f"{machine} says why", show)
    if p.get("RemainAfterExit") != "yes":
        return failed(f"{unit} ran and is {p.get('ActiveState')} again, so `systemctl "
                      f"is-active {unit}` cannot tell that it ran this boot: a oneshot can stay "
                      f"active after its process ended (`man systemd.service`)", show)
    if p.get("UnitFileState") != "enabled":
        return failed(f"{unit} is {p.get('UnitFileState') or 'not enabled'}: it would not run at "
                      f"the next boot; what makes a unit part of booting is step 4", show)
    if p.get("ActiveState") != "active":
        return failed(f"{unit} is enabled but {p.get('ActiveState')}: it has not run this boot yet",
                      show)
    note = m.run(f"cat {path}", check=False)
    if not note.ok or not note.stdout.strip():
        return failed(f"{unit} is active, but {path} is {'empty' if note.ok else 'missing'}: its "
                      f"ExecStart must write the time there", show)
    return passed(f"{unit} on {machine}: a oneshot, enabled, ran this boot and stays active; "
                  f"{path} says {note.stdout.strip()!r}")


@systemd_oneshot.solution
def _(cluster, machine, unit, path):
    cluster[machine].run(f"sudo tee /etc/systemd/system/{unit} >/dev/null && "
                         f"sudo systemctl daemon-reload && sudo systemctl enable {unit} && "
                         f"sudo systemctl restart {unit}", input=BOOT_NOTE_UNIT)


@systemd_oneshot.reset
def _(cluster, machine, unit, path):
    cluster[machine].run(remove_units(unit, unit) + f"; rm -f {path}", check=False)


# --- repair: the start limit, cleared ----------------------------------------------------------

FAILING_UNIT = """[Unit]
Description=A service that fails at once
StartLimitIntervalSec=60
StartLimitBurst=3

[Service]
ExecStart=/bin/sh -c 'echo "failing: giving up at once"; exit 3'
Restart=on-failure
RestartSec=500ms
"""


@exercise("systemd-running-again", "Back to 'running', the failed unit kept", "05-systemd",
          machine=CORE_01, unit="failing.service")
def systemd_running_again(cluster, machine, unit):
    m = cluster[machine]
    show = f"sudo systemctl reset-failed {unit}"
    p = unit_properties(m, unit, "LoadState", "ActiveState")
    if p.get("LoadState") != "loaded":
        return failed(f"{unit} is gone from {machine} ({p.get('LoadState')}): the task is to get "
                      f"the machine out of `degraded` while keeping the unit; write it back (the "
                      f"break-it cell) and try again")
    state = m.run("systemctl is-system-running", check=False).stdout.strip()
    if p.get("ActiveState") == "failed" or state != "running":
        failed_units = m.run("systemctl list-units --state=failed --plain --no-legend",
                             check=False).stdout.split()
        return failed(f"{machine} is {state}: systemd remembers {unit} as {p.get('ActiveState')}"
                      f"{' (failed: ' + ', '.join(u for u in failed_units if '.' in u) + ')' if failed_units else ''}; "
                      f"starting it again only fails again — systemd can forget a failure "
                      f"(`systemctl --help`, the unit commands)", show)
    return passed(f"{machine} is running again, and {unit} is still installed "
                  f"({p.get('ActiveState')}): its failure is forgotten, not hidden")


@systemd_running_again.breaks
def _(cluster, machine, unit):
    m = cluster[machine]
    m.run(f"sudo tee /etc/systemd/system/{unit} >/dev/null && sudo systemctl daemon-reload && "
          f"sudo systemctl reset-failed {unit} 2>/dev/null; sudo systemctl start {unit}",
          input=FAILING_UNIT)
    deadline = time.monotonic() + 20
    while unit_properties(m, unit, "ActiveState").get("ActiveState") != "failed":
        if time.monotonic() > deadline:
            raise AssertionError(f"{unit} did not fail within 20 s")
        time.sleep(0.3)


@systemd_running_again.solution
def _(cluster, machine, unit):
    # a unit no longer failed may be unloaded already: then there is nothing to reset
    cluster[machine].run(f"sudo systemctl reset-failed {unit}", check=False)


@systemd_running_again.reset
def _(cluster, machine, unit):
    cluster[machine].run(remove_units(unit, unit) + "; sudo systemctl reset-failed", check=False)


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
          machine=CORE_02, unit="quitter.service")
def systemd_dropin(cluster, machine, unit):
    m = cluster[machine]
    props = unit_properties(m, unit, "LoadState", "Restart", "DropInPaths", "NeedDaemonReload",
                            "ActiveState", "FragmentPath")
    if props.get("LoadState") == "not-found":
        return failed(f"systemd on {machine} does not know {unit}: the cell above the exercise "
                      f"writes /etc/systemd/system/{unit}; run it first")
    fragment = props.get("FragmentPath", "")
    base = m.run(f"cat {fragment}", check=False).stdout if fragment else ""
    if re.search(r"^\s*Restart\s*=", base, re.M):
        return failed(f"{fragment} itself sets Restart=: leave the unit file as it was (run the "
                      f"cell that writes it again) and put the setting where step 7 put its change",
                      f"/etc/systemd/system/{unit}.d/restart.conf holding [Service] and "
                      f"Restart=on-failure")
    if props.get("NeedDaemonReload") == "yes":
        return failed(f"a file of {unit} changed on {machine} since systemd last read it "
                      f"(step 3 says what makes systemd read files again)",
                      "sudo systemctl daemon-reload")
    dropins = own_dropins(props, unit)
    restart = props.get("Restart", "?")
    on_disk = m.run(f"ls /etc/systemd/system/{unit}.d/*.conf /run/systemd/system/{unit}.d/*.conf",
                    check=False).stdout.split()
    if on_disk and not dropins:
        return failed(f"systemd has not read {', '.join(on_disk)} yet (step 3: after a change, "
                      f"systemd must read its files again)",
                      f"sudo systemctl daemon-reload && sudo systemctl restart {unit}")
    if not dropins:
        return failed(f"{unit} on {machine} has Restart={restart} and no drop-in of its own: "
                      f"step 7 shows where a drop-in goes and what it holds; the break-it step "
                      f"shows the setting",
                      f"sudo mkdir -p /etc/systemd/system/{unit}.d && printf '[Service]\\n"
                      f"Restart=on-failure\\n' | sudo tee /etc/systemd/system/{unit}.d/restart.conf"
                      f" && sudo systemctl daemon-reload && sudo systemctl restart {unit}")
    if restart not in RESTARTING:
        return failed(f"systemd reads {', '.join(dropins)}, but {unit} still has "
                      f"Restart={restart}: a setting counts only under the section it belongs to, "
                      f"spelt exactly", "[Service]\nRestart=on-failure")
    state = props.get("ActiveState", "?")
    if state not in ("active", "activating"):
        return failed(f"{unit} has Restart={restart} now, but is {state}: systemd restarts "
                      f"only a service that was running, so start it once more",
                      f"sudo systemctl restart {unit}")
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
    cluster[machine].run(remove_units(unit, f"{unit} {unit}.d"), check=False)


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


@exercise("systemd-timer", "A timer instead of cron", "05-systemd", machine=CORE_03,
          timer="stamp.timer", service="stamp.service")
def systemd_timer(cluster, machine, timer, service):
    m = cluster[machine]
    t = unit_properties(m, timer, "LoadState", "ActiveState", "Triggers", "TimersMonotonic",
                        "TimersCalendar", "LastTriggerUSec", "NeedDaemonReload", "UnitFileState")
    s = unit_properties(m, service, "LoadState", "Result", "NeedDaemonReload")
    if t.get("LoadState") == "not-found":
        return failed(f"systemd on {machine} does not know {timer}: a timer is a unit file "
                      f"like a service (step 3 writes one, step 6 shows timers)",
                      f"write /etc/systemd/system/{service} and /etc/systemd/system/{timer} "
                      f"(with sudo), then sudo systemctl daemon-reload")
    if "yes" in (t.get("NeedDaemonReload"), s.get("NeedDaemonReload")):
        return failed(f"{timer} or {service} changed on {machine} since systemd last read "
                      f"them (step 3)", "sudo systemctl daemon-reload")
    if s.get("LoadState") == "not-found":
        return failed(f"{timer} exists on {machine}, but systemd does not know {service}, the "
                      f"unit it starts", f"write /etc/systemd/system/{service} (Type=oneshot)")
    if service not in t.get("Triggers", "").split():
        return failed(f"{timer} starts {t.get('Triggers') or 'nothing'}, not {service}: which "
                      f"service a timer starts follows from its name (`man systemd.timer`)",
                      f"name the timer after the service, or Unit={service} under [Timer]")
    repeats = re.search(r"OnUnit(Active|Inactive)USec=", t.get("TimersMonotonic", "")) or \
        t.get("TimersCalendar", "").strip()
    if not repeats:
        return failed(f"{timer} fires once at most: step 6 lists the settings relative to an "
                      f"event; one of them repeats", "OnActiveSec=1s and OnUnitActiveSec=10s under [Timer]")
    if t.get("UnitFileState") != "enabled":
        return failed(f"{timer} is {t.get('UnitFileState') or 'not enabled'} on {machine}: it "
                      f"would not run after the next boot; timers are enabled into their own target "
                      f"(step 4 shows how enabling works)",
                      f"[Install] WantedBy=timers.target, then sudo systemctl enable --now {timer}")
    if t.get("ActiveState") != "active":
        return failed(f"{timer} is enabled but {t.get('ActiveState')}: enabled is about the next "
                      f"boot, not now", f"sudo systemctl start {timer}")
    if t.get("LastTriggerUSec", "n/a") in ("", "n/a", "0"):
        return failed(f"{timer} is active but has not fired yet: `systemctl list-timers {timer}` "
                      f"says when it will; a timer relative to the service's last start waits for "
                      f"a first start that never comes, and AccuracySec= defaults to 1 min",
                      "add OnActiveSec=1s and AccuracySec=1s under [Timer]")
    if s.get("Result") not in ("success", None):
        return failed(f"{timer} fired, but {service} ended with result {s.get('Result')}: its "
                      f"journal on {machine} says why (step 2)", f"journalctl -u {service} -n 20")
    return passed(f"{timer} on {machine} starts {service} again and again (last: "
                  f"{t.get('LastTriggerUSec')}), and is enabled: timers.target wants it")


@systemd_timer.solution
def _(cluster, machine, timer, service):
    m = cluster[machine]
    m.run(f"sudo tee /etc/systemd/system/{service} >/dev/null", input=STAMP_SERVICE)
    m.run(f"sudo tee /etc/systemd/system/{timer} >/dev/null && sudo systemctl daemon-reload && "
          f"sudo systemctl enable {timer} && sudo systemctl restart {timer}", input=STAMP_TIMER)
    settled(lambda: unit_properties(m, timer, "LastTriggerUSec").get("LastTriggerUSec", "n/a")
            not in ("", "n/a", "0"), timeout=20)    # the first run, 1 s after the timer started


@systemd_timer.reset
def _(cluster, machine, timer, service):
    cluster[machine].run(remove_units(f"{timer} {service}", f"{timer} {service}"), check=False)
