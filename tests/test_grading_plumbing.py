from nbformat.v4 import new_code_cell, new_notebook, new_output
from nbgrader.converters import Autograde
from nbgrader.preprocessors import DeduplicateIds, Execute, OverwriteCells, SaveAutoGrades
from nbgrader.utils import determine_grade

from genlab.grader.preprocessors import (
    ForgetForeignCells,
    GradingExecute,
    StderrIsNotFailure,
    autograde_preprocessors,
    sanitize_preprocessors,
)


def _test_cell(*outputs):
    cell = new_code_cell("assert True", outputs=list(outputs))
    cell.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "points": 2,
        "grade_id": "t",
        "locked": True,
        "schema_version": 3,
    }
    return cell


def test_stderr_in_a_test_cell_no_longer_zeroes_it():
    cell = _test_cell(new_output("stream", name="stderr", text="DeprecationWarning: old\n"))
    assert determine_grade(cell) == (0, 2)  # what nbgrader does on its own
    nb = new_notebook(cells=[cell])
    nb, _ = StderrIsNotFailure().preprocess(nb, {})
    assert determine_grade(nb.cells[0]) == (2, 2)
    assert nb.cells[0].outputs[0].text == "DeprecationWarning: old\n"  # still shown


def test_errors_still_fail_and_student_cells_are_left_alone():
    error = new_output("error", ename="AssertionError", evalue="wrong", traceback=[])
    cell = _test_cell(new_output("stream", name="stderr", text="hint\n"), error)
    student = new_code_cell("print(1)", outputs=[new_output("stream", name="stderr", text="x")])
    student.metadata["nbgrader"] = {
        "grade": False,
        "solution": True,
        "grade_id": "s",
        "locked": False,
        "schema_version": 3,
    }
    nb, _ = StderrIsNotFailure().preprocess(new_notebook(cells=[cell, student]), {})
    assert determine_grade(nb.cells[0]) == (0, 2)
    assert nb.cells[1].outputs[0].name == "stderr"


def test_it_runs_after_execution_and_before_grades_are_saved():
    pipeline = autograde_preprocessors()
    defaults = Autograde.class_traits()["autograde_preprocessors"].default()
    # nbgrader's own steps, with Execute run by its sandboxed, judged subclass
    assert issubclass(GradingExecute, Execute) and Execute not in pipeline
    assert {GradingExecute if step is Execute else step for step in defaults} < set(pipeline)
    position = pipeline.index(StderrIsNotFailure)
    assert pipeline.index(GradingExecute) < position < pipeline.index(SaveAutoGrades)


def test_foreign_cells_are_forgotten_before_nbgrader_overwrites_cells():
    pipeline = sanitize_preprocessors()
    defaults = Autograde.class_traits()["sanitize_preprocessors"].default()
    assert set(defaults) < set(pipeline)
    position = pipeline.index(ForgetForeignCells)
    assert pipeline.index(DeduplicateIds) < position < pipeline.index(OverwriteCells)


def test_grading_without_bubblewrap_refuses_and_says_how_to_install_it(monkeypatch):
    import pytest

    from genlab.grader import sandbox

    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxMissing, match="apt-get install bubblewrap"):
        sandbox.sandbox_command(["python"], "/tmp", ["/tmp"], sandbox.Limits(), {})


# A control thread that takes an interrupt up late, as a starved one does on a loaded machine.
LATE_CONTROL = """
import time
_k = get_ipython().kernel
_interrupt = _k.control_handlers["interrupt_request"]
async def _late(*args):
    time.sleep(1.5)
    return await _interrupt(*args)
_k.control_handlers["interrupt_request"] = _late
del _k, _late
"""


def test_an_interrupt_never_lands_in_a_later_cell(tmp_path):
    """The grader interrupts a cell that is about to end anyway (the judge's `answer`, slow
    to return on a loaded machine). The interrupt must not break the student's next cell."""
    import asyncio

    from genlab.grader.sandbox import SandboxedKernelManager

    async def reply(kc, msg_id):
        while True:
            msg = await kc.get_shell_msg(timeout=60)
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg["content"]

    async def scenario():
        (tmp_path / "work").mkdir()
        km = SandboxedKernelManager(private=str(tmp_path / "private"))
        await km.start_kernel(cwd=str(tmp_path / "work"))
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            assert (await reply(kc, kc.execute(LATE_CONTROL)))["status"] == "ok"
            ending = kc.execute("import time; time.sleep(0.3)")
            await km.interrupt_kernel()
            await reply(kc, ending)  # interrupted or not: its outcome counts for nothing
            return await reply(kc, kc.execute("import time\nfor _ in range(40): time.sleep(0.05)"))
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    after = asyncio.run(scenario())
    assert after["status"] == "ok", f"the next cell was interrupted: {after.get('ename')}"
