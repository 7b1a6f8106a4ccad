"""Exercises of notebook 01-vagrant (launching the cluster), and what the notebook shows.

About 490 lines, on purpose: besides its four exercises it holds the few things notebook 01
reads from Python — 2015's user-data to compare with, the Ruby check, the ssh_config
comparison, the discovery URL the members met under — and the notebook imports it once, as
`launch`. Split it when a fifth exercise arrives.
"""

from __future__ import annotations

import time
from pathlib import Path

from labs import lesson
from labs.checks import exercise, failed, passed
from labs.cluster import ClusterError
from labs.exercises.common import etcd_leader, machine_ids


# --- what the notebook shows: 2015's files beside the lab's --------------------------------------

# coreos-vagrant's user-data.sample as of October 2015 (github.com/coreos/coreos-vagrant, commit
# 2f10b88): the cloud-config the course's seed describes.
USER_DATA_2015 = """\
#cloud-config

coreos:
  etcd2:
    #generate a new token for each unique cluster from https://discovery.etcd.io/new
    #discovery: https://discovery.etcd.io/<token>
    # multi-region and multi-cloud deployments need to use $public_ipv4
    advertise-client-urls: http://$public_ipv4:2379
    initial-advertise-peer-urls: http://$private_ipv4:2380
    # listen on both the official ports and the legacy ports
    # legacy ports can be omitted if your application doesn't depend on them
    listen-client-urls: http://0.0.0.0:2379,http://0.0.0.0:4001
    listen-peer-urls: http://$private_ipv4:2380,http://$private_ipv4:7001
  fleet:
    public-ip: $public_ipv4
  flannel:
    interface: $public_ipv4
  units:
    - name: etcd2.service
      command: start
    - name: fleet.service
      command: start
    - name: flanneld.service
      drop-ins:
      - name: 50-network-config.conf
        content: |
          [Service]
          ExecStartPre=/usr/bin/etcdctl set /coreos.com/network/config '{ "Network": "10.1.0.0/16" }'
      command: start
    - name: docker-tcp.socket
      command: start
      enable: true
      content: |
        [Unit]
        Description=Docker Socket for the API

        [Socket]
        ListenStream=2375
        Service=docker.service
        BindIPv6Only=both

        [Install]
        WantedBy=sockets.target
"""


def diff_with_2015(lab_user_data: str) -> str:
    """The lines coreos-vagrant's 2015 sample has and the lab's user-data has not, and back."""
    import difflib
    lines = difflib.unified_diff(USER_DATA_2015.splitlines(), lab_user_data.splitlines(),
                                 "user-data.sample (coreos-vagrant, 2015)", "vagrant/user-data",
                                 lineterm="", n=0)
    return "\n".join(line for line in lines if not line.startswith("@@"))


RUBY_OPEN_URI = """
puts "Ruby #{RUBY_VERSION}"
require "open-uri"
url = ARGV[0]
begin
  open(url).read                                  # config.rb.sample, 2015
  puts "open(url): works"
rescue => error
  puts "open(url): #{error.class}: #{error.message}"
end
puts "URI.open(url): #{URI.open(url).read}"       # what Ruby 3 wants instead
puts "File.exists?: #{File.respond_to?(:exists?) ? 'still there (deprecated)' : 'gone'}"
"""


def ruby_open_uri(url: str) -> str:
    """Run 2015's `open(url)` and Ruby 3's `URI.open(url)` on this computer's Ruby; its output,
    or why there is none."""
    import shutil
    import subprocess
    if shutil.which("ruby") is None:
        return "no `ruby` on this computer's PATH (your Vagrant brings its own): nothing to show"
    done = subprocess.run(["ruby", "-e", RUBY_OPEN_URI, url], capture_output=True, text=True,
                          timeout=60)
    return (done.stdout + done.stderr).strip()


