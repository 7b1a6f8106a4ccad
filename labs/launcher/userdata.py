"""The cloud-config the machines get: `vagrant/user-data`, checked, with a fresh discovery URL.

One place for what coreos-vagrant's config.rb did on every `vagrant up` (fetch a token from
`$new_discovery_url`, set `coreos.etcd2.discovery` and `coreos.etcd.discovery` to it, keep
`reboot-strategy: off` a string) — config.rb asks for it (`lab user-data`), and so does
`lab reset`. 2015 rewrote `user-data` in place; the lab writes the copy that is uploaded,
`<lab state>/user-data`, so the learner's checkout stays clean.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import yaml

from labs.errors import LabError
from labs.launcher.settings import VAGRANT_DIR, LabSettings
from labs.node import cloudconfig

SOURCE = VAGRANT_DIR / "user-data"    # the course's; a lab reads its own (LabSettings.user_data)
HEADER = "#cloud-config"
ETCD_SECTIONS = ("etcd", "etcd2")       # 2015's config.rb set the discovery URL in both


def log(message: str) -> None:
    print(f"==> lab: {message}", flush=True)


def validate(path: Path) -> list[cloudconfig.Entry]:
    """Refuse to launch on a broken user-data: print each finding (line and key), raise on errors."""
    entries = cloudconfig.validate(path.read_text())
    for entry in entries:
        log(f"{path}: {entry}")
    if any(entry.kind == "error" for entry in entries):
        raise LabError(f"{path} is not a valid cloud-config; nothing was started",
                       "fix the lines above (check with `lab validate`)")
    return entries


def new_discovery_url(lab: LabSettings, size: int) -> str:
    """Where to ask for a token: 2015's `https://discovery.etcd.io/new?size=N`, the lab's own."""
    return f"{lab.discovery_host_url}/new?size={size}"


def fetch_token(new_url: str, timeout: float = 10) -> str:
    """`curl $new_discovery_url`: the discovery URL the members will meet under."""
    try:
        with urllib.request.urlopen(new_url, timeout=timeout) as reply:
            return reply.read().decode().strip()
    except (urllib.error.URLError, OSError) as error:
        raise LabError(f"no discovery token from {new_url}: {getattr(error, 'reason', error)}",
                       "is the lab's discovery service running? `lab up` starts it") from None


def with_discovery(text: str, discovery_url: str) -> str:
    """The cloud-config `text` with `discovery_url` set where 2015's config.rb set it."""
    data = yaml.safe_load(text.split("\n", 1)[1] if text.startswith("#") else text) or {}
    coreos = data.get("coreos") if isinstance(data, dict) else None
    if isinstance(coreos, dict):
        for section in ETCD_SECTIONS:
            if isinstance(coreos.get(section), dict):
                coreos[section]["discovery"] = discovery_url
        update = coreos.get("update")
        if isinstance(update, dict) and update.get("reboot-strategy") is False:
            update["reboot-strategy"] = "off"     # YAML 1.1 reads a bare `off` as false
    return f"{HEADER}\n\n" + yaml.safe_dump(data, sort_keys=False)


def current_discovery_url(lab: LabSettings) -> str:
    """The discovery URL in the uploaded copy: the one this cluster's members met under."""
    copy = lab.path("user-data")
    coreos = (yaml.safe_load(copy.read_text().split("\n", 1)[1]) or {}).get("coreos", {}) \
        if copy.exists() else {}
    for section in reversed(ETCD_SECTIONS):
        url = (coreos.get(section) or {}).get("discovery")
        if url:
            return url
    raise LabError(f"{copy} names no discovery URL yet: this cluster was never brought up",
                   "run `vagrant up` (or `lab up`) first")


def write_keeping_token(lab: LabSettings, source: Path | None = None) -> str:
    """The uploaded copy again from `source` (the lab's user-data), with the cluster's own
    discovery URL: what `vagrant provision` uploads after you edited user-data (only `vagrant
    up` mints anew)."""
    text = with_discovery((source or lab.user_data).read_text(), current_discovery_url(lab))
    lab.path("user-data").write_text(text)
    return text


def write_with_new_token(lab: LabSettings, new_url: str, source: Path | None = None) -> str:
    """Mint a token from `new_url`, write the uploaded copy from `source` (the lab's user-data)
    with it, return that copy."""
    text = with_discovery((source or lab.user_data).read_text(), fetch_token(new_url))
    lab.path("user-data").write_text(text)
    return text
