"""labs.node.cloudconfig and cloudschema: the validator's messages and lines, parsing, $private_ipv4 substitution."""

import base64
import gzip

import pytest

from labs.node.cloudconfig import (
    CloudConfigError,
    Entry,
    is_script,
    parse,
    substitute,
    validate,
)
from labs.node.cloudschema import decode_content

DISCOVERY = "http://10.17.3.2:2379/v2/keys/_etcd/registry/0123456789abcdef0123456789abcdef"

SAMPLE = f"""\
#cloud-config

coreos:
  etcd2:
    # generate a new token for each unique cluster from https://discovery.etcd.io/new?size=3
    discovery: {DISCOVERY}
    advertise-client-urls: http://$public_ipv4:2379
    initial-advertise-peer-urls: http://$private_ipv4:2380
    listen-client-urls: http://0.0.0.0:2379,http://0.0.0.0:4001
    listen-peer-urls: http://$private_ipv4:2380
  fleet:
    public-ip: $public_ipv4
    metadata: "role=worker"
  update:
    reboot-strategy: off
  units:
    - name: etcd2.service
      command: start
    - name: fleet.service
      command: start
    - name: docker-tcp.socket
      command: start
      enable: true
      content: |
        [Unit]
        Description=Docker Socket for the API

        [Socket]
        ListenStream=2375
        Service=docker.service
        BindIPv6Only=both

        [Install]
        WantedBy=sockets.target
"""


def messages(text):
    return [str(entry) for entry in validate(text)]


def test_the_shipped_sample_is_clean():
    assert validate(SAMPLE) == []


