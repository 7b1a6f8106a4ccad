"""04-fleet's checks on the live cluster: plausible wrong answers fail with a hint that points
the way. Step 1's metadata is given first, as in the notebook. The right answers (the reference
solutions) pass in notebook 04's solved run, where a check that fails raises CheckFailed. Last,
`fl` (the checks' reader of fleet's state) is shown to read what fleetctl's tables print."""

from __future__ import annotations

import re

import pytest

from labs import checks, lesson
from labs.exercises import fleet as ex
from labs.exercises import fleet_state as fl
from labs.exercises.common import machine_ids

pytestmark = pytest.mark.integration

DB = ex.DB_UNIT


@pytest.fixture(scope="module")
def labelled(cluster):
    checks.load_exercises()
    lesson.CLEANUPS["04-fleet"](cluster)
    ex.give_metadata(cluster)
    yield cluster
    lesson.CLEANUPS["04-fleet"](cluster)


@pytest.fixture
def clean(labelled, progress_home):
    for entry in checks.exercises_of("04-fleet"):
        entry.reset(labelled, **entry.params)
    yield labelled
    for entry in checks.exercises_of("04-fleet"):
        entry.reset(labelled, **entry.params)


def test_pinned_by_machine_id_fails(clean):
    core_03 = machine_ids(clean)["core-03"]
    fl.start_unit(clean, "pinned.service", ex.PINNED_UNIT.replace("MachineMetadata=region=west",
                                                                  f"MachineID={core_03}"))
    result = checks.check("fleet-pin", clean)
    assert not result.ok and "is pinned by MachineID=" in result.message


def test_pinned_by_labels_two_machines_share_fails(clean):
    fl.start_unit(clean, "pinned.service", ex.PINNED_UNIT.replace("region=west", "disk=ssd"))
    result = checks.check("fleet-pin", clean)
    assert not result.ok and "matches core-02, core-03, not core-03 alone" in result.message


def test_workers_that_only_conflict_fail(clean):
    fl.start_unit(clean, "worker@.service", ex.WORKER_TEMPLATE.replace("MachineMetadata=disk=ssd\n", ""),
                  instances=("worker@1.service", "worker@2.service"))
    result = checks.check("fleet-spread", clean)
    assert not result.ok and "the workers need the machines with an SSD" in result.message


def test_backup_pinned_where_db_runs_now_fails(clean):
    fl.start_unit(clean, "db.service", DB)
    home = fl.wait_for_counts(clean, {"db.service": 1})["db.service"][0]
    fl.start_unit(clean, "backup.service", ex.BACKUP_UNIT.replace(
        "MachineOf=db.service", f"MachineID={machine_ids(clean)[home]}"))
    try:
        result = checks.check("fleet-follow", clean)
        assert not result.ok and "pinned by MachineID to where it runs now" in result.message
    finally:
        fl.destroy(clean, ["db.service"])


def test_vanished_machine_not_back_fails_then_back_passes(clean):
    entry = checks.EXERCISES["fleet-back"]
    entry.breaks(clean, **entry.params)
    try:
        result = checks.check("fleet-back", clean)
        assert not result.ok and result.message.startswith("fleetd does not run on")
        assert "sudo systemctl start fleet.service" in str(checks.check("fleet-back", clean, hint=2))
        entry.solve(clean, **entry.params)
        assert checks.check("fleet-back", clean).ok
    finally:
        clean.run_all("sudo systemctl start fleet.service")
        fl.destroy(clean, ["hello.service"])


def test_fl_reads_what_fleetctls_tables_show(clean):
    """`fl` reads fleetd's API; its dicts are what fleetctl's list-unit-files, list-units and
    list-machines print, row for row: a global unit, a placed one, one no machine can take."""
    monitor = "[Service]\nExecStart=/bin/sleep 1000\n\n[X-Fleet]\nGlobal=true\n"
    try:
        fl.start_unit(clean, "monitor.service", monitor)
        fl.start_unit(clean, "pinned.service", ex.PINNED_UNIT)
        clean["core-01"].run(f"cat > {fl.UNIT_DIR}/db.service", input=DB.replace("east", "mars"))
        fl.fleetctl(clean, f"start --no-block {fl.UNIT_DIR}/db.service")     # no machine takes it
        fl.wait_for_counts(clean, {"monitor.service": 3, "pinned.service": 1})
        names = {machine_id: name for name, machine_id in machine_ids(clean).items()}

        def table(args):
            return [re.split(r"\t+", line)
                    for line in fl.fleetctl(clean, f"{args} --full --no-legend").stdout.splitlines()]

        files = fl.unit_files(clean)
        assert files == {
            unit: {"hash": hash_, "dstate": dstate, "state": state, "target": target.split("/")[0]}
            for unit, hash_, dstate, state, target in table("list-unit-files")}
        assert files["db.service"]["target"] == "-"
        listed: dict[str, list[str]] = {}
        for unit, machine, active, sub in table("list-units"):
            if (active, sub) == ("active", "running"):
                listed.setdefault(unit, []).append(names[machine.split("/")[0]])
        assert fl.running(clean) == {unit: sorted(where) for unit, where in listed.items()}
        assert fl.machine_metadata(clean) == {
            names[machine]: metadata for machine, metadata in table("list-machines --fields=machine,metadata")}
    finally:
        fl.destroy(clean, ["monitor.service", "db.service"])
