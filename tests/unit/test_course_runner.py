"""The course runner reads executed notebooks right: tracebacks and check results."""

from __future__ import annotations

import nbformat

from tests.course import runner


def executed(*cells):
    notebook = nbformat.v4.new_notebook()
    for source, outputs in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.outputs = [nbformat.v4.new_output(**output) for output in outputs]
        notebook.cells.append(cell)
    return notebook


def result(text):
    return {"output_type": "execute_result", "data": {"text/plain": text}, "execution_count": 1}


def test_tracebacks_name_the_cell_and_the_error():
    notebook = executed(("x = 1", []), ("1/0", [{"output_type": "error", "ename": "ZeroDivisionError",
                                                 "evalue": "division by zero", "traceback": []}]))
    assert runner.tracebacks(notebook) == ["cell 1: ZeroDivisionError: division by zero"]


def test_check_results_are_read_from_check_cells_only():
    notebook = executed(("print('checks.check(')", [result("no")]),
                        ('checks.check("etcd-json")', [result("✘ A JSON value: …")]),
                        ('checks.check("etcd-json", hint=2)', []))
    assert runner.check_results(notebook) == [(1, "etcd-json", "✘ A JSON value: …"),
                                              (2, "etcd-json", "(the check showed nothing)")]
