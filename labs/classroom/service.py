"""The teacher's view as a JupyterHub service: /services/classroom/, for the hub's admins only.

The hub starts it (classroom/jupyterhub_config.py) and lets in, through its own OAuth, only
users with access to this service: the admins (the classroom's teachers). Anyone else gets
403 from the hub's login check; the page also checks the name against the teachers.

    /services/classroom/               the live table (refreshes every 30 s), with actions
    /services/classroom/classroom.csv  the same table as CSV
    POST /services/classroom/action    resume a student's halted machines / reset their cluster
"""

from __future__ import annotations

import html
import os
import secrets
import threading
import time
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import ioloop, web

from labs.classroom import config as classroom_config, teacher
from labs.launcher.brokered import request as broker_request

CACHE_S = 25          # at least; and twice as long as reading the table took (bench/classroom.py:
                      # 16 students' facts took 39 s on a host at load 100)


class Table:
    """The rows, read at most every CACHE_S seconds (or twice the time a read takes, so the
    service never spends more than half its time reading) however many teachers look."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rows: list = []
        self.at = 0.0
        self.took = 0.0

    def get(self, fresh: bool = False):
        with self.lock:
            if fresh or time.monotonic() - self.at > max(CACHE_S, 2 * self.took):
                start = time.monotonic()
                self.rows = teacher.rows(classroom_config.load())
                self.at = time.monotonic()
                self.took = self.at - start
            return self.rows


TABLE = Table()


class TeacherHandler(HubOAuthenticated, web.RequestHandler):
    def prepare_teacher(self) -> dict:
        user = self.get_current_user()
        if not user:
            raise web.HTTPError(403)
        if user["name"] not in classroom_config.load().teachers:
            raise web.HTTPError(403, f"{user['name']} is not a teacher of this classroom")
        return user


class Page(TeacherHandler):
    @web.authenticated
    async def get(self):
        user = self.prepare_teacher()
        rows = await ioloop.IOLoop.current().run_in_executor(None, TABLE.get)
        self.write(render(rows, user["name"], self.xsrf_form_html(), self.get_argument("done", "")))


class Csv(TeacherHandler):
    @web.authenticated
    async def get(self):
        self.prepare_teacher()
        rows = await ioloop.IOLoop.current().run_in_executor(None, TABLE.get)
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", 'attachment; filename="classroom.csv"')
        self.write(teacher.csv_text(rows))


class Action(TeacherHandler):
    @web.authenticated
    async def post(self):
        self.prepare_teacher()
        student = self.get_argument("student")
        action = self.get_argument("action")
        classroom = classroom_config.load()
        classroom.require_student(student)
        if action == "reset":
            call = ("reset", [])
        elif action == "resume":
            halted = next(r.halted for r in TABLE.get(fresh=True) if r.student == student)
            call = ("resume", halted)
        else:
            raise web.HTTPError(400, f"unknown action {action!r}")
        if call[0] == "resume" and not call[1]:
            outcome = f"{student}: every machine is up already"
        else:
            def act():
                broker_request(classroom.socket, call[0], args=call[1], student=student,
                               echo=lambda line: None)
            try:
                await ioloop.IOLoop.current().run_in_executor(None, act)
                outcome = f"{student}: {action} done"
            except Exception as error:          # shown to the teacher, the service goes on
                outcome = f"{student}: {action} failed: {error}"
            TABLE.get(fresh=True)
        self.redirect(self.hub_auth.base_url + "?done=" + web.escape.url_escape(outcome))


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em} table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left} .bad{background:#fde2e2}
.good{background:#e3f6e3} form{display:inline} .done{background:#eef;padding:.5em}
"""


def render(rows, teacher_name: str, xsrf: str, done: str) -> str:
    notebooks = list(teacher.exercises_per_notebook())
    head = "".join(f"<th>{html.escape(h)}</th>" for h in teacher.header(notebooks)) + "<th>actions</th>"
    body = []
    for row in rows:
        cells = row.cells(notebooks)
        healthy = row.created and row.up == len(row.machines) and not row.failed_units
        actions = "".join(
            f'<form method="post" action="action">{xsrf}<input type="hidden" name="student" '
            f'value="{html.escape(row.student)}"><button name="action" value="{a}">{a}</button></form>'
            for a in ("resume", "reset"))
        body.append(f'<tr class="{"good" if healthy else "bad"}" data-student="{html.escape(row.student)}">'
                    + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
                    + f"<td>{actions}</td></tr>")
    note = f'<p class="done">{html.escape(done)}</p>' if done else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Classroom</title>"
            f"<meta http-equiv='refresh' content='30;url=./'><style>{STYLE}</style></head><body>"
            f"<h1>Classroom</h1><p>{len(rows)} students · you are {html.escape(teacher_name)} · "
            f"<a href='classroom.csv'>CSV</a> · as of {time.strftime('%H:%M:%S')}</p>{note}"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            "<p>Exercises: done/total per notebook. <b>resume</b> starts halted machines; "
            "<b>reset</b> gives the student a freshly formed cluster (their files and progress "
            "stay).</p></body></html>")


def main() -> None:
    prefix = os.environ["JUPYTERHUB_SERVICE_PREFIX"]
    app = web.Application([
        (prefix, Page),
        (url_path_join(prefix, "classroom.csv"), Csv),
        (url_path_join(prefix, "action"), Action),
        (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
    ], cookie_secret=secrets.token_bytes(32), xsrf_cookies=True)
    address = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    app.listen(address.port, address.hostname)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
