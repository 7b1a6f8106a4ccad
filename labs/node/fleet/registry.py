"""fleet's etcd v2 key layout: every read and write fleetd and fleetctl make.

Keys live under a prefix P (default `/_coreos.com/fleet/`); see docs/fleet.md §1.2 for
the table this module implements. Reads return sorted lists so callers iterate
deterministically.
"""

import math

import etcd

from .schema import (
    DEFAULT_PREFIX, ENGINE_VERSION, INACTIVE, Lease, MachineState, Unit, UnitState,
    job_object_hash, job_object_json, unit_body_from_json, unit_body_json,
)


def ttl_seconds(seconds):
    """etcd v2 TTLs are whole seconds; never round a short TTL down to none."""
    return max(1, int(math.ceil(seconds)))


class Registry:
    """Typed access to fleet's keys through an etcd client (python-etcd API)."""

    def __init__(self, client, prefix=DEFAULT_PREFIX):
        self.client = client
        self.prefix = "/" + prefix.strip("/")

    def key(self, *parts):
        return "/".join((self.prefix,) + parts)

    def _leaves(self, *parts):
        """(path parts below `key(*parts)`, node) for every value under it."""
        base = self.key(*parts)
        try:
            result = self.client.read(base, recursive=True, sorted=True)
        except etcd.EtcdKeyNotFound:
            return []
        leaves = []
        for node in result.leaves:
            if node.dir or node.key == base:
                continue  # an empty directory, e.g. a machine whose object expired
            leaves.append((node.key[len(base) + 1:].split("/"), node))
        return leaves

    def _value(self, *parts):
        try:
            return self.client.read(self.key(*parts)).value
        except etcd.EtcdKeyNotFound:
            return None

    def _delete(self, *parts, **conditions):
        """Delete a key; False if it was already gone."""
        try:
            self.client.delete(self.key(*parts), **conditions)
        except etcd.EtcdKeyNotFound:
            return False
        return True

    # --- machines -------------------------------------------------------

    def machines(self):
        """Live machines sorted by ID, static metadata overlaid by dynamic."""
        objects, dynamic = {}, {}
        for path, node in self._leaves("machines"):
            machine_id = path[0]
            if path[1:] == ["object"]:
                objects[machine_id] = MachineState.from_json(node.value)
            elif len(path) == 3 and path[1] == "metadata":
                dynamic.setdefault(machine_id, {})[path[2]] = node.value
        machines = []
        for machine_id in sorted(objects):
            state = objects[machine_id]
            if not state.id:
                continue
            for key, value in dynamic.get(machine_id, {}).items():
                if value:
                    state.metadata[key] = value
                else:
                    state.metadata.pop(key, None)
            machines.append(state)
        return machines

    def register_machine(self, state, ttl):
        """Create-only: fails with EtcdAlreadyExist if the ID is already live."""
        self.client.write(self.key("machines", state.id, "object"), state.to_json(),
                          ttl=ttl_seconds(ttl), prevExist=False)

    def refresh_machine(self, state, ttl):
        """Heartbeat: update the presence key, recreating it if it expired."""
        key = self.key("machines", state.id, "object")
        try:
            self.client.write(key, state.to_json(), ttl=ttl_seconds(ttl), prevExist=True)
        except etcd.EtcdKeyNotFound:
            self.client.write(key, state.to_json(), ttl=ttl_seconds(ttl), prevExist=False)

    def remove_machine(self, machine_id):
        self._delete("machines", machine_id, "object")

    def set_machine_metadata(self, machine_id, key, value):
        self.client.write(self.key("machines", machine_id, "metadata", key), value)

    def delete_machine_metadata(self, machine_id, key):
        """A "" tombstone removes a static key from the merged view too."""
        self.set_machine_metadata(machine_id, key, "")

    # --- units ----------------------------------------------------------

    def units(self):
        """Every unit with a body, sorted by name."""
        bodies = {path[0]: node.value for path, node in self._leaves("unit") if len(path) == 1}
        fields = {}
        for path, node in self._leaves("job"):
            if len(path) == 2:
                fields.setdefault(path[0], {})[path[1]] = node.value
        units = []
        for name in sorted(fields):
            unit = self._unit_from_fields(name, fields[name], bodies.get)
            if unit is not None:
                units.append(unit)
        return units

    def unit(self, name):
        fields = {path[0]: node.value for path, node in self._leaves("job", name) if len(path) == 1}
        return self._unit_from_fields(name, fields, lambda h: self._value("unit", h))

    @staticmethod
    def _unit_from_fields(name, fields, body_of):
        if "object" not in fields:
            return None
        body = body_of(job_object_hash(fields["object"]))
        if body is None:
            return None
        return Unit(
            name=name,
            unit_file=unit_body_from_json(body),
            target_state=fields.get("target-state") or INACTIVE,
            target_machine=fields.get("target") or "",
            job_state_machine=fields.get("job-state") or "",
        )

    def create_unit(self, name, unit_file, target_state=INACTIVE):
        """Store the body (content-addressed), the job object and the desired state.

        A new unit first clears what may be left under its name: an engine that placed the
        previous unit of that name as it was destroyed re-creates `job/<name>/target` (a v2
        write makes the directory again), which would place the new unit unchosen.
        """
        unit_hash = unit_file.hash()
        if self._value("job", name, "object") is None:
            self._delete("job", name, recursive=True)
        try:
            self.client.write(self.key("unit", unit_hash), unit_body_json(unit_file), prevExist=False)
        except etcd.EtcdAlreadyExist:
            pass  # same contents already stored: bodies are never garbage-collected
        self.client.write(self.key("job", name, "object"), job_object_json(name, unit_hash))
        self.set_target_state(name, target_state)

    def destroy_unit(self, name):
        """Delete the whole job directory; False if the unit did not exist."""
        try:
            self.client.delete(self.key("job", name), recursive=True)
        except etcd.EtcdKeyNotFound:
            return False
        return True

    def set_target_state(self, name, state):
        self.client.write(self.key("job", name, "target-state"), state)

    def schedule_unit(self, name, machine_id):
        """Engine decision; create-only so two engines cannot both place it."""
        self.client.write(self.key("job", name, "target"), machine_id, prevExist=False)

    def unschedule_unit(self, name, machine_id):
        """Remove the decision, only if it still names `machine_id`."""
        try:
            self._delete("job", name, "target", prevValue=machine_id)
        except etcd.EtcdCompareFailed:
            pass

    def set_job_state(self, name, machine_id, ttl):
        """The agent's "launched" heartbeat."""
        self.client.write(self.key("job", name, "job-state"), machine_id, ttl=ttl_seconds(ttl))

    def clear_job_state(self, name, machine_id):
        """Drop `machine_id`'s launched heartbeat, never a newer owner's
        (fleet deletes unconditionally; the guard avoids a spurious `loaded`)."""
        try:
            self._delete("job", name, "job-state", prevValue=machine_id)
        except etcd.EtcdCompareFailed:
            pass

    # --- unit states ----------------------------------------------------

    def unit_states(self):
        """Every published systemd state, sorted by (unit name, machine ID)."""
        states = [UnitState.from_json(path[0], node.value)
                  for path, node in self._leaves("states") if len(path) == 2]
        return sorted(states, key=lambda s: (s.unit_name, s.machine_id))

    def save_unit_state(self, state, ttl):
        """Publish to the per-machine key and the legacy `P/state/<unit>` one."""
        value = state.to_json()
        self.client.write(self.key("states", state.unit_name, state.machine_id), value,
                          ttl=ttl_seconds(ttl))
        self.client.write(self.key("state", state.unit_name), value, ttl=ttl_seconds(ttl))

    def remove_unit_state(self, name):
        """fleet drops the legacy key and the unit's whole states directory."""
        self._delete("state", name)
        try:
            self.client.delete(self.key("states", name), recursive=True)
        except etcd.EtcdKeyNotFound:
            pass

    # --- engine ---------------------------------------------------------

    def engine_version(self):
        value = self._value("engine", "version")
        return int(value) if value else 0

    def upgrade_engine_version(self, current):
        """CAS the cluster engine version up to ours."""
        key = self.key("engine", "version")
        if current == 0:
            self.client.write(key, str(ENGINE_VERSION), prevExist=False)
        else:
            self.client.write(key, str(ENGINE_VERSION), prevValue=str(current))

    def lease(self):
        try:
            node = self.client.read(self.key("lease", "engine-leader"))
        except etcd.EtcdKeyNotFound:
            return None
        return Lease.from_json(node.value, node.modifiedIndex, node.ttl or 0)

    def acquire_lease(self, machine_id, ttl):
        """Create the lease if nobody holds it; None if someone does."""
        lease = Lease(machine_id, ENGINE_VERSION)
        try:
            node = self.client.write(self.key("lease", "engine-leader"), lease.to_json(),
                                     ttl=ttl_seconds(ttl), prevExist=False)
        except etcd.EtcdAlreadyExist:
            return None
        lease.index = node.modifiedIndex
        return lease

    def renew_lease(self, lease, ttl):
        """Extend our lease; raises EtcdCompareFailed/KeyNotFound if it is no longer ours."""
        renewed = Lease(lease.machine_id, ENGINE_VERSION)
        node = self.client.write(self.key("lease", "engine-leader"), renewed.to_json(),
                                 ttl=ttl_seconds(ttl), prevIndex=lease.index)
        renewed.index = node.modifiedIndex
        return renewed

    def steal_lease(self, old, machine_id, ttl):
        """Take over an old-version lease (compare on its index)."""
        lease = Lease(machine_id, ENGINE_VERSION)
        node = self.client.write(self.key("lease", "engine-leader"), lease.to_json(),
                                 ttl=ttl_seconds(ttl), prevIndex=old.index)
        lease.index = node.modifiedIndex
        return lease

    def release_lease(self, lease):
        try:
            self._delete("lease", "engine-leader", prevIndex=lease.index)
        except etcd.EtcdCompareFailed:
            pass

    # --- events ---------------------------------------------------------

    def job_index(self):
        """The etcd index to start watching `P/job` from."""
        try:
            return self.client.read(self.key("job")).etcd_index
        except etcd.EtcdKeyNotFound as error:
            return int(error.payload.get("index", 0)) if isinstance(error.payload, dict) else 0

    def wait_for_job_event(self, index, timeout):
        """Block until something under `P/job` changes after `index`.

        Returns (next index, True if the change was to a `target` or
        `target-state` key, the only ones that trigger reconciles), or
        (index, False) when `timeout` passes quietly.
        """
        try:
            node = self.client.read(self.key("job"), wait=True, recursive=True,
                                    waitIndex=index + 1, timeout=timeout)
        except etcd.EtcdWatchTimedOut:
            return index, False
        except etcd.EtcdEventIndexCleared:
            return self.job_index(), True
        return node.modifiedIndex, node.key.rsplit("/", 1)[-1] in ("target", "target-state")
