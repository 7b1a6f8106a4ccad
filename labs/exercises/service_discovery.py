"""Notebook 07-service-discovery: its exercises, and the helpers its cells use.

The 2015 pattern end to end: `web@.service` (busybox httpd, its greeting read from etcd),
its sidekick `web-discovery@.service` (announces it under /services/web with a TTL), a consumer
that keeps the live backends in /run/web-backends on every machine, and a timeline of etcd's
watch events for the failover drills. The fleet readers come from notebook 04's module.
"""

from __future__ import annotations

import json
import threading
import time

from labs import lesson
from labs.checks import exercise, failed, passed
from labs.exercises import fleet_state as fl
from labs.exercises.common import etcd_node

GREETING_KEY = "/config/web/greeting"
REGISTRY = "/services/web"
PORT = 8080
TTL = 20  # the sidekick's --ttl; it refreshes every 5 s
INSTANCES = ("web@1.service", "web@2.service")
SIDEKICKS = ("web-discovery@1.service", "web-discovery@2.service")
CONSUMER = "web-backends.service"
UNITS = INSTANCES + SIDEKICKS + ("web@.service", "web-discovery@.service", CONSUMER, "web-fleet.service")
FILES = ("web@.service", "web-discovery@.service", CONSUMER, "web-user-data.yml")

WEB_UNIT = """\
[Unit]
Description=Web server %i: busybox httpd, its greeting from etcd
After=docker.service
Requires=docker.service

[Service]
TimeoutStartSec=0
ExecStartPre=-/usr/bin/docker kill web-%i
ExecStartPre=-/usr/bin/docker rm web-%i
ExecStartPre=/bin/sh -c "mkdir -p /tmp/web-%i && echo \\"$(etcdctl get /config/web/greeting) from web@%i on %H\\" > /tmp/web-%i/index.html"
ExecStart=/usr/bin/docker run --rm --name web-%i -p 8080:80 -v /tmp/web-%i:/www:ro busybox /bin/sh -c "trap 'exit 0' TERM; httpd -f -p 80 -h /www & wait"
ExecStop=/usr/bin/docker stop web-%i

[X-Fleet]
Conflicts=web@*.service
"""

DISCOVERY_UNIT = """\
[Unit]
Description=Announce web@%i in etcd
BindsTo=web@%i.service
After=web@%i.service

[Service]
ExecStart=/bin/sh -c "while true; do etcdctl set /services/web/web@%i '{ \\"host\\": \\"%H\\", \\"port\\": 8080 }' --ttl 20; sleep 5; done"
ExecStop=/usr/bin/etcdctl rm /services/web/web@%i

[X-Fleet]
MachineOf=web@%i.service
"""


CONSUMER_UNIT = """\
[Unit]
Description=Keeps the live web backends in /run/web-backends (reads /services/web)
After=etcd2.service

[Service]
ExecStart=/bin/sh -c "while true; do for key in $$(etcdctl ls /services/web 2>/dev/null); do etcdctl get $$key | jq -r '.host + \\":\\" + (.port | tostring)'; done > /run/web-backends.new; mv /run/web-backends.new /run/web-backends; etcdctl watch --recursive /services/web >/dev/null; done"

[Install]
WantedBy=multi-user.target

[X-Fleet]
Global=true
"""


def start_the_service(cluster) -> None:
    """web@1/2, their sidekicks and the consumer, as the notebook's steps 2-4 leave them
    (the last exercise builds on them), started where they do not run yet."""
    running = fl.running(cluster)
    if not all(unit in running for unit in INSTANCES):
        solve_web(cluster)
    if not all(unit in running for unit in SIDEKICKS):
        solve_sidekick(cluster)
    if CONSUMER not in running:
        cluster[fl.CONTROL].run(f"cat > {fl.UNIT_DIR}/{CONSUMER}", input=CONSUMER_UNIT)
        fl.fleetctl(cluster, f"start --no-block {fl.UNIT_DIR}/{CONSUMER}")
    fl.wait_until(lambda: all(len(listed(cluster, m)) == 2 for m in cluster.machines),
                  "every machine's consumer to list both backends", 60, state=lambda: what_runs(cluster))


