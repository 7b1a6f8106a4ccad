"""Parse and validate CoreOS cloud-config user-data as coreos-cloudinit (2015) did.

The validator follows coreos-cloudinit's config/validate/{validate,rules,report}.go: the same
messages, the same kinds (error, warning, info), a 1-based line per entry. Type names in
`incorrect type for "<key>" (want <type>)` are Go's, as upstream prints them: string, bool,
int, float64, struct (a mapping), []string, []struct (a list of mappings).

Choices where upstream was silent or where the course needs more (each marked in the code):
- `discovery URL is not valid` is checked for coreos.etcd2.discovery too, not only coreos.etcd.
- required keys (units[].name, units[].drop_ins[].name, users[].name, write_files[].path) give
  the error `missing required key "<key>"`; upstream silently skipped such items when applying.
- a scalar given for a string key keeps the text as written, as Go's YAML decoder does when it
  fills a string field: `proxy: on`, `permissions: 0644` and `metadata: 5` stay "on", "0644"
  and "5" although YAML 1.1 reads them as a boolean and integers. `reboot-strategy: false` is
  "off", as the 2015 config.rb rewrote it.

Stdlib and PyYAML only: this module also runs on the machines with Debian's python3-yaml.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import posixpath
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

HEADER = "#cloud-config"
SCRIPT_PREFIX = "#!"


@dataclass(frozen=True)
class Entry:
    """One finding of the validator, printed exactly as coreos-cloudinit prints it."""

    line: int
    kind: str  # "error" | "warning" | "info"
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.kind}: {self.message}"


class CloudConfigError(ValueError):
    """The user-data has errors; `.entries` holds them, str() lists them one per line."""

    def __init__(self, entries: list[Entry]):
        self.entries = list(entries)
        super().__init__("\n".join(str(entry) for entry in self.entries))


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


# --- walking the YAML nodes against the schema -----------------------------------------------

_TAG_KINDS = {
    "tag:yaml.org,2002:bool": "bool",
    "tag:yaml.org,2002:int": "int",
    "tag:yaml.org,2002:float": "float64",
    "tag:yaml.org,2002:null": "null",
}
# Which YAML kinds each wanted kind takes (upstream's isCompatible).
_ACCEPTED_KINDS = {
    "string": {"string", "int", "float64", "bool"},
    "float64": {"float64", "int"},
    "int": {"int"},
    "bool": {"bool"},
}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_CONSTRUCTORS = {
    "bool": _CONSTRUCTOR.construct_yaml_bool,
    "int": _CONSTRUCTOR.construct_yaml_int,
    "float64": _CONSTRUCTOR.construct_yaml_float,
}


def normalise_key(key: str) -> str:
    """coreos-cloudinit treats `-` and `_` in key names alike; `_` is the canonical form."""
    return key.replace("-", "_")


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _node_kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "map"
    if isinstance(node, SequenceNode):
        return "slice"
    return _TAG_KINDS.get(node.tag, "string")


def _human_type(spec: Spec) -> str:
    if isinstance(spec, Struct):
        return "struct"
    if isinstance(spec, Slice):
        return "[]" + _human_type(spec.item)
    return spec.kind


def _is_compatible(kind: str, spec: Spec) -> bool:
    if isinstance(spec, Struct):
        return kind == "map"
    if isinstance(spec, Slice):
        return kind == "slice"
    return kind in _ACCEPTED_KINDS[spec.kind]


def _key_text(node: Node) -> str:
    return node.value if isinstance(node, ScalarNode) else f"<{_node_kind(node)} key>"


def _walk(node: Node, spec: Spec, name: str, line: int, entries: list[Entry]) -> object:
    """The value of `node` as `spec` wants it, reporting what does not fit; MISSING if unusable."""
    if not _is_compatible(_node_kind(node), spec):
        entries.append(Entry(line, "warning", f'incorrect type for "{name}" (want {_human_type(spec)})'))
        return MISSING
    if isinstance(spec, Struct):
        return _walk_struct(node, spec, entries)
    if isinstance(spec, Slice):
        return _walk_slice(node, spec, name, entries)
    return _scalar_value(node, spec, line, entries)


def _walk_struct(node: MappingNode, spec: Struct, entries: list[Entry]) -> dict:
    members: dict[str, Member] = {}
    for key_node, value_node in node.value:
        written = _key_text(key_node)
        key, line = normalise_key(written), _line(key_node)
        member_spec = spec.fields.get(key)
        if member_spec is None:
            entries.append(Entry(line, "warning", f'unrecognized key "{written}"'))
            members[key] = Member(line, MISSING)
        else:
            members[key] = Member(line, _walk(value_node, member_spec, written, line, entries))
    for key in spec.required:
        if members.get(key, Member(0, MISSING)).value in (MISSING, ""):
            entries.append(Entry(_line(node), "error", f'missing required key "{key}"'))
    for check in spec.checks:
        check(members, entries)
    return {key: member.value for key, member in members.items() if member.value is not MISSING}


def _walk_slice(node: SequenceNode, spec: Slice, name: str, entries: list[Entry]) -> list:
    items = (
        _walk(item, spec.item, f"{name}[{index}]", _line(item), entries)
        for index, item in enumerate(node.value)
    )
    return [item for item in items if item is not MISSING]


def _scalar_value(node: ScalarNode, spec: Scalar, line: int, entries: list[Entry]) -> object:
    value = _convert_scalar(node, spec)
    if spec.valid and value != "" and not spec.valid.search(value):
        entries.append(Entry(line, "error", f"invalid value {node.value}"))
    return value


def _convert_scalar(node: ScalarNode, spec: Scalar) -> object:
    kind = _node_kind(node)
    if spec.kind != "string":
        return _CONSTRUCTORS[kind](node)
    if spec.false_text and kind == "bool" and not _CONSTRUCTORS["bool"](node):
        return spec.false_text
    return node.value  # the text as written, as Go's decoder fills a string field


def _yaml_error_entry(err: yaml.YAMLError, text: str) -> Entry:
    mark = getattr(err, "problem_mark", None)
    if mark is not None:
        problem = err.problem or str(err)
        if problem.startswith("but ") and err.context:  # e.g. "but found another document"
            problem = f"{err.context}, {problem}"
        return Entry(mark.line + 1, "error", problem)
    position = getattr(err, "position", 0)  # a ReaderError (a character YAML does not allow)
    return Entry(text.count("\n", 0, position) + 1, "error", str(err).splitlines()[0])


def _analyse(text: str) -> tuple[list[Entry], dict]:
    """Validator entries (sorted by line) and the parsed config (only what fits the schema)."""
    if is_script(text):
        return [], {}
    if not is_cloud_config(text):
        return [Entry(1, "error", f'must be "{HEADER}" or begin with "{SCRIPT_PREFIX}"')], {}
    try:
        document = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        return [_yaml_error_entry(err, text)], {}
    if document is None:
        return [], {}
    if not isinstance(document, MappingNode):
        return [Entry(_line(document), "error", "the cloud-config must be a mapping of keys to values")], {}
    entries: list[Entry] = []
    config = _walk_struct(document, CLOUD_CONFIG, entries)
    return sorted(entries, key=attrgetter("line")), config


# --- public API ------------------------------------------------------------------------------


def is_script(text: str) -> bool:
    """User-data beginning with `#!` is a script to run, not a cloud-config."""
    return text.startswith(SCRIPT_PREFIX)


def is_cloud_config(text: str) -> bool:
    """The first line, trailing whitespace trimmed, must be exactly `#cloud-config`."""
    return text.split("\n", 1)[0].rstrip() == HEADER


def validate(text: str) -> list[Entry]:
    """What `coreos-cloudinit -validate` reports for this user-data, sorted by line."""
    return _analyse(text)[0]


def parse(text: str) -> dict:
    """The cloud-config as plain data, keys in `_` form; raises CloudConfigError on any error.

    Only keys the schema knows, with values of a fitting type, are kept: everything else was a
    warning of `validate`. Warnings do not raise.
    """
    if is_script(text):
        raise CloudConfigError([Entry(1, "error", 'a "#!" script has no cloud-config to parse')])
    entries, config = _analyse(text)
    errors = [entry for entry in entries if entry.kind == "error"]
    if errors:
        raise CloudConfigError(errors)
    return config


SUBSTITUTIONS = {
    "public_ipv4": "COREOS_PUBLIC_IPV4",
    "private_ipv4": "COREOS_PRIVATE_IPV4",
    "public_ipv6": "COREOS_PUBLIC_IPV6",
    "private_ipv6": "COREOS_PRIVATE_IPV6",
}
_SUBSTITUTION = re.compile(r"(\\?)\$(" + "|".join(SUBSTITUTIONS) + ")")


def substitute(text: str, env: Mapping[str, str]) -> str:
    """Replace $public_ipv4 & co. with env["COREOS_PUBLIC_IPV4"] & co.; `\\$x` stays a literal `$x`.

    A variable with no (or an empty) value is left as written.
    """

    def replacement(match: re.Match[str]) -> str:
        escaped, name = match.groups()
        value = env.get(SUBSTITUTIONS[name])
        if escaped or not value:
            return f"${name}"
        return value

    return _SUBSTITUTION.sub(replacement, text)
