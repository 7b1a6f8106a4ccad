"""The engine's decisions as pure functions (docs/fleet.md §2.2, §3.6)."""

from labs.node.fleet import scheduler
from labs.node.fleet.schema import MachineState, Unit
from labs.node.fleet.unit import UnitFile

M1, M2, M3 = "1" * 32, "2" * 32, "3" * 32


def unit(name, *xfleet, state="launched", target=""):
    text = "[Service]\nExecStart=/bin/true\n"
    if xfleet:
        text += "\n[X-Fleet]\n" + "\n".join(xfleet) + "\n"
    return Unit(name, UnitFile.parse(text), target_state=state, target_machine=target)


def machines(*specs):
    return [MachineState(mid, metadata=dict(md)) for mid, md in specs]


def three():
    return machines((M1, {}), (M2, {}), (M3, {}))


def run(units, machine_list):
    """Plan one reconcile; return (tasks, name → target after it)."""
    cluster = scheduler.ClusterState(units, machine_list)
    tasks = scheduler.plan(cluster)
    return tasks, {name: job.target_machine for name, job in cluster.jobs.items()}


def test_least_loaded_with_machine_id_tie_break_spreads_a_batch():
    _, placed = run([unit(n + ".service") for n in "abcdef"], three())
    assert placed == {"a.service": M1, "b.service": M2, "c.service": M3,
                      "d.service": M1, "e.service": M2, "f.service": M3}


def test_inactive_units_are_not_placed_and_do_not_count_as_load():
    units = [unit("a.service", state="inactive", target=M1), unit("b.service")]
    tasks, placed = run(units, three())
    assert tasks[0] == scheduler.Task(scheduler.UNSCHEDULE, "a.service", M1, "target state inactive")
    assert placed == {"a.service": "", "b.service": M1}


def test_global_units_count_toward_load_and_are_never_scheduled():
    units = [unit("g.service", "Global=true", "MachineMetadata=disk=ssd"), unit("a.service")]
    _, placed = run(units, machines((M1, {"disk": "ssd"}), (M2, {})))
    assert placed == {"a.service": M2}


def test_conflicts_symmetric_and_unplaceable_units_stay_unscheduled():
    units = [unit("conflict.%d.service" % i, "Conflicts=conflict.*.service") for i in range(5)]
    _, placed = run(units, three())
    assert [placed["conflict.%d.service" % i] for i in range(5)] == [M1, M2, M3, "", ""]
    one_way = [unit("a.service", "Conflicts=b.service", target=M1), unit("b.service")]
    assert run(one_way, machines((M1, {})))[1]["b.service"] == ""


def test_non_global_unit_avoids_machine_with_conflicting_global():
    units = [unit("g.service", "Global=true", "Conflicts=web*"), unit("web.service")]
    assert run(units, machines((M1, {}), (M2, {"x": "y"})))[1] == {"web.service": ""}


def test_machine_metadata_filter():
    units = [unit("w.service", "MachineMetadata=region=us-west"),
             unit("eu.service", "MachineMetadata=region=eu")]
    _, placed = run(units, machines((M1, {}), (M2, {"region": "us-west"}), (M3, {})))
    assert placed == {"w.service": M2, "eu.service": ""}


def test_machine_of_follows_peer_and_needs_peer_scheduled():
    units = [unit("ping.service", target=M2), unit("pong.service", "MachineOf=ping.service"),
             unit("lonely.service", "MachineOf=missing.service")]
    _, placed = run(units, three())
    assert placed["pong.service"] == M2 and placed["lonely.service"] == ""


def test_machine_of_followers_move_when_peer_machine_dies():
    units = [unit("ping.service", target=M2), unit("pong.service", "MachineOf=ping.service", target=M2),
             unit("other.service", target=M1)]
    tasks, placed = run(units, machines((M1, {}), (M3, {})))
    assert placed["ping.service"] == placed["pong.service"] == M3
    assert tasks[0] == scheduler.Task(scheduler.UNSCHEDULE, "ping.service", M2,
                                      "target Machine(%s) went away" % M2)


def test_machine_id_full_or_short_and_pinned_unit_waits_for_its_machine():
    units = [unit("p.service", "MachineID=" + M2), unit("s.service", "MachineID=" + M3[:8])]
    assert run(units, three())[1] == {"p.service": M2, "s.service": M3}
    assert run(units, machines((M1, {}), (M3, {})))[1]["p.service"] == ""


def test_able_to_run_check_order_and_reasons():
    agent = scheduler.AgentState(MachineState(M1, metadata={"a": "b"}))
    agent.units["x.service"] = unit("x.service", "Conflicts=y*").requirements
    cases = [
        (("MachineID=" + M2, "MachineMetadata=a=c"), 'agent ID "%s" does not match required "%s"' % (M1, M2)),
        (("MachineMetadata=a=c", "MachineOf=z.service"), "local Machine metadata insufficient"),
        (("MachineOf=z.service",), "required peer Unit(z.service) is not scheduled locally"),
        ((), "found conflict with locally-scheduled Unit(x.service)"),
    ]
    for xfleet, reason in cases:
        candidate = unit("y.service", *xfleet)
        assert agent.able_to_run(candidate.name, candidate.requirements) == (scheduler.UNSCHEDULE, reason)


def test_scheduled_unit_unscheduled_when_metadata_no_longer_matches():
    units = [unit("w.service", "MachineMetadata=region=us-west", target=M1)]
    tasks, placed = run(units, machines((M1, {}), (M2, {"region": "us-west"})))
    assert [t.kind for t in tasks] == [scheduler.UNSCHEDULE, scheduler.SCHEDULE]
    assert placed == {"w.service": M2}


def test_replaces_moves_the_replaced_unit_to_another_machine():
    units = [unit("a.service", target=M1), unit("b.service", "Replaces=a.service", target=M1),
             unit("c.service", target=M2)]
    tasks, placed = run(units, three())
    assert placed == {"a.service": M3, "b.service": M1, "c.service": M2}
    assert [(t.kind, t.unit, t.machine_id) for t in tasks] == [
        (scheduler.UNSCHEDULE, "a.service", M1), (scheduler.SCHEDULE, "a.service", M3)]


def test_replaces_is_no_blocker_when_deciding_and_circular_replace_is_ignored():
    units = [unit("a.service", target=M1), unit("b.service", "Replaces=a.service")]
    assert run(units, machines((M1, {})))[1]["b.service"] == M1
    circular = [unit("a.service", "Replaces=b.service", target=M1),
                unit("b.service", "Replaces=a.service", target=M1)]
    assert run(circular, machines((M1, {}), (M2, {})))[0] == []


def test_no_rebalancing_when_a_machine_joins():
    units = [unit("a.service", target=M1), unit("b.service", target=M1)]
    assert run(units, three())[0] == []


def test_unschedulable_reason_wording():
    cluster = scheduler.ClusterState([unit("a.service")], [])
    assert scheduler.plan(cluster) == []
    assert scheduler.unschedulable_reason(cluster) == "zero agents available"
    # machines there, but none able to run it
    cluster = scheduler.ClusterState([unit("a.service", "MachineMetadata=region=eu")], three())
    assert scheduler.plan(cluster) == []
    assert scheduler.unschedulable_reason(cluster) == "no agents able to run job"
