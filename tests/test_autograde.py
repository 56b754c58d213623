"""The whole grading path on every module: release -> submissions -> autograde -> gradebook.

Three students hand in each module in a scratch course; `genlab.grader.classroom.grade` grades
them with nbgrader's autograding in two processes (test_term.py holds its scores equal to
serial `nbgrader autograde`), and the scores are read back through nbgrader's Gradebook API.
"""

import copy
import subprocess

import nbformat
import pytest
from course import (
    STUB,
    autograded_cells,
    autograded_points,
    copy_course,
    hand_ins,
    is_test_cell,
    modules_run,
    nbgrader_meta,
    read,
    source_notebook,
)
from nbgrader.api import Gradebook

from genlab.grader.classroom import grade

pytestmark = pytest.mark.grading
MODULES = modules_run()

NOISE = """import sys
get_ipython().events.register(
    "post_run_cell", lambda *_: print("UserWarning: harmless", file=sys.stderr)
)
"""


def _submissions(module):
    """Student id -> the notebook that student hands in. The reference answers are handed in
    mishandled: the first test cell deleted, and the code writing to stderr after every
    cell. Neither may cost a point, so the reference must still earn every one (one
    hand-in for the three claims keeps this file's gradings few)."""
    submissions = hand_ins(module)
    mishandled = copy.deepcopy(submissions["reference"])
    first_test = next(i for i, c in enumerate(mishandled.cells) if is_test_cell(c))
    del mishandled.cells[first_test]
    first_solution = next(
        c for c in mishandled.cells if nbgrader_meta(c).get("solution") and c.cell_type == "code"
    )
    first_solution.source = NOISE + first_solution.source
    return {**submissions, "reference": mishandled}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A scratch course in which every module was released, handed in and autograded."""
    course = copy_course(tmp_path_factory.mktemp("grading") / "genai")
    run = dict(cwd=course, check=True, capture_output=True, text=True)
    subprocess.run(["nbgrader", "generate_assignment", "*", "--force"], **run)
    for module in MODULES:
        for student, nb in _submissions(module).items():
            folder = course / "submitted" / student / module
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / f"{module}.ipynb")
        summary = grade(module, course=course, workers=2, progress=False)
        assert not summary.having("failed"), str(summary)
        assert len(summary.having("graded")) == 3
    return course


def _auto_scores(course, module, student):
    """grade_id -> (score, max) of every autograded test cell, from the gradebook."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="genai") as gb:
        notebook = gb.find_submission_notebook(module, module, student)
        auto_ids = {
            nbgrader_meta(c)["grade_id"] for c in autograded_cells(read(source_notebook(module)))
        }
        return {g.name: (g.auto_score, g.max_score) for g in notebook.grades if g.name in auto_ids}


@pytest.mark.parametrize("module", MODULES)
def test_reference_solution_earns_every_autograded_point(graded, module):
    scores = _auto_scores(graded, module, "reference")
    total = autograded_points(read(source_notebook(module)))
    assert total >= 20 and len(scores) >= 6
    missed = {k: v for k, v in scores.items() if v[0] != v[1]}
    assert not missed, f"the reference lost points in {missed}"
    assert sum(s for s, _ in scores.values()) == total


@pytest.mark.parametrize("module", MODULES)
def test_untouched_release_earns_nothing(graded, module):
    scores = _auto_scores(graded, module, "untouched")
    assert scores and sum(s for s, _ in scores.values()) == 0, scores


@pytest.mark.parametrize("module", MODULES)
def test_an_untouched_release_fails_every_check_and_says_what_is_not_written(graded, module):
    """What `nbgrader validate` reports to a student who has written nothing (its report is
    tests/test_platforms.py's, on the first module): every autograded cell fails, each with
    its error, and the functions left as they were released say they are not written yet."""
    nb = read(graded / "autograded" / "untouched" / module / f"{module}.ipynb")
    errors = {
        nbgrader_meta(c)["grade_id"]: [o.evalue for o in c.outputs if o.output_type == "error"]
        for c in autograded_cells(nb)
    }
    assert errors and all(errors.values()), [k for k, v in errors.items() if not v]
    assert any(STUB in e for found in errors.values() for e in found)


@pytest.mark.parametrize("module", MODULES)
def test_half_solved_earns_partial_credit(graded, module):
    total = sum(s for s, _ in _auto_scores(graded, module, "partial").values())
    assert 0 < total < autograded_points(read(source_notebook(module)))


@pytest.mark.parametrize("module", MODULES)
def test_a_deleted_test_cell_is_put_back_and_graded(graded, module):
    scores = _auto_scores(graded, module, "reference")
    assert sum(s for s, _ in scores.values()) == autograded_points(read(source_notebook(module)))
    autograded = read(graded / "autograded" / "reference" / module / f"{module}.ipynb")
    assert any("was missing from the submission" in c.source for c in autograded.cells)


@pytest.mark.parametrize("module", MODULES)
def test_stderr_in_test_cells_does_not_zero_a_right_answer(graded, module):
    scores = _auto_scores(graded, module, "reference")
    assert sum(s for s, _ in scores.values()) == autograded_points(read(source_notebook(module)))
    autograded = read(graded / "autograded" / "reference" / module / f"{module}.ipynb")
    assert any(
        "UserWarning: harmless" in o.get("text", "")
        for c in autograded.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
