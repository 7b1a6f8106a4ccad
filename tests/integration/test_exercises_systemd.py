"""05-systemd's new checks on the live cluster: plausible wrong answers fail with a hint that
points the way, the right answers pass."""

from __future__ import annotations

import pytest

from labs import checks
from labs.exercises import systemd as ex
from labs.exercises.common import CORE_01

pytestmark = pytest.mark.integration
NOTEBOOK = "05-systemd"          # `clean` resets its exercises

SIMPLE = ex.BOOT_NOTE_UNIT.replace("Type=oneshot\nRemainAfterExit=yes\n", "")
NOT_REMEMBERED = ex.BOOT_NOTE_UNIT.replace("RemainAfterExit=yes\n", "")



def install(cluster, text, enable=True):
    cluster[CORE_01].run("sudo tee /etc/systemd/system/boot-note.service >/dev/null && "
                         "sudo systemctl daemon-reload && "
                         + ("sudo systemctl enable boot-note.service && " if enable else "")
                         + "sudo systemctl start boot-note.service", input=text)


def test_a_simple_service_is_not_a_boot_job(clean):
    install(clean, SIMPLE)
    result = checks.check("systemd-oneshot", clean)
    assert not result.ok and "is Type=simple" in result.message and "oneshot" not in result.message


def test_a_oneshot_that_is_forgotten_fails(clean):
    install(clean, NOT_REMEMBERED)
    result = checks.check("systemd-oneshot", clean)
    assert not result.ok and "cannot tell that it ran this boot" in result.message
    assert "RemainAfterExit=yes" in str(checks.check("systemd-oneshot", clean, hint=2))


def test_a_oneshot_not_enabled_fails(clean):
    install(clean, ex.BOOT_NOTE_UNIT, enable=False)
    result = checks.check("systemd-oneshot", clean)
    assert not result.ok and "would not run at the next boot" in result.message


def test_the_remembered_enabled_oneshot_passes(clean):
    install(clean, ex.BOOT_NOTE_UNIT)
    assert checks.check("systemd-oneshot", clean).ok


def test_starting_the_failed_unit_again_does_not_repair(clean):
    entry = checks.EXERCISES["systemd-running-again"]
    entry.breaks(clean, **entry.params)
    clean[CORE_01].run("sudo systemctl start failing.service", check=False)
    result = checks.check("systemd-running-again", clean)
    assert not result.ok and "degraded" in result.message and "reset-failed" not in result.message


def test_removing_the_unit_is_not_the_repair(clean):
    entry = checks.EXERCISES["systemd-running-again"]
    entry.breaks(clean, **entry.params)
    clean[CORE_01].run("sudo rm /etc/systemd/system/failing.service && sudo systemctl daemon-reload "
                       "&& sudo systemctl reset-failed")
    result = checks.check("systemd-running-again", clean)
    assert not result.ok and "is gone from core-01" in result.message


def test_reset_failed_repairs(clean):
    entry = checks.EXERCISES["systemd-running-again"]
    entry.breaks(clean, **entry.params)
    clean[CORE_01].run("sudo systemctl reset-failed failing.service")
    assert checks.check("systemd-running-again", clean).ok


def test_the_notebooks_cleanup_leaves_none_of_its_units(clean):
    """What the notebook leaves (units running, enabled into any target, a drop-in, a transient
    timer) is gone on every machine after its cleanup, which reloads systemd only once."""
    units = ex.NOTEBOOK_UNITS.split()
    setup = "\n".join([
        "cd /etc/systemd/system",
        "for u in clock crasher boot-note quitter; do printf '[Service]\\nExecStart=/bin/sleep infinity\\n"
        "[Install]\\nWantedBy=default.target\\n' | sudo tee $u.service >/dev/null; done",
        "sudo mkdir -p clock.service.d && printf '[Service]\\nEnvironment=GREETING=tock\\n' "
        "| sudo tee clock.service.d/10-greeting.conf >/dev/null",
        "printf '[Timer]\\nOnActiveSec=1h\\n[Install]\\nWantedBy=timers.target\\n' | sudo tee stamp.timer >/dev/null",
        "sudo systemctl daemon-reload",
        "sudo systemctl enable --now clock.service boot-note.service stamp.timer >/dev/null 2>&1",
        "sudo systemctl start crasher.service quitter.service",
        "sudo systemd-run --quiet --unit lab-later --on-active=1h /bin/true"])
    clean.run_all(setup)
    loaded = f"systemctl list-units --all --no-legend --plain {' '.join(units)} | awk '{{print $1}}'"
    assert set(clean[CORE_01].run(loaded).stdout.split()) >= {
        "clock.service", "crasher.service", "boot-note.service", "quitter.service", "stamp.timer", "lab-later.timer"}

    from labs import lesson
    lesson.CLEANUPS[NOTEBOOK](clean)

    links = "find /etc/systemd/system -name '*.wants' -type d -exec ls {} +"
    for machine, result in clean.run_all(f"{loaded}; echo ---; {links}; echo ---; "
                                         "ls -d /etc/systemd/system/clock.service* 2>/dev/null; true").items():
        still_loaded, wanted, files = result.stdout.split("---")
        assert still_loaded.split() == [], (machine, still_loaded)
        assert not set(wanted.split()) & set(units), (machine, wanted)
        assert files.split() == [], (machine, files)
