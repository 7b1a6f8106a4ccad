"""What each exercise's check says when the exercise is left undone: the words of the hint
that name what is missing. Two states are checked:

- UNSOLVED: the learner ran the notebook and skipped the exercise (tests/course/unsolved_notebooks.py
  finds this text in the check's cell). Every exercise has one: every notebook checks all of its
  exercises (tests/unit/test_notebooks_committed_clean.py).
- RESET: the exercise's `reset` (and a repair exercise's `breaks`) ran and nothing else, where
  that state is not the one the notebook shows (tests/integration/test_toolkit_checks.py).
"""

UNSOLVED = {
    "welcome-file": "there is no /home/core/hello.txt on core-02",
    "welcome-find-machine": "no machine has /home/core/found-me",
    "launch-user-data": "user-data.fixed` still reports: line",
    "launch-leader": "returned None: it has no code yet",
    "vagrant-metadata": "vagrant/user-data has no `metadata: provider=vagrant`",
    "vagrant-put-back": "first change the launch (the exercise above)",
    "etcd-json": "there is no key /workshop/network/config yet",
    "etcd-heartbeat": "nothing is registered under /workshop/web yet",
    "etcd-waiter": "there is no container named 'waiter' on core-03",
    "etcd-quorum-back": "core-02, core-03 are still halted",
    "docker-web": "no container named 'web' on core-02",
    "docker-announce": "no container named 'announcer' on core-02",
    "docker-image-everywhere": "core-03 lacks lab/hello:1",
    "docker-second-web": "is created: the failed `docker run`",
    "fleet-pin": "fleet does not know pinned.service yet",
    "fleet-spread": "fleet does not know worker@1.service, worker@2.service yet",
    "fleet-follow": "fleet does not know backup.service yet",
    "fleet-back": "fleetd does not run on",
    "systemd-oneshot": "does not know boot-note.service",
    "systemd-running-again": "core-01 is degraded",
    "systemd-dropin": "has Restart=no and no drop-in of its own",
    "systemd-timer": "does not know stamp.timer",
    "bridge-by-hand": "has no interface br-lab",
    "net-veth": "there is no running container named 'probe' on core-02",
    "net-docker0-back": "docker0 on core-01 has no IPv4 address",
    "sd-web": "fleet does not know web@1.service, web@2.service",
    "sd-sidekick": "fleet does not know web-discovery@1.service, web-discovery@2.service",
    "sd-greeting": "not every backend says 'Bonjour' yet",
}

RESET = {
    "launch-user-data": "user-data.fixed yet",
    "launch-leader": "give your function to the check",
    "docker-image-everywhere": "core-01 has no image lab/hello:1",
    "fleet-follow": "fleet does not know db.service",
    "systemd-dropin": "does not know quitter.service",
    "sd-greeting": "core-01's /run/web-backends lists nothing",
}
