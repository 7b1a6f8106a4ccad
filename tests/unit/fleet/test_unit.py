"""Canonical form, hash, names and templates (docs/fleet.md §3.1–3.3)."""

import hashlib

import pytest

from labs.node.fleet.names import NameInfo, mangle_name, name_error
from labs.node.fleet.unit import UnitFile, UnitFileError

HELLO = ('[Unit]\nDescription=Hello World\n\n[Service]\n'
         'ExecStart=/bin/bash -c "while true; do echo \\"Hello, world\\"; sleep 1; done"\n')


def test_fleet_example_hello_service_is_canonical_and_has_readme_hash():
    unit = UnitFile.parse(HELLO)
    assert unit.canonical_text() == HELLO
    assert unit.hash() == "e55c0aeb44ba0b68004ceb8a200e685194448b45"


def test_canonical_form_merges_sections_drops_comments_and_spacing():
    text = ("junk before any section\n"
            "# comment\n[Unit]\n  Description =  Messy  \n; other comment\n\n"
            "[Service]\nExecStart=/bin/true\n\n\n[Unit]\nAfter=docker.service\n"
            "[Empty]\n# nothing here\n")
    expected = ("[Unit]\nDescription=Messy\nAfter=docker.service\n\n"
                "[Service]\nExecStart=/bin/true\n")
    unit = UnitFile.parse(text)
    assert unit.canonical_text() == expected
    assert unit.hash() == hashlib.sha1(expected.encode()).hexdigest()


def test_repeated_keys_are_kept_in_file_order():
    unit = UnitFile.parse("[Service]\nExecStartPre=a\nExecStartPre=b\nExecStart=c\n")
    assert unit.section_options("Service") == [("ExecStartPre", "a"), ("ExecStartPre", "b"), ("ExecStart", "c")]


def test_line_continuation_keeps_backslash_and_newline():
    unit = UnitFile.parse("[Service]\nExecStart=/bin/sh -c \\\n  'echo hi'\nUser=core\n")
    assert unit.section_options("Service") == [("ExecStart", "/bin/sh -c \\\n  'echo hi'"), ("User", "core")]


def test_empty_file_has_empty_canonical_text():
    assert UnitFile.parse("# only a comment\n[Unit]\n").canonical_text() == ""


@pytest.mark.parametrize("text, message", [
    ("[Unit]\nNoEquals\n", "unexpected newline encountered while parsing option name"),
    ("[Unit] x\nA=b\n", 'found garbage after section name "Unit"'),
    ("[Unit]\nA=" + "x" * 2048 + "\n", "line too long (max 2048 bytes)"),
])
def test_parse_errors(text, message):
    with pytest.raises(UnitFileError) as error:
        UnitFile.parse(text)
    assert str(error.value) == message


def test_description():
    assert UnitFile.parse(HELLO).description() == "Hello World"
    assert UnitFile.parse("[Service]\nExecStart=x\n").description() is None


@pytest.mark.parametrize("name, message", [
    ("", "unit name cannot be empty"),
    ("a" * 250 + ".service1", "unit name exceeds maximum length (256)"),
    ("hello", 'unit name must contain "."'),
    ("hello.", 'unit name cannot end in "."'),
    ("foo.bar", 'invalid unit type: "bar"'),
    ("foo@.mount", 'invalid unit type for template: "mount"'),
    ("foo bar.service", "invalid character ' ' in unit name"),
    ("foo'.service", "invalid character '\\'' in unit name"),
    ("foo\x01.service", "invalid character '\\x01' in unit name"),
    ("@foo.service", 'unit name cannot start in "@"'),
    ("hello.service", None),
    ("a:b_c-d.e@1\\x.service", None),
    ("foo@.service", None),
])
def test_name_validation_messages(name, message):
    assert name_error(name) == message


@pytest.mark.parametrize("arg, name", [
    ("hello", "hello.service"),
    ("units/hello.service", "hello.service"),
    ("foo.socket", "foo.socket"),
    ("foo.target", "foo.target.service"),  # fleetctl's quirk
    ("/tmp/x.automount", "x.automount"),
])
def test_fleetctl_name_mangling(arg, name):
    assert mangle_name(arg) == name


def test_template_and_instance_names():
    template = NameInfo.of("foo@.service")
    instance = NameInfo.of("foo@bar@1.service")
    plain = NameInfo.of("foo.bar.service")
    assert template.is_template() and not template.is_instance()
    assert (instance.prefix, instance.instance, instance.template) == ("foo", "bar@1", "foo@.service")
    assert instance.is_instance() and not instance.is_template()
    assert (plain.name, plain.template) == ("foo.bar", "")
    assert not plain.is_template() and not plain.is_instance()
