"""The magics, widgets and checks inside a real Jupyter kernel (as nbval runs notebooks)."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from tests.integration.toolkit_fixtures import PROJECT

pytestmark = pytest.mark.integration

CELLS = [
    "%load_ext labs",
    "%%remote core-01\necho one; sleep 0.3; echo two >&2",
    "%%remote all\nhostname\necho err-$(hostname) >&2",
    "%remote core-02 docker images --format '{{.Repository}}'",
    "%%remote core-01 --expect-fail\nexit 3",
    "%%remote core-01 --allow-fail\nexit 5",
    ("%%remote core-01\necho before-failing\necho why >&2\nexit 4", ["raises-exception"]),
    "%%interact core-01 docker run -i -t --rm busybox /bin/sh\necho hi-$((1 + 1))\nexit",
    "from labs import widgets\nwidgets.dashboard()",
    "widgets.bridge_diagram('core-01')",
    "widgets.etcd_browser('/toolkit-nb')",
    "from labs import checks\nchecks.check('etcd-json', key='/toolkit-nb/network')",
    "checks.progress()",
]


def text_of(cell) -> str:
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(f"<{output.name}>{output.text}")
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.data.get("text/plain", ""))
        elif output.output_type == "error":
            parts.append(f"<error {output.ename}>{output.evalue}")
    return "".join(parts)


@pytest.fixture(scope="module")
def executed(cluster, tmp_path_factory, monkeypatch_module):
    state = tmp_path_factory.mktemp("progress")
    monkeypatch_module.setenv("LAB_SSH_CONFIG", str(cluster.path))
    monkeypatch_module.setenv("LAB_HOME", str(state))      # progress.json goes here
    monkeypatch_module.setenv("LABS_SOLVE", "1")
    cluster["core-01"].run("ETCDCTL_API=2 etcdctl rm --recursive /toolkit-nb", check=False)
    cluster["core-01"].run("ETCDCTL_API=2 etcdctl set /toolkit-nb/seen yes")
    nb = nbformat.v4.new_notebook()
    for cell in CELLS:
        source, tags = cell if isinstance(cell, tuple) else (cell, [])
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": tags}))
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(PROJECT)}}).execute()
    yield nb.cells, state
    cluster["core-01"].run("ETCDCTL_API=2 etcdctl rm --recursive /toolkit-nb", check=False)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_remote_cell_streams_stdout_and_stderr(executed):
    cells, _ = executed
    assert text_of(cells[1]) in ("<stdout>one\n<stderr>two\n", "<stderr>two\n<stdout>one\n")


def test_remote_all_labels_lines_in_machine_order(executed):
    cells, _ = executed
    out = "".join(o.text for o in cells[2].outputs if o.name == "stdout")
    assert out == "[core-01] core-01\n[core-02] core-02\n[core-03] core-03\n"
    err = "".join(o.text for o in cells[2].outputs if o.name == "stderr")
    assert err == "[core-01] err-core-01\n[core-02] err-core-02\n[core-03] err-core-03\n"


def test_line_magic_keeps_braces(executed):
    cells, _ = executed
    assert text_of(cells[3]) == "<stdout>busybox\n"


def test_expected_and_allowed_failures(executed):
    cells, _ = executed
    assert "status 3" in text_of(cells[4]) and "as expected" in text_of(cells[4])
    assert "status 5" in text_of(cells[5]) and "allowed" in text_of(cells[5])


def test_failure_raises_with_machine_command_status_and_stderr(executed):
    cells, _ = executed
    errors = [o for o in cells[6].outputs if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "CommandFailed"
    message = errors[0].evalue
    assert "core-01" in message and "status 4" in message and "why" in message
    assert "before-failing" in text_of(cells[6])


def test_interactive_busybox_shell(executed):
    cells, _ = executed
    text = text_of(cells[7])
    assert "hi-2" in text and "/ # " in text


def test_widgets_have_text_fallbacks(executed):
    cells, _ = executed
    dashboard = cells[8].outputs[0]
    assert "application/vnd.jupyter.widget-view+json" in dashboard.data
    assert dashboard.data["text/plain"].splitlines()[0].split()[:2] == ["machine", "state"]
    assert "core-03" in dashboard.data["text/plain"]
    diagram = cells[9].outputs[0]
    assert diagram.data["image/svg+xml"].startswith("<svg") and "docker0" in diagram.data["image/svg+xml"]
    assert "docker0 (bridge)" in diagram.data["text/plain"]
    browser = cells[10].outputs[0]
    assert "seen = 'yes'" in browser.data["text/plain"]


def test_check_with_solution_passes_and_is_recorded(executed):
    cells, state = executed
    check = cells[11].outputs[0]
    assert check.data["text/plain"].startswith("✔") and "✔" in check.data["text/html"]
    assert (state / "progress.json").exists()
    assert "1/5" in text_of(cells[12]) or "1/" in text_of(cells[12])