def what_runs(cluster) -> str:
    """fleet's units, the registry and each machine's web units and containers: what a
    failed wait shows, so that the failure says where the service got stuck."""
    lines = [fl.fleetctl(cluster, "list-units", check=False).stdout,
             f"registry: {backends(cluster)}"]
    for name, result in cluster.run_all(
            "echo listed: $(cat /run/web-backends 2>/dev/null); systemctl --no-pager --all list-units 'web*' "
            "| grep '^ *web' ; docker ps -a --format '{{.Names}} {{.Status}} {{.Ports}}'; "
            "journalctl -u 'web@*' -p warning -n 5 --no-pager -o cat", check=False).items():
        lines.append(f"--- {name}\n{result.stdout.strip()}")
    return "\n".join(lines)


def catch_up(cluster, exercise_id: str) -> None:
    """The next steps build on this exercise's units. A learner who skipped it (fleet does
    not know them) gets the reference units, and is told so; a learner's own units, working or
    not, are never replaced."""
    from labs.checks import EXERCISES
    units = {"sd-web": INSTANCES, "sd-sidekick": SIDEKICKS}[exercise_id]
    known = fl.unit_files(cluster)
    if all(unit in known for unit in units):
        print(f"{', '.join(units)}: yours, in fleet; the next steps use them")
        return
    EXERCISES[exercise_id].solve(cluster)
    fl.wait_until(lambda: (r := fl.running(cluster)) and all(u in r for u in units),
                  f"{' and '.join(units)} running", 90, state=lambda: what_runs(cluster))
    if exercise_id == "sd-sidekick":  # the next cell reads the registry with plain reads, on any member
        fl.wait_until(lambda: announced_on_every_member(cluster), f"{REGISTRY} listing both instances on every "
                      "member", 30, state=lambda: what_runs(cluster))
    print(f"{', '.join(units)} were not in fleet: the reference units (the solution above) now run, "
          f"so that the next steps work. The exercise stays open: destroy them and write your own.")


def announced_on_every_member(cluster) -> bool:
    """Every etcd member's own copy (`etcdctl --no-sync` asks the local one) lists both instances."""
    listings = cluster.run_all(f"etcdctl --no-sync ls {REGISTRY}", check=False).values()
    return all(len(listing.stdout.split()) == len(INSTANCES) for listing in listings)


def backends(cluster) -> dict[str, dict]:
    """The registry as the cluster agrees on it: instance (web@1) → its announced value (JSON)."""
    node = etcd_node(cluster, REGISTRY)
    entries = {}
    for leaf in node.leaves if node is not None and node.dir else ():
        if leaf.key != REGISTRY and not leaf.dir:
            try:
                entries[leaf.key.rsplit("/", 1)[1]] = json.loads(leaf.value)
            except ValueError:
                entries[leaf.key.rsplit("/", 1)[1]] = {"raw": leaf.value}
    return entries


def page(cluster, address: str, machine: str = fl.CONTROL) -> str:
    """What http://ADDRESS/ (host:port) answers, asked from `machine` ("" when nothing answers)."""
    return cluster[machine].run(f"curl -s --max-time 5 http://{address}/", check=False).stdout.strip()


def first_page(cluster, address: str, timeout: float = 30) -> str:
    """What http://ADDRESS/ answers, once it answers: systemd calls a `docker run` unit running
    when the client starts, about 1 s before the container's httpd listens."""
    return fl.wait_until(lambda: page(cluster, address), f"{address} to answer", timeout)


def listed(cluster, machine: str = fl.CONTROL) -> list[str]:
    """The backends (host:port) the consumer keeps in /run/web-backends on `machine`."""
    return cluster[machine].run("cat /run/web-backends 2>/dev/null; true").stdout.split()


