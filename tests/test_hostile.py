"""A class of hostile and broken hand-ins of module 01, graded by plain `nbgrader autograde`.

Each case says what the student handed in and what grading must make of it. The honest
students are graded alone first; after the whole class has been graded together, their
rows of the gradebook must be exactly what they were.
"""

from __future__ import annotations

import copy
import json
import subprocess
import textwrap
from pathlib import Path

import nbformat
import pytest
from course import (
    autograded_cells,
    autograded_points,
    copy_course,
    hand_ins,
    is_test_cell,
    nbgrader_meta,
    read,
    source_notebook,
)
from nbformat.v4 import new_code_cell
from nbgrader.api import Gradebook

pytestmark = pytest.mark.grading
MODULE = "01-judging-vs-creating"
FULL = autograded_points(read(source_notebook(MODULE)))
HONEST = ("honest-right", "honest-half", "honest-blank")


def _release():
    return hand_ins(MODULE)["untouched"]


def _right():
    return hand_ins(MODULE)["reference"]


def _half():
    return hand_ins(MODULE)["partial"]


def _with(nb, code, where="first"):
    """`nb` with a code cell of the student's: before the first answer, or at the end."""
    nb = copy.deepcopy(nb)
    at = 1 if where == "first" else len(nb.cells)
    nb.cells.insert(at, new_code_cell(textwrap.dedent(code)))
    return nb


def _tests(nb, change):
    nb = copy.deepcopy(nb)
    for cell in [c for c in nb.cells if is_test_cell(c)]:
        change(nb, cell)
    return nb


def _retyped(nb, cell):
    cell.cell_type = "markdown"
    cell.pop("outputs", None)
    cell.pop("execution_count", None)


def _emptied(nb, cell):
    cell.source = "pass"


def _more_points(nb, cell):
    nbgrader_meta(cell)["points"] = 100


def _duplicated(nb, cell):
    nb.cells.insert(nb.cells.index(cell), copy.deepcopy(cell))


def _bonus(nb):
    nb = copy.deepcopy(nb)
    cell = new_code_cell("print('free points')")
    cell.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "grade_id": "bonus",
        "points": 50,
        "schema_version": 3,
    }
    nb.cells.append(cell)
    return nb


def _forged_schema(nb):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if "nbgrader" in cell.metadata:
            cell.metadata["nbgrader"]["schema_version"] = 99
    return nb


def _foreign_kernel(nb):
    nb = copy.deepcopy(nb)
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    return nb


YES = """
class Yes(str):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = str.__hash__
Q1 = Q2 = Q3 = Q4 = Q5 = Q6 = Yes("c")
"""
PATCH_CHECKS = """
import numpy as np, genlab.checks as checks
for name in dir(checks):
    if name.startswith("check") or name == "score_matches":
        setattr(checks, name, lambda *a, **k: None)
check_close = check_equal = check_array = check_choice = check_keys = checks.check_close
check_type = checks.check_close
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
"""
SWALLOW_ERRORS = "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"
SKIP_TESTS = """
get_ipython().input_transformers_post.append(
    lambda lines: ["pass\\n"] if any("check" in line for line in lines) else lines
)
"""
HIJACK_RUN = """
import IPython
shell = get_ipython()
original = type(shell).run_cell
def run_cell(self, raw_cell, *args, **kwargs):
    if "check" in raw_cell:
        raw_cell = "pass"
    return original(self, raw_cell, *args, **kwargs)
type(shell).run_cell = run_cell
"""
SNOOP = """
import os, socket
for path in ["../../../gradebook.db", "../../../source", "../../honest-right", "/srv/nbgrader"]:
    print(path, "visible" if os.path.exists(path) else "hidden")
try:
    open("../../honest-right/planted.txt", "w").write("x")
    print("wrote to another student")
except OSError as error:
    print("cannot write beside:", type(error).__name__)
try:
    socket.create_connection(("pypi.org", 443), timeout=3)
    print("network open")
except OSError as error:
    print("no network:", type(error).__name__)
"""
LOOP = "while True:\n    pass"
STUBBORN_LOOP = """
import time
while True:
    try:
        time.sleep(0.1)
    except KeyboardInterrupt:
        pass
"""
MEMORY = "hoard = [bytearray(200 * 2**20) for _ in range(40)]"
EXIT = "import os\nos._exit(3)"
SEGFAULT = "import ctypes\nctypes.string_at(0)"
FORKS = """
import os, time
children = []
try:
    while True:
        pid = os.fork()
        if pid == 0:
            time.sleep(20)
            os._exit(0)
        children.append(pid)
except OSError as error:
    print("processes capped after", len(children), type(error).__name__)
"""
FLOOD_TEXT = "for i in range(400_000):\n    print('spam ' * 40)"
FLOOD_HTML = """
from IPython.display import HTML, display
for _ in range(300):
    display(HTML("<b>spam</b>" * 20_000))
"""
SHADOW = {
    "genlab/__init__.py": "",
    "genlab/checks.py": "def __getattr__(name):\n    return lambda *a, **k: None\n",
    "numpy.py": "raise ImportError('a fake numpy handed in beside the notebook')\n",
}

