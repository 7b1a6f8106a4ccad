"""One lifecycle call on one lab, as root, in a process of its own (started by the broker).

    python -m labs.classroom.worker < {"op": "halt", "state": "/var/lib/.../ada", "args": [...],
                                       "engine": "unix:///run/coreos-lab/engine2.sock"}

Progress goes to stderr (the broker streams it to the student); the result, as one JSON
object ({"result": ...} or {"error": ..., "hint": ...}), to stdout. A process per call keeps
each lab's Docker engine (DOCKER_HOST) and a crash to itself.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from labs.errors import LabError

OPERATIONS = ("up", "status", "halt", "resume", "reset", "down", "require_machines",
              "new_discovery_url", "vagrant", "docker", "provision")


def run(request: dict):
    from labs.classroom import passthrough
    from labs.launcher import lifecycle, settings

    if request["op"] not in OPERATIONS:
        raise LabError(f"unknown operation {request['op']!r}")
    lab = settings.load(Path(request["state"]))
    if lab.broker:
        raise LabError(f"{lab.state} is a student's copy, not the broker's lab")
    if request["op"] == "provision":
        return passthrough.provision(lab, request.get("user_data"), request.get("args", []))
    if request["op"] in ("vagrant", "docker"):
        return passthrough.run(lab, request["op"], request.get("args", []))
    result = getattr(lifecycle, request["op"])(lab, *request.get("args", []))
    if isinstance(result, list) and result and dataclasses.is_dataclass(result[0]):
        return [dataclasses.asdict(item) for item in result]
    return result


def call(state: str, engine: str, op: str, args: list, echo, user_data: str | None = None) -> dict:
    """Run OP on the lab in STATE in a worker process; progress lines to ECHO; its reply.
    USER_DATA: the text `provision` launches from."""
    worker = subprocess.Popen([sys.executable, "-m", "labs.classroom.worker"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd="/")
    worker.stdin.write(json.dumps({"op": op, "state": state, "args": args, "engine": engine,
                                   "user_data": user_data}))
    worker.stdin.close()
    for line in worker.stderr:
        echo(line.rstrip("\n"))
    out = worker.stdout.read()
    worker.wait()
    try:
        return json.loads(out)
    except ValueError:
        return {"error": f"`lab {op}` failed inside the lab service (exit {worker.returncode})",
                "hint": "the lines above say why; ask your teacher if they do not"}


def main() -> int:
    request = json.load(sys.stdin)
    if request.get("engine"):
        os.environ["DOCKER_HOST"] = request["engine"]
    result_out, sys.stdout = sys.stdout, sys.stderr      # progress to stderr
    try:
        reply = {"result": run(request)}
    except LabError as error:
        reply = {"error": error.args[0], "hint": error.hint}
    print(json.dumps(reply), file=result_out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
