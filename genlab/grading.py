"""nbgrader plumbing for the course: what `nbgrader_config.py` plugs into autograding.

nbgrader scores a test cell zero when its output holds an error *or anything written
to stderr* (`nbgrader.utils.determine_grade`). Harmless stderr is everywhere: a
DeprecationWarning from a library, a tqdm progress bar, a student's own `warnings.warn`.
`StderrIsNotFailure` runs right after execution and turns stderr text in test cells
into ordinary output, so only a raised exception fails a test. The text stays
visible in the feedback.

nbgrader makes feedback from the autograded notebook, into which autograding has put the
hidden tests back: every student who reads feedback reads them (nbgrader issues 917 and
1363). `HideHiddenTests` removes them from the feedback and says instead, per test cell,
whether the hidden checks passed and what they earned.

`GradingExecute` replaces nbgrader's `Execute` in autograding. It runs the submission in a
sandboxed kernel (`genlab.sandbox`) and every autograded test cell in the judge
(`genlab.judge`), a second kernel where none of the submission's code runs. A kernel that
dies (a crash, the memory limit, `os._exit`) is noted in the cell and replaced, and the
rest of the notebook runs; output past a budget per cell is cut while it streams in.
`UnreadableIsBlank` grades a file that is not a notebook as the blank release, with the
reason written at its top. Parallel grading and the class report are in
`genlab.classroom`.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import copy
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import nbformat
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.exporters import NotebookExporter
from nbformat.v4 import new_markdown_cell, new_output
from nbgrader.nbgraderformat import SCHEMA_VERSION
from nbgrader.preprocessors import ClearHiddenTests, Execute, GetGrades, NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution
from traitlets import Bool, Float, Integer

__all__ = [
    "ForgetForeignCells",
    "GradingExecute",
    "HideHiddenTests",
    "UnreadableIsBlank",
    "StderrIsNotFailure",
    "adopt_renamed_notebook",
    "autograde_preprocessors",
    "feedback_preprocessors",
    "sanitize_preprocessors",
]


def _is_test_cell(cell) -> bool:
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


class StderrIsNotFailure(NbGraderPreprocessor):
    """Re-label stderr streams of autograded test cells as stdout."""

    def preprocess_cell(self, cell, resources, index):
        if _is_test_cell(cell):
            for output in cell.get("outputs", []):
                if output.output_type == "stream" and output.name == "stderr":
                    output.name = "stdout"
        return cell, resources


def _pipeline_with(converter, trait: str, added, after) -> list:
    """nbgrader's default pipeline `converter.trait` with `added` right after `after`.

    Built from nbgrader's default list, so that whatever a future nbgrader adds is kept.
    """
    defaults = converter.class_traits()[trait].default()
    position = defaults.index(after) + 1
    return [*defaults[:position], added, *defaults[position:]]


def autograde_preprocessors() -> list:
    """nbgrader's autograde pipeline: `GradingExecute` for `Execute`, then `StderrIsNotFailure`."""
    from nbgrader.converters import Autograde

    pipeline = _pipeline_with(Autograde, "autograde_preprocessors", StderrIsNotFailure, Execute)
    return [GradingExecute if step is Execute else step for step in pipeline]


