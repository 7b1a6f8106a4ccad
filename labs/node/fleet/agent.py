"""The agent: make local systemd run what etcd says this machine should run.

Each reconcile compares the desired state (units scheduled here, plus global
units whose metadata match) with the current one (unit files on disk and an
in-memory job-state cache), and runs ordered tasks (docs/fleet.md §2.3). The unit-state
publisher reports systemd's view back to etcd (docs/fleet.md §2.4).
"""

import logging
import threading
from dataclasses import dataclass

from .requirements import metadata_satisfied
from .scheduler import AgentState
from .schema import INACTIVE, LAUNCHED, LOADED, UnitState
from .unit import UnitFile

log = logging.getLogger("fleet.agent")

UNLOAD, LOAD, RELOAD, STOP, START = "UnloadUnit", "LoadUnit", "ReloadUnitFiles", "StopUnit", "StartUnit"
TASK_ORDER = {UNLOAD: 1, LOAD: 2, RELOAD: 3, STOP: 4, START: 5}
# task kind → the systemd manager's method doing a whole run of them at once (if it has one)
BATCHABLE = {LOAD: "load_many", START: "start_many", UNLOAD: "unload_many"}


@dataclass(frozen=True)
class Task:
    kind: str
    unit_name: str
    reason: str
    unit: object = None  # schema.Unit, for LoadUnit


def desired_units(machine, units):
    """name → Unit this machine should have, alphabetically first winning conflicts."""
    accepted = AgentState(machine)
    wanted = {}
    for unit in sorted(units, key=lambda u: u.name):
        req = unit.requirements
        if req.is_global:
            if not metadata_satisfied(req.metadata, machine.metadata):
                continue
        elif unit.target_machine != machine.id:
            continue
        if accepted.conflicting_unit(unit.name, req) is not None:
            continue
        accepted.units[unit.name] = req
        wanted[unit.name] = unit
    return wanted


def tasks_for_unit(name, desired, current_state, current_hash):
    """calculateTasksForUnit: `desired` is a Unit or None; `current_state` None if absent."""
    present = current_state is not None
    if desired is None or desired.target_state == INACTIVE:
        if present:
            return [Task(UNLOAD, name, "unit loaded but not scheduled here")]
        return []
    load = [Task(LOAD, name, "unit scheduled here but not loaded", desired)]
    start = [Task(START, name, "unit currently loaded but desired state is launched")] \
        if desired.target_state == LAUNCHED else []
    if not present:
        return load + start
    if current_hash != desired.hash:
        return [Task(UNLOAD, name, "unit hash mismatch")] + load + start
    if current_state == desired.target_state:
        return []
    if current_state == INACTIVE:
        return load + start
    if current_state == LOADED and desired.target_state == LAUNCHED:
        return start
    if current_state == LAUNCHED and desired.target_state == LOADED:
        return [Task(STOP, name, "unit currently launched but desired state is loaded")]
    return []


def order_tasks(tasks):
    """Stable sort by type, with one daemon-reload if any unit file changed."""
    if any(t.kind in (LOAD, UNLOAD) for t in tasks):
        tasks = tasks + [Task(RELOAD, "", "always reload unit files")]
    return sorted(tasks, key=lambda t: TASK_ORDER[t.kind])


