"""The hub in a real browser: headless Chromium (Debian's package) driven by Playwright.

The teacher logs in and sees every student at /services/classroom/, exports the CSV and
resumes a student's halted machine with the page's button; a student logs in, gets JupyterLab
with the course, and is refused the teacher's view.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from labs.launcher import resources

playwright = pytest.importorskip("playwright.sync_api", reason="Playwright (PyPI) drives the browser")


def password(room, user: str) -> str:
    from labs.classroom import accounts
    for line in accounts.passwords_file(room.config).read_text().splitlines():
        name, _, secret = line.partition("\t")
        if name == user:
            return secret
    raise AssertionError(f"no password recorded for {user}")


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (`make test-classroom` installs it)")
    with playwright.sync_playwright() as driver:
        # Chromium's sandbox refuses to run as root; the tests run as root
        launched = driver.chromium.launch(executable_path=chromium,
                                          args=["--no-sandbox"] if os.geteuid() == 0 else [])
        yield launched
        launched.close()


def hub_url(room) -> str:
    return f"http://127.0.0.1:{room.config.hub_port}/"


def logged_in(browser, room, user: str):
    page = browser.new_context().new_page()
    page.goto(hub_url(room) + "hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password(room, user))
    page.click("#login_submit")
    page.wait_for_load_state()
    return page


def test_the_teacher_sees_every_student_and_exports_csv(browser, room, students):
    page = logged_in(browser, room, room.teacher)
    reply = page.goto(hub_url(room) + "services/classroom/")
    assert reply.status == 200, page.content()[:2000]
    rows = page.locator("tr[data-student]")
    names = [rows.nth(i).get_attribute("data-student") for i in range(rows.count())]
    assert names == [s.name for s in students]
    for i in range(rows.count()):
        assert "3/3 up" in rows.nth(i).inner_text()
    csv = page.request.get(hub_url(room) + "services/classroom/classroom.csv")
    assert csv.status == 200
    lines = csv.text().splitlines()
    assert lines[0].startswith("student,machines_up,machines,etcd_leader")
    assert [line.split(",")[0] for line in lines[1:]] == names


def test_a_student_gets_jupyterlab_with_the_course_and_is_refused_the_teachers_view(
        browser, room, students):
    a = students[0]
    page = logged_in(browser, room, a.name)
    page.wait_for_url(f"**/user/{a.name}/lab/**", timeout=120_000)
    page.get_by_text("00-welcome.ipynb").first.wait_for(timeout=120_000)
    reply = page.goto(hub_url(room) + "services/classroom/")
    assert reply.status == 403
    assert students[1].name not in page.content()


def test_the_teacher_resumes_a_students_halted_machine(browser, room, students):
    from labs.launcher.brokered import request

    a = students[0]
    request(room.config.socket, "halt", args=["core-03"], student=a.name, echo=lambda line: None)
    assert resources.machines(a.settings())["core-03"] == "stopped"
    page = logged_in(browser, room, room.teacher)
    page.goto(hub_url(room) + "services/classroom/")
    row = page.locator(f'tr[data-student="{a.name}"]')
    deadline = time.monotonic() + 120           # the table is read again every CACHE_S s or so
    while "2/3 up" not in row.inner_text():
        assert time.monotonic() < deadline, row.inner_text()
        time.sleep(2)
        page.reload()
    row.get_by_role("button", name="resume").click()
    page.wait_for_load_state(timeout=300_000)
    assert f"{a.name}: resume done" in page.inner_text("body")
    assert resources.machines(a.settings())["core-03"] == "running"
