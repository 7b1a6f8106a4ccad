"""01-vagrant's checks on the live cluster: plausible wrong answers fail with a hint that points
the way, the right answers pass. These change vagrant/user-data and provision the test cluster
again, as a learner does; every test leaves both as they were."""

from __future__ import annotations

import pytest

from labs import checks
from labs.exercises import vagrant as ex

pytestmark = pytest.mark.integration
WANTED = "provider=vagrant"


@pytest.fixture
def clean(cluster, progress_home):
    original = ex.source_user_data().read_text()
    for entry in checks.exercises_of("01-vagrant"):
        entry.reset(cluster, **entry.params)
    try:
        yield cluster
    finally:
        ex.source_user_data().write_text(original)
        for entry in checks.exercises_of("01-vagrant"):
            entry.reset(cluster, **entry.params)


def test_a_function_that_remembers_the_leader_fails(clean):
    leader = ex.reference_who_leads(clean)
    result = checks.check("launch-leader", clean, finder=lambda cluster: leader)
    assert not result.ok and "it must find out, not remember" in result.message


def test_a_function_that_returns_the_machine_id_fails(clean):
    def machine_id_of_leader(cluster):
        listing = cluster["core-01"].run("etcdctl member list").stdout
        return next(line.split(" name=")[1].split()[0] for line in listing.splitlines()
                    if "isLeader=true" in line)
    result = checks.check("launch-leader", clean, finder=machine_id_of_leader)
    assert not result.ok and "into a hostname" in result.message


def test_the_stub_and_a_crashing_function_fail_politely(clean):
    assert "returned None" in checks.check("launch-leader", clean, finder=lambda c: None).message
    result = checks.check("launch-leader", clean, finder=lambda c: 1 / 0)
    assert not result.ok and "raised ZeroDivisionError" in result.message


def test_a_function_that_finds_out_passes(clean):
    assert checks.check("launch-leader", clean, finder=ex.reference_who_leads).ok


def test_metadata_set_by_hand_instead_of_user_data_fails(clean):
    dropin = "/etc/systemd/system/fleet.service.d/31-by-hand.conf"
    clean.run_all(f"sudo mkdir -p {dropin.rsplit('/', 1)[0]} && printf '[Service]\\nEnvironment="
                  f"FLEET_METADATA={WANTED}\\n' | sudo tee {dropin} >/dev/null && "
                  f"sudo systemctl daemon-reload && sudo systemctl restart fleet.service")
    try:
        ex.wait_announced(clean, WANTED, present=True)
        result = checks.check("vagrant-metadata", clean)
        assert not result.ok and result.message.startswith("vagrant/user-data has no")
    finally:
        clean.run_all(f"sudo rm -f {dropin} && sudo systemctl daemon-reload && "
                      f"sudo systemctl restart fleet.service")


def test_edit_without_provisioning_fails(clean):
    ex.edit_source(add=True)
    result = checks.check("vagrant-metadata", clean)
    assert not result.ok and "the cloud-config of the last launch" in result.message
    assert "vagrant provision" in str(checks.check("vagrant-metadata", clean, hint=2))


def test_provisioned_but_fleet_not_restarted_fails_then_restarted_passes(clean):
    from labs import host
    ex.edit_source(add=True)
    host.run(ex.PROVISION, vagrant=True, quiet=True, timeout=300)
    ex.wait_dropins(clean, WANTED, present=True)        # coreos-cloudinit runs after Vagrant returns
    result = checks.check("vagrant-metadata", clean)
    assert not result.ok and "leaves a running service as it is" in result.message
    clean.run_all("sudo systemctl restart fleet.service")
    ex.wait_announced(clean, WANTED, present=True)
    assert checks.check("vagrant-metadata", clean).ok
    result = checks.check("vagrant-put-back", clean)     # changed and applied: put back, not yet
    assert not result.ok and result.message.startswith(f"vagrant/user-data still has `metadata: {WANTED}`")
    ex.edit_source(add=False)                    # put back, half way: only the file
    result = checks.check("vagrant-put-back", clean)
    assert not result.ok and "still have the changed copy" in result.message


def test_put_back_before_the_change_fails(clean):
    result = checks.check("vagrant-put-back", clean)
    assert not result.ok and result.message.startswith("first change the launch")
