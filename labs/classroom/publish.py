"""Write a student's copy of their lab into their ~/.lab (run as the student, by the broker).

    python -m labs.classroom.publish ~/.lab  < {"name": {"mode": 420, "text": "..."} | null}

Each file is replaced atomically (a temporary file, then rename); null removes the file.
Running as the student, this cannot write anywhere the student could not.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def publish(directory: Path, files: dict[str, dict | None]) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, spec in files.items():
        if "/" in name or name.startswith("."):
            raise ValueError(f"not a plain file name: {name!r}")
        target = directory / name
        if spec is None:
            target.unlink(missing_ok=True)
            continue
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
        with os.fdopen(fd, "w") as out:
            out.write(spec["text"])
        os.chmod(temporary, spec["mode"])
        os.replace(temporary, target)


if __name__ == "__main__":
    publish(Path(sys.argv[1]), json.load(sys.stdin))
