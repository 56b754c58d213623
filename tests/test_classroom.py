"""The instructor's tools, piece by piece: feedback without hidden tests, the LMS file names,
failure reasons, and gradebook writes from several processes at once."""

import multiprocessing
import shutil
import sqlite3
import time
from concurrent.futures import ProcessPoolExecutor

import pytest
from course import ROOT
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.api import Gradebook
from nbgrader.converters import GenerateFeedback
from nbgrader.plugins import FileNameCollectorPlugin
from nbgrader.preprocessors import GetGrades
from traitlets.config.loader import PyFileConfigLoader

from genlab.grader.classroom import _reason, _wait_for_the_gradebook, grade
from genlab.grader.preprocessors import GetGradesAndWaiting, HideHiddenTests, feedback_preprocessors

TEST_CELL = """\"\"\"softmax_check: rows sum to one.\"\"\"
check_close(softmax(z).sum(axis=1), 1.0)
### BEGIN HIDDEN TESTS
# hidden check: very large logits give equal probabilities, without overflow
z_big = np.array([[1000.0, 1000.0]])
assert np.allclose(softmax(z_big), 0.5), f"expected 0.5, got {softmax(z_big)}"
# hidden check: the rows of a batch do not depend on each other
assert np.allclose(softmax(z_two)[1], softmax(z_two[1:])[0])
### END HIDDEN TESTS"""


def _feedback_of(outputs, score=2.0, hidden_from=None):
    """The feedback of a test cell whose run left `outputs` (the hidden part's from
    `hidden_from` on, as the judge records it)."""
    cell = new_code_cell(TEST_CELL, outputs=outputs)
    cell.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "points": 2.0,
        "score": score,
        "grade_id": "softmax_check",
        "locked": True,
        "schema_version": 3,
    }
    if hidden_from is not None:
        cell.metadata["genlab"] = {"hidden_outputs_from": hidden_from}
    nb, _ = HideHiddenTests().preprocess(new_notebook(cells=[cell]), {})
    return nb.cells[0]


def _error_at(line, ename="AssertionError", evalue="expected 0.5, got [0.7 0.3]"):
    traceback = [
        "\x1b[0;31m--------------------------------------------------------------\x1b[0m",
        f"Cell \x1b[0;32mIn[7], line {line}\x1b[0m\n"
        f"\x1b[1;32m----> {line}\x1b[0m assert np.allclose(...)",
        f"\x1b[0;31m{ename}\x1b[0m: {evalue}",
    ]
    return new_output("error", ename=ename, evalue=evalue, traceback=traceback)


def _printed(text):
    return new_output("stream", name="stdout", text=text)


def test_feedback_keeps_the_visible_checks_and_drops_the_hidden_ones():
    cell = _feedback_of([_printed("visible: ok\n"), _printed("hidden: z_big\n")], hidden_from=1)
    assert "check_close(softmax(z).sum(axis=1), 1.0)" in cell.source
    assert "z_big" not in cell.source and "HIDDEN" not in cell.source
    assert [o.text for o in cell.outputs] == [
        "visible: ok\n",
        "Hidden checks: all passed. 2 of 2 points.\n",
    ]


@pytest.mark.parametrize(
    "line, property_",
    [
        (3, "very large logits give equal probabilities, without overflow"),
        (5, "the rows of a batch do not depend on each other"),
    ],
)
def test_a_failing_hidden_check_is_named_by_its_author_never_by_its_message(line, property_):
    warning = _printed("RuntimeWarning: overflow\n  z_big = np.array([[1000.0, 1000.0]])\n")
    cell = _feedback_of([warning, _error_at(line)], score=0.0, hidden_from=0)
    (verdict,) = cell.outputs  # the warning and the error, with its expected value, are gone
    assert verdict.text == f"A hidden check failed: {property_}. 0 of 2 points.\n"


def test_an_error_of_the_students_code_in_a_hidden_check_is_named_by_its_kind_only():
    error = _error_at(3, ename="ValueError", evalue="my input was [[1000.0, 1000.0]]")
    (verdict,) = _feedback_of([error], score=0.0, hidden_from=0).outputs
    assert "very large logits" in verdict.text and "(It stopped with ValueError" in verdict.text
    assert "1000" not in verdict.text


def test_what_the_grading_machinery_reports_is_shown_in_its_own_words():
    error = _error_at(3, ename="CellTimeoutError", evalue="the checks did not finish within 9 s")
    (verdict,) = _feedback_of([error], score=0.0, hidden_from=0).outputs
    assert verdict.text.startswith("The checks stopped: the checks did not finish within 9 s")


