"""fleet (CoreOS's cluster-wide init system, v1.0.0) re-implemented in Python.

fleetd (engine + agent) and fleetctl talk to etcd's v2 keys API with the key
layout of fleet v1.0.0 (docs/fleet.md), so the lab's machines behave like a 2015 CoreOS
cluster. Runs on Debian's python3 with python3-etcd only: nothing here imports
the rest of the `labs` package.
"""