# name -> (what is handed in, expected outcome)
# outcome: "full", "zero", "partial" (strictly between), or "same:<student>"
CASES = {
    "honest-right": (_right, "full"),
    "honest-half": (_half, "partial"),
    "honest-blank": (_release, "zero"),
    "lying-equality": (lambda: _with(_release(), YES, "end"), "zero"),
    "patched-checks": (lambda: _with(_release(), PATCH_CHECKS), "zero"),
    "swallowed-errors": (lambda: _with(_release(), SWALLOW_ERRORS), "zero"),
    "rewritten-tests": (lambda: _with(_release(), SKIP_TESTS), "zero"),
    "hijacked-run-cell": (lambda: _with(_release(), HIJACK_RUN), "zero"),
    "shadow-modules": (_release, "zero"),  # plus the files in SHADOW
    "emptied-tests": (lambda: _tests(_release(), _emptied), "zero"),
    "more-points": (lambda: _tests(_release(), _more_points), "zero"),
    "bonus-cell": (lambda: _bonus(_release()), "zero"),
    "retyped-tests": (lambda: _tests(_right(), _retyped), "full"),
    "duplicated-tests": (lambda: _tests(_right(), _duplicated), "full"),
    "snooping": (lambda: _with(_right(), SNOOP, "end"), "full"),
    "infinite-loop": (lambda: _with(_right(), LOOP, "end"), "full"),
    "stubborn-loop": (lambda: _with(_right(), STUBBORN_LOOP, "end"), "full"),
    "memory-hog": (lambda: _with(_right(), MEMORY, "end"), "full"),
    "exits": (lambda: _with(_right(), EXIT, "end"), "full"),
    "segfault": (lambda: _with(_right(), SEGFAULT, "end"), "full"),
    "fork-bomb": (lambda: _with(_right(), FORKS, "end"), "full"),
    "text-flood": (lambda: _with(_right(), FLOOD_TEXT, "end"), "full"),
    "html-flood": (lambda: _with(_right(), FLOOD_HTML, "end"), "full"),
    "foreign-kernel": (lambda: _foreign_kernel(_right()), "full"),
    "forged-schema": (lambda: _forged_schema(_right()), "full"),
    "old-format": (_right, "full"),  # written as nbformat 3
    "empty-file": (None, "zero"),
    "not-json": (None, "zero"),
    "renamed": (_right, "full"),  # handed in as "Copy of <module>.ipynb"
}


def _hand_in(course: Path, student: str) -> None:
    build, _ = CASES[student]
    folder = course / "submitted" / student / MODULE
    folder.mkdir(parents=True)
    target = folder / f"{MODULE}.ipynb"
    if student == "empty-file":
        target.write_bytes(b"")
    elif student == "not-json":
        target.write_text('{"cells": [ {"cell_type": "code", "source": "print(1)"')
    elif student == "old-format":
        target.write_text(nbformat.writes(nbformat.convert(build(), 3), version=3))
    elif student == "renamed":
        nbformat.write(build(), folder / f"Copy of {MODULE}.ipynb")
    else:
        nbformat.write(build(), target)
    if student == "shadow-modules":
        for name, text in SHADOW.items():
            (folder / name).parent.mkdir(exist_ok=True)
            (folder / name).write_text(text)


