"""The cloud-config schema coreos-cloudinit (2015) validated against: the keys of its
config/*.go structs, their types and `valid:` tags, and the extra checks of
config/validate/rules.go. A table, kept apart from the walker in `cloudconfig` that reads YAML
against it, so that both stay short enough to read side by side with upstream.

Stdlib only (this module runs on the machines too).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
import zlib
from urllib.parse import urlsplit

@dataclass(frozen=True)
class Entry:
    """One finding of the validator, printed exactly as coreos-cloudinit prints it."""

    line: int
    kind: str  # "error" | "warning" | "info"
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.kind}: {self.message}"


# --- the schema ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scalar:
    """A leaf value; `valid` is upstream's `valid:` regex tag (empty values are always valid)."""

    kind: str  # "string" | "bool" | "int" | "float64"
    valid: re.Pattern[str] | None = None
    false_text: str | None = None  # what a YAML boolean false stands for in a string key


@dataclass(frozen=True)
class Member:
    """A key found in a mapping: where it was written and its parsed value (or MISSING)."""

    line: int
    value: object


Check = Callable[[Mapping[str, Member], list[Entry]], None]


@dataclass(frozen=True)
class Struct:
    """A mapping with known keys (in `_` form), like the Go structs of config/*.go."""

    fields: Mapping[str, Spec]
    required: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()


@dataclass(frozen=True)
class Slice:
    """A list whose items all follow one spec."""

    item: Spec


Spec = Scalar | Struct | Slice

STRING, BOOL, INT, FLOAT = Scalar("string"), Scalar("bool"), Scalar("int"), Scalar("float64")
STRINGS = Slice(STRING)
MISSING = object()  # a value that was absent, or reported and left out


def _valid_string(pattern: str, false_text: str | None = None) -> Scalar:
    return Scalar("string", re.compile(pattern), false_text)


def is_valid_discovery_url(url: str) -> bool:
    """http(s)://host[:port][/path], with no character a URL cannot hold (e.g. `<token>`)."""
    if re.search(r'[\s<>"{}|\\^`]', url):
        return False
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check_discovery_url(members: Mapping[str, Member], entries: list[Entry]) -> None:
    # Upstream checks coreos.etcd.discovery only; the course applies it to etcd2 as well.
    discovery = members.get("discovery")
    if discovery and isinstance(discovery.value, str) and not is_valid_discovery_url(discovery.value):
        entries.append(Entry(discovery.line, "warning", "discovery URL is not valid"))


def _check_encoded_content(members: Mapping[str, Member], entries: list[Entry]) -> None:
    encoding, content = members.get("encoding"), members.get("content")
    if not encoding or not content or encoding.value not in ENCODINGS or content.value is MISSING:
        return
    try:
        decode_content(content.value, encoding.value)
    except ValueError:
        entries.append(Entry(content.line, "error", f'content cannot be decoded as "{encoding.value}"'))


def _check_writable_path(members: Mapping[str, Member], entries: list[Entry]) -> None:
    path = members.get("path")
    if path and isinstance(path.value, str) and _is_under_usr(path.value):
        entries.append(Entry(path.line, "error", "file cannot be written to a read-only filesystem"))


def _is_under_usr(path: str) -> bool:
    directory = posixpath.dirname(path)
    return directory == "/usr" or directory.startswith("/usr/")


def _check_write_files_placement(members: Mapping[str, Member], entries: list[Entry]) -> None:
    misplaced = members.get("write_files")
    if misplaced:
        entries.append(Entry(misplaced.line, "info", "write_files doesn't belong under coreos"))


ETCD = Struct(
    {
        **dict.fromkeys(
            "addr bind_addr ca_file cert_file cors data_dir discovery graphite_host key_file name "
            "peer_addr peer_bind_addr peer_ca_file peer_cert_file peer_key_file peers peers_file "
            "trace".split(),
            STRING,
        ),
        **dict.fromkeys(
            "cluster_active_size max_result_buffer max_retry_attempts peer_election_timeout "
            "peer_heartbeat_interval snapshot_count".split(),
            INT,
        ),
        **dict.fromkeys(
            "cluster_remove_delay cluster_sync_interval http_read_timeout http_write_timeout "
            "retry_interval".split(),
            FLOAT,
        ),
        **dict.fromkeys("snapshot verbose very_verbose very_very_verbose".split(), BOOL),
    },
    checks=(_check_discovery_url,),
)

ETCD2 = Struct(
    {
        **dict.fromkeys(
            "advertise_client_urls ca_file cert_file cors data_dir discovery discovery_fallback "
            "discovery_proxy discovery_srv initial_advertise_peer_urls initial_cluster "
            "initial_cluster_state initial_cluster_token key_file listen_client_urls "
            "listen_peer_urls log_package_levels name peer_ca_file peer_cert_file peer_key_file "
            "peer_trusted_ca_file trusted_ca_file wal_dir".split(),
            STRING,
        ),
        **dict.fromkeys(
            "election_timeout heartbeat_interval max_snapshots max_wals proxy_dial_timeout "
            "proxy_failure_wait proxy_read_timeout proxy_refresh_interval proxy_write_timeout "
            "snapshot_count".split(),
            INT,
        ),
        **dict.fromkeys(
            "client_cert_auth debug enable_pprof force_new_cluster peer_client_cert_auth "
            "strict_reconfig_check".split(),
            BOOL,
        ),
        "proxy": _valid_string(r"^(on|off|readonly)$"),
    },
    checks=(_check_discovery_url,),
)

