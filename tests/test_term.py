"""The instructor's whole term on module 01, as `genlab demo` runs it.

Release to an exchange folder; three students fetch, work and submit; three more hand in
through an LMS zip (one of them a broken file); collect and zip_collect; grade in two
processes; feedback generated, released and fetched; the class report. Then the results
are held to what the issue promises: scores equal to nbgrader's serial autograde, resume,
and no hidden test in any feedback.
"""

import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import nbformat
import pytest
from bs4 import BeautifulSoup
from course import autograded_cells, autograded_points, hidden_lines, read, source_notebook
from nbgrader.api import Gradebook

from genlab.grader.classroom import auto_scores, grade
from genlab.grader.demo import EXCHANGE_STUDENTS, LMS_NAMES, MODULE, run_demo

pytestmark = pytest.mark.grading


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    return run_demo(tmp_path_factory.mktemp("term"), verbose=False)


def _text(html_path):
    """What a reader sees in an HTML file (code is split into highlighting spans)."""
    return BeautifulSoup(html_path.read_text(), "html.parser").get_text()


def _feedback_files(term):
    files = list((term.course / "feedback").glob(f"*/{MODULE}/*.html"))
    for home in term.homes.values():
        files += list((home / MODULE / "feedback").glob("*/*.html"))
    return files


def test_three_students_fetch_their_own_feedback_through_the_exchange(term):
    for student in EXCHANGE_STUDENTS:
        fetched = list((term.homes[student] / MODULE / "feedback").glob(f"*/{MODULE}.html"))
        assert len(fetched) == 1, f"{student} fetched {fetched}"
        made = term.course / "feedback" / student / MODULE / f"{MODULE}.html"
        assert fetched[0].read_text() == made.read_text()


def test_lms_hand_ins_land_under_their_students_with_the_released_name(term):
    for student in LMS_NAMES:
        folder = term.course / "submitted" / student / MODULE
        assert [p.name for p in folder.glob("*.ipynb")] == [f"{MODULE}.ipynb"]


def test_every_hand_in_is_graded_or_reported_with_its_reason(term):
    full = autograded_points(read(source_notebook(MODULE)))
    totals = term.report.totals
    assert totals["ada"] == totals["dee"] == full
    assert 0 < totals["ben"] == totals["fay"] < full
    assert totals["cy"] == totals["eve"] == 0
    # eve's upload was cut short: graded as the blank release, with the reason on top
    assert not term.grading.having("failed") and term.report.failed == {}
    graded = nbformat.read(term.course / "autograded" / "eve" / MODULE / f"{MODULE}.ipynb", 4)
    assert "could not be read as a notebook" in graded.cells[0].source
    assert "NotJSONError" in graded.cells[0].source
    assert {o.student for o in term.grading.having("graded")} == set(totals)


def test_parallel_scores_equal_nbgrader_serial_autograde(term, tmp_path):
    serial = shutil.copytree(term.course, tmp_path / "serial")
    result = subprocess.run(
        ["nbgrader", "autograde", MODULE, "--force"], cwd=serial, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]  # eve's broken file graded there too
    parallel, again = auto_scores(MODULE, course=term.course), auto_scores(MODULE, course=serial)
    assert len(parallel) == 6 * 14
    assert parallel == again


def test_a_second_run_grades_only_what_changed_or_was_cut_short(term, tmp_path):
    course = shutil.copytree(term.course, tmp_path / "course")
    before = auto_scores(MODULE, course=course)
    # ben hands in again; ada's grading was killed half-way (its notebook never written)
    later = datetime.now(timezone.utc) + timedelta(minutes=5)
    (course / "submitted" / "ben" / MODULE / "timestamp.txt").write_text(
        later.strftime("%Y-%m-%d %H:%M:%S.%f %Z")
    )
    (course / "autograded" / "ada" / MODULE / f"{MODULE}.ipynb").unlink()
    summary = grade(MODULE, course=course, workers=2, progress=False)
    status = {o.student: o.status for o in summary.outcomes}
    assert status == {
        "ada": "graded",
        "ben": "graded",
        "cy": "skipped",
        "dee": "skipped",
        "fay": "skipped",
        "eve": "skipped",
    }
    assert auto_scores(MODULE, course=course) == before
    assert (course / "autograded" / "ada" / MODULE / f"{MODULE}.ipynb").exists()


def test_a_submission_that_cannot_be_graded_is_reported_and_the_rest_graded(term, tmp_path):
    course = shutil.copytree(term.course, tmp_path / "course")
    before = auto_scores(MODULE, course=course)
    (course / "source" / MODULE / f"{MODULE}.ipynb").unlink()  # the judge's setup cells
    summary = grade(
        MODULE, course=course, workers=2, students=["cy", "ada"], force=True, progress=False
    )
    assert {o.student for o in summary.having("failed")} == {"cy", "ada"}
    for outcome in summary.having("failed"):
        assert "the judge needs the course's own notebook" in outcome.reason
    after = auto_scores(MODULE, course=course)
    assert {k: v for k, v in after.items() if k[0] not in {"cy", "ada"}} == {
        k: v for k, v in before.items() if k[0] not in {"cy", "ada"}
    }


