"""`lesson.start_clean` runs the notebooks' cleanups in lanes: side by side, each lane in order."""

import threading
import time

import pytest

from labs import lesson

NOTEBOOKS = ("01-vagrant", "02-etcd", "03-docker", "04-fleet", "05-systemd", "06-networking",
             "07-service-discovery")


@pytest.fixture
def recorded(monkeypatch):
    """Every notebook's cleanup replaced by one that notes when it ran; the first cleanup of
    each lane waits at a barrier that only opens when all three lanes are running at once."""
    spans: dict[str, tuple[float, float]] = {}
    first_of_a_lane = {lane[0] for lane in lesson.CLEANUP_LANES} | {"02-etcd"}
    together = threading.Barrier(len(first_of_a_lane), timeout=5)

    def cleanup_of(notebook):
        def cleanup(cluster):
            start = time.monotonic()
            if notebook in first_of_a_lane:
                together.wait()
            time.sleep(0.05)
            spans[notebook] = (start, time.monotonic())
        return cleanup

    cleanups = {notebook: cleanup_of(notebook) for notebook in NOTEBOOKS}
    monkeypatch.setattr(lesson, "CLEANUPS", cleanups)
    return spans


def test_lanes_run_side_by_side(recorded):
    lesson.clean_every_notebook(cluster=None)      # a barrier left waiting would raise here
    assert sorted(recorded) == sorted(NOTEBOOKS)


def test_a_lane_runs_in_its_order(recorded):
    lesson.clean_every_notebook(cluster=None)
    for lane in lesson.CLEANUP_LANES:
        for earlier, later in zip(lane, lane[1:]):
            assert recorded[earlier][1] <= recorded[later][0], f"{later} started before {earlier} ended"


def test_a_failing_cleanup_is_raised_after_the_other_lanes_finished(monkeypatch):
    finished = []

    def fails(cluster):
        raise RuntimeError("fleetd did not come back")

    def slow(cluster):
        time.sleep(0.2)
        finished.append("05-systemd")

    monkeypatch.setattr(lesson, "CLEANUPS", {"04-fleet": fails, "05-systemd": slow})
    with pytest.raises(RuntimeError, match="fleetd did not come back"):
        lesson.clean_every_notebook(cluster=None)
    assert finished == ["05-systemd"]