def ssh_config_changes(vagrants: str, pinned: str, host: str) -> dict[str, tuple[str, str]]:
    """{option: (Vagrant's value, the lab's)} where the lab's ssh_config differs for `host`."""
    import paramiko
    ours = paramiko.SSHConfig.from_text(vagrants).lookup(host)
    lab = paramiko.SSHConfig.from_text(pinned).lookup(host)
    return {option: (ours.get(option), lab.get(option)) for option in sorted(set(ours) | set(lab))
            if ours.get(option) != lab.get(option)}


def exercise_dir() -> Path:
    """Where the launch exercises keep their files: `<lab state dir>/exercises/`."""
    from labs.launcher.settings import state_dir
    return state_dir() / "exercises"


def user_data_path(name: str) -> Path:
    return exercise_dir() / name


ETCD2_DROPIN = "/run/systemd/system/etcd2.service.d/20-cloudinit.conf"


@lesson.cleanup("01-vagrant")
def remember_cluster_discovery_url(cluster) -> None:
    """Note the token the members met under while the drop-ins still name it."""
    try:
        cluster_discovery_url(cluster)
    except ClusterError:
        pass            # already re-provisioned, and nothing remembered: step 11 says so


def cluster_discovery_url(cluster) -> str:
    """The discovery URL this cluster's members met under.

    The machines' etcd2 drop-in names it — until the cloud-config is provisioned again, since
    `vagrant up --provision` uploads a fresh token (config.rb mints one on every `up`); members
    with data ignore it,
    and a running etcd keeps the environment it started with. So the candidates are the
    drop-ins', the running etcd's and the one remembered in the lab's state directory; the
    right one's registry lists one member per machine, named by their machine-ids."""
    import re
    remembered = user_data_path("cluster-discovery-url")
    found = cluster.run_all(
        f"cat {ETCD2_DROPIN}; sudo cat /proc/$(systemctl show -p MainPID --value etcd2)/environ "
        f"| tr '\\0' '\\n'", check=False)
    candidates = sorted({url for result in found.values()
                         for url in re.findall(r"ETCD_DISCOVERY=([^\"\s]+)", result.stdout)})
    if remembered.exists():
        candidates.append(remembered.read_text().strip())
    members = set(machine_ids(cluster).values())
    for url in candidates:
        if registry_names(url) == members:
            remembered.parent.mkdir(parents=True, exist_ok=True)
            remembered.write_text(url + "\n")
            return url
    raise ClusterError("cannot tell which discovery token this cluster formed with",
                       "`lab reset` forms it again, through a fresh token")


def registry_names(url: str) -> set[str]:
    """The member names registered under a discovery URL's token (read from this computer)."""
    import json
    import urllib.request
    from labs.launcher import settings
    token = url.rstrip("/").rsplit("/", 1)[1]
    with urllib.request.urlopen(f"{settings.load().discovery_host_url}/{token}", timeout=10) as reply:
        nodes = json.load(reply)["node"].get("nodes", [])
    return {node["value"].split("=", 1)[0] for node in nodes if "value" in node}


# --- 01-vagrant: fix a broken user-data -------------------------------------------------------

# A correct vagrant/user-data, and the broken copy the learner fixes: three mistakes of the
# kind people made in 2015 (the discovery placeholder copied verbatim, a misspelt key, and a
# unit command systemd does not have).
FIXED_USER_DATA = """\
#cloud-config

coreos:
  etcd2:
    # config.rb writes a fresh discovery URL here on every `vagrant up`
    advertise-client-urls: http://$public_ipv4:2379
    initial-advertise-peer-urls: http://$private_ipv4:2380
    listen-client-urls: http://0.0.0.0:2379,http://0.0.0.0:4001
    listen-peer-urls: http://$private_ipv4:2380
  fleet:
    public-ip: $public_ipv4
  units:
    - name: etcd2.service
      command: start
    - name: fleet.service
      command: start
"""

