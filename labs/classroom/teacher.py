"""The teacher's view: one live row per student, for `lab class status`, the hub service and CSV.

    student  machines  etcd leader  failed units  00 01 02 ... (exercises done/total)  last active

Machine facts are read the way `lab status` reads them (`lifecycle.status`: one `docker ps`
for the machines' states, then `docker exec` on each). A student's progress is read *as the student* (their home is
closed to everyone else, root included by choice). Last activity is the hub's (JupyterHub
records every request a student's JupyterLab makes), or their last lab command.
"""

from __future__ import annotations

import csv
import io
import json
import pwd
import subprocess
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

from labs.classroom import studentlab
from labs.classroom.config import Classroom
from labs.facts import MachineFacts

@dataclass
class StudentRow:
    student: str
    machines: list[MachineFacts] = field(default_factory=list)
    created: bool = False
    progress: dict[str, tuple[int, int]] = field(default_factory=dict)   # notebook -> done, total
    last_activity: str = ""
    problem: str = ""

    @property
    def up(self) -> int:
        return sum(1 for m in self.machines if m.up)

    @property
    def halted(self) -> list[str]:
        return [m.machine for m in self.machines if not m.up]

    @property
    def leader(self) -> str:
        by_member = {m.etcd_member: m.machine for m in self.machines if m.etcd_member}
        leaders = {m.etcd_leader for m in self.machines if m.etcd_leader}
        return ", ".join(sorted(by_member.get(lead, lead[:12]) for lead in leaders)) or "-"

    @property
    def failed_units(self) -> list[str]:
        return sorted({f"{m.machine}:{unit}" for m in self.machines for unit in m.failed_units})

    @property
    def machines_text(self) -> str:
        if not self.created:
            return "no cluster yet"
        return f"{self.up}/{len(self.machines)} up"

    def cells(self, notebooks: list[str]) -> list[str]:
        return ([self.student, self.machines_text, self.leader, " ".join(self.failed_units) or "-"]
                + [f"{self.progress.get(nb, (0, 0))[0]}/{self.progress.get(nb, (0, 0))[1]}"
                   for nb in notebooks]
                + [self.last_activity or "-"])


def exercises_per_notebook() -> dict[str, list[str]]:
    from labs import checks

    checks.load_exercises()
    out: dict[str, list[str]] = defaultdict(list)
    for entry in checks.EXERCISES.values():
        out[entry.notebook].append(entry.id)
    return dict(sorted(out.items()))


def header(notebooks: list[str]) -> list[str]:
    return (["student", "machines", "etcd leader", "failed units"]
            + [nb.split("-", 1)[0] for nb in notebooks] + ["last active (UTC)"])


def read_progress(classroom: Classroom, student: str) -> dict:
    """~/.lab/progress.json, read with the student's own permissions."""
    entry = pwd.getpwnam(student)
    done = subprocess.run(["cat", str(classroom.student_lab(student) / "progress.json")],
                          user=entry.pw_uid, group=entry.pw_gid, extra_groups=[],
                          capture_output=True, text=True, timeout=10)
    try:
        return json.loads(done.stdout) if done.returncode == 0 else {}
    except ValueError:
        return {}


def last_activity(classroom: Classroom, student: str, hub_seen: str) -> str:
    """The later of the hub's last activity and the student's last lab command (UTC)."""
    seen = [hub_seen] if hub_seen else []
    request = classroom.lab_state(student) / "last-request"
    if request.exists():
        seen.append(datetime.fromtimestamp(request.stat().st_mtime, timezone.utc)
                    .strftime("%Y-%m-%d %H:%M:%S"))
    return max(seen, default="")


def hub_activity(classroom: Classroom) -> dict[str, str]:
    """{user: last activity} from JupyterHub's API ({} when the hub does not answer)."""
    from labs.classroom import hub

    request = urllib.request.Request(hub.local_url(classroom) + "hub/api/users",
                                     headers={"Authorization": f"token {hub.service_token(classroom)}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            users = json.load(reply)
    except (OSError, ValueError):
        return {}
    return {u["name"]: (u.get("last_activity") or "")[:19].replace("T", " ") for u in users}  # UTC


def rows(classroom: Classroom) -> list[StudentRow]:
    from labs.launcher import lifecycle

    from labs.launcher import resources

    notebooks = exercises_per_notebook()
    activity = hub_activity(classroom)

    def row(student: str) -> StudentRow:
        out = StudentRow(student, last_activity=last_activity(classroom, student,
                                                              activity.get(student, "")))
        done = read_progress(classroom, student).get("exercises", {})
        out.progress = {nb: (sum(1 for i in ids if i in done), len(ids))
                        for nb, ids in notebooks.items()}
        state = classroom.lab_state(student)
        if not (state / "settings.json").exists():
            return out
        lab = studentlab.load(classroom, student)
        machines = resources.machines(lab)
        out.created = bool(machines)
        if machines:
            out.machines = lifecycle.status(lab, machines)
        return out

    by_engine = defaultdict(list)
    for student in classroom.students:
        by_engine[studentlab.engine(classroom, student)].append(student)
    result = {}
    for engine, names in by_engine.items():     # DOCKER_HOST is process-wide: one engine at a time
        with studentlab.engine_environment(engine), ThreadPoolExecutor(max_workers=8) as pool:
            result.update(zip(names, pool.map(row, names)))
    return [result[student] for student in classroom.students]


def text(table: list[StudentRow]) -> str:
    notebooks = list(exercises_per_notebook())
    lines = [header(notebooks)] + [r.cells(notebooks) for r in table]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
                     for line in lines)


def csv_text(table: list[StudentRow]) -> str:
    notebooks = list(exercises_per_notebook())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["student", "machines_up", "machines", "etcd_leader", "failed_units"]
                    + [f"{nb} done" for nb in notebooks] + [f"{nb} total" for nb in notebooks]
                    + ["last_activity"])
    for r in table:
        writer.writerow([r.student, r.up, len(r.machines), r.leader, " ".join(r.failed_units)]
                        + [r.progress.get(nb, (0, 0))[0] for nb in notebooks]
                        + [r.progress.get(nb, (0, 0))[1] for nb in notebooks]
                        + [r.last_activity])
    return out.getvalue()
