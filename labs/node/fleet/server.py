"""fleetd's components wired together, each loop in its own thread.

Startup registers the machine (create-only, backoff 1 s → 60 s, so a
duplicate /etc/machine-id keeps retrying), then runs: machine heartbeat,
machine-state refresh, engine, agent reconciler, job-state heartbeat,
unit-state publisher and the `P/job` watch (docs/fleet.md §1.1, §1.3). `stop(purge=True)`
is the graceful shutdown of docs/fleet.md §2.5.
"""

import logging
import threading
import time

import etcd

from .agent import Agent, UnitStatePublisher
from .engine import Engine

log = logging.getLogger("fleet.server")

AGENT_RECONCILE_INTERVAL = 5.0
UNIT_STATE_POLL_INTERVAL = 1.0
MACHINE_STATE_REFRESH_INTERVAL = 60.0
WATCH_DELAY = 1.0  # fleet sleeps 1 s after every watch result
# fleet's watch waits for an event with no timeout (registry/event.go). Ours asks again after
# 30 s, so that a connection that died silently is made again, and asks etcd less than a 2 s
# poll did (no CPU saving measured: docs/speed.md).
WATCH_POLL_TIMEOUT = 30.0
REGISTER_BACKOFF_MAX = 60.0


def republish_period(ttl):
    """Job-state and unit-state refresh: TTL×4/5 for TTLs above 10 s, else TTL/2."""
    return ttl * 4 / 5 if ttl > 10 else ttl / 2


