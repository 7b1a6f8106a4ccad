"""Go's `path.Match`, the glob dialect of fleet's Conflicts= and Replaces=.

Python's fnmatch differs: Go negates a class with `[^...]` (fnmatch: `[!...]`),
`\\` escapes the next character, `*` and `?` never match `/`, and a malformed
pattern is an error, which fleet treats as "no match" (docs/fleet.md §3.4).
"""


class BadPattern(ValueError):
    """The pattern is malformed (Go's path.ErrBadPattern)."""


def match(pattern, name):
    """True iff `name` matches the Go `path.Match` pattern; malformed → False."""
    try:
        _check_pattern(pattern)
    except BadPattern:
        return False
    return _match(pattern, name)


def _match(pattern, name):
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            # A trailing star matches the rest, as long as it has no "/".
            return "/" not in name
        rest = _match_chunk(chunk, name)
        if rest is not None and (not rest or pattern):
            name = rest
            continue
        if star:
            # Let the star eat 1, 2, ... characters (never a "/") and retry the chunk.
            found = False
            for i in range(len(name)):
                if name[i] == "/":
                    break
                rest = _match_chunk(chunk, name[i + 1:])
                if rest is not None:
                    if not pattern and rest:
                        continue
                    name = rest
                    found = True
                    break
            if found:
                continue
        return False
    return not name


def _scan_chunk(pattern):
    """Split off leading stars and the literal/class chunk up to the next star."""
    star = False
    while pattern.startswith("*"):
        pattern = pattern[1:]
        star = True
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 1  # skip the escaped character
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "*" and not in_class:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _match_chunk(chunk, text):
    """Match `chunk` (no stars) at the start of `text`; the rest of text, or None."""
    while chunk:
        if not text:
            return None
        char = chunk[0]
        if char == "[":
            current, text = text[0], text[1:]
            chunk = chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            matched = False
            first = True
            while first or not chunk.startswith("]"):
                first = False
                low, chunk = _class_char(chunk)
                high = low
                if chunk.startswith("-"):
                    high, chunk = _class_char(chunk[1:])
                if low <= current <= high:
                    matched = True
            chunk = chunk[1:]  # the closing "]"
            if matched == negated:
                return None
        elif char == "?":
            if text[0] == "/":
                return None
            text, chunk = text[1:], chunk[1:]
        else:
            if char == "\\":
                chunk = chunk[1:]
            if chunk[0] != text[0]:
                return None
            text, chunk = text[1:], chunk[1:]
    return text


def _class_char(chunk):
    """One possibly escaped character of a [...] class, and the chunk after it."""
    if chunk.startswith("\\"):
        chunk = chunk[1:]
    return chunk[0], chunk[1:]


def _check_pattern(pattern):
    """Raise BadPattern unless every escape and [...] class is well formed."""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 >= len(pattern):
                raise BadPattern(pattern)
            i += 2
        elif char == "[":
            i = _check_class(pattern, i + 1)
        else:
            i += 1


def _check_class(pattern, i):
    """Validate a class body starting after "["; index just past its "]"."""
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    first = True
    while True:
        if i >= len(pattern):
            raise BadPattern(pattern)
        if pattern[i] == "]" and not first:
            return i + 1
        first = False
        i = _check_class_char(pattern, i)
        if i < len(pattern) and pattern[i] == "-":
            i = _check_class_char(pattern, i + 1)


def _check_class_char(pattern, i):
    if i >= len(pattern) or pattern[i] in "-]":
        raise BadPattern(pattern)
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise BadPattern(pattern)
    return i + 1
