import copy
import os
import re
import sys

import pytest
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


def test_the_grader_never_rewrites_the_connection_file_a_starting_kernel_reads(
    tmp_path, monkeypatch
):
    """A sandboxed kernel reads its connection file again once its sockets are bound; the
    grader, learning the pinned address then, once removed that file and wrote it anew, and a
    kernel that read it in between died before kernel_info (a CI run lost a start to it).
    The grader's copy now lives apart: the kernel's file is written once and never removed
    while the kernel runs."""
    import asyncio

    from genlab.grader.sandbox import SandboxedKernelManager

    kernels_file = str(tmp_path / "private" / "kernel.json")
    touched, real_remove, real_open = [], os.remove, os.open

    def remove(path, *args, **kwargs):
        touched.append(("removed", os.fspath(path)))
        return real_remove(path, *args, **kwargs)

    def open_(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            touched.append(("written", os.fspath(path)))
        return real_open(path, flags, *args, **kwargs)

    async def scenario():
        (tmp_path / "work").mkdir()
        km = SandboxedKernelManager(private=str(tmp_path / "private"))
        monkeypatch.setattr(os, "remove", remove)
        monkeypatch.setattr(os, "open", open_)
        try:
            await km.start_kernel(cwd=str(tmp_path / "work"))
            kc = km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=60)
                return km.connection_file, list(touched)
            finally:
                kc.stop_channels()
        finally:
            monkeypatch.undo()
            await km.shutdown_kernel(now=True)

    graders_file, while_running = asyncio.run(scenario())
    assert [t for t in while_running if t[1] == kernels_file] == [("written", kernels_file)]
    assert graders_file != kernels_file
    assert ("written", graders_file) in while_running


def _nbgrader_cell(source: str, grade_id: str, *, solution: bool, points: int = 0):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": points > 0,
        "solution": solution,
        "locked": not solution,
        "grade_id": grade_id,
        "schema_version": 3,
        **({"points": points} if points else {}),
    }
    return cell


# A course of one tiny notebook: a setup cell that reads nothing of the student's (a kept
# judge runs it once), an answer, and a check that changes what the setup made (as a check
# may, training a model it was given) and keeps what the answer returns where a namespace
# reset cannot reach it (a leak in the checks' own code, made to order by the answer).
KEPT_SOURCE = [
    _nbgrader_cell("import numpy as np\ncounts = np.zeros(3)", "setup", solution=False),
    _nbgrader_cell(
        "### BEGIN SOLUTION\nSIZE = 0\ndef make(n):\n    return np.ones(n)\n### END SOLUTION",
        "answer",
        solution=True,
    ),
    _nbgrader_cell(
        "np.add(counts, 1, out=counts)\n"
        "assert counts.tolist() == [1, 1, 1], f'the setup was not fresh: {counts}'\n"
        "leak = __import__('json').__dict__.setdefault('_kept_by_the_checks', [])\n"
        "leak += [make(1_000_000) for _ in range(SIZE)]",
        "check",
        solution=False,
        points=1,
    ),
]


