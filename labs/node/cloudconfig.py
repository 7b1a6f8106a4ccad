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

The schema it checks against (keys, types, `valid:` tags, extra rules) is the table in
`cloudschema`. Stdlib and PyYAML only: this module also runs on the machines with Debian's
python3-yaml.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from operator import attrgetter

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from labs.node.cloudschema import CLOUD_CONFIG, MISSING, Entry, Member, Scalar, Slice, Spec, Struct

HEADER = "#cloud-config"
SCRIPT_PREFIX = "#!"


class CloudConfigError(ValueError):
    """The user-data has errors; `.entries` holds them, str() lists them one per line."""

    def __init__(self, entries: list[Entry]):
        self.entries = list(entries)
        super().__init__("\n".join(str(entry) for entry in self.entries))


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
