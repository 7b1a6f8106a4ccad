"""00-welcome's checks on the live cluster: a plausible wrong answer fails with a hint that
points the way (without the command, which hint=2 adds), the right answer passes."""

from __future__ import annotations

import pytest

from labs import checks
from labs.exercises import welcome
from labs.exercises.common import CORE_01, CORE_02

pytestmark = pytest.mark.integration
NOTEBOOK = "00-welcome"          # `clean` resets its exercises



def test_file_on_the_wrong_machine_fails(clean):
    clean[CORE_01].run(f"echo 'hello from core-02' > {welcome.HELLO}")
    result = checks.check("welcome-file", clean)
    assert not result.ok and f"exists on {CORE_01}, but not on {CORE_02}" in result.message
    assert "echo" not in str(result)
    assert f"%%remote {CORE_02}" in str(checks.check("welcome-file", clean, hint=2))


def test_file_with_other_content_fails(clean):
    clean[CORE_02].run(f"echo hello > {welcome.HELLO}")
    result = checks.check("welcome-file", clean)
    assert not result.ok and "holds 'hello', not 'hello from core-02'" in result.message


def test_file_written_right_passes(clean):
    clean[CORE_02].run(f"echo 'hello from core-02' > {welcome.HELLO}")
    assert checks.check("welcome-file", clean).ok


def test_found_me_on_another_machine_fails(clean):
    target = welcome.mystery_machine(clean)
    other = next(m for m in clean.machines if m != target)
    clean[other].run(f"touch {welcome.FOUND}")
    result = checks.check("welcome-find-machine", clean)
    assert not result.ok and result.message.startswith(f"{welcome.FOUND} is on {other}")


def test_found_me_everywhere_fails(clean):
    clean.run_all(f"touch {welcome.FOUND}")
    assert not checks.check("welcome-find-machine", clean).ok


def test_found_me_on_the_machine_with_that_id_passes(clean):
    wanted = welcome.mystery_machine_id(clean)
    for name, result in clean.run_all("cat /etc/machine-id").items():
        if result.stdout.strip() == wanted:
            clean[name].run(f"touch {welcome.FOUND}")
    assert checks.check("welcome-find-machine", clean).ok