def sanitize_preprocessors() -> list:
    """nbgrader's sanitizing pipeline with `ForgetForeignCells` right after `DeduplicateIds`."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import DeduplicateIds

    return _pipeline_with(Autograde, "sanitize_preprocessors", ForgetForeignCells, DeduplicateIds)


class ForgetForeignCells(NbGraderPreprocessor):
    """nbgrader metadata the gradebook does not know becomes an ordinary cell.

    A cell a student marked as a test of their own, a copy whose id `DeduplicateIds`
    emptied, a cell whose id was edited: nbgrader's `OverwriteCells` would stop on each
    with a KeyError and fail the whole notebook. Here they lose their nbgrader metadata,
    earn nothing, and the gradebook's own cells are put back as for any missing cell.

    The cells it knows get the current metadata format back: a `schema_version` edited in
    one hand-in makes nbgrader stop grading the whole class, not only that notebook.
    """

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            notebook = gradebook.find_notebook(info["notebook"], info["assignment"])
            self._known = {cell.name for cell in notebook.source_cells}
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if "nbgrader" in cell.metadata and grade_id not in self._known:
            self.log.warning(
                "Cell %s: nbgrader metadata the gradebook does not know, removed", index
            )
            del cell.metadata["nbgrader"]
        elif "nbgrader" in cell.metadata:
            cell.metadata["nbgrader"]["schema_version"] = SCHEMA_VERSION
        return cell, resources


def adopt_renamed_notebook(assignment, student, notebooks, root: str = ".") -> None:
    """nbgrader's pre-convert hook: a hand-in under another name is graded as the notebook.

    When exactly one released notebook is missing from a student's folder and exactly one
    notebook there has a name the assignment does not know ("Copy of ...", "... (1)"), a
    copy of it under the released name is graded; the student's file stays as it was.
    `assignment` and `student` are nbgrader's command-line filters, so the folder is read
    from the notebooks' paths; `root` is the course directory (bind it with
    `functools.partial` in the config).
    """
    from nbgrader.coursedir import CourseDirectory

    folders = {Path(path).parent for path in notebooks}
    if len(folders) != 1:
        return
    folder = folders.pop()
    coursedir = CourseDirectory(root=root)
    release = Path(coursedir.format_path(coursedir.release_directory, ".", folder.name))
    expected = {path.name for path in release.glob("*.ipynb")}
    handed_in = {Path(path).name for path in notebooks}
    missing, strays = expected - handed_in, sorted(handed_in - expected)
    if len(missing) == 1 and len(strays) == 1:
        adopted = folder / missing.pop()
        shutil.copyfile(folder / strays[0], adopted)
        notebooks[:] = [str(adopted) if Path(p).name == strays[0] else p for p in notebooks]


# ---------------------------------------------------------------------------
# Running a submission: sandbox and judge


def _names(source: str) -> tuple[set[str], set[str], set[str]]:
    """(names a cell binds at top level, those bound by import, names it reads unbound)."""
    source = "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), set(), set()
    top, imported, everywhere, loaded = set(), set(), set(), set()
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
    for statement in tree.body:
        for node in _walk_outside(statement, scopes):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                top.add(node.id)
            elif isinstance(node, scopes) and not isinstance(node, ast.Lambda):
                top.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else everywhere).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            everywhere.add(node.name)
        elif isinstance(node, ast.arg):
            everywhere.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            everywhere.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            everywhere |= {(a.asname or a.name).split(".")[0] for a in node.names}
    free = loaded - everywhere - set(dir(builtins))
    return top | imported, imported, free


def _walk_outside(node, scopes):
    """The nodes of `node`, not descending into function and class bodies."""
    yield node
    if isinstance(node, scopes):
        return
    for child in ast.iter_child_nodes(node):
        yield from _walk_outside(child, scopes)


class JudgePlan:
    """What the judge needs from the course's own notebook (`source/`).

    `answers`: names the student defines in answer cells (not imports, and not names the
    course's own cells define too). `setup_for[grade_id]`: the course's own cells, in
    order, that define what that test cell reads (and what those cells read), which the
    judge runs from the source, never from the submission.
    """

    def __init__(self, source: nbformat.NotebookNode):
        cells = [(i, c) for i, c in enumerate(source.cells) if c.cell_type == "code"]
        solution, own = set(), set()
        binds, reads = {}, {}
        for index, cell in cells:
            bound, imported, loaded = _names(cell.source)
            binds[index], reads[index] = bound, loaded
            if is_solution(cell):
                solution |= bound - imported
            else:
                own |= bound
        self.answers = solution - own
        self.cells = dict(cells)
        self.setup_for: dict[str, list[int]] = {}
        for index, cell in cells:
            if _is_test_cell(cell):
                needed: set[int] = set()
                wanted = list(reads[index] - self.answers)
                while wanted:
                    name = wanted.pop()
                    for earlier in sorted((i for i in binds if i < index), reverse=True):
                        cell_before = self.cells[earlier]
                        if name in binds[earlier] and not is_solution(cell_before):
                            if not _is_test_cell(cell_before) and earlier not in needed:
                                needed.add(earlier)
                                wanted += list(reads[earlier] - self.answers)
                            break
                self.setup_for[cell.metadata["nbgrader"]["grade_id"]] = sorted(needed)


def _source_notebook(config, resources) -> nbformat.NotebookNode:
    from nbgrader.coursedir import CourseDirectory

    info = resources.get("nbgrader", {})
    coursedir = CourseDirectory(config=config)
    folder = coursedir.format_path(coursedir.source_directory, ".", info["assignment"])
    path = Path(folder) / f"{info['notebook']}.ipynb"
    if not path.exists():
        raise FileNotFoundError(f"the judge needs the course's own notebook, {path}")
    return nbformat.read(path, as_version=4)


class GradingExecute(Execute):
    """nbgrader's `Execute`, with the submission sandboxed and the test cells judged.

    See `genlab.sandbox` and `genlab.judge`. Configure as `c.GradingExecute.<trait>`;
    the sandbox's limits as `c.SandboxedKernelManager.<trait>`.
    """

    run_submissions_unsandboxed = Bool(
        False,
        help="Run submissions without bubblewrap, with the grader's rights. Only for "
        "submissions from people you trust.",
    ).tag(config=True)
    judge_test_cells = Bool(True, help="Run autograded test cells in the judge.").tag(config=True)
    call_timeout = Integer(
        60, help="Seconds one call into the submission may take before it fails."
    ).tag(config=True)
    max_output_mb = Float(2.0, help="Output kept per cell, MB; the rest is cut.").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.kernel_name = "python3"  # the notebook's kernelspec does not choose the kernel
        self._private = tempfile.mkdtemp(prefix="genlab-grading-")
        os.chmod(self._private, 0o711)
        if self.run_submissions_unsandboxed:
            self.log.warning(
                "GRADING WITHOUT A SANDBOX: the submission's code runs with your rights "
                "(c.GradingExecute.run_submissions_unsandboxed = True)"
            )
        plan = (
            JudgePlan(_source_notebook(self.config, resources)) if self.judge_test_cells else None
        )
        self._output_bytes: dict[int, int] = {}
        try:
            with self.setup_kernel(), contextlib.ExitStack() as stack:
                self._language_info()
                judge = stack.enter_context(_Judge(self, plan)) if plan else None
                for index, cell in enumerate(self.nb.cells):
                    self._run(cell, index, judge)
        finally:
            shutil.rmtree(self._private, ignore_errors=True)
        self.set_widgets_metadata()
        return self.nb, self.resources

    def create_kernel_manager(self):
        if self.run_submissions_unsandboxed:
            return super().create_kernel_manager()
        from genlab.sandbox import SandboxedKernelManager

        private = tempfile.mkdtemp(prefix="kernel-", dir=self._private)
        self.km = SandboxedKernelManager(config=self.config, private=private)
        return self.km

    def _language_info(self):
        info = self.wait_for_reply(self.kc.kernel_info())
        self.nb.metadata["language_info"] = info["content"]["language_info"]
        self._answer_the_judge()

    def _answer_the_judge(self):
        """Start `genlab.judge.serve` in the submission's kernel, before any of its code."""
        private = getattr(self.km, "private", None) or self._private  # (unsandboxed: ours)
        self._socket = os.path.join(private, "judge.sock")
        import genlab.judge

        # loaded from the course's own file, past anything handed in beside the notebook
        code = (
            "import importlib.util as _u, sys as _s\n"
            "_p = _s.path[:]\n"
            "_s.path[:] = [p for p in _s.path if p not in ('', '.')]\n"
            f"_m = _u.spec_from_file_location('genlab_judge', {genlab.judge.__file__!r})\n"
            "_j = _s.modules['genlab_judge'] = _u.module_from_spec(_m)\n"
            "_m.loader.exec_module(_j)\n"
            "_s.path[:] = _p\n"
            f"_j.serve({self._socket!r})\n"
            "del _u, _s, _p, _m, _j"
        )
        reply = _quietly(self, code)
        if reply["content"]["status"] != "ok":  # the judge will report the kernel as gone
            self.log.warning("The judge's server did not start: %s", reply["content"].get("evalue"))

    def _run(self, cell, index, judge):
        if cell.cell_type != "code":
            return
        if judge is not None and _is_test_cell(cell):
            # the submission's kernel runs what students see of the cell, for the names it
            # defines; its outcome counts for nothing
            _quietly(self, _without_hidden_tests(cell, self.config))
            judge.run(cell, index)
        else:
            self._run_in_submission(cell, index)

    def _run_in_submission(self, cell, index):
        try:
            self.execute_cell(cell, index, store_history=True)
        except (DeadKernelError, CellTimeoutError) as error:
            if isinstance(error, CellTimeoutError):
                reason = f"it ran past {self.timeout} s and ignored the interrupt"
            else:
                reason = getattr(self.km, "death_reason", None) or "it crashed or exited"
            cell.outputs.append(
                new_output(
                    "error",
                    ename="KernelDied",
                    evalue=f"The kernel stopped while running this cell: {reason}. "
                    "A new kernel runs the cells below, without what was defined above.",
                    traceback=[],
                )
            )
            self._restart()

    def _restart(self):
        """A new sandboxed kernel for the cells below, answering the judge again."""
        run_sync(self._async_cleanup_kernel)()
        self.create_kernel_manager()
        run_sync(self.async_start_new_kernel)()
        run_sync(self.async_start_new_kernel_client)()
        self._language_info()

    def output(self, outs, msg, display_id, cell_index):
        """nbclient's, with a budget of bytes per cell: the rest is cut as it arrives."""
        budget = int(self.max_output_mb * 2**20)
        used = self._output_bytes.get(cell_index, 0)
        if used > budget:
            return None
        size = len(json.dumps(msg.get("content", {})))
        self._output_bytes[cell_index] = used + size
        if used + size > budget:
            note = f"[output cut: this cell printed more than {self.max_output_mb:g} MB]\n"
            outs.append(new_output("stream", name="stdout", text=note))
            return None
        return super().output(outs, msg, display_id, cell_index)


def _without_hidden_tests(cell, config) -> str:
    """The cell's source as students see it, by nbgrader's own `ClearHiddenTests`."""
    visible = copy.deepcopy(cell)
    ClearHiddenTests(config=config)._remove_hidden_test_region(visible)
    return visible.source


class _Judge:
    """The judge's kernel: the course's setup cells and the test cells, nothing else."""

    def __init__(self, grader: GradingExecute, plan: JudgePlan):
        self.grader, self.plan = grader, plan
        self.ran: set[int] = set()
        folder = tempfile.mkdtemp(prefix="judge-", dir=grader._private)
        self.client = NotebookClient(
            nbformat.v4.new_notebook(),
            timeout=grader.timeout,
            kernel_name="python3",
            allow_errors=True,
            interrupt_on_timeout=True,
            resources={"metadata": {"path": folder}},
            extra_arguments=["--HistoryManager.hist_file=:memory:"],
        )
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        self._stack.enter_context(self.client.setup_kernel())
        self._quiet(
            "import genlab.judge\n"
            f"__genlab_submission__ = genlab.judge.Submission({self.grader._socket!r}, "
            f"timeout={self.grader.call_timeout})"
        )
        return self

    def __exit__(self, *exc):
        return self._stack.__exit__(*exc)

    def _quiet(self, code):
        reply = _quietly(self.client, code)
        if reply["content"]["status"] != "ok":
            content = reply["content"]
            self.grader.log.warning(
                "The judge could not run %r: %s: %s", code[:60], content["ename"], content["evalue"]
            )

    def _bind(self):
        self._quiet(
            f"__genlab_submission__.attach({self.grader._socket!r})\n"
            f"__genlab_submission__.bind(globals(), {sorted(self.plan.answers)!r})"
        )

    def run(self, cell, index):
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        self._bind()
        for setup in self.plan.setup_for.get(grade_id, []):
            if setup not in self.ran:
                self.ran.add(setup)
                self._quiet(self.plan.cells[setup].source)
        self.client.nb.cells = [cell]
        self.client.execute_cell(cell, 0, store_history=True)


def _quietly(client: NotebookClient, code: str) -> dict:
    """Run `code` in the client's kernel without output or a place in the notebook."""
    msg_id = client.kc.execute(code, silent=True, store_history=False)
    return client.wait_for_reply(msg_id)


# ---------------------------------------------------------------------------
# Files that are not notebooks


class UnreadableIsBlank(NotebookExporter):
    """A hand-in that is not a notebook is graded as the blank release, with the reason.

    An empty file, broken JSON or a file of another kind would make nbgrader skip the
    student with a traceback in its log. Here the student gets zero points and feedback
    that says why, and the instructor sees it in the gradebook like any other grade.
    """

    def from_filename(self, filename, resources=None, **kw):
        try:
            with open(filename, encoding="utf-8") as handle:
                nbformat.read(handle, as_version=4)
        except Exception as error:  # noqa: BLE001 (whatever makes the file unreadable)
            return self._blank(filename, error, resources, **kw)
        return super().from_filename(filename, resources=resources, **kw)

    def _blank(self, filename, error, resources, **kw):
        from nbgrader.coursedir import CourseDirectory

        info = (resources or {}).get("nbgrader", {})
        coursedir = CourseDirectory(config=self.config)
        release = (
            Path(
                coursedir.format_path(coursedir.release_directory, ".", info.get("assignment", "*"))
            )
            / Path(filename).name
        )
        blank = nbformat.read(release, as_version=4)
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        self.log.warning("%s is not a readable notebook (%s): graded as blank", filename, reason)
        note = new_markdown_cell(
            f"**This hand-in could not be read as a notebook** ({reason[:300]}). It was "
            "graded as the blank notebook: no points. Hand in the .ipynb file again."
        )
        blank.cells.insert(0, note)
        return self.from_notebook_node(blank, resources=resources, **kw)


# ---------------------------------------------------------------------------
# Feedback

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CELL_LINE = re.compile(r"Cell In\[\d*\], line (\d+)")


def _failing_line(error) -> int | None:
    """The line of the test cell where `error` was raised, from IPython's traceback."""
    match = _CELL_LINE.search(_ANSI.sub("", "\n".join(error.get("traceback", []))))
    return int(match.group(1)) if match else None


class HideHiddenTests(ClearHiddenTests):
    """Feedback shows each hidden check's verdict and points, never its source.

    In every test cell with a hidden region, the region goes (nbgrader's own
    `ClearHiddenTests`); an error keeps its last line (`ename: evalue`) but loses the
    traceback, where IPython prints the source lines around the failing one; and a line
    of output tells the student which checks passed and the points the cell earned.
    Runs after `GetGrades`, which puts the score in the cell's metadata.
    """

    def preprocess_cell(self, cell, resources, index):
        lines = cell.source.split("\n")
        marked = [i + 1 for i, line in enumerate(lines) if self.begin_test_delimeter in line]
        closed = [i + 1 for i, line in enumerate(lines) if self.end_test_delimeter in line]
        cell, resources = super().preprocess_cell(cell, resources, index)
        if not (_is_test_cell(cell) and marked):
            return cell, resources
        hidden = range(marked[0], (closed or [len(lines)])[-1] + 1)
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        where = _failing_line(errors[0]) if errors else None
        for error in errors:
            error.traceback = [f"{error.ename}: {error.evalue}"]
        verdict = self._verdict(bool(errors), where, hidden)
        grade = cell.metadata["nbgrader"]
        if "score" in grade and grade.get("points") is not None:
            points = grade["points"]
            verdict += f" {grade['score']:g} of {points:g} point{'s' if points != 1 else ''}."
        cell.outputs.append(new_output("stream", name="stdout", text=verdict + "\n"))
        return cell, resources

    @staticmethod
    def _verdict(failed: bool, where: int | None, hidden: range) -> str:
        if not failed:
            return "Hidden checks: all passed."
        if where is None:
            return "Hidden checks: not all passed (the cell stopped with the error above)."
        if where in hidden:
            return "The visible checks passed; a hidden check failed with the error above."
        return "A visible check failed, so the hidden checks did not run."


def feedback_preprocessors() -> list:
    """nbgrader's own feedback pipeline with `HideHiddenTests` right after `GetGrades`."""
    from nbgrader.converters import GenerateFeedback

    return _pipeline_with(GenerateFeedback, "preprocessors", HideHiddenTests, GetGrades)
