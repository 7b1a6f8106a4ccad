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
