"""fleetd configuration, the 2015 way: defaults < /etc/fleet/fleet.conf < FLEET_* env.

fleet.conf has top-level `key = value` lines (globalconf); every key can be
overridden by the environment variable FLEET_<KEY> (upper-cased), which is
how CoreOS cloud-config's `coreos.fleet` section reached fleetd (a systemd
drop-in of Environment= lines).
"""

import os
import re
from dataclasses import dataclass, field, fields

from .etcdclient import parse_endpoints

DEFAULT_CONFIG_PATH = "/etc/fleet/fleet.conf"


@dataclass
class Config:
    verbosity: int = 0
    etcd_servers: list = field(default_factory=lambda: ["http://127.0.0.1:2379", "http://127.0.0.1:4001"])
    etcd_username: str = ""
    etcd_password: str = ""
    etcd_cafile: str = ""
    etcd_certfile: str = ""
    etcd_keyfile: str = ""
    etcd_key_prefix: str = "/_coreos.com/fleet/"
    etcd_request_timeout: float = 1.0
    engine_reconcile_interval: float = 2.0
    public_ip: str = ""
    metadata: str = ""
    agent_ttl: float = 30.0  # seconds; written as a Go duration ("30s")
    units_directory: str = "/run/fleet/units/"
    systemd_user: bool = False
    token_limit: int = 100
    disable_engine: bool = False
    disable_watches: bool = False
    enable_grpc: bool = False
    verify_units: bool = False
    authorized_keys_file: str = ""


class ConfigError(ValueError):
    """A value fleetd cannot use."""


def load_config(path=DEFAULT_CONFIG_PATH, environ=None):
    """Defaults, then the file (if present), then FLEET_* variables."""
    environ = os.environ if environ is None else environ
    raw = {}
    try:
        with open(path) as config_file:
            raw.update(parse_config_file(config_file.read()))
    except FileNotFoundError:
        pass
    for item in fields(Config):
        env_value = environ.get("FLEET_" + item.name.upper())
        if env_value is not None and env_value != "":
            raw[item.name] = env_value
    config = Config()
    for item in fields(Config):
        if item.name in raw:
            setattr(config, item.name, _convert(item.name, raw[item.name], item.type))
    return config


def parse_config_file(text):
    """`key = value` lines; `#`/`;` comments; optional quotes around values."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[" or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def _convert(name, value, kind):
    try:
        if name == "etcd_servers":
            return parse_endpoints(value)
        if name == "agent_ttl":
            return parse_duration(value)
        if kind is bool:
            return parse_bool(value)
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
        return value
    except ValueError as error:
        raise ConfigError("invalid value %r for %s: %s" % (value, name, error))


def parse_bool(value):
    """Go's strconv.ParseBool."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError("not a boolean")


DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value):
    """A Go duration ("30s", "1m30s", "500ms") → seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", value)
    if not parts or "".join(number + unit for number, unit in parts) != value.strip():
        raise ValueError("not a duration")
    return sum(float(number) * DURATION_UNITS[unit] for number, unit in parts)