@pytest.mark.grading  # a class graded end to end: not in `make compat`
def test_a_kept_judge_starts_each_student_afresh_and_one_that_grew_is_replaced(tmp_path):
    """Graded in one process, `a-leaky` makes the checks keep 384 MB in the judge, which with
    the judge's own is past half its 800 MB: the judge is replaced. The three honest students
    share the next judge, and each finds the setup's `counts` as the setup made it, though
    every check changed it."""
    import os
    import subprocess
    import sys

    import nbformat

    from genlab.grader.classroom import auto_scores
    from genlab.grader.handins import ROOT

    course = tmp_path / "course"
    (course / "source" / "kept").mkdir(parents=True)
    for name in ("nbgrader_config.py", "nbgrader_config_students.py", "release_header.ipynb"):
        (course / name).write_bytes((ROOT / name).read_bytes())
    with open(course / "nbgrader_config.py", "a") as config:
        config.write("\nc.GradingExecute.judge_memory_mb = 800\n")
    nbformat.write(new_notebook(cells=KEPT_SOURCE), course / "source" / "kept" / "kept.ipynb")
    bin_ = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bin_ + os.pathsep + os.environ["PATH"])

    def nbgrader(*args):
        done = subprocess.run(
            [f"{bin_}/nbgrader", *args], cwd=course, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stderr

    nbgrader("generate_assignment", "kept", "--log-level=WARN")
    release = nbformat.read(course / "release" / "kept" / "kept.ipynb", as_version=4)
    for student, size in (("a-leaky", 48), ("b-honest", 0), ("c-honest", 0), ("d-honest", 0)):
        nb = copy.deepcopy(release)
        answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
        answer.source = f"SIZE = {size}\ndef make(n):\n    return np.ones(n)"
        (course / "submitted" / student / "kept").mkdir(parents=True)
        nbformat.write(nb, course / "submitted" / student / "kept" / "kept.ipynb")
    log = nbgrader("autograde", "kept")  # one process, the students in turn

    scores = auto_scores("kept", course=course)
    students = ("a-leaky", "b-honest", "c-honest", "d-honest")
    assert scores == {(s, "check"): 1.0 for s in students}, log[-3000:]
    assert log.count("The course's setup cell 0 ran") == 2, log[-3000:]  # a-leaky's, the others'
    assert re.search(r"not kept for the next student: it holds \d+ MB, more than half", log)


# Two ways a kernel dies as it starts, and what it wrote: before its sockets are ready, and
# after, before it answers kernel_info (as one did once in CI, on a loaded machine; what
# ipykernel prints as it starts shows, what it prints later goes to the client).
DEATHS = {
    "before-its-sockets": (
        lambda argv: [sys.executable, "-c", "raise SystemExit('no kernel this time')"],
        "no kernel this time",
    ),
    "before-kernel-info": (
        lambda argv: [*argv, "--IPKernelApp.exec_lines=import os; os._exit(3)"],
        "To connect another client to this kernel",
    ),
}


@pytest.mark.parametrize("death", DEATHS)
def test_a_kernel_that_dies_as_it_starts_is_started_again(death, tmp_path, monkeypatch):
    """Until it answers kernel_info a sandboxed kernel has run nothing of the hand-in's, so
    one that dies then is replaced, once, and what it wrote is logged; a second death is
    the hand-in's error, logged the same way."""
    import logging

    from jupyter_core.utils import run_sync
    from nbformat.v4 import new_notebook

    from genlab.grader import sandbox

    real, commands = sandbox.sandbox_command, []

    def start(deaths):
        def command(argv, *args, **kwargs):
            commands.append(argv)
            if len(commands) <= deaths:
                argv = DEATHS[death][0](argv)
            return real(argv, *args, **kwargs)

        commands.clear()
        monkeypatch.setattr(sandbox, "sandbox_command", command)
        grader = GradingExecute(shutdown_kernel="immediate")
        grader.nb, grader.resources = new_notebook(), {"metadata": {"path": str(tmp_path)}}
        grader._private, grader._rendezvous, grader._managers = str(tmp_path), None, []
        grader.log = logging.getLogger(f"test-kernel-start-{death}-{deaths}")
        grader.create_kernel_manager()
        return grader, _LogRecords(grader.log)

    grader, log = start(deaths=1)
    # the names nbclient's `setup_kernel` calls, as grading does: the synchronous ones
    grader.start_new_kernel()
    kc = grader.start_new_kernel_client()
    try:
        assert len(commands) == 2
        assert grader.wait_for_reply(kc.kernel_info())["content"]["status"] == "ok"
        assert log.text.count(DEATHS[death][1]) == 1
    finally:
        run_sync(grader._async_cleanup_kernel)()

    grader, log = start(deaths=2)
    with pytest.raises(RuntimeError, match="before its sockets|died before replying"):
        grader.start_new_kernel()
        grader.start_new_kernel_client()
    assert len(commands) == 2
    assert log.text.count(DEATHS[death][1]) == 2
    for km in grader._managers:
        run_sync(km.cleanup_resources)()


class _LogRecords(__import__("logging").Handler):
    """What a logger logs from now on, as text."""

    def __init__(self, logger):
        super().__init__()
        self.lines: list[str] = []
        logger.setLevel("INFO")
        logger.addHandler(self)

    def emit(self, record):
        self.lines.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
