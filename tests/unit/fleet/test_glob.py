"""Go path.Match semantics, where they differ from Python's fnmatch (docs/fleet.md §3.4)."""

import fnmatch

import pytest

from labs.node.fleet.glob import match


@pytest.mark.parametrize("pattern, name, expected", [
    ("conflict.*.service", "conflict.0.service", True),
    ("conflict.*.service", "other.0.service", False),
    ("a?c", "abc", True),
    ("*", "", True),
    ("*.service", "a/b.service", False),  # * never crosses "/"
    ("a?b", "a/b", False),
    ("[a-c]x", "bx", True),
    ("[^a-c]x", "dx", True),
    ("[^a-c]x", "bx", False),
    ("[!a]x", "!x", True),  # Go has no "!" negation: "!" is a member
    ("[!a]x", "bx", False),
    ("\\*x", "*x", True),
    ("\\*x", "ax", False),
    ("[\\]]", "]", True),
    ("a*b*c", "aXbYc", True),
    ("a*b", "aXbYb", True),
    ("a*", "abc", True),
    ("*c", "abc", True),
])
def test_go_path_match(pattern, name, expected):
    assert match(pattern, name) is expected


@pytest.mark.parametrize("pattern", ["[", "a[", "[]a]", "[a-]", "x\\", "[^"])
def test_malformed_patterns_never_match(pattern):
    assert match(pattern, "a") is False
    assert match(pattern, pattern) is False


def test_differs_from_fnmatch_where_spec_says():
    assert fnmatch.fnmatchcase("bx", "[!a]x") and not match("[!a]x", "bx")
    assert fnmatch.fnmatchcase("a/b.service", "*.service") and not match("*.service", "a/b.service")
    assert not fnmatch.fnmatchcase("*x", "\\*x") and match("\\*x", "*x")
