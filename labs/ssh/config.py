"""Reading the cluster's ssh_config (what `vagrant ssh-config` printed, host keys pinned).

Paramiko parses the file (`paramiko.SSHConfig`), but never applies it: this module turns a
host's entry into the handful of values the lab's SSH layer needs. Hosts are listed in the
order the file names them (paramiko only offers an unordered set).

`StrictHostKeyChecking` is read by no one on purpose: the SSH layer always checks host keys
against the known_hosts files, and refuses an unknown or changed key whatever the file says.
Vagrant's own ssh-config says `no` (with `UserKnownHostsFile /dev/null`); `lab up` pins the
machines' keys instead, and a notebook has no one to ask. The raw value stays in `options`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
_HOST_LINE = re.compile(r"^\s*host(?:\s*=\s*|\s+)(.+?)\s*$", re.IGNORECASE)
_PATTERN_CHARS = set("*?!")


@dataclass(frozen=True)
class HostConfig:
    """One `Host` entry, resolved: where to connect, as whom, with which key, what to trust."""

    name: str                                   # the alias: "core-01"
    hostname: str                               # "127.0.0.1"
    port: int = 22
    user: str = ""
    identity_files: tuple[str, ...] = ()
    known_hosts_files: tuple[str, ...] = ()
    forward_agent: bool = False                 # offer commands our ssh-agent, if we have one
    identities_only: bool = False
    connect_timeout: float | None = None
    options: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def host_key_name(self) -> str:
        """How known_hosts names this host: `host` on port 22, `[host]:port` otherwise."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.hostname}:{self.port}"


def host_names(text: str) -> list[str]:
    """The concrete host aliases of an ssh_config text, in file order (patterns skipped)."""
    names: list[str] = []
    for line in text.splitlines():
        match = _HOST_LINE.match(line)
        if not match:
            continue
        for name in match.group(1).split():
            name = name.strip('"')
            if name and not _PATTERN_CHARS & set(name) and name not in names:
                names.append(name)
    return names


def _as_bool(value, default: bool = False) -> bool:
    if value is None:
        return default
    return str(value).strip().lower() in ("yes", "true", "1", "on")


def _expand(path: str) -> str:
    return os.path.expandvars(os.path.expanduser(path))


class SSHConfigFile:
    """An ssh_config file: `hosts` in file order, `lookup(name)` -> `HostConfig`."""

    def __init__(self, text: str, path: Path | None = None):
        self.text = text
        self.path = path
        self._config = paramiko.SSHConfig.from_text(text)
        self.hosts = host_names(text)

    @classmethod
    def from_path(cls, path) -> "SSHConfigFile":
        path = Path(path)
        return cls(path.read_text(), path)

    def __contains__(self, name: str) -> bool:
        return name in self.hosts

    def lookup(self, name: str) -> HostConfig:
        """The resolved entry for `name` (which need not be listed: `Host *` may apply)."""
        raw = self._config.lookup(name)
        known_hosts = raw.get("userknownhostsfile")
        files = tuple(_expand(p) for p in known_hosts.split()) if known_hosts else tuple(
            _expand(p) for p in DEFAULT_KNOWN_HOSTS)
        timeout = raw.get("connecttimeout")
        return HostConfig(
            name=name,
            hostname=raw.get("hostname", name),
            port=int(raw.get("port", 22)),
            user=raw.get("user", "") or os.environ.get("USER", ""),
            identity_files=tuple(_expand(p) for p in raw.get("identityfile", [])),
            known_hosts_files=files,
            forward_agent=_as_bool(raw.get("forwardagent")),
            identities_only=_as_bool(raw.get("identitiesonly")),
            connect_timeout=float(timeout) if timeout else None,
            options=dict(raw),
        )
