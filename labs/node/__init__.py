"""What runs inside the machines: coreos-cloudinit, fleet, the discovery service.

Debian's python3 with python3-etcd and python3-yaml only: nothing here imports the host
side (paramiko, ipywidgets, docker). The machine image copies this package and
`labs/__init__.py`; the host imports `cloudconfig` to validate user-data before a launch.
"""
