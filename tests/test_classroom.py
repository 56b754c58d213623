"""The instructor's tools, piece by piece: feedback without hidden tests, the LMS file names,
failure reasons, and gradebook writes from several processes at once."""

import multiprocessing
import shutil
import sqlite3
import time
from concurrent.futures import ProcessPoolExecutor

import pytest
from course import ROOT
from nbformat.v4 import new_code_cell, new_notebook, new_output
from nbgrader.api import Gradebook
from nbgrader.converters import GenerateFeedback
from nbgrader.plugins import FileNameCollectorPlugin
from nbgrader.preprocessors import GetGrades
from traitlets.config.loader import PyFileConfigLoader

from genlab.classroom import _reason, _wait_for_the_gradebook, grade
from genlab.grading import HideHiddenTests, feedback_preprocessors

TEST_CELL = """\"\"\"softmax_check: rows sum to one.\"\"\"
check_close(softmax(z).sum(axis=1), 1.0)
### BEGIN HIDDEN TESTS
z_big = np.array([[1000.0, 1000.0]])
assert np.allclose(softmax(z_big), 0.5)
### END HIDDEN TESTS"""


def _feedback_of(outputs, score=2.0):
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
    nb, _ = HideHiddenTests().preprocess(new_notebook(cells=[cell]), {})
    return nb.cells[0]


def _error_at(line):
    traceback = [
        "\x1b[0;31m--------------------------------------------------------------\x1b[0m",
        f"Cell \x1b[0;32mIn[7], line {line}\x1b[0m\n"
        f"\x1b[1;32m----> {line}\x1b[0m assert np.allclose(...)",
        "\x1b[0;31mAssertionError\x1b[0m: ",
    ]
    return new_output("error", ename="AssertionError", evalue="", traceback=traceback)


def test_feedback_keeps_the_visible_checks_and_drops_the_hidden_ones():
    cell = _feedback_of([])
    assert "check_close(softmax(z).sum(axis=1), 1.0)" in cell.source
    assert "z_big" not in cell.source and "HIDDEN" not in cell.source
    assert cell.outputs[-1].text == "Hidden checks: all passed. 2 of 2 points.\n"


def test_a_failing_hidden_check_is_named_without_its_source():
    cell = _feedback_of([_error_at(5)], score=0.0)
    error, verdict = cell.outputs
    assert error.traceback == ["AssertionError: "]  # IPython's lines of source are gone
    assert verdict.text.startswith("The visible checks passed; a hidden check failed")
    assert verdict.text.endswith("0 of 2 points.\n")


def test_a_failing_visible_check_says_the_hidden_ones_did_not_run():
    cell = _feedback_of([_error_at(2)], score=0.0)
    assert cell.outputs[-1].text.startswith("A visible check failed, so the hidden checks")


def test_cells_without_hidden_tests_are_left_as_they_are():
    cell = new_code_cell("check_close(1, 1)", outputs=[_error_at(1)])
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "points": 1, "grade_id": "t"}
    nb, _ = HideHiddenTests().preprocess(new_notebook(cells=[cell]), {})
    assert len(nb.cells[0].outputs) == 1 and len(nb.cells[0].outputs[0].traceback) == 3


def test_feedback_hides_after_the_grades_are_read():
    pipeline = feedback_preprocessors()
    assert set(GenerateFeedback.class_traits()["preprocessors"].default()) < set(pipeline)
    assert pipeline.index(GetGrades) < pipeline.index(HideHiddenTests)


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


def test_grading_asks_for_the_gradebook_first(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    with pytest.raises(SystemExit, match="generate_assignment 01-judging-vs-creating"):
        grade("01-judging-vs-creating", course=tmp_path)
    with pytest.raises(ValueError, match="at least 1"):
        grade("01-judging-vs-creating", course=tmp_path, workers=0)
