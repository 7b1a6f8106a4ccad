"""A classroom student's lab is run by the classroom's broker: the same lifecycle calls, made
by a root service on the student's behalf (students have no Docker access of their own).

`@brokered` wraps the lifecycle functions a learner calls. For a lab whose settings name a
broker (`LabSettings.broker`, set in a student's copy of the settings), the call goes over
the broker's unix socket instead: the broker knows the caller from the kernel (SO_PEERCRED),
runs the same function on that student's lab, streams its progress back line by line, and
returns the result or the error. Everywhere else the wrapper calls the function itself.

The protocol, one JSON object per line:
    request   {"op": "halt", "lab": "/home/ada/.lab", "args": ["core-02"]}
    replies   {"log": "==> lab: ..."} ... then {"result": ...} or {"error": "...", "hint": "..."}
"""

from __future__ import annotations

import functools
import json
import socket
from typing import Any, Callable

from labs.errors import LabError


def brokered(function: Callable) -> Callable:
    """Send FUNCTION(lab, *args) to the lab's broker when it has one; else just call it."""

    @functools.wraps(function)
    def call(lab, *args):
        if not lab.broker:
            return function(lab, *args)
        return decode(function.__name__, request(lab.broker, function.__name__, lab.state,
                                                 list(args)))

    return call


def decode(op: str, result: Any) -> Any:
    """Rebuild what the function returns from its JSON form."""
    if op in ("status", "up"):
        from labs.facts import MachineFacts
        return [MachineFacts(**item) for item in result]
    return result


def request(socket_path: str, op: str, lab_state: str = "", args: list | None = None,
            echo=None, **fields) -> Any:
    """One request to the broker; progress lines go to ECHO (default: print them)."""
    echo = echo or (lambda line: print(line, flush=True))
    message = dict(fields, op=op, lab=lab_state, args=args or [])
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        try:
            connection.connect(socket_path)
        except OSError as error:
            raise LabError(f"the classroom's lab service does not answer ({socket_path}: "
                           f"{error.strerror})", "ask your teacher to start it "
                           "(`make classroom` starts it)") from None
        connection.sendall(json.dumps(message).encode() + b"\n")
        for line in connection.makefile("r", encoding="utf-8"):
            reply = json.loads(line)
            if "log" in reply:
                echo(reply["log"])
            elif "error" in reply:
                raise LabError(reply["error"], reply.get("hint", ""))
            elif "result" in reply:
                return reply["result"]
    raise LabError("the classroom's lab service hung up without an answer",
                   "try again; if it persists, ask your teacher")