@lesson.cleanup("07-service-discovery")
def forget(cluster) -> None:
    """No unit, file, container, key or consumer list of this notebook left; fleetd up everywhere."""
    cluster.run_all("sudo systemctl start fleet.service")
    fl.wait_until(lambda: len(fl.live_machines(cluster)) == len(cluster.machines), "every machine in fleet")
    fl.destroy(cluster, list(UNITS))
    cluster.run_all(f"cd /home/core && rm -f {' '.join(FILES)}; sudo systemctl disable --now {CONSUMER} "
                    f"web-fleet.service 2>/dev/null; sudo rm -rf /etc/systemd/system/{CONSUMER} /etc/systemd/system/web-fleet.service "
                    "/home/core/web /run/web-backends /tmp/web-1 /tmp/web-2; sudo systemctl daemon-reload; "
                    "docker rm -f web-1 web-2 >/dev/null 2>&1; true")
    cluster[fl.CONTROL].run(f"etcdctl rm --recursive {REGISTRY} >/dev/null 2>&1; "
                            f"etcdctl rm {GREETING_KEY} >/dev/null 2>&1; true")


# --- the failover timeline ---------------------------------------------------------------------

class Timeline:
    """etcd's watch events under the registry and fleet's keys, each with the time it arrived.

    Two watches (etcd v2 hides `/_coreos.com` from a watch on `/`) through `machine`, which the
    drills never halt. `mark()` adds the notebook's own moments (the halt, its end).
    """

    FLEET = "/_coreos.com/fleet"

    def __init__(self, cluster, machine: str = fl.CONTROL):
        self.names = {result.stdout.strip(): name for name, result in cluster.run_all("cat /etc/machine-id").items()}
        self.client = cluster.etcd(machine=machine, failover=False, read_timeout=5)
        self.start = time.monotonic()
        self.events: list[tuple[float, str]] = []
        self._stop = threading.Event()
        index = self.client.read("/").etcd_index + 1
        self._threads = [threading.Thread(target=self._watch, args=(key, index), daemon=True)
                         for key in (REGISTRY, self.FLEET)]
        for thread in self._threads:
            thread.start()

    def mark(self, what: str) -> None:
        self.events.append((time.monotonic() - self.start, what))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.client.close()

    def _watch(self, key: str, index: int) -> None:
        import etcd
        while not self._stop.is_set():
            try:
                event = self.client.watch(key, index=index, recursive=True, timeout=2)
            except (etcd.EtcdWatchTimedOut, etcd.EtcdConnectionFailed):
                continue
            except etcd.EtcdEventIndexCleared:
                index = self.client.read(key).etcd_index + 1
                continue
            index = event.modifiedIndex + 1
            what = self.describe(event)
            if what:
                self.events.append((time.monotonic() - self.start, what))

    def describe(self, event) -> str | None:
        """One line for an event that matters to the story, else None (refreshes, heartbeats)."""
        parts = event.key.split("/")
        previous = getattr(event, "_prev_node", None)
        if event.key.startswith(REGISTRY + "/"):
            instance = parts[-1]
            if event.action in ("delete", "expire"):
                how = "its sidekick's ExecStop deleted it" if event.action == "delete" else "its TTL ran out"
                return f"registry  {instance} gone: {how}"
            if previous is None or previous.value != event.value:
                host = json.loads(event.value).get("host", "?") if event.value.startswith("{") else event.value
                return f"registry  {instance} announced on {host}"
            return None
        if parts[-1] == "object" and "machines" in parts:
            machine = self.names.get(parts[-2], parts[-2][:8])
            if event.action in ("delete", "expire"):
                how = "its fleetd said goodbye" if event.action == "delete" else "its presence key expired"
                return f"fleet     {machine} left the cluster: {how}"
            return f"fleet     {machine} joined the cluster" if previous is None else None
        if parts[-1] == "target" and "job" in parts and parts[-2].startswith("web@"):
            if event.action in ("delete", "compareAndDelete", "expire"):
                return f"engine    {parts[-2]} unscheduled"
            return f"engine    {parts[-2]} scheduled to {self.names.get(event.value, event.value[:8])}"
        if "states" in parts and parts[-2].startswith("web@") and event.value:
            state = json.loads(event.value)
            was = json.loads(previous.value)["activeState"] if previous is not None and previous.value else None
            if state["activeState"] == "active" and was != "active":
                return f"systemd   {parts[-2]} active on {self.names.get(parts[-1], parts[-1][:8])}"
        return None

    def first(self, text: str) -> float | None:
        """When the first event containing `text` arrived (seconds since the timeline began)."""
        return next((at for at, what in sorted(self.events) if text in what), None)

    def render(self, since: float = 0.0, width: int = 40) -> str:
        """The events as a table, each with a bar as long as its time since `since`."""
        rows = [(at - since, what) for at, what in sorted(self.events) if at >= since - 0.5]
        if not rows:
            return "(no events)"
        longest = max(max(at for at, _ in rows), 1.0)
        return "\n".join(f"{at:6.1f} s  {'█' * max(1, round(width * max(at, 0) / longest)):<{width}}  {what}"
                         for at, what in rows)