VALIDATOR_CASES = {
    "header missing": (
        "cloud-config\nhostname: core-01\n",
        ['line 1: error: must be "#cloud-config" or begin with "#!"'],
    ),
    "empty user-data": ("", ['line 1: error: must be "#cloud-config" or begin with "#!"']),
    "yaml tab": (
        "#cloud-config\ncoreos:\n  update:\n\treboot-strategy: off\n",
        ["line 4: error: found character '\\t' that cannot start any token"],
    ),
    "yaml unclosed flow list": (
        "#cloud-config\nssh_authorized_keys: [ssh-rsa AAAA\nhostname: x\n",
        ["line 3: error: expected ',' or ']', but got ':'"],
    ),
    "yaml second document": (
        "#cloud-config\nhostname: a\n---\nhostname: b\n",
        ["line 3: error: expected a single document in the stream, but found another document"],
    ),
    "document not a mapping": (
        "#cloud-config\n- hostname\n",
        ["line 2: error: the cloud-config must be a mapping of keys to values"],
    ),
    "unknown top-level key": (
        "#cloud-config\nhostnam: core-01\n",
        ['line 2: warning: unrecognized key "hostnam"'],
    ),
    "unknown key in a unit": (
        "#cloud-config\ncoreos:\n  units:\n    - name: a.service\n      comand: start\n",
        ['line 5: warning: unrecognized key "comand"'],
    ),
    "string wanted": (
        "#cloud-config\nhostname: [a, b]\n",
        ['line 2: warning: incorrect type for "hostname" (want string)'],
    ),
    "list of strings wanted": (
        "#cloud-config\nssh_authorized_keys: ssh-rsa AAAA\n",
        ['line 2: warning: incorrect type for "ssh_authorized_keys" (want []string)'],
    ),
    "list item of the wrong type": (
        "#cloud-config\nssh_authorized_keys:\n  - ssh-rsa AAAA\n  - {key: x}\n",
        ['line 4: warning: incorrect type for "ssh_authorized_keys[1]" (want string)'],
    ),
    "struct wanted": (
        "#cloud-config\ncoreos: yes\n",
        ['line 2: warning: incorrect type for "coreos" (want struct)'],
    ),
    "empty section": (
        "#cloud-config\ncoreos:\n  etcd2:\n",
        ['line 3: warning: incorrect type for "etcd2" (want struct)'],
    ),
    "list of structs wanted": (
        "#cloud-config\ncoreos:\n  units:\n    name: a.service\n",
        ['line 3: warning: incorrect type for "units" (want []struct)'],
    ),
    "unit not a mapping": (
        "#cloud-config\ncoreos:\n  units:\n    - a.service\n",
        ['line 4: warning: incorrect type for "units[0]" (want struct)'],
    ),
    "int wanted": (
        "#cloud-config\ncoreos:\n  etcd2:\n    heartbeat-interval: fast\n",
        ['line 4: warning: incorrect type for "heartbeat-interval" (want int)'],
    ),
    "float64 wanted": (
        "#cloud-config\ncoreos:\n  fleet:\n    etcd_request_timeout: soon\n",
        ['line 4: warning: incorrect type for "etcd_request_timeout" (want float64)'],
    ),
    "bool wanted": (
        "#cloud-config\ncoreos:\n  units:\n    - name: a.service\n      enable: please\n",
        ['line 5: warning: incorrect type for "enable" (want bool)'],
    ),
    "unit command": (
        "#cloud-config\ncoreos:\n  units:\n    - name: a.service\n      command: begin\n",
        ["line 5: error: invalid value begin"],
    ),
    "reboot strategy": (
        "#cloud-config\ncoreos:\n  update:\n    reboot-strategy: sometimes\n",
        ["line 4: error: invalid value sometimes"],
    ),
    "etcd2 proxy": (
        "#cloud-config\ncoreos:\n  etcd2:\n    proxy: maybe\n",
        ["line 4: error: invalid value maybe"],
    ),
    "write_files permissions": (
        "#cloud-config\nwrite_files:\n  - path: /etc/a\n    permissions: '0999'\n",
        ["line 4: error: invalid value 0999"],
    ),
    "write_files encoding": (
        "#cloud-config\nwrite_files:\n  - path: /etc/a\n    encoding: rot13\n    content: uryyb\n",
        ["line 4: error: invalid value rot13"],
    ),
    "locksmith window_start": (
        "#cloud-config\ncoreos:\n  locksmith:\n    window_start: Someday 25:00\n",
        ["line 4: error: invalid value Someday 25:00"],
    ),
    "locksmith window_length": (
        "#cloud-config\ncoreos:\n  locksmith:\n    window_length: 2 hours\n",
        ["line 4: error: invalid value 2 hours"],
    ),
    "content not base64": (
        "#cloud-config\nwrite_files:\n  - path: /etc/a\n    encoding: base64\n    content: 'not base64!'\n",
        ['line 5: error: content cannot be decoded as "base64"'],
    ),
    "content not gzip": (
        "#cloud-config\nwrite_files:\n  - path: /etc/a\n    encoding: gz+b64\n    content: aGVsbG8=\n",
        ['line 5: error: content cannot be decoded as "gz+b64"'],
    ),
    "read-only /usr": (
        "#cloud-config\nwrite_files:\n  - path: /usr/share/oem/x\n    content: x\n",
        ["line 3: error: file cannot be written to a read-only filesystem"],
    ),
    "write_files under coreos": (
        "#cloud-config\ncoreos:\n  write_files:\n    - path: /etc/a\n",
        [
            'line 3: warning: unrecognized key "write_files"',
            "line 3: info: write_files doesn't belong under coreos",
        ],
    ),
    "etcd discovery placeholder": (
        "#cloud-config\ncoreos:\n  etcd:\n    discovery: https://discovery.etcd.io/<token>\n",
        ["line 4: warning: discovery URL is not valid"],
    ),
    "etcd2 discovery without scheme": (
        "#cloud-config\ncoreos:\n  etcd2:\n    discovery: discovery.etcd.io/0123\n",
        ["line 4: warning: discovery URL is not valid"],
    ),
    "etcd2 discovery with a bad port": (
        "#cloud-config\ncoreos:\n  etcd2:\n    discovery: http://10.17.3.2:port/v2/keys/x\n",
        ["line 4: warning: discovery URL is not valid"],
    ),
    "unit without a name": (
        "#cloud-config\ncoreos:\n  units:\n    - command: start\n",
        ['line 4: error: missing required key "name"'],
    ),
    "drop-in without a name": (
        "#cloud-config\ncoreos:\n  units:\n    - name: a.service\n      drop-ins:\n        - content: x\n",
        ['line 6: error: missing required key "name"'],
    ),
    "user without a name": (
        "#cloud-config\nusers:\n  - gecos: Nobody\n",
        ['line 3: error: missing required key "name"'],
    ),
    "file without a path": (
        "#cloud-config\nwrite_files:\n  - content: x\n",
        ['line 3: error: missing required key "path"'],
    ),
}


@pytest.mark.parametrize("text, expected", VALIDATOR_CASES.values(), ids=VALIDATOR_CASES.keys())
def test_validator_messages_and_lines(text, expected):
    assert messages(text) == expected


