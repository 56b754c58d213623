"""Hostile hand-ins of modules 03, 04 and 05, graded by plain `nbgrader autograde`.

Each module's class is graded in one scratch course (the corpus is tests/hostile.py): an
honest student alone first, then with the attackers, whose outcomes are checked cell by cell;
then feedback for everyone, which must hold nothing of the hidden tests.
"""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest
from course import copy_course, read
from hostile import (
    M03,
    M04,
    M05,
    Canary,
    autograde,
    feedback_text,
    graded_notebook,
    hand_in,
    module_cases,
    outside,
    rows,
    secrets,
    unmet,
    why_not_graded,
)

pytestmark = pytest.mark.grading
CASES = [(m, s) for m, students in module_cases("/nowhere").items() for s in students]
CONFIG = "\nc.Execute.timeout = 15\n"  # the slow call costs 15 s, not 120


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-modules")
    course = copy_course(root / "genai")
    outside(course)
    canary = Canary(root / "outside" / "canary.sock")
    classes = module_cases(canary.path)
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(CONFIG)
    run = dict(cwd=course, check=True, capture_output=True, text=True)
    subprocess.run(["nbgrader", "generate_assignment", "*", "--force"], **run)
    before, together, feedback = {}, {}, {}
    for module, cases in classes.items():
        hand_in(course, module, "honest-half", cases["honest-half"])
        alone = autograde(course, module, timeout=900)
        assert alone.returncode == 0, why_not_graded(alone.stderr)
        before[module] = rows(course, module, ["honest-half"])
        for student, case in cases.items():
            if student != "honest-half":
                hand_in(course, module, student, case)
        together[module] = autograde(course, module, timeout=900)
        feedback[module] = subprocess.run(
            ["nbgrader", "generate_feedback", module, "--force"],
            cwd=course,
            capture_output=True,
            text=True,
        )
    return SimpleNamespace(
        course=course, classes=classes, before=before, together=together, feedback=feedback,
        canary=canary,
    )  # fmt: skip


@pytest.mark.parametrize("module", [M03, M04, M05])
def test_plain_nbgrader_autograde_grades_every_class(graded, module):
    result = graded.together[module]
    assert result.returncode == 0, why_not_graded(result.stderr)
    assert len(result.stdout + result.stderr) < 2**20  # the log stays small too
    students = list(graded.classes[module])
    assert set(rows(graded.course, module, students)) == set(students)


@pytest.mark.parametrize("module, student", CASES)
def test_each_hand_in_gets_the_expected_grade(graded, module, student):
    row = rows(graded.course, module, [student])[student]
    why = unmet(row, module, graded.classes[module][student].expected)
    assert why is None, f"{module} / {student}: {why}"


@pytest.mark.parametrize("module", [M03, M04, M05])
def test_the_honest_grade_is_unchanged_by_the_class(graded, module):
    assert rows(graded.course, module, ["honest-half"]) == graded.before[module]


@pytest.mark.parametrize("module, student", CASES)
def test_graded_notebooks_are_small_regular_files(graded, module, student):
    path = graded_notebook(graded.course, module, student)
    assert path.is_file() and not path.is_symlink()
    assert path.stat().st_size < 2 * 2**20


def test_what_is_handed_in_beside_the_notebook_is_never_followed(graded):
    nb = read(graded_notebook(graded.course, M03, "linked-beside"))
    assert "notes.txt (a symbolic link)" in nb.cells[0].source
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "nothing beside: FileNotFoundError" in printed
    assert "the grader's secret" not in printed


def test_a_fifo_in_place_of_the_graded_notebook_is_removed(graded):
    nb = read(graded_notebook(graded.course, M04, "fifo"))
    assert f"{M04}.ipynb (a FIFO)" in nb.cells[0].source


def test_errors_that_cannot_be_serialised_still_fail(graded):
    nb = read(graded_notebook(graded.course, M05, "zeroing-unsendable"))
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert any("refused \\udcff" in o.evalue for o in errors)


def test_no_connection_is_made_to_a_socket_the_submission_names(graded):
    assert graded.canary.connections == 0


@pytest.mark.parametrize("module", [M03, M04, M05])
def test_feedback_is_made_for_everyone_and_never_carries_a_hidden_value(graded, module):
    result = graded.feedback[module]
    assert result.returncode == 0, why_not_graded(result.stderr)
    students = list(graded.classes[module])
    hidden = secrets(graded.course, module, students)
    for student in students:
        text = feedback_text(graded.course, module, student)
        assert text, f"no feedback for {student}"
        leaked = [s for s in hidden if s in text]
        assert not leaked, f"{student}'s feedback shows {leaked[:3]}"


def test_a_hidden_input_raised_back_is_not_shown(graded):
    nb = read(graded_notebook(graded.course, M05, "slow-fishing"))
    raised = [
        o.evalue
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.output_type == "error" and "my inputs were Q=[[" in o.evalue
    ]
    assert raised  # the instructor's copy keeps it
    text = feedback_text(graded.course, M05, "slow-fishing")
    assert "my inputs were Q=[[" not in text and raised[0] not in text
    assert "A hidden check failed: weights and output match the definition" in text