class Agent:
    """Reconciles one machine's systemd with the registry."""

    def __init__(self, registry, systemd, machine, ttl):
        self.registry = registry
        self.systemd = systemd
        self.machine = machine  # schema.MachineState of this host (static metadata)
        self.ttl = ttl
        self.job_states = {}  # name → loaded|launched: in memory only, as in fleet
        self.hashes = {}  # name → hash of what is on disk / last loaded
        # `lock` guards the two dicts above and is held only for a moment, never during a
        # systemctl call: the job-state heartbeat and the unit-state publisher read them, and a
        # pass that held it throughout would let their TTL'd keys expire (list-units loses rows).
        self.lock = threading.Lock()
        self.pass_lock = threading.Lock()  # one reconcile or purge at a time

    def machine_view(self):
        """This machine as the cluster sees it: merged dynamic metadata if registered."""
        for machine in self.registry.machines():
            if machine.id == self.machine.id:
                return machine
        return self.machine

    def current_units(self):
        """name → (cached job state, hash) for every fleet unit file on disk."""
        names = self.systemd.unit_names()
        with self.lock:
            unhashed = [name for name in names if name not in self.hashes]
        found = {name: UnitFile.parse(self.systemd.unit_text(name)).hash() for name in unhashed}
        with self.lock:
            for name, unit_hash in found.items():
                self.hashes.setdefault(name, unit_hash)
            return {name: (self.job_states.get(name, INACTIVE), self.hashes[name]) for name in names}

    def plan(self):
        desired = desired_units(self.machine_view(), self.registry.units())
        current = self.current_units()
        tasks = []
        for name in sorted(set(desired) | set(current)):
            state, unit_hash = current.get(name, (None, None))
            tasks += tasks_for_unit(name, desired.get(name), state, unit_hash)
        return order_tasks(tasks)

    def reconcile(self):
        """One AgentReconciler pass; stops at the first failing task.

        Runs of same-kind Load/Start/Unload tasks go to systemd in one call each
        when the manager can batch (one `systemctl` for 30 units instead of 30;
        fleet's D-Bus calls were cheap, subprocesses are not). If a batch fails,
        its tasks are redone one by one, so the pass still ends exactly at the
        first failing task.
        """
        with self.pass_lock:
            tasks = self.plan()
            index = 0
            while index < len(tasks):
                group = [tasks[index]]
                while (index + len(group) < len(tasks) and tasks[index + len(group)].kind == group[0].kind
                       and group[0].kind in BATCHABLE):
                    group.append(tasks[index + len(group)])
                index += len(group)
                if len(group) > 1 and self._do_batch(group):
                    for task in group:
                        self._log_done(task)
                    continue
                for task in group:
                    try:
                        self._do(task)
                    except Exception as error:  # a systemctl or etcd failure ends this pass
                        log.error("AgentReconciler task failed: type=%s job=%s reason=%r err=%s",
                                  task.kind, task.unit_name, task.reason, error)
                        return
                    self._log_done(task)

    @staticmethod
    def _log_done(task):
        log.info("AgentReconciler completed task: type=%s job=%s reason=%r", task.kind, task.unit_name, task.reason)

    def _do_batch(self, group):
        """One systemd call for a run of same-kind tasks; False to fall back to one by one."""
        kind = group[0].kind
        names = [task.unit_name for task in group]
        batch = getattr(self.systemd, BATCHABLE[kind], None)
        if batch is None:
            return False
        if kind == LOAD and any(task.unit.unit_file.has_section("Install") for task in group):
            return False  # enabling is per unit, with its own failure handling
        try:
            if kind == LOAD:
                for task in group:
                    self._cache(task.unit_name, LOADED, task.unit.hash)
                batch([(task.unit_name, task.unit.unit_file.canonical_text()) for task in group])
            elif kind == START:
                for name in names:
                    self._cache(name, LAUNCHED)
                    self.registry.set_job_state(name, self.machine.id, self.ttl)
                batch(names)
            elif kind == UNLOAD:
                for name in names:
                    self._clear_job_state(name)
                    self._cache(name, None)
                batch(names)
                for name in names:
                    self._forget_hash(name)
        except Exception as error:
            log.warning("Batched %s of %d units failed (%s): retrying one by one", kind, len(group), error)
            return False
        return True

    def _do(self, task):
        name = task.unit_name
        if task.kind == LOAD:
            self._cache(name, LOADED, task.unit.hash)
            self.systemd.load(name, task.unit.unit_file.canonical_text(), task.unit.unit_file.has_section("Install"))
        elif task.kind == UNLOAD:
            self._clear_job_state(name)
            self._cache(name, None)
            self.systemd.unload(name)
            self._forget_hash(name)
        elif task.kind == START:
            self._cache(name, LAUNCHED)
            self.registry.set_job_state(name, self.machine.id, self.ttl)
            self.systemd.start(name)
        elif task.kind == STOP:
            self._cache(name, LOADED)
            self._clear_job_state(name)
            self.systemd.stop(name)
        elif task.kind == RELOAD:
            self.systemd.reload()

    def _cache(self, name, job_state, unit_hash=None):
        """Record a unit's job state (None: forget it) and, if given, its hash."""
        with self.lock:
            if job_state is None:
                self.job_states.pop(name, None)
            else:
                self.job_states[name] = job_state
            if unit_hash is not None:
                self.hashes[name] = unit_hash

    def _forget_hash(self, name):
        with self.lock:
            self.hashes.pop(name, None)

    def _clear_job_state(self, name):
        self.registry.clear_job_state(name, self.machine.id)

    def heartbeat_jobs(self):
        """Refresh `job-state` of every unit we launched."""
        with self.lock:
            launched = [name for name, state in self.job_states.items() if state == LAUNCHED]
        for name in sorted(launched):
            self.registry.set_job_state(name, self.machine.id, self.ttl)

    def loaded_units(self):
        """name → hash of units whose systemd state is reported (fleet "subscribes" them)."""
        with self.lock:
            return {name: self.hashes[name] for name in self.job_states if name in self.hashes}

    def purge(self):
        """Graceful shutdown: stop and remove every local fleet unit."""
        with self.pass_lock:
            names = self.systemd.unit_names()
            for name in names:
                try:
                    self._do(Task(UNLOAD, name, "agent shutting down"))
                except Exception as error:
                    log.error("Failed unloading %s during purge: %s", name, error)
            if names:
                self.systemd.reload()


class UnitStatePublisher:
    """Polls systemd for loaded units and publishes changes to etcd with a TTL."""

    def __init__(self, registry, systemd, agent, ttl):
        self.registry = registry
        self.systemd = systemd
        self.agent = agent
        self.ttl = ttl
        self.published = {}  # name → UnitState last written

    def poll(self, republish_all=False):
        """Publish new/changed states (all of them if `republish_all`), drop vanished ones."""
        hashes = self.agent.loaded_units()
        names = sorted(hashes)
        systemd_states = self.systemd.states(names)
        for name in names:
            load_state, active_state, sub_state = systemd_states.get(name, ("", "", ""))
            state = UnitState(name, self.agent.machine.id, load_state, active_state, sub_state, hashes[name])
            if republish_all or self.published.get(name) != state:
                self.registry.save_unit_state(state, self.ttl)
                self.published[name] = state
        for name in sorted(set(self.published) - set(names)):
            self.registry.remove_unit_state(name)
            del self.published[name]

    def purge(self):
        for name in sorted(self.published):
            self.registry.remove_unit_state(name)
        self.published = {}