CLEAN_CASES = {
    "header with trailing whitespace": "#cloud-config  \r\nhostname: core-01\r\n",
    "a script": "#!/bin/bash\necho this is: not [yaml\n",
    "header only": "#cloud-config\n",
    "bare off as reboot strategy": "#cloud-config\ncoreos:\n  update:\n    reboot-strategy: off\n",
    "false as reboot strategy": "#cloud-config\ncoreos:\n  update:\n    reboot_strategy: false\n",
    "bare on as etcd2 proxy": "#cloud-config\ncoreos:\n  etcd2:\n    proxy: on\n",
    "unquoted permissions": "#cloud-config\nwrite_files:\n  - path: /etc/a\n    permissions: 0600\n",
    "valid encodings": (
        "#cloud-config\nwrite_files:\n  - path: /etc/a\n    encoding: b64\n    content: aGVsbG8=\n"
        "  - path: /etc/b\n    encoding: gzip+base64\n"
        f"    content: {base64.b64encode(gzip.compress(b'hi')).decode()}\n"
    ),
    "locksmith window": (
        "#cloud-config\ncoreos:\n  locksmith:\n    window_start: Thu 04:00\n    window_length: 1h30m\n"
    ),
    "https discovery with a port": (
        "#cloud-config\ncoreos:\n  etcd:\n    discovery: https://d.example:8443/abc\n"
    ),
    "int for a string key": "#cloud-config\ncoreos:\n  fleet:\n    metadata: 5\n",
    "int for a float64 key": "#cloud-config\ncoreos:\n  fleet:\n    engine-reconcile-interval: 2\n",
}


@pytest.mark.parametrize("text", CLEAN_CASES.values(), ids=CLEAN_CASES.keys())
def test_valid_user_data_gives_no_entries(text):
    assert validate(text) == []


def test_entries_are_sorted_by_line_and_print_like_upstream():
    text = (
        "#cloud-config\n"
        "coreos:\n"
        "  units:\n"
        "    - name: a.service\n"
        "      command: begin\n"
        "hostnam: x\n"
        "write_files:\n"
        "  - path: /usr/x\n"
    )
    assert validate(text) == [
        Entry(5, "error", "invalid value begin"),
        Entry(6, "warning", 'unrecognized key "hostnam"'),
        Entry(8, "error", "file cannot be written to a read-only filesystem"),
    ]
    assert (
        str(Entry(6, "warning", 'unrecognized key "hostnam"'))
        == 'line 6: warning: unrecognized key "hostnam"'
    )


DASHED = """\
#cloud-config
coreos:
  update:
    reboot-strategy: etcd-lock
  fleet:
    public-ip: 10.0.0.1
  units:
    - name: a.service
      drop-ins:
        - name: 10-a.conf
          content: "[Service]"
"""


def test_dash_and_underscore_keys_are_the_same_key():
    assert validate(DASHED) == []
    assert parse(DASHED) == parse(
        DASHED.replace("-strategy", "_strategy").replace("-ip", "_ip").replace("drop-", "drop_")
    )
    assert parse(DASHED)["coreos"] == {
        "update": {"reboot_strategy": "etcd-lock"},
        "fleet": {"public_ip": "10.0.0.1"},
        "units": [{"name": "a.service", "drop_ins": [{"name": "10-a.conf", "content": "[Service]"}]}],
    }


def test_keys_are_reported_as_written():
    text = "#cloud-config\ncoreos:\n  update:\n    reboot-stratgy: off\n  fleet:\n    public-ip: [a]\n"
    assert messages(text) == [
        'line 4: warning: unrecognized key "reboot-stratgy"',
        'line 6: warning: incorrect type for "public-ip" (want string)',
    ]


def test_parse_returns_the_sample_with_underscore_keys():
    config = parse(SAMPLE)
    assert config["coreos"]["etcd2"] == {
        "discovery": DISCOVERY,
        "advertise_client_urls": "http://$public_ipv4:2379",
        "initial_advertise_peer_urls": "http://$private_ipv4:2380",
        "listen_client_urls": "http://0.0.0.0:2379,http://0.0.0.0:4001",
        "listen_peer_urls": "http://$private_ipv4:2380",
    }
    assert config["coreos"]["fleet"] == {"public_ip": "$public_ipv4", "metadata": "role=worker"}
    assert config["coreos"]["update"] == {"reboot_strategy": "off"}
    assert [unit["name"] for unit in config["coreos"]["units"]] == [
        "etcd2.service",
        "fleet.service",
        "docker-tcp.socket",
    ]
    socket = config["coreos"]["units"][2]
    assert socket["enable"] is True
    assert socket["content"].startswith("[Unit]\nDescription=Docker Socket for the API\n\n[Socket]\n")