@pytest.mark.parametrize("ename", ["SubmissionError", "SetupFailed", "InPlaceChange"])
def test_machinery_messages_that_quote_the_submission_are_told_in_fixed_words(ename):
    """Their messages can hold what the student's code sent (an error's text, an argument's
    name), and so a hidden check's inputs: feedback says what happened, not what was sent."""
    error = _error_at(3, ename=ename, evalue="broke the protocol: kind 'z_big=[[1000.0]]'")
    (verdict,) = _feedback_of([error], score=0.0, hidden_from=0).outputs
    assert verdict.text.startswith("The checks stopped: ") and "1000" not in verdict.text


def _graded(source, outputs, points=None, score=None, hidden_from=None, grade_id="t"):
    cell = new_code_cell(source, outputs=outputs)
    if points is not None:
        cell.metadata["nbgrader"] = {
            "grade": True, "solution": False, "locked": True, "grade_id": grade_id,
            "points": points, "score": score, "schema_version": 3,
        }  # fmt: skip
    if hidden_from is not None:
        cell.metadata["genlab"] = {"hidden_outputs_from": hidden_from}
    return cell


def test_after_a_hidden_part_nothing_the_students_code_could_shape_is_shown():
    """Once hidden checks have run, the student's code knows their inputs: it may print them,
    raise them in a later visible check, or return them to one. Feedback then shows the
    grader's lines only, and says why outputs are missing."""
    leak = "z_big=[[1000.0, 1000.0]]"
    cells = [
        _graded("print('before')", [_printed("before\n")]),
        _graded(TEST_CELL, [_printed("visible: ok\n")], 2.0, 2.0, 1, "softmax_check"),
        _graded("print(KEPT)", [_printed(leak + "\n")]),
        _graded(
            '"""later_check: the later function works."""\nlater(1)',
            [_error_at(2, ename="ValueError", evalue=leak)],
            1.0,
            0.0,
            grade_id="later_check",
        ),
        _graded(TEST_CELL, [_printed(leak), _error_at(2, evalue=leak)], 2.0, 0.0, 2, "again"),
    ]
    nb, _ = HideHiddenTests().preprocess(new_notebook(cells=cells), {})
    text = str([c.get("outputs") for c in nb.cells])
    assert "1000" not in text and "before" in text and "visible: ok" in text
    notes = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert len(notes) == 1 and "not shown in feedback" in notes[0]
    assert nb.cells.index(next(c for c in nb.cells if c.cell_type == "markdown")) == 2
    told = [c.outputs[-1].text for c in nb.cells if c.get("outputs")]
    assert (
        told[-2] == "A visible check failed: later_check: the later function works. 0 of 1 point.\n"
    )
    assert told[-1].startswith("A visible check failed: softmax_check: rows sum to one.")
    assert "So the hidden checks did not run. 0 of 2 points." in told[-1]


def test_feedback_names_only_what_was_removed_from_the_hand_in_itself():
    """A link the student's code made while grading may be named after a hidden input."""
    note = new_markdown_cell("**Removed while grading:** `a (a link)`, `z_big=1000 (a link)`.")
    note.metadata["genlab"] = {"feedback": "**Removed while grading:** `a (a link)`; 1 link(s)"}
    nb, _ = HideHiddenTests().preprocess(new_notebook(cells=[note]), {})
    assert "1000" not in nb.cells[0].source and "`a (a link)`" in nb.cells[0].source
    assert "genlab" not in nb.cells[0].metadata


def test_a_failing_visible_check_says_the_hidden_ones_did_not_run():
    cell = _feedback_of([_error_at(2)], score=0.0, hidden_from=1)
    assert len(cell.outputs) == 2 and cell.outputs[0].output_type == "error"
    assert cell.outputs[-1].text.startswith("A visible check failed, so the hidden checks")


def test_partial_credit_is_not_called_a_pass():
    (verdict,) = _feedback_of([], score=1.0, hidden_from=0).outputs
    assert (
        verdict.text.startswith("Hidden checks: partly right") and "1 of 2 points" in verdict.text
    )


def test_outputs_not_known_to_be_visible_are_hidden():
    """A cell graded without the judge's record of where its hidden part began shows only
    the verdict (a forged record cannot come from the student: test cells are restored)."""
    cell = _feedback_of([_printed("hidden: z_big\n")], hidden_from=None)
    assert [o.text for o in cell.outputs] == ["Hidden checks: all passed. 2 of 2 points.\n"]
    cell = _feedback_of([_printed("hidden: z_big\n")], hidden_from=7)
    assert len(cell.outputs) == 1


