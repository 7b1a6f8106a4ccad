"""Unit names: validation, fleetctl's name mangling, templates and instances.

The error texts are the API's (`api/units.go ValidateName`), which fleetctl
prints after `Error creating units: ` (docs/fleet.md §3.2, §3.3).
"""

import os
import string
from dataclasses import dataclass

MAX_NAME_LENGTH = 256
UNIT_TYPES = (
    "automount busname device mount path scope service slice snapshot socket swap target timer".split()
)
TEMPLATE_UNIT_TYPES = "path service socket target timer".split()
NAME_CHARACTERS = set(string.ascii_letters + string.digits + ":_.@-\\")
# Suffixes fleetctl leaves alone; anything else gets ".service" appended.
MANGLE_SUFFIXES = (".service", ".socket", ".timer", ".path", ".device", ".mount", ".automount")
# Unit files the agent recognises in its units directory (unit/unit.go RecognizedUnitType).
RECOGNIZED_FILE_TYPES = ("service", "socket", "timer", "path", "device", "mount", "automount")


def name_error(name):
    """The first rule `name` breaks, as fleet words it, or None if it is valid."""
    if not name:
        return "unit name cannot be empty"
    if len(name) > MAX_NAME_LENGTH:
        return "unit name exceeds maximum length (%d)" % MAX_NAME_LENGTH
    if "." not in name:
        return 'unit name must contain "."'
    if name.endswith("."):
        return 'unit name cannot end in "."'
    stem, unit_type = name.rsplit(".", 1)
    if unit_type not in UNIT_TYPES:
        return 'invalid unit type: "%s"' % unit_type
    if "@" in name and unit_type not in TEMPLATE_UNIT_TYPES:
        return 'invalid unit type for template: "%s"' % unit_type
    for char in stem:
        if char not in NAME_CHARACTERS:
            return "invalid character %s in unit name" % go_quote_rune(char)
    if name.startswith("@"):
        return 'unit name cannot start in "@"'
    return None


def go_quote_rune(char):
    """Go's %q of a rune: 'x', with Go's escapes for the unprintable."""
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
             "\v": "\\v", "'": "\\'"}
    if char in named:
        return "'%s'" % named[char]
    code = ord(char)
    if char.isprintable():
        return "'%s'" % char
    if code < 0x80:
        return "'\\x%02x'" % code
    if code <= 0xFFFF:
        return "'\\u%04x'" % code
    return "'\\U%08x'" % code


def mangle_name(arg):
    """fleetctl's unitNameMangle: the unit name an argument (a name or a path) stands for."""
    return with_default_type(os.path.basename(arg))


def with_default_type(arg):
    """fleetctl's maybeAppendDefaultUnitType: ".service" unless the suffix is known.

    fleetctl applies it to the file path too, so `fleetctl start hello` reads hello.service.
    """
    return arg if arg.endswith(MANGLE_SUFFIXES) else arg + ".service"


@dataclass(frozen=True)
class NameInfo:
    """A unit name split the way fleet splits it (unit/unit.go NewUnitNameInfo)."""

    full_name: str
    name: str  # before the last "."
    prefix: str  # before the first "@" (the whole name when there is none)
    instance: str  # after the first "@"
    template: str  # "prefix@.suffix", or "" when the name has no "@"

    @classmethod
    def of(cls, full_name):
        name, _, suffix = full_name.rpartition(".")
        if "@" not in name:
            return cls(full_name, name, name, "", "")
        prefix, instance = name.split("@", 1)
        return cls(full_name, name, prefix, instance, "%s@.%s" % (prefix, suffix))

    def is_template(self):
        return bool(self.template) and not self.instance

    def is_instance(self):
        return bool(self.template) and bool(self.instance)


def is_recognized_unit_file(filename):
    """Whether the agent treats a file in its units directory as a fleet unit."""
    return filename.rpartition(".")[2] in RECOGNIZED_FILE_TYPES and "." in filename