# --- exercises ----------------------------------------------------------------------------------

def _write_and_start(cluster, name: str, text: str, instances) -> None:
    """Write a template and start its instances; the check waits for them (fleetctl's own wait
    gives systemd only 2 s, less than a container unit with three ExecStartPre= may need)."""
    cluster[fl.CONTROL].run(f"cat > {fl.UNIT_DIR}/{name}", input=text)
    fl.fleetctl(cluster, f"start --no-block {' '.join(f'{fl.UNIT_DIR}/{unit}' for unit in instances)}")


@exercise("sd-web", "A web service whose greeting comes from etcd", "07-service-discovery")
def sd_web(cluster):
    files = fl.unit_files(cluster)
    missing = [unit for unit in INSTANCES if unit not in files]
    if missing:
        return failed(f"fleet does not know {', '.join(missing)}: a template unit, written on core-01 and "
                      "handed to fleet as in notebook 04 (templates, step 5)",
                      "write web@.service in core-01's home directory, then `fleetctl start web@1 web@2`")
    if not any(pattern.startswith("web@") for pattern in fl.unit_requirements(cluster, INSTANCES[0]).conflicts):
        return failed("web@1 and web@2 may share a machine: fleet spread them only because the machines were "
                      "empty. Something under `[X-Fleet]` must keep the instances apart (notebook 04)",
                      "`Conflicts=web@*.service` under `[X-Fleet]`; destroy both, fix the template, start them "
                      "again")
    where = fl.wait_until(lambda: (r := fl.running(cluster)) and all(u in r for u in INSTANCES) and r,
                          "web@1 and web@2 running", 60, state=lambda: what_runs(cluster))
    machines = [where[unit][0] for unit in INSTANCES]
    greeting = cluster[fl.CONTROL].run(f"etcdctl get {GREETING_KEY}", check=False).stdout.strip()
    for unit, machine in zip(INSTANCES, machines):
        instance = unit.split("@")[1].split(".")[0]
        answer = first_page(cluster, f"{machine}:{PORT}")
        if answer != f"{greeting} from web@{instance} on {machine}":
            return failed(f"http://{machine}:{PORT}/ answers {answer!r}, expected "
                          f"{greeting + ' from web@' + instance + ' on ' + machine!r}: look at what writes "
                          "the page, and when, before the container serves it",
                          f"an ExecStartPre= writes the page from `etcdctl get {GREETING_KEY}` (%i, %H) "
                          f"before `docker run -p {PORT}:80` publishes it")
    return passed(f"web@1 on {machines[0]}, web@2 on {machines[1]}, each serving {greeting!r} from etcd")


@sd_web.solution
def solve_web(cluster):
    cluster[fl.CONTROL].run(f"etcdctl get {GREETING_KEY} >/dev/null 2>&1 || etcdctl set {GREETING_KEY} Hello")
    _write_and_start(cluster, "web@.service", WEB_UNIT, INSTANCES)


@sd_web.reset
def _(cluster):
    fl.destroy(cluster, list(INSTANCES + SIDEKICKS) + ["web@.service"])