def test_cells_without_hidden_tests_are_left_as_they_are():
    cell = new_code_cell("check_close(1, 1)", outputs=[_error_at(1)])
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "points": 1, "grade_id": "t"}
    nb, _ = HideHiddenTests().preprocess(new_notebook(cells=[cell]), {})
    assert len(nb.cells[0].outputs) == 1 and len(nb.cells[0].outputs[0].traceback) == 3


def test_what_a_student_types_never_breaks_feedback():
    """The hidden-test markers typed in an answer or a markdown cell are just text there."""
    answer = new_code_cell("x = 1\n### BEGIN HIDDEN TESTS\nprint(x)")
    answer.metadata["nbgrader"] = {"grade": False, "solution": True, "grade_id": "a"}
    note = new_markdown_cell("### BEGIN HIDDEN TESTS, said the student")
    nb, _ = HideHiddenTests().preprocess(new_notebook(cells=[answer, note]), {})
    assert "### BEGIN HIDDEN TESTS" in nb.cells[0].source and "said" in nb.cells[1].source


def test_feedback_hides_after_the_grades_are_read():
    pipeline = feedback_preprocessors()
    ours = [GetGrades if step is GetGradesAndWaiting else step for step in pipeline]
    assert [step for step in ours if step is not HideHiddenTests] == (
        GenerateFeedback.class_traits()["preprocessors"].default()
    )
    assert pipeline.index(GetGradesAndWaiting) + 1 == pipeline.index(HideHiddenTests)


def test_an_answer_waits_only_if_the_gradebook_says_so(tmp_path):
    """Whether an answer waits for the instructor comes from the gradebook: a hand-in that
    marks its own cells `waiting` (to show a failed check as not yet graded) is overruled."""
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gradebook:
        gradebook.add_assignment("m")
        gradebook.add_student("ada")
        gradebook.update_or_create_notebook("nb", "m")
        gradebook.update_or_create_grade_cell(
            "written", "nb", "m", max_score=2, cell_type="markdown"
        )
        gradebook.update_or_create_grade_cell("check", "nb", "m", max_score=3, cell_type="code")
        gradebook.update_or_create_solution_cell("written", "nb", "m")
        gradebook.add_submission("m", "ada")
        for grade_row in gradebook.find_submission_notebook("nb", "m", "ada").grades:
            grade_row.auto_score = None if grade_row.name == "written" else 0.0
            grade_row.needs_manual_grade = grade_row.name == "written"
        gradebook.db.commit()

    def cell(kind, grade_id):
        made = new_markdown_cell("my answer") if kind == "markdown" else new_code_cell("x = 1")
        made.metadata["nbgrader"] = {
            "grade": True, "solution": kind == "markdown", "grade_id": grade_id,
            "points": 0, "waiting": True,  # the hand-in's claim
        }  # fmt: skip
        return made

    nb = new_notebook(cells=[cell("markdown", "written"), cell("code", "check")])
    resources = {"nbgrader": {"notebook": "nb", "assignment": "m", "student": "ada", "db_url": url}}
    nb, resources = GetGradesAndWaiting().preprocess(nb, resources)
    written, check = (c.metadata.nbgrader for c in nb.cells)
    assert written["waiting"] is True and written["points"] == 2
    assert check["waiting"] is False and (check["score"], check["points"]) == (0, 3)
    assert resources["nbgrader"]["waiting_points"] == 2
    assert resources["nbgrader"]["score"] == 0 and resources["nbgrader"]["max_score"] == 5


@pytest.mark.parametrize(
    "name, student, file_id",
    [
        ("ada_1234_01-judging-vs-creating.ipynb", "ada", "01-judging-vs-creating"),
        ("ben_late_5678_90_02-next-token.ipynb", "ben", "02-next-token"),
        ("cy_1_Copy of 01-judging-vs-creating.ipynb", "cy", "01-judging-vs-creating"),
        ("dee.k_77_01-judging-vs-creating (2).ipynb", "dee.k", "01-judging-vs-creating"),
    ],
)
def test_lms_file_names_give_the_student_and_the_released_notebook(name, student, file_id):
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    plugin = FileNameCollectorPlugin(config=config)
    info = plugin.collect(f"/course/downloaded/m/extracted/lms/{name}")
    assert (info["student_id"], info["file_id"]) == (student, file_id)