FLEET = Struct(
    {
        **dict.fromkeys(
            "agent_ttl authorized_keys_file etcd_cafile etcd_certfile etcd_keyfile etcd_key_prefix "
            "etcd_servers etcd_username etcd_password metadata public_ip".split(),
            STRING,
        ),
        **dict.fromkeys("engine_reconcile_interval etcd_request_timeout".split(), FLOAT),
        **dict.fromkeys("token_limit verbosity".split(), INT),
        **dict.fromkeys("disable_engine verify_units".split(), BOOL),
    }
)

FLANNEL = Struct(
    dict.fromkeys(
        "etcd_endpoints etcd_cafile etcd_certfile etcd_keyfile etcd_prefix etcd_username "
        "etcd_password ip_masq subnet_file interface public_ip".split(),
        STRING,
    )
)

LOCKSMITH = Struct(
    {
        **dict.fromkeys(
            "endpoint etcd_cafile etcd_certfile etcd_keyfile etcd_username etcd_password group".split(),
            STRING,
        ),
        "window_start": _valid_string(
            r"^((?i:sun|mon|tue|wed|thu|fri|sat|sun) )?0*([0-9]|1[0-9]|2[0-3]):0*([0-9]|[1-5][0-9])$"
        ),
        "window_length": _valid_string(r"^[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+$"),
    }
)

UPDATE = Struct(
    {
        "reboot_strategy": _valid_string(r"^(best-effort|etcd-lock|reboot|off)$", false_text="off"),
        "group": STRING,
        "server": STRING,
    }
)

OEM = Struct(dict.fromkeys("id name version_id home_url bug_report_url".split(), STRING))

UNIT = Struct(
    {
        "name": STRING,
        "mask": BOOL,
        "enable": BOOL,
        "runtime": BOOL,
        "content": STRING,
        "command": _valid_string(
            r"^(start|stop|restart|reload|try-restart|reload-or-restart|reload-or-try-restart)$"
        ),
        "drop_ins": Slice(Struct({"name": STRING, "content": STRING}, required=("name",))),
    },
    required=("name",),
)

ENCODINGS = ("b64", "base64", "gz", "gzip", "gz+b64", "gz+base64", "gzip+b64", "gzip+base64")

WRITE_FILE = Struct(
    {
        "encoding": _valid_string(r"^(base64|b64|gz|gzip|gz\+base64|gzip\+base64|gz\+b64|gzip\+b64)$"),
        "content": STRING,
        "owner": STRING,
        "path": STRING,
        "permissions": _valid_string(r"^0?[0-7]{3,4}$"),
    },
    required=("path",),
    checks=(_check_encoded_content, _check_writable_path),
)

USER = Struct(
    {
        **dict.fromkeys(
            "name passwd coreos_ssh_import_github coreos_ssh_import_url gecos homedir "
            "primary_group shell".split(),
            STRING,
        ),
        **dict.fromkeys("ssh_authorized_keys coreos_ssh_import_github_users groups".split(), STRINGS),
        **dict.fromkeys("no_create_home no_user_group system no_log_init".split(), BOOL),
    },
    required=("name",),
)

COREOS = Struct(
    {
        "etcd": ETCD,
        "etcd2": ETCD2,
        "fleet": FLEET,
        "flannel": FLANNEL,
        "locksmith": LOCKSMITH,
        "update": UPDATE,
        "units": Slice(UNIT),
        "oem": OEM,
    },
    checks=(_check_write_files_placement,),
)

CLOUD_CONFIG = Struct(
    {
        "coreos": COREOS,
        "ssh_authorized_keys": STRINGS,
        "hostname": STRING,
        "users": Slice(USER),
        "write_files": Slice(WRITE_FILE),
        "manage_etc_hosts": STRING,
    }
)


# --- content encodings -----------------------------------------------------------------------


def _decode_base64(data: bytes) -> bytes:
    # Go's StdEncoding skips line breaks but nothing else, and insists on padding.
    return base64.b64decode(data.replace(b"\r", b"").replace(b"\n", b""), validate=True)


def _decode_gzip(data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"not gzip data: {err}") from err


_DECODERS = {"b64": _decode_base64, "base64": _decode_base64, "gz": _decode_gzip, "gzip": _decode_gzip}


def decode_content(content: str, encoding: str = "") -> bytes:
    """The bytes a write_files entry stands for; `gz+b64` is base64 of gzip, so decode right to left.

    Raises ValueError for an unknown encoding or content that does not decode.
    """
    data = content.encode("utf-8")
    if not encoding:
        return data
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}")
    for step in reversed(encoding.split("+")):
        try:
            data = _DECODERS[step](data)
        except binascii.Error as err:
            raise ValueError(f"not base64: {err}") from err
    return data