@exercise("sd-sidekick", "A sidekick that announces each instance", "07-service-discovery")
def sd_sidekick(cluster):
    files = fl.unit_files(cluster)
    missing = [unit for unit in SIDEKICKS if unit not in files]
    if missing:
        return failed(f"fleet does not know {', '.join(missing)}: the sidekick template is yours to "
                      "write, from the docs' pattern in this step",
                      "write web-discovery@.service, then `fleetctl start web-discovery@1 web-discovery@2`")
    requirements = fl.unit_requirements(cluster, SIDEKICKS[0])
    if requirements.peers != ["web@1.service"]:
        return failed("web-discovery@1 is not tied to the machine of web@1: an announcement from another "
                      "machine would name the wrong host ([X-Fleet], notebook 04)",
                      "`MachineOf=web@%i.service` under `[X-Fleet]`")
    if "BindsTo=web@%i.service" not in fl.fleetctl(cluster, f"cat {SIDEKICKS[0]}").stdout:
        return failed("the sidekick does not stop with its web server, so a dead server stays announced "
                      "(unit dependencies, notebook 05)", "`BindsTo=web@%i.service` under `[Unit]`")
    where = fl.wait_until(lambda: (r := fl.running(cluster)) and all(u in r for u in INSTANCES + SIDEKICKS) and r,
                          "the web servers and their sidekicks running", 60, state=lambda: what_runs(cluster))
    entries = fl.wait_until(lambda: (b := backends(cluster)) and len(b) == 2 and b,
                            f"two entries under {REGISTRY}", 30)
    for unit, sidekick in zip(INSTANCES, SIDEKICKS):
        instance = unit[:-len(".service")]
        if where[sidekick] != where[unit]:
            return failed(f"{sidekick} runs on {where[sidekick]}, {unit} on {where[unit]}: MachineOf= keeps them together")
        entry = entries.get(instance, {})
        if entry.get("host") != where[unit][0] or entry.get("port") != PORT:
            return failed(f"{REGISTRY}/{instance} holds {entry}, expected "
                          f'{{"host": "{where[unit][0]}", "port": {PORT}}} (%H is the host name)')
        node = etcd_node(cluster, f"{REGISTRY}/{instance}")
        if node is None or not node.ttl:
            return failed(f"{REGISTRY}/{instance} has no TTL: if the machine dies, nothing ever removes "
                          "it (TTLs: notebook 02)", f"`etcdctl set … --ttl {TTL}` in the loop")
    return passed(f"{REGISTRY} lists web@1 on {entries['web@1']['host']} and web@2 on {entries['web@2']['host']}, "
                  "each with a TTL, kept alive by its sidekick")


@sd_sidekick.solution
def solve_sidekick(cluster):
    _write_and_start(cluster, "web-discovery@.service", DISCOVERY_UNIT, SIDEKICKS)


@sd_sidekick.reset
def _(cluster):
    fl.destroy(cluster, list(SIDEKICKS) + ["web-discovery@.service"])


@exercise("sd-greeting", "A new greeting on every backend", "07-service-discovery", greeting="Bonjour")
def sd_greeting(cluster, greeting):
    addresses = listed(cluster)
    if len(addresses) != 2:
        return failed(f"core-01's /run/web-backends lists {addresses or 'nothing'}: the consumer "
                      f"({CONSUMER}) should list both web servers")
    answers = {address: page(cluster, address) for address in addresses}
    stale = {backend: answer for backend, answer in answers.items() if not answer.startswith(f"{greeting} from ")}
    if stale:
        return failed(f"not every backend says {greeting!r} yet: {stale}. When is the page written?",
                      f"set {GREETING_KEY}, then restart the instances (ExecStartPre= runs at start)")
    running = fl.running(cluster)
    down = [sidekick for sidekick in SIDEKICKS if sidekick not in running]
    if down:
        return failed(f"{', '.join(down)} no longer run: BindsTo= stopped each sidekick with its web server, and "
                      f"fleet does not start a unit again by itself; within {TTL} s their entries expire",
                      "`fleetctl start` the sidekicks too (or restart web@ and its sidekick together)")
    return passed(f"every backend in /run/web-backends says {greeting!r}, and the sidekicks announce them")


@sd_greeting.solution
def _(cluster, greeting):
    start_the_service(cluster)
    cluster[fl.CONTROL].run(f"etcdctl set {GREETING_KEY} {greeting} >/dev/null")
    fl.fleetctl(cluster, "restart " + " ".join(INSTANCES + SIDEKICKS))

    def all_new():
        addresses, running = listed(cluster), fl.running(cluster)
        return (len(addresses) == 2 and all(page(cluster, address).startswith(greeting) for address in addresses)
                and all(unit in running for unit in SIDEKICKS))
    fl.wait_until(all_new, "every backend to say the new greeting, its sidekick running", 60)


@sd_greeting.reset
def _(cluster, greeting):
    cluster[fl.CONTROL].run(f"etcdctl set {GREETING_KEY} Hello >/dev/null")