def test_a_file_the_lms_did_not_name_is_skipped():
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    plugin = FileNameCollectorPlugin(config=config)
    assert plugin.collect("/course/downloaded/m/extracted/01-judging-vs-creating.ipynb") is None


NBGRADER_LOG = """[INFO] Converting notebook /c/submitted/eve/m/m.ipynb
[ERROR] There was an error processing assignment: /c/submitted/eve/m
[ERROR] Traceback (most recent call last):
      File "/site-packages/nbformat/reader.py", line 19, in parse_json
        nb_dict = json.loads(s, **kwargs)
    json.decoder.JSONDecodeError: Unterminated string starting at: line 54

    The above exception was the direct cause of the following exception:

    Traceback (most recent call last):
      File "/site-packages/nbgrader/converters/base.py", line 390, in convert_notebooks
        self.convert_single_notebook(notebook_filename)
    nbformat.reader.NotJSONError: Notebook does not appear to be JSON: '{"cells'

[ERROR] There was an error processing assignment 'm' for student 'eve'
"""
API_ERROR = """Traceback (most recent call last):
  File "/site-packages/nbgrader/utils.py", line 542, in capture_log
    app.start()
nbgrader.converters.base.NbGraderException: Please see the the above traceback
"""


def test_a_failure_is_reported_by_the_exception_behind_it():
    reason = _reason({"success": False, "log": NBGRADER_LOG, "error": API_ERROR})
    assert reason == "nbformat.reader.NotJSONError: Notebook does not appear to be JSON: '{\"cells'"
    assert _reason({"success": False, "log": "", "error": ""}).startswith("unknown error")


def _write_students(db_url, worker, count):
    _wait_for_the_gradebook()
    for i in range(count):
        with Gradebook(db_url) as gb:
            gb.update_or_create_student(f"w{worker}-{i}", first_name=str(i))
            gb.update_or_create_student("shared", first_name=f"{worker}-{i}")
    return count


def test_workers_wait_for_a_gradebook_locked_longer_than_sqlites_default(tmp_path):
    """pysqlite gives up after 5 s with "database is locked"; grading workers wait."""
    db = tmp_path / "gradebook.db"
    with Gradebook(f"sqlite:///{db}"):
        pass  # created once, as generate_assignment does
    spawn = multiprocessing.get_context("spawn")
    holder = sqlite3.connect(db, isolation_level=None)
    with ProcessPoolExecutor(3, mp_context=spawn) as pool:
        assert list(pool.map(_write_students, [f"sqlite:///{db}"] * 3, range(3), [1] * 3))
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock for 7 s
        start = time.perf_counter()
        done = pool.map(_write_students, [f"sqlite:///{db}"] * 3, range(3, 6), [5] * 3)
        time.sleep(7)
        holder.execute("COMMIT")
        assert list(done) == [5] * 3
    assert time.perf_counter() - start > 7
    with Gradebook(f"sqlite:///{db}") as gb:
        assert len(gb.students) == 3 * 1 + 3 * 5 + 1


def _hold_a_read(db_url, started, release):
    _wait_for_the_gradebook()
    with Gradebook(db_url) as gb:
        assert gb.students == []  # only a read so far, in the gradebook's transaction
        started.set()
        release.wait(30)
        gb.update_or_create_student("late", first_name="x")
    return "written"


def test_each_gradebook_transaction_takes_the_write_lock_first(tmp_path):
    """Two workers that read then write cannot deadlock: the first read already holds the lock."""
    db = tmp_path / "gradebook.db"
    with Gradebook(f"sqlite:///{db}"):
        pass
    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as manager, ProcessPoolExecutor(1, mp_context=spawn) as pool:
        started, release = manager.Event(), manager.Event()
        done = pool.submit(_hold_a_read, f"sqlite:///{db}", started, release)
        assert started.wait(60)
        probe = sqlite3.connect(db, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            probe.execute("BEGIN IMMEDIATE")  # another writer cannot start
        release.set()
        assert done.result(timeout=60) == "written"
        probe.execute("BEGIN IMMEDIATE")  # the lock was released with the commit
        probe.execute("ROLLBACK")


def test_grading_asks_for_the_gradebook_first(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    with pytest.raises(SystemExit, match="generate_assignment 01-judging-vs-creating"):
        grade("01-judging-vs-creating", course=tmp_path)
    with pytest.raises(ValueError, match="at least 1"):
        grade("01-judging-vs-creating", course=tmp_path, workers=0)
