"""The course's Python package.

Host side (the notebooks): `from labs import Cluster` and friends are imported lazily, so
this package also loads on the machines, where paramiko, ipywidgets and docker do not exist
(coreos-cloudinit and fleet import `labs.*` with Debian's python3 only).
"""

_LAZY = {
    "Cluster": "labs.cluster",
    "Machine": "labs.cluster",
    "Result": "labs.cluster",
    "Transcript": "labs.cluster",
    "CommandFailed": "labs.cluster",
    "CommandTimeout": "labs.cluster",
    "ClusterError": "labs.cluster",
    "MachineDown": "labs.cluster",
    "UnknownMachine": "labs.cluster",
    "ClusterNotRunning": "labs.cluster",
    "AuthenticationFailed": "labs.cluster",
    "HostKeyError": "labs.cluster",
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