BROKEN_USER_DATA = (FIXED_USER_DATA
                    .replace("    # config.rb writes a fresh discovery URL here on every `vagrant up`\n",
                             "    discovery: https://discovery.etcd.io/<token>\n")
                    .replace("listen-client-urls:", "listen-client-url:")
                    .replace("fleet.service\n      command: start", "fleet.service\n      command: launch"))


def write_broken_user_data() -> Path:
    """The broken copy the notebook validates: `<lab state dir>/exercises/user-data.broken`."""
    path = user_data_path("user-data.broken")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BROKEN_USER_DATA)
    return path


@exercise("launch-user-data", "Fix a broken cloud-config", "01-vagrant", file="user-data.fixed")
def launch_user_data(cluster, file):
    from labs.node import cloudconfig
    path = user_data_path(file)
    if not path.exists():
        return failed(f"there is no {path} yet: the `%%writefile` cell writes it; fix its lines, "
                      f"then run it", "the solution under the exercise shows the whole file")
    text = path.read_text()
    entries = cloudconfig.validate(text)
    if entries:
        return failed(f"`lab validate {path}` still reports: "
                      + "; ".join(str(entry) for entry in entries)
                      + " — the line numbers point at the lines of the cell",
                      "keys are spelt as in vagrant/user-data (step 4); a unit's command is start, "
                      "stop, restart, …; leave the discovery line out: config.rb adds one")
    coreos = cloudconfig.parse(text).get("coreos", {})
    commands = {unit.get("name"): unit.get("command") for unit in coreos.get("units", [])}
    for unit in ("etcd2.service", "fleet.service"):
        if commands.get(unit) != "start":
            return failed(f"{path} is valid, but no longer starts {unit}: the fix must keep "
                          f"what the file is for", f"- name: {unit}\n  command: start")
    listen = coreos.get("etcd2", {}).get("listen_client_urls", "")
    if ":2379" not in listen or ":4001" not in listen:
        return failed(f"{path} is valid, but etcd2 no longer listens for clients on 2379 and "
                      f"4001 of every address: the fix must keep what the file is for",
                      "listen-client-urls: http://0.0.0.0:2379,http://0.0.0.0:4001")
    return passed(f"{path} is valid and still starts etcd2 and fleet, clients on 2379 and 4001")


@launch_user_data.solution
def _(cluster, file):
    path = user_data_path(file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FIXED_USER_DATA)


@launch_user_data.reset
def _(cluster, file):
    user_data_path(file).unlink(missing_ok=True)


# --- who leads? A function that finds out, whoever leads ---------------------------------------

def reference_who_leads(cluster) -> str:
    """The reference answer: the leader's name in `etcdctl member list` is a machine-id."""
    listing = cluster[cluster.machines[0]].run("ETCDCTL_API=2 etcdctl member list").stdout
    leader_id = next(line.split(" name=")[1].split()[0] for line in listing.splitlines()
                     if "isLeader=true" in line)
    return next(name for name, machine_id in machine_ids(cluster).items() if machine_id == leader_id)


def move_leadership(cluster, away_from: str) -> str:
    """Make another member lead (etcd's `move-leader`, asked of the leader); the new leader."""
    listing = cluster[away_from].run("ETCDCTL_API=3 etcdctl member list").stdout
    ids = {name: machine_id for name, machine_id in machine_ids(cluster).items()}
    members = {line.split(", ")[2]: line.split(", ")[0] for line in listing.splitlines() if line}
    target = next(name for name in cluster.machines if name != away_from)
    cluster[away_from].run(f"ETCDCTL_API=3 etcdctl move-leader {members[ids[target]]}")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if etcd_leader(cluster) == target:
                return target
        except ClusterError:
            pass
        time.sleep(0.3)
    raise ClusterError(f"etcd's leadership did not move to {target}")


