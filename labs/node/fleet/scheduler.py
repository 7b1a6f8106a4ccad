"""The engine's scheduling decisions, as pure functions over an in-memory model.

Nothing here touches etcd: `plan()` turns a snapshot of units and live
machines into the ordered schedule/unschedule tasks of one engine reconcile
(docs/fleet.md §2.2, §3.6), so every rule can be tested without a cluster.
"""

from dataclasses import dataclass, field

from . import glob
from .requirements import metadata_satisfied
from .schema import INACTIVE

SCHEDULE, UNSCHEDULE, RESCHEDULE = "schedule", "unschedule", "reschedule"


@dataclass
class AgentState:
    """One live machine and the units (name → Requirements) the engine counts on it."""

    machine: object  # schema.MachineState
    units: dict = field(default_factory=dict)

    def able_to_run(self, name, req):
        """(verdict, reason): agent/state.go AbleToRun, first failing check wins."""
        if req.machine_id is not None and not self.machine.matches_id(req.machine_id):
            return UNSCHEDULE, 'agent ID "%s" does not match required "%s"' % (self.machine.id, req.machine_id)
        if req.metadata and not metadata_satisfied(req.metadata, self.machine.metadata):
            return UNSCHEDULE, "local Machine metadata insufficient"
        for peer in req.peers:
            if peer not in self.units:
                return UNSCHEDULE, "required peer Unit(%s) is not scheduled locally" % peer
        conflict = self.conflicting_unit(name, req)
        if conflict is not None:
            return UNSCHEDULE, "found conflict with locally-scheduled Unit(%s)" % conflict
        if self.replace_partner(name, req) is not None:
            return RESCHEDULE, "jobreschedule"
        return SCHEDULE, ""

    def conflicting_unit(self, name, req):
        """The first local unit that conflicts with `name` either way, or None."""
        for other_name in sorted(self.units):
            if other_name == name:
                continue
            other = self.units[other_name]
            if any(glob.match(p, other_name) for p in req.conflicts) or \
                    any(glob.match(p, name) for p in other.conflicts):
                return other_name
        return None

    def replace_partner(self, name, req):
        """The first local unit in a one-way Replaces relation with `name`, or None."""
        for other_name in sorted(self.units):
            if other_name == name:
                continue
            we_replace = any(glob.match(p, other_name) for p in req.replaces)
            they_replace = any(glob.match(p, name) for p in self.units[other_name].replaces)
            if we_replace != they_replace:
                return other_name
        return None


@dataclass
class Job:
    """A non-global unit as the engine models it."""

    name: str
    requirements: object  # requirements.Requirements
    target_state: str
    target_machine: str = ""


@dataclass(frozen=True)
class Task:
    """One write of the engine: schedule or unschedule `unit` on `machine_id`."""

    kind: str
    unit: str
    machine_id: str
    reason: str


class ClusterState:
    """The engine's model: non-global jobs, global units and live machines."""

    def __init__(self, units, machines):
        self.jobs = {}
        self.global_units = {}
        for unit in sorted(units, key=lambda u: u.name):
            if unit.is_global:
                self.global_units[unit.name] = unit.requirements
            else:
                self.jobs[unit.name] = Job(unit.name, unit.requirements, unit.target_state, unit.target_machine)
        self.machines = sorted(machines, key=lambda m: m.id)

    def agents(self):
        """machine ID → AgentState, rebuilt from the current model (engine/state.go)."""
        agents = {m.id: AgentState(m) for m in self.machines}
        for job in self.jobs.values():
            if job.target_machine in agents and job.target_state != INACTIVE:
                agents[job.target_machine].units[job.name] = job.requirements
        for agent in agents.values():
            for name, req in self.global_units.items():
                if metadata_satisfied(req.metadata, agent.machine.metadata) and \
                        agent.conflicting_unit(name, req) is None:
                    agent.units[name] = req
        return agents

    def sorted_agents(self):
        """Least loaded first; ties go to the smallest machine ID."""
        return sorted(self.agents().values(), key=lambda a: (len(a.units), a.machine.id))


def plan(cluster):
    """One engine reconcile: the tasks to run, in order, updating `cluster` as it goes."""
    tasks = []
    for name in list(cluster.jobs):
        job = cluster.jobs[name]
        if job.target_machine:
            tasks += _check_scheduled(cluster, job)
    for name in list(cluster.jobs):
        job = cluster.jobs[name]
        if job.target_machine or job.target_state == INACTIVE:
            continue
        machine_id = decide(cluster, job)
        if machine_id is None:
            continue
        tasks.append(Task(SCHEDULE, name, machine_id, "target state %s and unit not scheduled" % job.target_state))
        job.target_machine = machine_id
    return tasks


def _check_scheduled(cluster, job):
    """Phase 1 for one scheduled job: keep it, unschedule it, or move its replaced partner."""
    if job.target_state == INACTIVE:
        return _unschedule(job, "target state inactive")
    agents = cluster.agents()
    agent = agents.get(job.target_machine)
    if agent is None:
        return _unschedule(job, "target Machine(%s) went away" % job.target_machine)
    verdict, _ = agent.able_to_run(job.name, job.requirements)
    if verdict == UNSCHEDULE:
        return _unschedule(job, "target Machine(%s) unable to run unit" % job.target_machine)
    if verdict == RESCHEDULE:
        return _move_replaced(cluster, agent, job)
    return []


def _unschedule(job, reason):
    task = Task(UNSCHEDULE, job.name, job.target_machine, reason)
    job.target_machine = ""
    return [task]


def _move_replaced(cluster, agent, job):
    """Move whichever of the pair is matched by the other's Replaces (docs/fleet.md §3.6).

    Placed on the least-loaded other machine without AbleToRun checks, as
    fleet's DecideReschedule does.
    """
    partner = agent.replace_partner(job.name, job.requirements)
    we_replace = any(glob.match(p, partner) for p in job.requirements.replaces)
    replaced = cluster.jobs.get(partner) if we_replace else job
    if replaced is None:
        return []  # the partner is a global unit: nothing to move
    current = replaced.target_machine
    for candidate in cluster.sorted_agents():
        if candidate.machine.id != current:
            reason = "unit replaced by %s" % (job.name if we_replace else partner)
            tasks = [Task(UNSCHEDULE, replaced.name, current, reason),
                     Task(SCHEDULE, replaced.name, candidate.machine.id, reason)]
            replaced.target_machine = candidate.machine.id
            return tasks
    return []


def decide(cluster, job):
    """Least-loaded machine able to run `job` (a Replaces relation is no blocker)."""
    for agent in cluster.sorted_agents():
        verdict, _ = agent.able_to_run(job.name, job.requirements)
        if verdict != UNSCHEDULE:
            return agent.machine.id
    return None


def unschedulable_reason(cluster):
    """Why `decide` found nothing, worded as fleet's debug log."""
    if not cluster.machines:
        return "zero agents available"
    return "no agents able to run job"
