"""The course's Python package.

Host side (the notebooks): `from labs import Cluster` and friends are imported lazily, so
this package also loads on the machines, where paramiko, ipywidgets and docker do not exist
(coreos-cloudinit and fleet import `labs.*` with Debian's python3 only).
"""

_LAZY = {
    "Cluster": "labs.cluster",
    "Machine": "labs.ssh.machine",
    "Result": "labs.ssh.results",
    "Transcript": "labs.ssh.results",
    "CommandFailed": "labs.ssh.errors",
    "CommandTimeout": "labs.ssh.errors",
    "ClusterError": "labs.ssh.errors",
    "MachineDown": "labs.ssh.errors",
    "UnknownMachine": "labs.ssh.errors",
    "ClusterNotRunning": "labs.ssh.errors",
    "AuthenticationFailed": "labs.ssh.errors",
    "HostKeyError": "labs.ssh.errors",
    "ChannelRefused": "labs.ssh.errors",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'labs' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def load_ipython_extension(ipython):
    """`%load_ext labs`: the %remote / %%remote / %%interact magics."""
    from labs.notebook import load_ipython_extension as load
    load(ipython)