class Server:
    """One fleetd: engine (unless disabled), agent, publisher and heartbeats."""

    def __init__(self, config, registry, systemd, machine, refresh_machine=None):
        self.config = config
        self.registry = registry
        self.machine = machine
        self.ttl = config.agent_ttl
        self.refresh_machine_state = refresh_machine  # callable → new MachineState, or None
        self.engine = None if config.disable_engine else Engine(
            registry, machine.id, config.engine_reconcile_interval)
        self.agent = Agent(registry, systemd, machine, self.ttl)
        self.publisher = UnitStatePublisher(registry, systemd, self.agent, self.ttl)
        self.last_full_publish = 0.0
        self.stopping = threading.Event()
        self.engine_wake = threading.Event()
        self.agent_wake = threading.Event()
        self.threads = []
        self.registered = False
        # Set while our presence key is known to be written. A failed heartbeat clears it and
        # pauses engine and agent until a heartbeat succeeds again: fleet's Monitor restarts the
        # server components (no purge), which re-register before the engine runs again. Without
        # that, an engine that regains etcd first would see its own machine "gone" and unschedule
        # every local unit (docs/fleet.md §2.5: connectivity loss must not stop units).
        self.healthy = threading.Event()
        self.agent_interval = AGENT_RECONCILE_INTERVAL
        self.state_poll_interval = UNIT_STATE_POLL_INTERVAL
        self.watch_poll_timeout = WATCH_POLL_TIMEOUT

    # --- lifecycle -------------------------------------------------------

    def register(self, resuming=False):
        """Create our presence key, retrying with backoff; False if stopped first.

        `resuming` (a SIGHUP rebuild) may take over the key this process
        itself still holds instead of waiting for it to expire.
        """
        backoff = 1.0
        while not self.stopping.is_set():
            try:
                self.registry.register_machine(self.machine, self.ttl)
                self.registered = True
                self.healthy.set()
                log.info("Registered machine %s", self.machine.id)
                return True
            except etcd.EtcdAlreadyExist:
                if resuming:
                    self.registry.refresh_machine(self.machine, self.ttl)
                    self.registered = True
                    self.healthy.set()
                    return True
                log.error("Failed registering machine: machine %s already registered", self.machine.id)
            except etcd.EtcdException as error:
                log.error("Failed registering machine: %s", error)
            self.stopping.wait(backoff)
            backoff = min(backoff * 2, REGISTER_BACKOFF_MAX)
        return False

    def start(self, resuming=False):
        """Register, then start every loop. Blocks until registered or stopped."""
        if not self.register(resuming):
            return False
        self._loop("heartbeat", self.ttl / 2, self._heartbeat)
        self._loop("machine-refresh", MACHINE_STATE_REFRESH_INTERVAL, self._refresh_machine)
        if self.engine is not None:
            self._loop("engine", self.config.engine_reconcile_interval, self.engine.tick, self.engine_wake,
                       gate=self.healthy)
        self._loop("agent", self.agent_interval, self.agent.reconcile, self.agent_wake, gate=self.healthy)
        self._loop("job-heartbeat", republish_period(self.ttl), self.agent.heartbeat_jobs)
        self._loop("unit-state", self.state_poll_interval, self._publish_states)
        if not self.config.disable_watches:
            # Not joined on stop: it only reads etcd and wakes the loops above.
            threading.Thread(target=self._watch, name="fleet-watch", daemon=True).start()
        return True

    def stop(self, purge):
        """Stop every loop; with `purge`, leave the cluster cleanly (docs/fleet.md §2.5)."""
        self.stopping.set()
        self.engine_wake.set()
        self.agent_wake.set()
        for thread in self.threads:
            thread.join(timeout=10)
        if purge and self.registered:
            self._purge()

    def _purge(self):
        steps = [("agent", self.agent.purge), ("unit states", self.publisher.purge),
                 ("machine", lambda: self.registry.remove_machine(self.machine.id))]
        if self.engine is not None:
            steps.insert(2, ("engine lease", self.engine.purge))
        for what, step in steps:
            try:
                step()
            except Exception as error:  # keep purging the rest
                log.error("Purge of %s failed: %s", what, error)

    # --- loops -----------------------------------------------------------

    def _start_thread(self, name, target):
        thread = threading.Thread(target=target, name="fleet-" + name, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _loop(self, name, interval, work, wake=None, gate=None):
        """Run `work` now and then every `interval` seconds (sooner when `wake` is set);
        with a `gate`, only rounds that find it set do any work."""
        def run():
            while not self.stopping.is_set():
                try:
                    if gate is None or gate.is_set():
                        work()
                except Exception as error:  # etcd or systemd trouble: try again next round
                    log.error("%s failed: %s", name, error)
                if wake is None:
                    self.stopping.wait(interval)
                else:
                    wake.wait(interval)
                    wake.clear()
        self._start_thread(name, run)

    def _heartbeat(self):
        """Refresh the presence key; retry every TTL/12 for up to TTL/3.

        A timeout pauses engine and agent (fleet restarts them); the first
        heartbeat that gets through again re-creates the key and resumes them.
        """
        deadline = time.monotonic() + self.ttl / 3
        while not self.stopping.is_set():
            try:
                self.registry.refresh_machine(self.machine, self.ttl)
                if not self.healthy.is_set():
                    log.info("Heartbeat succeeded again: machine %s re-registered, resuming engine and agent",
                             self.machine.id)
                    self.healthy.set()
                    self.engine_wake.set()
                    self.agent_wake.set()
                return
            except etcd.EtcdException as error:
                log.debug("Heartbeat failed: %s", error)
            if time.monotonic() >= deadline:
                log.error("Monitor timed out before successful heartbeat")
                if self.healthy.is_set():
                    log.warning("Pausing engine and agent until a heartbeat succeeds (local units keep running)")
                self.healthy.clear()
                return
            self.stopping.wait(self.ttl / 12)

    def _refresh_machine(self):
        if self.refresh_machine_state is not None:
            fresh = self.refresh_machine_state()
            self.machine.public_ip = fresh.public_ip

    def _publish_states(self):
        now = time.monotonic()
        due = now - self.last_full_publish >= republish_period(self.ttl)
        self.publisher.poll(republish_all=due)
        if due:
            self.last_full_publish = now

    def _watch(self):
        """Wake engine and agent ≈1 s after a `target`/`target-state` change."""
        index = None
        while not self.stopping.is_set():
            try:
                if index is None:
                    index = self.registry.job_index()
                index, relevant = self.registry.wait_for_job_event(index, self.watch_poll_timeout)
            except etcd.EtcdException as error:
                log.debug("Watch of job keys failed: %s", error)
                index = None
                self.stopping.wait(WATCH_DELAY)
                continue
            if relevant:
                self.stopping.wait(WATCH_DELAY)
                index = None  # reconciles read everything: skip what changed meanwhile
                self.engine_wake.set()
                self.agent_wake.set()

    def dump_state(self):
        """SIGUSR1: what this fleetd believes, for debugging."""
        with self.agent.lock:
            return {
                "machine": {"ID": self.machine.id, "PublicIP": self.machine.public_ip,
                            "Metadata": self.machine.metadata},
                "engine": None if self.engine is None else {
                    "leader": self.engine.leader_id, "isLeader": self.engine.is_leader()},
                "agent": {"jobStates": dict(sorted(self.agent.job_states.items())),
                          "unitHashes": dict(sorted(self.agent.hashes.items()))},
            }