def test_no_hidden_test_line_appears_in_any_feedback(term):
    source = read(source_notebook(MODULE))
    secret = hidden_lines(source, regions=("HIDDEN TESTS",))
    assert len(secret) > 20
    # The check has teeth: autograding put the hidden tests back, so nbgrader's own
    # feedback, made from these notebooks, would show them.
    autograded = nbformat.read(term.course / "autograded" / "ada" / MODULE / f"{MODULE}.ipynb", 4)
    assert secret <= {line.strip() for c in autograded.cells for line in c.source.splitlines()}
    files = _feedback_files(term)
    assert len(files) == 6 + len(EXCHANGE_STUDENTS)  # every student's, and the fetched copies
    for path in files:
        text = _text(path)
        lines = {line.strip() for line in text.splitlines()}
        # a hidden line shown as a line, or (if long enough to be unmistakable) inside one
        leaked = sorted(line for line in secret if line in lines or len(line) > 25 and line in text)
        assert not leaked, f"{path} shows hidden test lines: {leaked[:5]}"
        assert "HIDDEN TESTS" not in path.read_text()


def test_feedback_gives_each_hidden_check_its_verdict_and_points(term):
    source = read(source_notebook(MODULE))
    with_hidden = [c for c in autograded_cells(source) if "BEGIN HIDDEN TESTS" in c.source]
    right = _text(term.course / "feedback" / "ada" / MODULE / f"{MODULE}.html")
    verdicts = [line for line in right.splitlines() if line.startswith("Hidden checks: all passed")]
    assert len(verdicts) == len(with_hidden)
    for cell in with_hidden:
        points = cell.metadata.nbgrader["points"]
        assert f"{points:g} of {points:g} point" in right
    blank = _text(term.course / "feedback" / "cy" / MODULE / f"{MODULE}.html")
    assert "Hidden checks: all passed" not in blank
    assert blank.count("A visible check failed, so the hidden checks did not run.") == 1
    assert blank.count("So the hidden checks did not run.") >= 4  # told in the grader's words
    assert "not shown in feedback" in blank  # after the first hidden checks
    assert "NotImplementedError" in blank


def _written(nb):
    """The answers of a notebook graded by hand: (grade id, points)."""
    return [
        (c.metadata.nbgrader["grade_id"], float(c.metadata.nbgrader["points"]))
        for c in nb.cells
        if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")
    ]


def test_feedback_tells_a_written_answer_waits_and_keeps_it_out_of_the_score(term, tmp_path):
    ((grade_id, points),) = _written(read(source_notebook(MODULE)))
    full = autograded_points(read(source_notebook(MODULE)))
    waiting = _text(term.course / "feedback" / "ada" / MODULE / f"{MODULE}.html")
    assert f"(Score so far: {full:.1f} / {full:.1f})" in waiting
    assert f"{points:.1f} more points wait for your instructor" in waiting
    assert f"Written response (waits for your instructor: {points:.1f} points" in waiting
    assert f"Score: 0.0 / {points:.1f}" not in waiting  # not told as points lost
    # cy handed in the release untouched: nothing waits, and the blank answer earns nothing
    blank = _text(term.course / "feedback" / "cy" / MODULE / f"{MODULE}.html")
    assert "wait for your instructor" not in blank
    assert f"Written response (Score: 0.0 / {points:.1f})" in blank

    # Once the instructor grades it, feedback tells it as nbgrader does, in the total.
    course = shutil.copytree(term.course, tmp_path / "course")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        grade_row = gradebook.find_grade(grade_id, MODULE, MODULE, "ada")
        grade_row.manual_score = points / 2
        grade_row.needs_manual_grade = False
        gradebook.db.commit()
    result = subprocess.run(
        ["nbgrader", "generate_feedback", MODULE, "--student", "ada", "--force"],
        cwd=course,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    graded = _text(course / "feedback" / "ada" / MODULE / f"{MODULE}.html")
    total = full + points
    assert f"(Score: {full + points / 2:.1f} / {total:.1f})" in graded
    assert f"Written response (Score: {points / 2:.1f} / {points:.1f})" in graded
    assert "wait for your instructor" not in graded


def test_the_class_report(term):
    report = term.report
    assert [p.name for p in report.files] == ["grades.csv", "questions.csv", "report.png"]
    assert report.files[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = report.files[0].read_text().splitlines()
    assert lines[0].startswith("assignment,duedate,timestamp,student_id")
    assert len(lines) == 1 + 6  # every student of the gradebook, eve at 0
    scores = auto_scores(MODULE, course=term.course)
    graded = sorted(report.totals)
    for q in report.questions:
        expected = sum(scores[(s, q["question"])] or 0 for s in graded) / len(graded)
        assert q["mean"] == pytest.approx(expected), q
    by_name = {q["question"]: q for q in report.questions}
    assert by_name["combined_system"]["to_grade_by_hand"] >= 4
    assert list(by_name)[0] == "task_kinds_check"  # in the notebook's order