@exercise("launch-leader", "A function that finds the etcd leader", "01-vagrant", finder=None)
def launch_leader(cluster, finder):
    show = ("parse `etcdctl member list` on any machine (the isLeader=true line's name=), then "
            "find the machine whose /etc/machine-id is that name: "
            "cluster.run_all(\"cat /etc/machine-id\")")
    if not callable(finder):
        return failed("give your function to the check: checks.check(\"launch-leader\", "
                      "finder=who_leads)", show)

    def ask():
        try:
            return finder(cluster), None
        except Exception as error:          # the learner's code: report it, do not raise
            return None, f"{type(error).__name__}: {error}"

    leader = etcd_leader(cluster)
    answer, error = ask()
    if error:
        return failed(f"who_leads raised {error}", show)
    if answer is None:
        return failed("who_leads returned None: it has no code yet, or no `return`", show)
    if answer != leader:
        return failed(f"who_leads returned {answer!r}; the leader right now is another machine. "
                      f"etcdctl names members by machine-id (step 10), so the function must turn "
                      f"that name into a hostname", show)
    moved = move_leadership(cluster, leader)
    answer, error = ask()
    if error or answer != moved:
        return failed(f"who_leads found {leader} — then the check moved the leadership to "
                      f"{moved}, and it said {answer!r}{' (' + error + ')' if error else ''}: "
                      f"it must find out, not remember", show)
    return passed(f"who_leads found {leader}, and {moved} after the check moved the leadership: "
                  f"it reads the cluster, whoever leads")


@launch_leader.solution
def _(cluster, finder):
    return {"finder": reference_who_leads}


@launch_leader.reset
def _(cluster, finder):
    """Nothing of it is left on the machines."""


# --- change the launch: fleet metadata from user-data ----------------------------------------

METADATA_LINE = "    metadata: provider=vagrant"
UPLOADED = "/var/lib/coreos-vagrant/vagrantfile-user-data"
FLEET_DROPIN = "/run/systemd/system/fleet.service.d/20-cloudinit.conf"
PROVISION = "vagrant provision"


def source_user_data() -> Path:
    """The user-data the learner edits: vagrant/user-data (a classroom student's own copy)."""
    from labs.launcher import settings
    return settings.load().user_data


def fleet_metadata(cluster) -> dict[str, str]:
    """{machine: METADATA column of `fleetctl list-machines`} by hostname."""
    from labs.exercises.common import machine_ids as ids_of
    names = {machine_id: name for name, machine_id in ids_of(cluster).items()}
    out = cluster[cluster.machines[0]].run(
        "fleetctl list-machines --full --no-legend --fields=machine,metadata", check=False)
    if not out.ok:
        raise ClusterError(f"`fleetctl list-machines` on {cluster.machines[0]} failed: "
                           f"{(out.stderr or out.stdout).strip()[:160]}")
    rows = (line.split("\t") for line in out.stdout.splitlines())
    return {names.get(cells[0], cells[0]): cells[-1] for cells in rows if len(cells) >= 2}


def launch_state(cluster, wanted: str) -> dict[str, list[str] | bool]:
    """Where `wanted` (key=value) is, on the way from vagrant/user-data to fleet."""
    from labs.node import cloudconfig
    text = source_user_data().read_text()
    in_source = wanted in str((cloudconfig.parse(text).get("coreos") or {}).get("fleet", {})
                              .get("metadata", ""))
    uploaded = [name for name, r in cluster.run_all(f"grep -q 'metadata: {wanted}' {UPLOADED}",
                                                    check=False).items() if r.ok]
    dropins = [name for name, r in cluster.run_all(
        f"grep -q 'FLEET_METADATA={wanted}' {FLEET_DROPIN}", check=False).items() if r.ok]
    try:
        announced = fleet_announcing(cluster, wanted)
    except ClusterError:
        announced = []              # fleet not answering: nothing it announces is known
    return {"source": in_source, "uploaded": uploaded, "dropins": dropins, "announced": announced}


