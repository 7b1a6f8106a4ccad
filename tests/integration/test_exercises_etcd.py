"""02-etcd's checks on the live cluster: plausible wrong answers fail with a hint that points
the way, the right answers pass."""

from __future__ import annotations

import time

import pytest

from labs import checks
from labs.exercises.common import CORE_01, CORE_03

pytestmark = pytest.mark.integration
NOTEBOOK = "02-etcd"          # `clean` resets its exercises


def wait_for(condition, what, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.5)



def sh(cluster, command, machine=CORE_01):
    return cluster[machine].run(f"ETCDCTL_API=2 {command}", check=False)


def test_json_without_shell_quotes_fails(clean):
    sh(clean, 'etcdctl set /workshop/network/config {"Network": "10.1.0.0/16"}')
    result = checks.check("etcd-json", clean)
    assert not result.ok and "which is not JSON" in result.message
    assert "show me" not in str(result) and "single quotes" in str(checks.check("etcd-json", clean, hint=2))


def test_json_of_another_shape_fails(clean):
    sh(clean, """etcdctl set /workshop/network/config '{"network": "10.1.0.0/16"}'""")
    assert "flannel wanted" in checks.check("etcd-json", clean).message


def test_json_quoted_right_passes(clean):
    sh(clean, """etcdctl set /workshop/network/config '{ "Network": "10.1.0.0/16" }'""")
    assert checks.check("etcd-json", clean).ok


def test_registrations_without_ttl_fail(clean):
    clean.run_all('etcdctl set /workshop/web/$(hostname) "$COREOS_PRIVATE_IPV4:8080"')
    result = checks.check("etcd-heartbeat", clean)
    assert not result.ok and "never expires" in result.message


def test_registrations_written_once_with_a_ttl_fail(clean):
    clean.run_all('etcdctl set --ttl 40 /workshop/web/$(hostname) "$COREOS_PRIVATE_IPV4:8080"')
    result = checks.check("etcd-heartbeat", clean)
    assert not result.ok and result.message.startswith("nothing renewed")


def test_one_machine_registering_for_all_fails(clean):
    sh(clean, 'etcdctl set --ttl 40 /workshop/web/core-01 "$COREOS_PRIVATE_IPV4:8080"')
    result = checks.check("etcd-heartbeat", clean)
    assert not result.ok and "did not register" in result.message


def test_registrations_renewed_in_the_background_pass(clean):
    loop = ('while true; do etcdctl set --ttl 15 /workshop/web/$(hostname) '
            '"$COREOS_PRIVATE_IPV4:8080" >/dev/null; sleep 3; done')
    clean.run_all(f"nohup sh -c '{loop}' >/dev/null 2>&1 & echo $! > /tmp/heartbeat.pid")
    try:
        wait_for(lambda: len(sh(clean, "etcdctl ls /workshop/web", ).stdout.split()) == 3,
                 "every machine's first registration")
        assert checks.check("etcd-heartbeat", clean).ok
    finally:
        clean.run_all("kill $(cat /tmp/heartbeat.pid); rm -f /tmp/heartbeat.pid", check=False)


def test_waiter_that_reads_once_fails(clean):
    clean[CORE_03].run("docker run --name waiter busybox wget -qO- "
                       "http://172.17.0.1:2379/v2/keys/workshop/go", check=False)
    result = checks.check("etcd-waiter", clean)
    assert not result.ok and "has ended already" in result.message


def test_waiter_that_does_not_watch_fails(clean):
    clean[CORE_03].run("docker run -d --name waiter busybox sleep 600")
    result = checks.check("etcd-waiter", clean)
    assert not result.ok and "is still running 15 s later" in result.message


def test_waiter_that_watches_passes_and_stays_passed(clean):
    clean[CORE_03].run("docker run -d --name waiter busybox wget -qO- "
                       "'http://172.17.0.1:2379/v2/keys/workshop/go?wait=true'")
    assert checks.check("etcd-waiter", clean).ok
    assert checks.check("etcd-waiter", clean).ok        # checked again after it ended


def test_quorum_not_back_fails_then_repaired_passes(clean):
    entry = checks.EXERCISES["etcd-quorum-back"]
    entry.breaks(clean, **entry.params)
    try:
        result = checks.check("etcd-quorum-back", clean)
        assert not result.ok and "core-02, core-03 are still halted" in result.message
        from labs import drills
        drills.resume("core-03")
        result = checks.check("etcd-quorum-back", clean)
        assert not result.ok and "core-02 is still halted" in result.message
    finally:
        entry.solve(clean, **entry.params)
    assert checks.check("etcd-quorum-back", clean).ok


def test_quorum_back_without_the_drill_fails_and_a_late_commit_passes(clean):
    from labs.exercises.etcd import DRILL_KEY, LATE_VALUE
    clean[CORE_01].run(f"etcdctl rm {DRILL_KEY}", check=False)
    result = checks.check("etcd-quorum-back", clean)
    assert not result.ok and "run that step first" in result.message
    clean[CORE_01].run(f"etcdctl set {DRILL_KEY} '{LATE_VALUE}' >/dev/null")   # the timed-out write, committed late
    result = checks.check("etcd-quorum-back", clean)
    assert result.ok and "committed after all" in result.message, result.message