@pytest.mark.parametrize("written", ["off", "false", "no", "'off'"])
def test_reboot_strategy_off_is_off_however_yaml_reads_it(written):
    text = f"#cloud-config\ncoreos:\n  update:\n    reboot-strategy: {written}\n"
    assert parse(text) == {"coreos": {"update": {"reboot_strategy": "off"}}}


def test_string_keys_keep_the_scalar_as_written():
    text = (
        "#cloud-config\n"
        "coreos:\n  etcd2:\n    proxy: on\n    heartbeat-interval: 100\n    debug: true\n"
        "  fleet:\n    metadata: 5\n    engine-reconcile-interval: 2.5\n"
        "write_files:\n  - path: /etc/a\n    permissions: 0644\n"
    )
    config = parse(text)
    assert config["coreos"]["etcd2"] == {"proxy": "on", "heartbeat_interval": 100, "debug": True}
    assert config["coreos"]["fleet"] == {"metadata": "5", "engine_reconcile_interval": 2.5}
    assert config["write_files"] == [{"path": "/etc/a", "permissions": "0644"}]


def test_parse_keeps_only_what_fits_the_schema_and_warnings_do_not_raise():
    text = "#cloud-config\nhostnam: a\nhostname: [a]\nssh_authorized_keys:\n  - ssh-rsa A\n  - [x]\n"
    assert parse(text) == {"ssh_authorized_keys": ["ssh-rsa A"]}


def test_parse_raises_with_the_errors_one_per_line():
    text = "#cloud-config\ncoreos:\n  units:\n    - command: begin\nhostnam: x\n"
    with pytest.raises(CloudConfigError) as raised:
        parse(text)
    assert raised.value.entries == [
        Entry(4, "error", "invalid value begin"),
        Entry(4, "error", 'missing required key "name"'),
    ]
    assert (
        str(raised.value) == 'line 4: error: invalid value begin\nline 4: error: missing required key "name"'
    )
    assert isinstance(raised.value, ValueError)


def test_parse_refuses_a_script_and_a_missing_header():
    with pytest.raises(CloudConfigError, match="script"):
        parse("#!/bin/sh\ntrue\n")
    with pytest.raises(CloudConfigError, match='must be "#cloud-config"'):
        parse("hostname: a\n")


def test_is_script():
    assert is_script("#!/bin/bash\n")
    assert not is_script("#cloud-config\n")
    assert not is_script(" #!/bin/bash\n")


ENV = {
    "COREOS_PUBLIC_IPV4": "192.0.2.11",
    "COREOS_PRIVATE_IPV4": "10.17.3.11",
    "COREOS_PUBLIC_IPV6": "2001:db8::11",
    "COREOS_PRIVATE_IPV6": "fd00::11",
}


def test_substitute_replaces_the_four_addresses():
    text = "a=$public_ipv4 b=$private_ipv4 c=$public_ipv6 d=$private_ipv6 e=$unknown"
    assert substitute(text, ENV) == "a=192.0.2.11 b=10.17.3.11 c=2001:db8::11 d=fd00::11 e=$unknown"


def test_substitute_leaves_an_escaped_variable_as_a_literal():
    assert substitute(r"ip=\$private_ipv4 real=$private_ipv4", ENV) == "ip=$private_ipv4 real=10.17.3.11"


def test_substitute_leaves_missing_values_as_written():
    assert (
        substitute("x=$public_ipv4 y=$private_ipv4", {"COREOS_PUBLIC_IPV4": ""})
        == "x=$public_ipv4 y=$private_ipv4"
    )


def test_decode_content_handles_each_encoding():
    payload = b"hello\n"
    b64 = base64.b64encode(payload).decode()
    gz_b64 = base64.b64encode(gzip.compress(payload)).decode()
    assert decode_content("hello\n") == payload
    assert decode_content(b64[:4] + "\n" + b64[4:], "base64") == payload
    for encoding in ("gz+b64", "gz+base64", "gzip+b64", "gzip+base64"):
        assert decode_content(gz_b64, encoding) == payload
    with pytest.raises(ValueError):
        decode_content("hello", "b64")
    with pytest.raises(ValueError):
        decode_content("hello", "rot13")