def relaunch(cluster, wanted: str, present: bool) -> None:
    """What the learner does after editing: provision again (`vagrant provision`), wait until
    coreos-cloudinit (started by the upload, not by Vagrant) has rewritten fleet's drop-in, then
    restart fleet so that it reads its new environment."""
    from labs import host
    remember_cluster_discovery_url(cluster)       # before a fresh token replaces it
    host.run(PROVISION, vagrant=True, quiet=True, timeout=300)
    wait_dropins(cluster, wanted, present)
    cluster.run_all("sudo systemctl restart fleet.service", timeout=120)


def wait_dropins(cluster, wanted: str, present: bool, timeout: float = 60) -> None:
    """Until coreos-cloudinit has written fleet's drop-in with (or without) `wanted`
    everywhere and finished: the upload starts it through a path unit, after Vagrant has
    returned. It writes the drop-in before its one daemon-reload; a fleet restarted in
    between would start with the old environment, so systemd must have read the drop-in too."""
    probe = (f"grep -q 'FLEET_METADATA={wanted}' {FLEET_DROPIN} && echo with || echo without; "
             "systemctl is-active coreos-cloudinit.service; "
             "systemctl show -p NeedDaemonReload --value fleet.service")
    deadline = time.monotonic() + timeout
    while True:
        # per machine: [with|without, coreos-cloudinit's state, fleet needs a daemon-reload]
        states = {name: r.stdout.split() for name, r in cluster.run_all(probe, check=False).items()}
        dropins = [name for name, words in states.items() if words[:1] == ["with"]]
        written = sorted(dropins) == sorted(cluster.machines) if present else not dropins
        finished = all(len(words) == 3 and words[1] != "activating" and words[2] == "no"
                       for words in states.values())
        if written and finished:
            return
        if time.monotonic() > deadline:
            raise ClusterError(f"coreos-cloudinit did not {'write' if present else 'remove'} {wanted} "
                               f"in {FLEET_DROPIN} and finish within {timeout} s (machines with it: "
                               f"{', '.join(dropins) or 'none'})",
                               "journalctl --identifier=coreos-cloudinit -o cat | tail, on those machines")
        time.sleep(1)


def edit_source(add: bool) -> None:
    path = source_user_data()
    lines = path.read_text().splitlines(keepends=True)
    lines = [line for line in lines if line.rstrip("\n") != METADATA_LINE]
    if add:
        at = next(i for i, line in enumerate(lines) if line.strip() == "public-ip: $public_ipv4")
        lines.insert(at + 1, METADATA_LINE + "\n")
    path.write_text("".join(lines))


