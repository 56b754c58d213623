"""Every source notebook: stored clean, with sound nbgrader metadata.

Each module is run top to bottom where it is used rather than here, once per environment:
its reference solution on Colab (tests/test_colab.py, which also exports it to HTML), in
JupyterLab (tests/test_browser.py), and with its hidden tests under the grader
(tests/test_autograde.py, where it earns every point)."""

import ast

import nbformat
import pytest
from course import (
    autograded_cells,
    autograded_points,
    modules_run,
    nbgrader_meta,
    read,
    source_notebook,
)

MODULES = modules_run()


def test_there_is_at_least_one_module():
    assert MODULES, "no source/<module>/<module>.ipynb found"


@pytest.mark.parametrize("module", MODULES)
def test_source_is_stored_without_outputs(module):
    nb = read(source_notebook(module))
    nbformat.validate(nb)
    dirty = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.outputs or c.execution_count)
    ]
    assert not dirty, f"cells {dirty} of {module} hold outputs: clear them before committing"


@pytest.mark.parametrize("module", MODULES)
def test_grade_ids_and_points_follow_the_house_rules(module):
    nb = read(source_notebook(module))
    metas = [nbgrader_meta(c) for c in nb.cells if nbgrader_meta(c)]
    ids = [m["grade_id"] for m in metas]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    solutions = {m["grade_id"] for m in metas if m.get("solution")}
    tests = [nbgrader_meta(c) for c in autograded_cells(nb)]
    for meta in tests:
        assert meta.get("locked"), f"test cell {meta['grade_id']} must be locked"
        owner = meta["grade_id"].rsplit("_", 1)[0]
        assert any(meta["grade_id"].startswith(s + "_") for s in solutions) or owner in solutions, (
            f"test cell {meta['grade_id']} should be named <task>_<check> after a solution cell"
        )
    for cell in autograded_cells(nb):
        first = cell.source.lstrip().splitlines()[0]
        assert first.startswith(("'''", '"""')), (
            f"{nbgrader_meta(cell)['grade_id']} needs a docstring"
        )
    assert autograded_points(nb) >= 20, "a module carries at least 20 autograded points"
    assert len(tests) >= 6, "a module has at least 6 autograded test cells"
    manual = [m for m in metas if m.get("grade") and m.get("solution")]
    assert manual, "a module has at least one manually graded answer"


@pytest.mark.parametrize("module", MODULES)
def test_test_cells_leave_no_stray_value_for_nbgrader(module):
    """nbgrader reads a test cell's last value as its score: only a partial-credit call may
    leave one (a stray value would be taken as points, or crash the whole notebook's grading)."""
    for cell in autograded_cells(read(source_notebook(module))):
        meta = nbgrader_meta(cell)
        last = ast.parse(cell.source).body[-1]
        if isinstance(last, ast.Expr):
            name = ast.unparse(last.value.func) if isinstance(last.value, ast.Call) else ""
            allowed = name == "print" or name.split(".")[-1].startswith(("check_", "score_"))
            assert allowed, (
                f"{meta['grade_id']} ends with `{ast.unparse(last)}`, a value nbgrader would read"
            )
