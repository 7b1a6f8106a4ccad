"""The classroom's broker: the only thing students reach that holds Docker.

    python -m labs.classroom.broker [--config /etc/coreos-lab/classroom.json]

A root service on a unix socket (mode 0660, group of the students). For each connection it
asks the kernel who is calling (SO_PEERCRED: the uid cannot be forged), and acts only on
that student's own lab: a request that names another lab (another student, or a LAB_HOME
that is not the caller's) is refused and logged. Root may name any student's lab (the
teacher's tools). Each call runs in a worker process (`worker`); calls that change a lab run
one at a time per student, while others wait; `status` never waits. After every change the
student's copy of the lab (~/.lab) is written again, as the student (`studentlab.publish`).

The protocol is `labs.launcher.brokered`'s: one JSON request line, then progress lines and
one result line.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import socket
import socketserver
import struct
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

from labs.classroom import config as classroom_config, studentlab
from labs.classroom.config import Classroom
from labs.classroom import worker
from labs.classroom.worker import OPERATIONS
from labs.errors import LabError

CHANGES = {"up", "halt", "resume", "reset", "down", "new_discovery_url", "provision"}
READS = set(OPERATIONS) - CHANGES


class Refused(LabError):
    """A request outside the caller's own lab."""


def peer_uid(connection: socket.socket) -> int:
    """The connecting process's uid, from the kernel."""
    creds = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


class Broker:
    def __init__(self, config: Path | None = None, log=None):
        self.config = config
        self.locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self.running: dict[str, str] = {}
        self.log = log or (lambda line: print(line, flush=True))

    @property
    def classroom(self) -> Classroom:
        """Read anew for every request: students added to the roster need no restart."""
        return classroom_config.load(self.config)

    # -- who may do what --

    def student_for(self, uid: int, request: dict) -> str:
        """The student whose lab REQUEST is about, once the caller may act on it."""
        try:
            caller = pwd.getpwuid(uid).pw_name
        except KeyError:
            raise Refused(f"uid {uid} has no account on this server") from None
        named = request.get("student") or ""
        lab = request.get("lab") or ""
        if uid == 0:
            student = named or self.owner_of(lab)
            return self.classroom.require_student(student)
        classroom = self.classroom
        if caller not in classroom.students:
            raise Refused(f"{caller} is not a student of this classroom",
                          "only the classroom's students have labs here")
        if named and named != caller:
            raise Refused(f"you ({caller}) may act only on your own lab, not on {named}'s")
        mine = str(classroom.student_lab(caller))
        if lab and os.path.realpath(lab) != os.path.realpath(mine):
            raise Refused(f"{lab} is not your lab: yours is {mine}",
                          "unset LAB_HOME (your JupyterLab sets it to your own lab)")
        return caller

    def owner_of(self, lab: str) -> str:
        classroom = self.classroom
        for student in classroom.students:
            if lab and os.path.realpath(lab) == os.path.realpath(classroom.student_lab(student)):
                return student
        raise Refused(f"{lab or 'no lab'}: not a student's lab",
                      "name the student (`lab class reset NAME`)")

    # -- doing it --

    def handle(self, uid: int, request: dict, reply) -> None:
        op = request.get("op", "")
        try:
            student = self.student_for(uid, request)
            if op not in OPERATIONS:
                raise LabError(f"the lab service does not do {op!r}")
            if op in READS:
                reply(self.run(student, request, reply))
                return
            lock = self.locks[student]
            if not lock.acquire(blocking=False):
                reply({"log": f"==> lab: waiting: `lab {self.running.get(student, '...')}` is "
                              "still running on your lab"})
                lock.acquire()
            try:
                self.running[student] = op
                reply(self.run(student, request, reply))
            finally:
                self.running.pop(student, None)
                lock.release()
        except LabError as error:
            self.log(f"{stamp()} uid={uid} op={op} refused/failed: {error.args[0]}")
            reply({"error": error.args[0], "hint": error.hint})

    def run(self, student: str, request: dict, reply) -> dict:
        classroom = self.classroom
        lab = studentlab.load(classroom, student)
        op = request["op"]
        self.log(f"{stamp()} {student}: {op} {' '.join(map(str, request.get('args', [])))}")
        classroom.lab_state(student).joinpath("last-request").write_text(f"{stamp()} {op}\n")
        outcome = worker.call(lab.state, studentlab.engine(classroom, student), op,
                              request.get("args", []), lambda line: reply({"log": line}),
                              user_data=request.get("user_data"))
        if op in CHANGES:
            studentlab.publish(classroom, student, lab)
        if op in ("vagrant", "docker", "provision") and "result" in outcome:   # the student's paths
            result = outcome["result"]
            result["output"] = result["output"].replace(lab.state, str(classroom.student_lab(student)))
        return outcome


def stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        uid = peer_uid(self.request)
        gone = False

        def reply(message: dict) -> None:
            nonlocal gone
            if gone:
                return
            try:
                self.wfile.write(json.dumps(message).encode() + b"\n")
                self.wfile.flush()
            except OSError:           # the student hung up; the call still finishes
                gone = True

        try:
            request = json.loads(self.rfile.readline())
            if not isinstance(request, dict):
                raise ValueError
        except ValueError:
            reply({"error": "not a request (one JSON object per line)"})
            return
        self.server.broker.handle(uid, request, reply)


class Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def serve(config: Path | None = None) -> None:
    classroom = classroom_config.load(config)
    path = Path(classroom.socket)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o755)
    path.unlink(missing_ok=True)
    server = Server(str(path), Handler)
    os.chown(path, 0, group_id(classroom.group))
    path.chmod(0o660)
    server.broker = Broker(config)
    print(f"{stamp()} broker: serving {len(classroom.students)} students on {path}", flush=True)
    try:
        server.serve_forever()
    finally:
        path.unlink(missing_ok=True)


def group_id(name: str) -> int:
    import grp
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise LabError(f"no group {name!r}: the classroom's accounts are not set up") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labs.classroom.broker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("the broker runs as root (it holds Docker for the students)", file=sys.stderr)
        return 1
    try:
        serve(args.config)
    except LabError as error:
        print(f"broker: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
