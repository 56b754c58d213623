"""Every source notebook: stored clean, with sound nbgrader metadata, and runs top to bottom;
exported to HTML, it shows a figure wherever a widget would be."""

import ast
import copy
import re

import nbformat
import pytest
from course import (
    WIDGET_VIEW,
    autograded_cells,
    autograded_points,
    errors,
    live_figures,
    modules_run,
    nbgrader_meta,
    outputs,
    read,
    source_notebook,
)
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from nbgrader.utils import determine_grade

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


@pytest.fixture(scope="module")
def executed():
    """module -> its source notebook run top to bottom by nbclient (once per module), with
    the widget state that `jupyter nbconvert --execute` stores."""
    runs = {}

    def run(module):
        if module not in runs:
            path = source_notebook(module)
            nb = read(path)
            NotebookClient(
                nb,
                timeout=300,
                kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
            ).execute()
            runs[module] = nb
        return runs[module]

    return run


@pytest.mark.notebooks
@pytest.mark.parametrize("module", MODULES)
def test_source_runs_top_to_bottom(module, executed):
    nb = executed(module)
    assert not errors(nb), errors(nb)
    figures = sum("image/png" in o.get("data", {}) for _, o in outputs(nb))
    assert figures >= 3, "a module shows its figures"
    # what `nbgrader validate` will say of the reference solution: every test cell passes
    # (a test cell that writes to stderr, a warning say, fails validation though it grades)
    failing = [
        nbgrader_meta(c)["grade_id"]
        for c in autograded_cells(nb)
        if determine_grade(c)[0] != determine_grade(c)[1]
    ]
    assert not failing, f"nbgrader validate would fail these test cells: {failing}"


@pytest.mark.notebooks
@pytest.mark.parametrize("module", MODULES)
def test_html_export_shows_a_figure_wherever_a_widget_would_be(module, executed):
    """A static page (nbconvert's HTML, GitHub's viewer) runs no widget. Where the notebook
    was saved without widget state (JupyterLab's default), each widget's output shows its
    still; where the state was saved (`jupyter nbconvert --execute`), the page draws the
    widget from it, pictures included. Either way the static snapshot cells follow."""
    nb = executed(module)
    live = live_figures(nb)
    images = sum("image/png" in o.get("data", {}) for _, o in outputs(nb))

    saved_by_lab = copy.deepcopy(nb)
    saved_by_lab.metadata.pop("widgets", None)
    page, _ = HTMLExporter().from_notebook_node(saved_by_lab)
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', page)) == images
    for i, output in live:  # the still stands where the widget would be
        alone = copy.deepcopy(saved_by_lab)
        alone.cells = [alone.cells[i]]
        cell, _ = HTMLExporter(exclude_input=True).from_notebook_node(alone)
        assert output.data["image/png"][:64] in cell.replace("\n", "")
        assert "VBox(" not in cell and "jupyter-widgets" not in cell

    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    page, _ = HTMLExporter().from_notebook_node(nb)
    for _, output in live:
        model = output.data[WIDGET_VIEW]["model_id"]
        assert model in state and model in page, "the page draws the widget from its state"
        pictures = [m for m in _descendants(state, model) if m["model_name"] == "ImageModel"]
        assert pictures and all(_has_png(m) for m in pictures), "its pictures are in the state"
    snapshots = images - len(live)
    assert snapshots >= len(live), "each widget has a static figure beside it"


def _descendants(state: dict, model_id: str) -> list[dict]:
    """The widget models under `model_id` in a saved widget state."""
    model = state[model_id]
    children = re.findall(r"IPY_MODEL_([0-9a-f]+)", str(model["state"].get("children", "")))
    return [model] + [m for child in children for m in _descendants(state, child)]


def _has_png(model: dict) -> bool:
    """An ImageModel whose value, saved as a base64 buffer, holds a PNG."""
    buffers = {tuple(b["path"]): b["data"] for b in model.get("buffers", [])}
    return buffers.get(("value",), "").startswith("iVBORw0KGgo")  # b"\x89PNG" in base64