def _rows(course: Path, students) -> dict:
    """student -> {grade_id: (auto_score, manual_score, max_score)} from the gradebook."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="genai") as gb:
        rows = {}
        for student in students:
            notebook = gb.find_submission_notebook(MODULE, MODULE, student)
            rows[student] = {
                g.name: (g.auto_score, g.manual_score, g.max_score) for g in notebook.grades
            }
        return rows


def _autograde(course: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["nbgrader", "autograde", MODULE, "--force", *args],
        cwd=course,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = copy_course(tmp_path_factory.mktemp("hostile") / "genai")
    with open(course / "nbgrader_config.py", "a") as config:
        config.write("\nc.Execute.timeout = 15\n")  # the loops cost 15 s each, not 120
    subprocess.run(
        ["nbgrader", "generate_assignment", MODULE, "--force"],
        cwd=course,
        check=True,
        capture_output=True,
    )
    for student in HONEST:
        _hand_in(course, student)
    alone = _autograde(course)
    assert alone.returncode == 0, alone.stderr[-3000:]
    before = _rows(course, HONEST)
    for student in CASES:
        if student not in HONEST:
            _hand_in(course, student)
    together = _autograde(course)
    return course, before, together


AUTOGRADED = {nbgrader_meta(c)["grade_id"] for c in autograded_cells(read(source_notebook(MODULE)))}


def _auto_total(row: dict) -> float:
    return sum(score for name, (score, _, _) in row.items() if name in AUTOGRADED)


def test_plain_nbgrader_autograde_grades_the_whole_class(graded):
    course, _, together = graded
    assert together.returncode == 0, together.stderr[-3000:]
    rows = _rows(course, CASES)
    assert set(rows) == set(CASES)


@pytest.mark.parametrize("student", CASES)
def test_each_hand_in_gets_the_expected_grade(graded, student):
    course, _, _ = graded
    total = _auto_total(_rows(course, [student])[student])
    expected = CASES[student][1]
    if expected == "full":
        assert total == FULL, f"{student}: {total} of {FULL}"
    elif expected == "zero":
        assert total == 0, f"{student}: {total} of {FULL}"
    else:
        assert 0 < total < FULL, f"{student}: {total} of {FULL}"


def test_honest_grades_are_unchanged_by_the_class(graded):
    course, before, _ = graded
    assert _rows(course, HONEST) == before


def _graded_notebook(course: Path, student: str):
    return read(course / "autograded" / student / MODULE / f"{MODULE}.ipynb")


def _text(nb) -> str:
    return json.dumps([c.get("outputs", []) for c in nb.cells] + [c.source for c in nb.cells])


@pytest.mark.parametrize("student", CASES)
def test_graded_notebooks_stay_small(graded, student):
    course, _, _ = graded
    path = course / "autograded" / student / MODULE / f"{MODULE}.ipynb"
    assert path.stat().st_size < 20 * 2**20


def test_each_failure_is_explained_in_the_graded_notebook(graded):
    course, _, _ = graded
    reasons = {
        "infinite-loop": "CellTimeoutError",
        "stubborn-loop": "ignored the interrupt",
        "memory-hog": "MemoryError",
        "exits": "KernelDied",
        "segfault": "KernelDied",
        "fork-bomb": "processes capped",
        "text-flood": "output cut",
        "html-flood": "output cut",
        "empty-file": "could not be read as a notebook",
        "not-json": "could not be read as a notebook",
    }
    for student, reason in reasons.items():
        assert reason in _text(_graded_notebook(course, student)), student


def test_the_sandbox_hides_the_course_and_the_network(graded):
    course, _, _ = graded
    cell = next(c for c in _graded_notebook(course, "snooping").cells if "socket" in c.source)
    printed = "".join(o.get("text", "") for o in cell.outputs)
    for path in ["../../../gradebook.db", "../../../source", "../../honest-right", "/srv/nbgrader"]:
        assert f"{path} hidden" in printed, printed
    assert "cannot write beside" in printed and "no network" in printed, printed
    assert not (course / "autograded" / "honest-right" / MODULE / "planted.txt").exists()
