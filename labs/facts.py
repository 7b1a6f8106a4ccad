"""A machine's health, as `/usr/lib/coreos/machine-facts` prints it on the machine, and the
one table of them that `lab status` and the notebooks' dashboard both show.

The facts are read two ways: the launcher through `docker exec` (works even when SSH does
not), the learner's toolkit over SSH (the only way into a classroom student's machines).
Whichever way they came, they are parsed, judged healthy or not, and shown here, once.
Stdlib only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from labs.node import machine_facts

FACTS_COMMAND = "/usr/lib/coreos/machine-facts"
HEADER = ["machine", "state", "IP", "etcd member", "etcd leader", "containers", "failed units"]


@dataclass
class MachineFacts:
    """What one machine reported, or why it reported nothing."""

    machine: str
    up: bool                    # the machine answered (its facts may still be unreadable)
    facts: dict = field(default_factory=dict)
    error: str = ""             # why there are no facts: "stopped", "not reachable over SSH", ...

    @classmethod
    def parse(cls, machine: str, output: str, error: str = "") -> "MachineFacts":
        """The facts from machine-facts' JSON output; unreadable output becomes `error`."""
        try:
            facts = json.loads(output)
        except ValueError:
            return cls(machine, True, {}, error or f"machine-facts printed no JSON: {output[-200:]!r}")
        return cls(machine, True, facts if isinstance(facts, dict) else {}, error)

    @classmethod
    def down(cls, machine: str, why: str) -> "MachineFacts":
        return cls(machine, False, {}, why)

    @property
    def system(self) -> str:
        """systemd's `is-system-running` (running, starting, degraded), or why it is unknown."""
        if not self.up:
            return "down"
        return self.facts.get("system") or "unknown"

    @property
    def ip(self) -> str:
        return self.facts.get("ip") or "-"

    @property
    def etcd_member(self) -> str:
        """The machine's etcd member name ('' when etcd does not answer there)."""
        return self.facts.get("etcd_member") or ""

    @property
    def etcd_leader(self) -> str:
        """The leader's member name as this machine sees it ('' without a leader)."""
        return self.facts.get("etcd_leader") or ""

    @property
    def failed_units(self) -> list[str]:
        return list(self.facts.get("failed_units", []))

    def healthy(self, expected_members: int) -> bool:
        """The machine answered and is healthy by the rule it waits on itself (machine_facts)."""
        return self.up and machine_facts.healthy(self.facts, expected_members)


@dataclass
class MachineRow:
    """One line of the table: what `lab status` prints and the dashboard shows."""

    machine: str
    up: bool
    ip: str = "-"
    system: str = "-"
    etcd_member: str = "-"      # "yes (leader)", "yes (follower)", "no"
    etcd_leader: str = "-"      # the leader, by machine name where one is that member
    containers: str = "-"
    failed_units: str = "-"
    error: str = ""

    def cells(self) -> list[str]:
        return [self.machine, self.system, self.ip, self.etcd_member, self.etcd_leader,
                self.containers, self.failed_units]


def rows(items: list[MachineFacts]) -> list[MachineRow]:
    """The table's rows, in the order of `items`."""
    machine_of = {item.etcd_member: item.machine for item in items if item.etcd_member}
    table = []
    for item in items:
        f = item.facts
        state = f.get("etcd_state", "").replace("State", "").lower()
        member = ("yes" + (f" ({state})" if state else "")) if item.etcd_member else (
            "no" if f else "-")
        table.append(MachineRow(
            item.machine, item.up, item.ip, item.system, member,
            machine_of.get(item.etcd_leader, item.etcd_leader[:12]) or "-",
            (str(f.get("containers", 0)) if f.get("docker") else "docker down" if f else "-"),
            ", ".join(item.failed_units) or "-", item.error))
    return table


def text(table: list[MachineRow], stamp: str = "") -> str:
    """The rows as aligned plain text, then one line per machine that has an error."""
    lines = [HEADER] + [row.cells() for row in table]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    out = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
           for line in lines]
    out += [f"{row.machine}: {row.error}" for row in table if row.error]
    if stamp:
        out.append(f"(as of {stamp})")
    return "\n".join(out)
