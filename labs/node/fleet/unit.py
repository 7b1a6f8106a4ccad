"""systemd unit files as fleet sees them: parsing, canonical text and hash.

fleet identifies a unit's contents by the SHA1 of a canonical serialisation
(go-systemd's `Serialize`), so two files that differ only in comments, spacing
or section order-of-repeats are the same unit. `fleetctl cat` prints that
canonical text and the agent writes it to disk (docs/fleet.md §3.1).
"""

import hashlib

# go-systemd refuses a physical line of this many bytes or more.
LINE_MAX = 2048


class UnitFileError(ValueError):
    """The text is not a unit file go-systemd would accept."""


class UnitFile:
    """A parsed unit file: its options in file order, as (section, name, value)."""

    def __init__(self, options):
        self.options = list(options)

    @classmethod
    def parse(cls, text):
        """Parse unit text the way go-systemd's lexer does (docs/fleet.md §3.1)."""
        options = []
        section = None
        lines = text.split("\n")
        index = 0
        while index < len(lines):
            line = lines[index]
            index += 1
            if len(line.encode()) >= LINE_MAX:
                raise UnitFileError("line too long (max %d bytes)" % LINE_MAX)
            stripped = line.strip()
            if stripped.startswith("["):
                section = _section_name(stripped)
                continue
            if section is None or not stripped or stripped[0] in "#;":
                # Text before the first header, blank lines and comments carry no options.
                continue
            if "=" not in line:
                raise UnitFileError("unexpected newline encountered while parsing option name")
            name, value = line.split("=", 1)
            # A value ending in a backslash continues on the next line, verbatim,
            # keeping the backslash and the newline; a blank line ends it.
            while value.endswith("\\") and index < len(lines) and lines[index] != "":
                value += "\n" + lines[index]
                index += 1
            options.append((section, name.strip(), value.strip()))
        return cls(options)

    def sections(self):
        """Section names in order of first appearance."""
        seen = []
        for section, _, _ in self.options:
            if section not in seen:
                seen.append(section)
        return seen

    def section_options(self, section):
        """(name, value) pairs of one section, in file order, repeats merged."""
        return [(name, value) for sec, name, value in self.options if sec == section]

    def canonical_text(self):
        """go-systemd `Serialize`: one blank line between sections, none at the end."""
        blocks = []
        for section in self.sections():
            lines = ["[%s]\n" % section]
            lines += ["%s=%s\n" % (name, value) for name, value in self.section_options(section)]
            blocks.append("".join(lines))
        return "\n".join(blocks)

    def hash(self):
        """40-hex SHA1 of the canonical text: the unit's identity in etcd."""
        return hashlib.sha1(self.canonical_text().encode()).hexdigest()

    def description(self):
        """The first [Unit] Description, or None."""
        for name, value in self.section_options("Unit"):
            if name == "Description":
                return value
        return None

    def has_section(self, section):
        return section in self.sections()


def _section_name(stripped_line):
    """The name inside `[...]`; anything but whitespace after `]` is an error."""
    end = stripped_line.find("]")
    if end < 0:
        raise UnitFileError("unable to find end of section")
    name = stripped_line[1:end]
    if stripped_line[end + 1:].strip():
        raise UnitFileError("found garbage after section name %s" % go_quote(name))
    return name


def go_quote(text):
    """Go's %q for a string of printable characters: double quotes, escaped."""
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')
