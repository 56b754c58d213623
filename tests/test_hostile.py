"""A class of hostile and broken hand-ins of module 01, graded by `genlab grade --workers 2`.

The corpus is tests/hostile.py. The honest students are graded alone first; after the whole
class has been graded together (each worker keeping its judge from one student to the next,
the honest ones among the attackers), their rows of the gradebook must be exactly what they
were. Then feedback is generated for the class, and nothing of the hidden tests may be in it.
tests/test_hostile_modules.py grades the classes of modules 03 to 05 with plain
`nbgrader autograde`.
"""

from __future__ import annotations

import json
import re
import subprocess
from types import SimpleNamespace

import pytest
from course import copy_course, read
from hostile import (
    HONEST,
    M01,
    Canary,
    feedback_text,
    grade_class,
    graded_notebook,
    hand_in,
    module_01_cases,
    outside,
    rows,
    secrets,
    unmet,
    why_not_graded,
)

pytestmark = pytest.mark.grading
MODULE = M01
STUDENTS = list(module_01_cases("/nowhere"))
# A cell runs 15 s here, not 120 (each loop costs that); the judge's setup, which takes
# about 1.3 s, gets 8 s (the slow-fit hand-in needs over 20).
CONFIG = """
c.Execute.timeout = 15
c.GradingExecute.setup_timeout = 8
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    course = copy_course(root / "genai")
    outside(course)
    canary = Canary(root / "outside" / "canary.sock")
    cases = module_01_cases(canary.path)
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(CONFIG)
    subprocess.run(
        ["nbgrader", "generate_assignment", MODULE, "--force"],
        cwd=course,
        check=True,
        capture_output=True,
    )
    for student in HONEST:
        hand_in(course, MODULE, student, cases[student])
    alone = grade_class(course, MODULE)
    assert alone.returncode == 0, why_not_graded(alone.stderr)
    before = rows(course, MODULE, HONEST)
    for student, case in cases.items():
        if student not in HONEST:
            hand_in(course, MODULE, student, case)
    together = grade_class(course, MODULE)
    feedback = subprocess.run(
        ["nbgrader", "generate_feedback", MODULE, "--force"],
        cwd=course,
        capture_output=True,
        text=True,
    )
    return SimpleNamespace(
        course=course, cases=cases, before=before, together=together, feedback=feedback,
        canary=canary,
    )  # fmt: skip


def _text(nb) -> str:
    return json.dumps([c.get("outputs", []) for c in nb.cells] + [c.source for c in nb.cells])


def test_genlab_grade_grades_the_whole_class(graded):
    assert graded.together.returncode == 0, why_not_graded(graded.together.stderr)
    assert set(rows(graded.course, MODULE, STUDENTS)) == set(STUDENTS)


@pytest.mark.parametrize("student", STUDENTS)
def test_each_hand_in_gets_the_expected_grade(graded, student):
    row = rows(graded.course, MODULE, [student])[student]
    why = unmet(row, MODULE, graded.cases[student].expected)
    assert why is None, f"{student}: {why}"


def test_honest_grades_are_unchanged_by_the_class(graded):
    assert rows(graded.course, MODULE, HONEST) == graded.before


@pytest.mark.parametrize("student", STUDENTS)
def test_graded_notebooks_stay_small(graded, student):
    path = graded_notebook(graded.course, MODULE, student)
    assert path.is_file() and not path.is_symlink()
    assert path.stat().st_size < 20 * 2**20


def test_the_grading_log_stays_small(graded):
    assert len(graded.together.stdout + graded.together.stderr) < 2**20


def test_each_failure_is_explained_in_the_graded_notebook(graded):
    reasons = {
        "infinite-loop": "CellTimeoutError",
        "stubborn-loop": "ignored the interrupt",
        "deaf-to-interrupts": "ignored the interrupt",
        "memory-hog": "MemoryError",
        "exits": "KernelDied",
        "segfault": "KernelDied",
        "fork-bomb": "processes capped",
        "text-flood": "output cut",
        "html-flood": "output cut",
        "empty-file": "could not be read as a notebook",
        "not-json": "could not be read as a notebook",
        "link-outside": "Removed while grading",
        "link-secret": "notes.txt (a symbolic link)",
        "link-source": "answers (a symbolic link)",
        "attack-next-student": "Removed while grading",
        "slow-sample": "the checks did not finish within 15 s",
        "slow-fit": "SetupFailed",
        "json-bomb": "over the limit",
        "inputs-kept": "KEPT [[",  # (the attack ran: the instructor sees what it kept)
    }
    for student, reason in reasons.items():
        assert reason in _text(read(graded_notebook(graded.course, MODULE, student))), student


def test_the_sandbox_hides_the_course_and_the_network(graded):
    nb = read(graded_notebook(graded.course, MODULE, "snooping"))
    cell = next(c for c in nb.cells if "socket" in c.source)
    printed = "".join(o.get("text", "") for o in cell.outputs)
    for path in ["../../../gradebook.db", "../../../source", "../../honest-right", "/srv/nbgrader"]:
        assert f"{path} hidden" in printed, printed
    assert "cannot write beside" in printed and "no network" in printed, printed
    planted = graded.course / "autograded" / "honest-right" / MODULE / "planted.txt"
    assert not planted.exists()


def test_no_step_of_the_grader_follows_a_link(graded):
    """Nothing outside the course was written or made readable; no link is left anywhere."""
    out = graded.course.parent / "outside"
    assert (out / "canary.txt").read_text() == "canary\n"
    assert (out / "secret.txt").read_text() == "the grader's secret\n"
    assert (out / "secret.txt").stat().st_mode & 0o777 == 0o600
    for folder in ("autograded", "feedback"):
        for path in (graded.course / folder).rglob("*"):
            assert path.is_file() or (path.is_dir() and not path.is_symlink()), path
    for path in (graded.course / "feedback").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert "BEGIN SOLUTION" not in text and "the grader's secret" not in text, path


def test_memory_held_in_socket_buffers_counts(graded):
    """The hoard's processes are small; what they queue in the kernel's buffers is not.

    Its 24 processes would fill 12,000 socket pairs (2.8 GB here) if nothing stopped them;
    the sandbox's memory limit (2,048 MB) must. Linux charges socket buffers to the memory
    cgroup but lets them run somewhat past its limit (a socket's charge is forced when the
    cgroup is full): CI saw 2,083 MB queued once. So the bound is the limit plus 15%.
    """
    queued = (graded.course / "autograded" / "socket-hoard" / MODULE / "hoard.log").read_text()
    pairs = queued.split()
    assert len(pairs) < 24 * 500, "every pair was filled: nothing stopped the hoard"
    assert sum(int(n) for n in pairs) <= 1.15 * 2048 * 2**20


def test_the_judge_keeps_within_its_memory(graded):
    """A reply of five million empty objects is refused before it is decoded."""
    peaks = re.findall(r"Peak memory grading json-bomb: .*judge (\d+) MB", graded.together.stderr)
    assert peaks and max(int(p) for p in peaks) < 1536, peaks


def test_no_connection_is_made_to_a_socket_the_submission_names(graded):
    assert graded.canary.connections == 0


def test_feedback_is_made_for_everyone_and_never_carries_a_hidden_value(graded):
    assert graded.feedback.returncode == 0, graded.feedback.stderr[-3000:]
    hidden = secrets(graded.course, MODULE, STUDENTS)
    assert len(hidden) > 20  # hidden lines, and what the class's hidden checks said
    for student in STUDENTS:
        text = feedback_text(graded.course, MODULE, student)
        assert text, f"no feedback for {student}"
        leaked = [s for s in hidden if s in text]
        assert not leaked, f"{student}'s feedback shows {leaked[:3]}"


def test_a_wrong_answer_is_told_which_property_failed(graded):
    text = feedback_text(graded.course, MODULE, "answer-fishing")
    assert "A hidden check failed: Q1 is the right option." in text
    assert re.search(r"to be '[abcd]'", text) is None


def test_inputs_a_submission_kept_from_the_hidden_checks_stay_out_of_its_feedback(graded):
    """It printed them, raised them and named a link after them, in cells after the hidden
    checks: feedback shows none of it, and says why outputs are missing."""
    text = feedback_text(graded.course, MODULE, "inputs-kept")
    assert "KEPT [" not in text  # (its code, which feedback shows, never has "KEPT [")
    assert "not shown in feedback" in text and "your code made while grading" in text
    assert "A visible check failed" in text  # what failed is still told, in the grader's words
