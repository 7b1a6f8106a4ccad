"""`lab class`: the teacher's commands on the server (as root), through the broker.

    lab class status [--csv]              one row per student: machines, etcd, failed units,
                                          exercises done per notebook, last activity
    lab class up [STUDENT ...]            pre-warm clusters (every student's by default)
    lab class resume STUDENT [MACHINE ...]  start a student's halted machines (all of them)
    lab class reset STUDENT               a freshly formed cluster; their files stay
    lab class down [STUDENT ...]          remove clusters; accounts and files stay
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from labs.classroom import config as classroom_config, teacher
from labs.errors import LabError
from labs.launcher.brokered import request

PARALLEL = 5          # clusters booted at once by `lab class up` (2 cores: README, "What one server holds")


def parser() -> argparse.ArgumentParser:
    out = argparse.ArgumentParser(prog="lab class", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = out.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="the live table of every student")
    status.add_argument("--csv", action="store_true")
    for name in ("up", "down"):
        sub = commands.add_parser(name, help=f"`lab {name}` for students (all by default)")
        sub.add_argument("students", nargs="*")
        if name == "up":
            sub.add_argument("--parallel", type=int, default=PARALLEL)
    resume = commands.add_parser("resume", help="start a student's halted machines")
    resume.add_argument("student")
    resume.add_argument("machines", nargs="*")
    reset = commands.add_parser("reset", help="a freshly formed cluster for a student")
    reset.add_argument("student")
    return out


def for_student(classroom, student: str, op: str, args=(), quiet: bool = False):
    prefix = f"{student}: "
    return request(classroom.socket, op, args=list(args), student=student,
                   echo=(lambda line: None) if quiet else (lambda line: print(prefix + line,
                                                                              flush=True)))


def run(args) -> int:
    classroom = classroom_config.load()
    if args.command == "status":
        rows = teacher.rows(classroom)
        print(teacher.csv_text(rows) if args.csv else teacher.text(rows), end="\n" * (not args.csv))
        return 0
    if args.command in ("up", "down"):
        names = [classroom.require_student(s) for s in args.students] or classroom.students
        parallel = getattr(args, "parallel", PARALLEL)
        failed = []

        def one(student):
            try:
                for_student(classroom, student, args.command, quiet=len(names) > 1)
                print(f"{student}: {args.command} done", flush=True)
            except LabError as error:
                failed.append(student)
                print(f"{student}: {error}", flush=True)

        with ThreadPoolExecutor(max_workers=max(parallel, 1)) as pool:
            list(pool.map(one, names))
        if failed:
            raise LabError(f"`lab {args.command}` failed for {', '.join(failed)}",
                           "`lab class status` shows where they are")
        return 0
    student = classroom.require_student(args.student)
    if args.command == "reset":
        for_student(classroom, student, "reset")
    else:
        machines = args.machines or next(r.halted for r in teacher.rows(classroom)
                                         if r.student == student)
        if not machines:
            print(f"{student}: every machine is up")
            return 0
        for_student(classroom, student, "resume", machines)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if os.geteuid() != 0:
        print("lab class: error: the teacher's commands run as root on the server",
              file=sys.stderr)
        return 1
    try:
        return run(args)
    except LabError as error:
        print(f"lab class: error: {error}", file=sys.stderr)
        return 1