def wait_announced(cluster, wanted: str, present: bool, timeout: float = 90) -> list[str]:
    """Until fleet announces `wanted` on every machine (or, not present, on none): a fleetd that
    just restarted registers again within seconds, longer on a busy host. The machines that
    announce it, when the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            announced = fleet_announcing(cluster, wanted)
        except ClusterError:
            if time.monotonic() > deadline:
                raise               # the check then says why fleet could not be asked
        else:
            done = sorted(announced) == sorted(cluster.machines) if present else not announced
            if done or time.monotonic() > deadline:
                return announced
        time.sleep(1)


def fleet_announcing(cluster, wanted: str) -> list[str]:
    return [name for name, meta in fleet_metadata(cluster).items() if wanted in meta]


@exercise("vagrant-metadata", "Change the launch: fleet metadata from user-data", "01-vagrant",
          wanted="provider=vagrant")
def vagrant_metadata(cluster, wanted):
    state = launch_state(cluster, wanted)
    machines = list(cluster.machines)
    if not state["source"]:
        return failed(f"vagrant/user-data has no `metadata: {wanted}` under `coreos.fleet` yet: "
                      f"open vagrant/user-data in JupyterLab's file browser and edit it (step 4 "
                      f"shows the file), then save it", f"under `fleet:`, below public-ip:\n{METADATA_LINE}")
    missing = [m for m in machines if m not in state["uploaded"]]
    if missing:
        return failed(f"vagrant/user-data has the metadata, but {', '.join(missing)} still "
                      f"{'has' if len(missing) == 1 else 'have'} the cloud-config of the last "
                      f"launch ({UPLOADED}): Vagrant uploads it when it provisions (step 10)",
                      f'sh("{PROVISION}")   (in a terminal, in vagrant/: {PROVISION})')
    missing = [m for m in machines if m not in state["dropins"]]
    if missing:
        return failed(f"the new cloud-config is on {', '.join(missing)}, but coreos-cloudinit has "
                      f"not written it into {FLEET_DROPIN} (yet): its journal says what it did "
                      f"(step 9)", "journalctl --identifier=coreos-cloudinit -o cat | tail")
    announced = wait_announced(cluster, wanted, present=True, timeout=20)
    missing = [m for m in machines if m not in announced]
    if missing:
        return failed(f"fleet's drop-in has FLEET_METADATA={wanted}, but fleet on "
                      f"{', '.join(missing)} does not announce it: coreos-cloudinit only ran "
                      f"`systemctl start fleet.service`, which leaves a running service as it is; "
                      f"a process reads its environment when it starts",
                      "%%remote all\nsudo systemctl restart fleet.service")
    return passed(f"every machine's fleet announces {wanted}: from vagrant/user-data, through "
                  f"Vagrant's upload, coreos-cloudinit's drop-in and a restart of fleet")


@vagrant_metadata.solution
def _(cluster, wanted):
    edit_source(add=True)
    relaunch(cluster, wanted, present=True)
    wait_announced(cluster, wanted, present=True)


@vagrant_metadata.reset
def _(cluster, wanted):
    if METADATA_LINE + "\n" in source_user_data().read_text():
        edit_source(add=False)
    state = launch_state(cluster, wanted)
    if state["uploaded"] or state["announced"]:
        relaunch(cluster, wanted, present=False)
        wait_announced(cluster, wanted, present=False)


@exercise("vagrant-put-back", "Put the launch back as it was", "01-vagrant",
          wanted="provider=vagrant")
def vagrant_put_back(cluster, wanted):
    from labs.checks import has_passed
    if not has_passed("vagrant-metadata"):
        return failed("first change the launch (the exercise above): this one puts it back")
    state = launch_state(cluster, wanted)
    if state["source"]:
        return failed(f"vagrant/user-data still has `metadata: {wanted}`: the file comes first",
                      f"delete the line{METADATA_LINE}")
    if state["uploaded"]:
        return failed(f"vagrant/user-data is back as it was, but {', '.join(state['uploaded'])} "
                      f"still {'has' if len(state['uploaded']) == 1 else 'have'} the changed "
                      f"copy: the same way as before brings the file to the machines",
                      f'sh("{PROVISION}")')
    announced = wait_announced(cluster, wanted, present=False, timeout=20)
    if announced:
        return failed(f"the machines have the old cloud-config again, but fleet on "
                      f"{', '.join(announced)} still announces {wanted}: it has not read "
                      f"its environment since", "%%remote all\nsudo systemctl restart fleet.service")
    return passed("vagrant/user-data, the machines' copies and fleet are as they were before "
                  "the change")


@vagrant_put_back.breaks
def _(cluster, wanted):
    from labs.checks import EXERCISES, record_progress
    EXERCISES["vagrant-metadata"].solve(cluster, wanted=wanted)
    record_progress(EXERCISES["vagrant-metadata"], by_solution=True)


@vagrant_put_back.solution
def _(cluster, wanted):
    edit_source(add=False)
    relaunch(cluster, wanted, present=False)
    wait_announced(cluster, wanted, present=False)


@vagrant_put_back.reset
def _(cluster, wanted):
    """vagrant-metadata's reset undoes the change, wherever it got to."""
