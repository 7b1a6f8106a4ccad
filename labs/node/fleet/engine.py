"""The engine: leader election through an etcd lease, then scheduling.

Every fleetd runs an engine; only the holder of `P/lease/engine-leader`
reconciles, so exactly one machine writes `target` keys at a time
(docs/fleet.md §2.1, §2.2). `tick()` is one round; fleetd calls it every
engine_reconcile_interval and soon after job changes.
"""

import logging
import time

import etcd

from . import scheduler
from .schema import ENGINE_VERSION, INACTIVE

log = logging.getLogger("fleet.engine")


class Engine:
    """Lease-elected scheduler for one machine."""

    def __init__(self, registry, machine_id, reconcile_interval, clock=time.monotonic, sleep=time.sleep):
        self.registry = registry
        self.machine_id = machine_id
        self.reconcile_interval = reconcile_interval
        self.lease = None  # our lease while we lead
        self.leader_id = None  # last leader we saw, for the change log lines
        self.clock = clock
        self.sleep = sleep

    @property
    def lease_ttl(self):
        return 5 * self.reconcile_interval

    def is_leader(self):
        return self.lease is not None

    def tick(self):
        """One engine round: version gate, lease, and (if leader) a reconcile."""
        if not self._version_allows_us():
            return
        self._update_lease()
        if self.is_leader():
            self.reconcile()

    def _version_allows_us(self):
        current = self.registry.engine_version()
        if current > ENGINE_VERSION:
            log.info("Cluster engine version higher than local engine version (%d > %d), unable to participate",
                     current, ENGINE_VERSION)
            return False
        if current < ENGINE_VERSION:
            try:
                self.registry.upgrade_engine_version(current)
            except (etcd.EtcdAlreadyExist, etcd.EtcdCompareFailed):
                pass  # another engine upgraded it first
        return True

    def _update_lease(self):
        if self.lease is not None:
            try:
                self.lease = self.registry.renew_lease(self.lease, self.lease_ttl)
                return
            except (etcd.EtcdCompareFailed, etcd.EtcdKeyNotFound) as error:
                log.warning("Engine leadership lost, renewal failed: %s", error)
                self.lease = None
        current = self.registry.lease()
        if current is None:
            acquired = self.registry.acquire_lease(self.machine_id, self.lease_ttl)
            if acquired is not None:
                log.info("Engine leadership acquired")
                self.lease = acquired
                self._note_leader(self.machine_id)
            return
        if current.version >= ENGINE_VERSION:
            if current.machine_id == self.machine_id:
                self.lease = current  # e.g. restarted quickly: resume leading
            self._note_leader(current.machine_id)
            return
        # An older engine's lease: take it over, then wait out its remaining time.
        try:
            self.lease = self.registry.steal_lease(current, self.machine_id, self.lease_ttl + current.ttl)
        except (etcd.EtcdCompareFailed, etcd.EtcdKeyNotFound):
            return
        self._note_leader(self.machine_id)
        self.sleep(current.ttl)

    def _note_leader(self, leader_id):
        if self.leader_id is None:
            log.info("Engine leader is %s", leader_id)
        elif self.leader_id != leader_id:
            log.info("Engine leadership changed from %s to %s", self.leader_id, leader_id)
        self.leader_id = leader_id

    def reconcile(self):
        """Read the cluster, plan, and write the decisions (aborting past the lease TTL)."""
        started = self.clock()
        cluster = scheduler.ClusterState(self.registry.units(), self.registry.machines())
        for task in scheduler.plan(cluster):
            if self.clock() - started > self.lease_ttl:
                log.warning("Engine reconcile took longer than the lease TTL, aborting")
                return
            self._do(task)
        for job in cluster.jobs.values():
            if not job.target_machine and job.target_state != INACTIVE:
                log.debug("Unable to schedule Job(%s): %s", job.name,
                          scheduler.unschedulable_reason(cluster))

    def _do(self, task):
        try:
            if task.kind == scheduler.SCHEDULE:
                self.registry.schedule_unit(task.unit, task.machine_id)
            else:
                self.registry.unschedule_unit(task.unit, task.machine_id)
        except etcd.EtcdAlreadyExist as error:
            log.error("Failed resolving task: task=%s err=%s", task, error)
            return
        log.info("EngineReconciler completed task: {Type: %s, JobName: %s, MachineID: %s, Reason: %r}",
                 "AttemptScheduleUnit" if task.kind == scheduler.SCHEDULE else "UnscheduleUnit",
                 task.unit, task.machine_id, task.reason)

    def purge(self):
        """Graceful shutdown: hand the lease back so another engine takes over now."""
        if self.lease is not None:
            self.registry.release_lease(self.lease)
            self.lease = None
