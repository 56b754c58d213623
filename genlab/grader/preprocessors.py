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
sandboxed kernel (`genlab.grader.sandbox`) and every autograded test cell in the judge
(`genlab.grader.judge`), a second kernel where none of the submission's code runs. A kernel that
dies (a crash, the memory limit, `os._exit`) is noted in the cell and replaced, and the
rest of the notebook runs; output past a budget per cell is cut while it streams in.
`UnreadableIsBlank` grades a file that is not a notebook as the blank release, with the
reason written at its top. Parallel grading and the class report are in
`genlab.grader.classroom`.
"""

from __future__ import annotations

import ast
import atexit
import builtins
import contextlib
import copy
import functools
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from queue import Empty

import nbformat
from jupyter_core.utils import ensure_async, run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.exporters import NotebookExporter
from nbformat.v4 import new_markdown_cell, new_output
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.nbgraderformat import SCHEMA_VERSION
from nbgrader.preprocessors import ClearHiddenTests, Execute, GetGrades, NbGraderPreprocessor
from nbgrader.utils import ignore_patterns, is_grade, is_solution
from traitlets import Bool, Enum, Float, Integer

from genlab.grader.judge import clean_text
from genlab.grader.sandbox import lock_and_sweep

__all__ = [
    "ForgetForeignCells",
    "SafeCollect",
    "GradingExecute",
    "HideHiddenTests",
    "UnreadableIsBlank",
    "StderrIsNotFailure",
    "adopt_renamed_notebook",
    "prepare_hand_in",
    "autograde_preprocessors",
    "feedback_preprocessors",
    "feedback_template_dirs",
    "FEEDBACK_PAGE",
    "GetGradesAndWaiting",
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


_REMOVED: dict[tuple[str, str], list[str]] = {}  # (assignment, student) -> what prepare removed
_UNSAFE: dict[tuple[str, str], str] = {}  # (assignment, student) -> why it could not be prepared


def prepare_hand_in(assignment, student, notebooks, root: str = ".") -> None:
    """nbgrader's pre-convert hook: make a hand-in safe to grade, then find its notebook.

    Before anything of the grader reads or copies it, whatever in the hand-in's folder is
    not a regular file or a folder (a link to the course's solutions or to a file of the
    grader's, a FIFO) is removed, and so is the folder itself if it is a link; the graded
    notebook says what. Then `adopt_renamed_notebook`. Bind `root` with
    `functools.partial` in the config. nbgrader ignores a hook that fails, so a failure
    here is kept, and `GradingExecute` refuses to grade that hand-in.
    """
    for folder in sorted({Path(path).parent for path in notebooks}):
        key = (folder.name, folder.parent.name)
        try:
            removed = []
            for path in (folder.parent, folder):  # submitted/<student>, then its <assignment>
                if path.is_symlink():
                    path.unlink()
                    removed.append(f"{path.name} (a symbolic link)")
            if folder.is_dir() and not folder.is_symlink():
                removed += lock_and_sweep(str(folder))
            _REMOVED[key] = removed
            _UNSAFE.pop(key, None)
        except Exception as error:  # noqa: BLE001 (whatever stops it, grading must not go on)
            _UNSAFE[key] = f"{type(error).__name__}: {clean_text(error, 300)}"
            raise
    adopt_renamed_notebook(assignment, student, notebooks, root)


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


def _files_only(base_ignore, log):
    """A copytree `ignore` that also leaves out whatever is not a regular file or a folder."""
    import stat

    def ignore(directory, names):
        ignored = set(base_ignore(directory, names))
        for name in names:
            mode = os.lstat(os.path.join(directory, name)).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                log.warning("Not collected: %s is not a file", os.path.join(directory, name))
                ignored.add(name)
        return list(ignored)

    return ignore


class SafeCollect(ExchangeCollect):
    """nbgrader's collect, copying from students' inbound folders without following a link.

    nbgrader's copies everything a link points to, as whoever collects (root on a hub): a
    student who leaves `leak -> /root/.ssh/id_rsa` in their inbound folder would find the
    key in their hand-in. Here the student's folder is opened once, without following a
    link, and copied from that descriptor; links, FIFOs and sockets in it are left out
    and logged. Set with `c.ExchangeFactory.collect` (nbgrader_config.py does).
    """

    def do_copy(self, src, dest, log=None):
        folder = os.open(src, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            pinned = f"/proc/self/fd/{folder}"
            size = self.get_size(pinned)
            if size > 1000 * self.coursedir.max_dir_size:
                raise RuntimeError(f"Directory size is too big. Size is {size}")
            base = ignore_patterns(
                exclude=self.coursedir.ignore,
                include=self.coursedir.include,
                max_file_size=self.coursedir.max_file_size,
                log=self.log,
            )
            shutil.copytree(pinned, dest, symlinks=True, ignore=_files_only(base, self.log))
        finally:
            os.close(folder)


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
    judge runs from the source, never from the submission. `independent`: those of them
    that read nothing the student's code made, which a kept judge runs once.
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
        # Setup cells whose names depend on nothing of the student's: those before the first
        # setup cell that reads a name an answer or test cell binds (a later one could read
        # what that one changed in place, so it keeps its place after it).
        students = set().union(*(binds[i] for i, c in cells if is_solution(c) or _is_test_cell(c)))
        self.independent: list[int] = []
        for index in sorted({i for needed in self.setup_for.values() for i in needed}):
            if reads[index] & students:
                break
            self.independent.append(index)


@functools.cache
def _plan_of(path: str, mtime_ns: int) -> JudgePlan:
    return JudgePlan(nbformat.read(path, as_version=4))


def judge_plan(config, resources) -> JudgePlan:
    """The judge's plan for the notebook being graded, read from `source/` once per grading
    run (per process) and kept in memory: the judge never reads the course's files."""
    from nbgrader.coursedir import CourseDirectory

    info = resources.get("nbgrader", {})
    coursedir = CourseDirectory(config=config)
    folder = coursedir.format_path(coursedir.source_directory, ".", info["assignment"])
    path = Path(folder) / f"{info['notebook']}.ipynb"
    if not path.is_file():
        raise FileNotFoundError(f"the judge needs the course's own notebook, {path}")
    return _plan_of(str(path.resolve()), path.stat().st_mtime_ns)


def split_hidden(source: str, begin: str = "BEGIN HIDDEN TESTS") -> tuple[str, str]:
    """(visible part, hidden part) of a test cell: the hidden part runs from the line after
    the first hidden-test marker to the end of the cell, end marker left out."""
    lines = source.split("\n")
    start = next((i for i, line in enumerate(lines) if begin in line), None)
    if start is None:
        return source, ""
    hidden = [line for line in lines[start + 1 :] if "END HIDDEN TESTS" not in line]
    return "\n".join(lines[:start]), "\n".join(hidden)


class _OutputBudget:
    """nbclient's `output`, with a budget of bytes per cell (`max_output_mb`): the rest is
    cut as it arrives."""

    def output(self, outs, msg, display_id, cell_index):
        budgets = self.__dict__.setdefault("_output_bytes", {})
        budget = int(self.max_output_mb * 2**20)
        used = budgets.get(cell_index, 0)
        if used > budget:
            return None
        size = len(json.dumps(msg.get("content", {})))
        budgets[cell_index] = used + size
        if used + size > budget:
            note = f"[output cut: this cell printed more than {self.max_output_mb:g} MB]\n"
            outs.append(new_output("stream", name="stdout", text=note))
            return None
        return super().output(outs, msg, display_id, cell_index)


class GradingExecute(_OutputBudget, Execute):
    """nbgrader's `Execute`, with the submission sandboxed and the test cells judged.

    See `genlab.grader.sandbox` and `genlab.grader.judge`. Configure as `c.GradingExecute.<trait>`;
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
    setup_timeout = Integer(
        600,
        help="Seconds the judge may spend on one of the course's setup cells (they may train "
        "the student's models); on the slowest machine a module runs on, a few times what "
        "they take on a laptop. If one fails, only the checks that need it lose points.",
    ).tag(config=True)
    judge_memory_mb = Integer(
        1536, help="Memory of the judge's kernel, MB (all its processes)."
    ).tag(config=True)
    max_output_mb = Float(2.0, help="Output kept per cell, MB; the rest is cut.").tag(config=True)
    keep_judge = Bool(
        True,
        help="Keep the judge's kernel for the next student this process grades, with what "
        "the course's setup cells that read nothing of the student's made: they run once, "
        "and each student starts from deep copies of it, the judge's namespace, random "
        "states and folder reset (genlab.grader.judge.Baseline). A judge that was "
        "interrupted, replaced or grew past half its memory or CPU limit is not kept.",
    ).tag(config=True)
    shutdown_kernel = Enum(
        ["graceful", "immediate"],
        default_value="immediate",
        help="How a graded notebook's kernels stop at the end: killed at once (nothing of "
        "theirs is kept; a graceful stop waits seconds for a kernel that may not answer).",
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        before = _removed_before(resources)
        for cell in nb.cells:  # what grading records there is the grader's, never the hand-in's
            cell.metadata.pop("genlab", None)
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.kernel_name = "python3"  # the notebook's kernelspec does not choose the kernel
        self._private = _grader_folder("genlab-grading-")
        os.chmod(self._private, 0o711)
        self._managers: list = []  # the submission's kernels (a new one after a crash)
        self._judge_peak_mb: float | None = None
        self._output_bytes: dict[int, int] = {}
        if self.run_submissions_unsandboxed:
            self.log.warning(
                "GRADING WITHOUT A SANDBOX: the submission's code runs with your rights "
                "(c.GradingExecute.run_submissions_unsandboxed = True)"
            )
        plan = judge_plan(self.config, resources) if self.judge_test_cells else None
        self._judge = None
        self._rendezvous = None
        try:
            if plan:
                self._judge = _judge_for(self, plan)
                self._rendezvous = self._judge.rendezvous
            with self.setup_kernel():
                self._language_info()
                for index, cell in enumerate(self.nb.cells):
                    self._run(cell, index)
        finally:
            try:
                if self._judge is not None:
                    self._judge_peak_mb = self._judge.release()
            finally:
                shutil.rmtree(self._private, ignore_errors=True)
            after = [item for manager in self._managers for item in getattr(manager, "swept", [])]
            self._log_peaks(resources)
            if self.run_submissions_unsandboxed:
                after += lock_and_sweep(self.resources["metadata"]["path"])
            if before or after:
                self._note_removed(before, after)
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _log_peaks(self, resources) -> None:
        """The most memory the submission's kernels and the judge's took, where it is counted."""
        peaks = {
            "submission": [m.peak_mb for m in self._managers if getattr(m, "peak_mb", None)],
            "judge": [self._judge_peak_mb] if self._judge_peak_mb else [],
        }
        if any(peaks.values()):
            self.log.info(
                "Peak memory grading %s: %s",
                resources.get("nbgrader", {}).get("student"),
                ", ".join(f"{who} {max(mb):.0f} MB" for who, mb in peaks.items() if mb),
            )

    def _note_removed(self, before: list[str], after: list[str]) -> None:
        """Say on top of the graded notebook what was removed: from the hand-in (`before`
        grading) and what its code left (`after`). Feedback names only the first: names
        made while grading could carry the hidden checks' inputs."""

        def listed(items: list[str]) -> str:
            shown = ", ".join(f"`{clean_text(item, 120)}`" for item in items[:20])
            return shown + (f" and {len(items) - 20} more" if len(items) > 20 else "")

        rule = "A hand-in may leave only files and folders; grading never follows a link."
        full = listed(before + after)
        self.log.warning("Removed from the grading folder: %s", full)
        told = [listed(before)] if before else []
        if after:
            told.append(f"{len(after)} link(s), FIFO(s) or socket(s) your code made while grading")
        note = new_markdown_cell(f"**Removed while grading:** {full}. {rule}")
        note.metadata["genlab"] = {
            "feedback": f"**Removed while grading:** {'; '.join(told)}. {rule}"
        }
        self.nb.cells.insert(0, note)

    def create_kernel_manager(self):
        if self.run_submissions_unsandboxed:
            self.km = super().create_kernel_manager()
        else:
            from genlab.grader.sandbox import SandboxedKernelManager

            self.km = SandboxedKernelManager(
                config=self.config,
                private=tempfile.mkdtemp(prefix="kernel-", dir=self._private),
                readonly=[self._rendezvous] if self._rendezvous else [],
            )
        self._managers.append(self.km)
        return self.km

    async def async_start_new_kernel_client(self):
        """The client of the kernel just started. A sandboxed kernel that dies before it
        answers its first request has run nothing of the hand-in's (ipykernel runs isolated
        from the folder it starts in), so a new one is started once; what the dead one
        wrote goes to the log either way."""
        parent = super()

        async def again():
            await parent.async_start_new_kernel()
            return await parent.async_start_new_kernel_client()

        return await self._once_more(parent.async_start_new_kernel_client, again)

    async def async_start_new_kernel(self, **kwargs):
        """Start a kernel; one that dies before its sockets are ready is started once more,
        as in `async_start_new_kernel_client`."""
        parent = super()
        start = lambda: parent.async_start_new_kernel(**kwargs)  # noqa: E731
        return await self._once_more(start, start)

    # nbclient binds its synchronous names to its own coroutines when its class is made, and
    # `setup_kernel`, which grading uses, calls those names: bound again here, they reach the
    # two retries above (without this, a kernel that died as it started failed the hand-in)
    start_new_kernel = run_sync(async_start_new_kernel)
    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    async def _once_more(self, first, again):
        """`await first()`; if the kernel died as it started, a new kernel manager and
        `await again()`, once, what the dead kernels wrote logged each time."""
        try:
            return await first()
        except RuntimeError as error:
            if not _died_starting(error):
                raise
            self.log.warning("%s; it wrote: %s", error, self._kernel_output())
        self.create_kernel_manager()
        try:
            return await again()
        except RuntimeError as error:
            self.log.error("%s, a second time; it wrote: %s", error, self._kernel_output())
            raise

    def _kernel_output(self, chars: int = 2000) -> str:
        """The end of what the last kernel started wrote to its stdout and stderr."""
        output = getattr(self._managers[-1], "output", None) if self._managers else None
        return clean_text(output(chars), chars) if output else "(not kept unsandboxed)"

    def _language_info(self):
        info = self.wait_for_reply(self.kc.kernel_info())
        self.nb.metadata["language_info"] = info["content"]["language_info"]
        self._load_the_judges_half()

    def _load_the_judges_half(self):
        """Load `genlab.grader.judge` in the submission's kernel, before any of its code, as
        `genlab_judge`, from the course's own file, past anything handed in beside it."""
        import genlab.grader.judge

        code = (
            "import importlib.util as _u, sys as _s\n"
            "_p = _s.path[:]\n"
            "_s.path[:] = [p for p in _s.path if p not in ('', '.')]\n"
            f"_m = _u.spec_from_file_location('genlab_judge', {genlab.grader.judge.__file__!r})\n"
            "_j = _s.modules['genlab_judge'] = _u.module_from_spec(_m)\n"
            "_m.loader.exec_module(_j)\n"
            "_s.path[:] = _p\n"
            "del _u, _s, _p, _m, _j"
        )
        reply = _quietly(self, code)
        if reply["content"]["status"] != "ok":  # the judge will report the kernel as not answering
            self.log.warning(
                "The judge's half did not load: %s", clean_text(reply["content"].get("evalue"), 300)
            )

    def _run(self, cell, index):
        if cell.cell_type != "code":
            return
        if self._judge is not None and _is_test_cell(cell):
            cell.outputs = []
            # the submission's kernel runs what students see of the cell, for the names it
            # defines; its outcome counts for nothing
            visible = _without_hidden_tests(cell, self.config)
            if not self._quiet_in_submission(visible):
                self._kernel_stopped(cell, "it did not finish the visible part of this test")
            self._judge.run(cell, index)
        else:
            self._run_in_submission(cell, index)

    def _quiet_in_submission(self, code: str) -> bool:
        """Run `code` in the submission's kernel, silently; False if it never finished."""
        msg_id = self.kc.execute(code, silent=True, store_history=False)
        return self._finished(msg_id)

    def _finished(self, msg_id: str, within: float | None = None) -> bool:
        """Wait for the submission's kernel to finish `msg_id`: `within` seconds (the cell's
        time), then after an interrupt. False if it is dead or ignores the interrupt."""
        if self._reply(msg_id, self.timeout if within is None else within):
            return True
        if run_sync(self.km.is_alive)():
            run_sync(self.km.interrupt_kernel)()
            if self._reply(msg_id, 10) and not getattr(self.km, "interrupt_unanswered", False):
                return True
        return False

    def _reply(self, msg_id: str, timeout: float) -> bool:
        async def wait() -> bool:
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                try:
                    msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=min(left, 1)))
                except Empty:
                    if not await ensure_async(self.km.is_alive()):
                        return False
                    continue
                if msg["parent_header"].get("msg_id") == msg_id:
                    return True

        return run_sync(wait)()

    def _kernel_stopped(self, cell, reason: str) -> None:
        """Note in `cell` that the kernel was replaced, and replace it."""
        reason = getattr(self.km, "death_reason", None) or reason
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

    def _run_in_submission(self, cell, index):
        try:
            self.execute_cell(cell, index, store_history=True)
        except (DeadKernelError, CellTimeoutError) as error:
            if isinstance(error, CellTimeoutError):
                reason = f"it ran past {self.timeout} s and ignored the interrupt"
            else:
                reason = "it crashed or exited"
            self._kernel_stopped(cell, reason)

    def _restart(self):
        """A new sandboxed kernel for the cells below, its half of the judge loaded."""
        run_sync(self._async_cleanup_kernel)()
        self.create_kernel_manager()
        run_sync(self.async_start_new_kernel)()
        run_sync(self.async_start_new_kernel_client)()
        self._language_info()
        if self._judge is not None:
            self._judge.student_replaced()


def _died_starting(error: RuntimeError) -> bool:
    """Whether `error` says a kernel died as it started: before its sockets were ready
    (genlab.grader.sandbox), or before it answered kernel_info (jupyter_client)."""
    return any(s in str(error) for s in ("before its sockets were ready", "died before replying"))


def _grader_folder(prefix: str) -> str:
    """A new private folder of this process's, `<tmp>/<prefix><pid>-<random>`, after removing
    those of processes that died before they could (a grading host killed mid-run)."""
    import psutil

    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid = folder.name[len(prefix) :].partition("-")[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)) and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")


def _removed_before(resources) -> list[str]:
    """What `prepare_hand_in` removed from this student's hand-in before grading."""
    info = resources.get("nbgrader", {})
    key = (info.get("assignment"), info.get("student"))
    if key in _UNSAFE or key not in _REMOVED:
        why = _UNSAFE.get(
            key, "nbgrader_config.py does not run genlab.grader.preprocessors.prepare_hand_in"
        )
        raise RuntimeError(f"this hand-in was not made safe to grade ({why}): not graded")
    return list(_REMOVED[key])


def _without_hidden_tests(cell, config) -> str:
    """The cell's source as students see it, by nbgrader's own `ClearHiddenTests`."""
    visible = copy.deepcopy(cell)
    ClearHiddenTests(config=config)._remove_hidden_test_region(visible)
    return visible.source


class _JudgeClient(_OutputBudget, NotebookClient):
    """The judge kernel's client: a budget for output, and an error the kernel could not
    show (its message would not serialise) still fails the cell."""

    def __init__(self, judge: _Judge, **kw):
        super().__init__(nbformat.v4.new_notebook(), **kw)
        self.judge = judge
        self.max_output_mb = judge.grader.max_output_mb
        self.on_cell_executed = self._check_status

    def create_kernel_manager(self):
        grader = self.judge.grader
        if grader.run_submissions_unsandboxed:
            return super().create_kernel_manager()
        from genlab.grader.sandbox import SandboxedKernelManager

        self.km = SandboxedKernelManager(
            config=grader.config,
            private=tempfile.mkdtemp(prefix="judge-", dir=self.judge.folder),
            memory_mb=grader.judge_memory_mb,
            writable=[self.judge.rendezvous],
        )
        return self.km

    def _check_status(self, cell, cell_index, execute_reply):
        content = execute_reply.get("content", {})
        if content.get("status") == "ok":
            return
        if content.get("ename") == "CellTimeoutError":  # the interrupt's own error says less
            self.judge.clean = False
            cell.outputs = [o for o in cell.outputs if o.get("ename") != "KeyboardInterrupt"]
            cell.outputs.append(
                new_output(
                    "error",
                    ename="CellTimeoutError",
                    evalue=f"the checks did not finish within {self.timeout} s (a call into "
                    "the submission's code took too long)",
                    traceback=[],
                )
            )
            return
        if not any(o.output_type == "error" for o in cell.outputs):
            cell.outputs.append(
                new_output(
                    "error",
                    ename=clean_text(content.get("ename") or "Error", 100),
                    evalue=clean_text(content.get("evalue") or "the checks stopped with an error"),
                    traceback=[],
                )
            )


_KEPT: _Judge | None = None  # this process's judge, kept for the next student


def _judge_key(grader: GradingExecute, plan: JudgePlan) -> tuple:
    """What a kept judge must share with the grading that would reuse it."""
    sandbox = grader.config.get("SandboxedKernelManager", {})
    return (id(plan), grader.judge_memory_mb, grader.run_submissions_unsandboxed, repr(sandbox))


def _judge_for(grader: GradingExecute, plan: JudgePlan) -> _Judge:
    """The judge for the notebook `grader` grades: this process's kept one if it judges the
    same notebook the same way and is still alive, else a new one."""
    global _KEPT
    judge, _KEPT = _KEPT, None
    key = _judge_key(grader, plan)
    if judge is not None and (judge.key != key or not judge.alive()):
        judge.stop()
        judge = None
    if judge is None:
        judge = _Judge(grader, plan, key)
    try:
        if judge.client.km is None:
            judge.start(keep=grader.keep_judge)
        judge.begin(grader)
    except BaseException:
        judge.stop()
        raise
    return judge


@atexit.register
def _stop_the_kept_judge() -> None:
    global _KEPT
    judge, _KEPT = _KEPT, None
    if judge is not None:
        judge.stop()


class _Judge:
    """The judge's kernel: the course's setup cells and the test cells, nothing else.

    It has a folder of its own (`folder`, for its kernel's files, its working folder and the
    `rendezvous` where it listens, which the student's sandbox sees read-only), so that a
    grading process can keep it for the next student of the same notebook: then the setup
    cells that read nothing of the student's run once, at its start, and each student
    starts from copies of what they made (`genlab.grader.judge.Baseline`). Setup cells
    that read the student's names run for each student, as the checks need them.
    """

    def __init__(self, grader: GradingExecute, plan: JudgePlan, key: tuple):
        self.grader, self.plan, self.key = grader, plan, key
        self.folder = _grader_folder("genlab-judge-")
        os.chmod(self.folder, 0o711)
        self.rendezvous = tempfile.mkdtemp(prefix="rdv-", dir=self.folder)
        self.socket = os.path.join(self.rendezvous, "judge.sock")
        self.work = tempfile.mkdtemp(prefix="work-", dir=self.folder)  # the kernel's folder
        self.setup: dict[int, str | None] = {}  # setup cell -> None (ran) or why it failed
        self.ready: dict[int, None] = {}  # setup cells every student starts with
        self.kept = False  # the kernel holds a baseline to start each student from
        self.clean = True  # nothing was interrupted or replaced for this student
        self.client = _JudgeClient(
            self,
            timeout=grader.timeout,
            kernel_name="python3",
            allow_errors=True,
            interrupt_on_timeout=True,
            shutdown_kernel=grader.shutdown_kernel,
            error_on_timeout={"ename": "CellTimeoutError", "evalue": "", "traceback": []},
            resources={"metadata": {"path": self.work}},
            extra_arguments=["--HistoryManager.hist_file=:memory:"],
        )

    def start(self, keep: bool) -> None:
        """Start the kernel; to keep it, run the setup that reads nothing of the student's
        and keep its baseline."""
        if self.client.km is None:
            self.client.km = self.client.create_kernel_manager()
        run_sync(self.client.async_start_new_kernel)()
        run_sync(self.client.async_start_new_kernel_client)()
        self.setup, self.ready, self.kept = {}, {}, False
        failed = self._quiet(
            "import genlab.grader.judge\ngenlab.grader.judge.BEFORE_SETUP = set(globals())",
            self.grader.timeout,
        )
        if not keep or failed:
            return
        for index in self.plan.independent:
            if self._run_setup(index):
                self.setup = {}
                return  # not kept: each student's grading runs it again, as it needs it
        failed = self._quiet(
            "genlab.grader.judge.BASELINE = genlab.grader.judge.Baseline("
            f"globals(), genlab.grader.judge.BEFORE_SETUP, {self.work!r})",
            self.grader.timeout,
        )
        if failed:
            self.grader.log.info("The judge is not kept for the next student: %s", failed)
            self.setup = {}
            return
        self.ready, self.kept = dict(self.setup), True

    def begin(self, grader: GradingExecute) -> None:
        """Start judging one student's notebook."""
        self.grader, self.clean = grader, True
        self.client.timeout = grader.timeout
        self.client.max_output_mb = grader.max_output_mb
        self.setup = dict(self.ready)
        self._connect()

    def _connect(self) -> None:
        self._quiet(
            f"__genlab_submission__ = genlab.grader.judge.Submission({self.socket!r}, "
            f"timeout={self.grader.call_timeout}, connect_timeout=15)",
            self.grader.timeout,
        )

    def release(self) -> float | None:
        """The student's grading is over: keep the judge, reset, for the next one, or stop
        it. The most memory it took for this student (MB), where a cgroup counts it."""
        global _KEPT
        km = self.client.km
        cgroup = getattr(km, "cgroup", None)
        peak = cgroup.peak_mb() if cgroup is not None else None
        try:
            if self.kept and self.clean and self.alive():
                restored = self._quiet(
                    "__import__('genlab.grader.judge', fromlist=['_']).BASELINE.restore(globals())",
                    self.grader.timeout,
                    restart=False,
                )
                full = None if restored else self._full(km)
                if restored is None and full is None:
                    if cgroup is not None:
                        cgroup.reset_peak()
                    _KEPT = self
                    return peak
                why = restored or full
                self.grader.log.info("The judge is not kept for the next student: %s", why)
        except Exception as error:  # noqa: BLE001 (whatever it was, this judge is done)
            self.grader.log.warning("The judge is not kept for the next student: %r", error)
        self.stop()
        return peak or getattr(km, "peak_mb", None)

    def _full(self, km) -> str | None:
        """Why the kernel has no room for another student (more than half its memory or a
        quarter of its CPU time used: the next student keeps at least 675 s of the 900 s a
        new judge has, more than a setup cell may take), or None."""
        if not hasattr(km, "usage"):
            return None
        memory, cpu = km.usage()
        if memory > km.memory_mb / 2:
            return f"it holds {memory:.0f} MB, more than half its {km.memory_mb} MB"
        if cpu > km.cpu_seconds / 4:
            return f"it has used {cpu:.0f} s of CPU, more than a quarter of its {km.cpu_seconds} s"
        return None

    def alive(self) -> bool:
        km = self.client.km
        return km is not None and bool(run_sync(ensure_async)(km.is_alive()))

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if self.client.km is not None:
                run_sync(self.client._async_cleanup_kernel)()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _restart(self):
        """A new kernel, after the judge's died or was stopped: as a judge that is not kept."""
        self.clean = False
        run_sync(self.client._async_cleanup_kernel)()
        self.start(keep=False)
        self._connect()

    def student_replaced(self):
        self._quiet("__genlab_submission__.reset()", self.grader.timeout)

    def _quiet(self, code: str, timeout: float, restart: bool = True) -> str | None:
        """Run `code` in the judge, silently; None, or why it did not finish cleanly. A
        kernel that died or did not stop is replaced, unless not `restart`."""
        msg_id = self.client.kc.execute(code, silent=True, store_history=False)
        try:
            reply = run_sync(self._reply)(msg_id, timeout)
        except DeadKernelError:
            self.clean = False
            reason = getattr(self.client.km, "death_reason", None) or "it crashed"
            if restart:
                self._restart()
            return f"the judge's kernel stopped ({reason})"
        if reply is None:
            self.clean = False
            if restart:
                run_sync(self.client.km.interrupt_kernel)()
                unanswered = getattr(self.client.km, "interrupt_unanswered", False)
                if run_sync(self._reply)(msg_id, 10) is None or unanswered:
                    self._restart()
            return f"it did not finish within {timeout:g} s"
        content = reply["content"]
        if content.get("status") != "ok":
            return (
                f"{clean_text(content.get('ename'), 100)}: {clean_text(content.get('evalue'), 300)}"
            )
        return None

    async def _reply(self, msg_id: str, timeout: float):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                msg = await ensure_async(self.client.kc.shell_channel.get_msg(timeout=min(left, 1)))
            except Empty:
                if not await ensure_async(self.client.km.is_alive()):
                    raise DeadKernelError("the judge's kernel died") from None
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    def run(self, cell, index):
        """Judge one test cell: the submission answers, the judge checks, in one session."""
        grader = self.grader
        token = uuid.uuid4().hex
        answering = grader.kc.execute(
            f"__import__('sys').modules['genlab_judge'].answer({self.socket!r}, {token!r})",
            silent=True,
            store_history=False,
        )
        failed = self._quiet(
            f"__genlab_submission__.open({token!r})\n"
            f"__genlab_submission__.bind(globals(), {sorted(self.plan.answers)!r})",
            grader.timeout,
        )
        if failed:
            grader.log.warning("The judge could not read the answers: %s", failed)
            _stopped(cell, "SubmissionError", failed, shown=True)
        else:
            missing = self._set_up(cell.metadata["nbgrader"]["grade_id"])
            if missing:
                where, why = missing
                what = f"the course's setup these checks need (cell {where}) did not finish"
                _stopped(cell, "SetupFailed", f"{what}: {why}", shown=False)
            else:
                self._check(cell)
        self._quiet("__genlab_submission__.close()", grader.timeout)
        # the session is over: `answer` returns at once, unless a call the judge gave up on
        # is still running, which the interrupt stops
        if not grader._finished(answering, within=2):
            grader._kernel_stopped(cell, "it did not stop a call the checks had given up on")

    def _set_up(self, grade_id: str) -> tuple[int, str] | None:
        """Run the course's setup cells a test needs (each once); the first that failed."""
        for setup in self.plan.setup_for.get(grade_id, []):
            if setup not in self.setup:
                self._run_setup(setup)
            if self.setup[setup]:
                return setup, self.setup[setup]
        return None

    def _run_setup(self, setup: int) -> str | None:
        started = time.monotonic()
        why = self._quiet(self.plan.cells[setup].source, self.grader.setup_timeout)
        self.setup[setup] = why
        took = time.monotonic() - started
        if why:
            self.grader.log.warning("The course's setup cell %s failed: %s", setup, why)
        else:
            self.grader.log.info("The course's setup cell %s ran in %.1f s", setup, took)
        return why

    def _check(self, cell):
        """Run the visible part of the test, then the hidden part, keeping their outputs apart
        (feedback shows the first, and only a verdict for the second)."""
        visible, hidden = split_hidden(cell.source)
        parts = [visible + "\npass" if hidden else visible] + ([hidden] if hidden else [])
        self.client._output_bytes = {}
        for number, code in enumerate(parts):
            part = nbformat.v4.new_code_cell(code)
            self.client.nb.cells = [part]
            try:
                self.client.execute_cell(part, 0, store_history=False)
            except DeadKernelError:
                reason = getattr(self.client.km, "death_reason", None) or "it crashed"
                part.outputs.append(
                    new_output(
                        "error",
                        ename="JudgeDied",
                        evalue=f"the judge's kernel stopped while checking this cell ({reason})",
                        traceback=[],
                    )
                )
                self._restart()
            cell.outputs += part.outputs
            if number == 0:  # what follows is the hidden part's, if anything
                cell.metadata["genlab"] = {"hidden_outputs_from": len(cell.outputs)}
            if any(o.output_type == "error" for o in part.outputs):
                break
        cell.execution_count = None


def _stopped(cell, ename: str, why: str, shown: bool) -> None:
    """Record in a test cell that its checks could not run, and why (the grader's words)."""
    start = len(cell.outputs) + (1 if shown else 0)
    cell.outputs.append(new_output("error", ename=ename, evalue=why, traceback=[]))
    cell.metadata["genlab"] = {"hidden_outputs_from": start}


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
_PROPERTY = re.compile(r"^\s*#\s*hidden check:\s*(.+?)\s*$", re.I)
# errors whose message the grading machinery wrote, never a hidden check
_MACHINERY = {
    "SubmissionError",
    "CellTimeoutError",
    "JudgeDied",
    "KernelDied",
    "SetupFailed",
    "InPlaceChange",
}
_CHECK_FAILED = {"AssertionError", "CheckFailed"}


def _failing_line(error) -> int | None:
    """The line of the executed code where `error` was raised, from IPython's traceback."""
    frames = [line for line in error.get("traceback", [])[:-1]]
    match = _CELL_LINE.search(_ANSI.sub("", "\n".join(frames)))
    return int(match.group(1)) if match else None


def hidden_property(hidden_source: str, line: int | None) -> str | None:
    """What the hidden check at `line` (1-based) of a hidden part checks, in its author's
    words: the last `# hidden check: ...` comment at or above that line."""
    found = None
    for number, text in enumerate(hidden_source.split("\n"), start=1):
        if line is not None and number > line:
            break
        match = _PROPERTY.match(text)
        if match:
            found = match.group(1)
    return found


class HideHiddenTests(ClearHiddenTests):
    """Feedback tells what failed in a hidden check, never what it expected nor its inputs.

    In every test cell with a hidden region, the region's source goes (nbgrader's own
    `ClearHiddenTests`), and so does everything the hidden part printed or raised: its
    messages can hold expected values, its warnings the lines of the hidden tests. What
    the visible part showed stays. In their place, one line says whether the hidden
    checks passed, and if not, which property failed, in the words of the test's author
    (the `# hidden check: ...` comment above the failing line), or what the grading
    machinery reported (a time limit, a kernel that stopped). Then the points.

    Once a hidden part has run, the student's code has seen the hidden checks' inputs and
    may print them, raise them, return them or name things after them, in any later cell.
    So from the first test cell with a hidden region on, feedback shows no output that
    the student's code could have shaped: the outputs of later cells go (a note says so),
    and a test cell's visible part is told by a line of the grader's own, like its hidden
    part. The instructor's graded notebook keeps everything.

    Only test cells and outputs are touched (test cells' source comes from the gradebook):
    whatever a student typed in their own cells, markers included, is left as it is. Runs
    after `GetGrades`, which puts the score in the cell's metadata.
    """

    withheld_note = (
        "*Outputs from here on are not shown in feedback: once hidden checks have run, "
        "what a cell prints could carry their inputs. Your own run of the notebook shows "
        "them; below, each check says whether it passed, and its points.*"
    )

    def preprocess(self, nb, resources):
        self._after_hidden = False
        self._noted = False
        cells = []
        for index, cell in enumerate(nb.cells):
            withheld = self._after_hidden
            cell, resources = self.preprocess_cell(cell, resources, index)
            if withheld and not self._noted and cell.cell_type == "code":
                cells.append(new_markdown_cell(self.withheld_note))
                self._noted = True
            cells.append(cell)
        nb.cells = cells
        nb.metadata.pop("celltoolbar", None)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        withheld = getattr(self, "_after_hidden", False)
        if cell.cell_type != "code":
            told = cell.metadata.get("genlab", {}).get("feedback")
            if cell.metadata.pop("genlab", None) is not None and isinstance(told, str):
                cell.source = told  # a note of the grader's, in the words meant for the student
            return cell, resources
        if not _is_test_cell(cell):
            cell.metadata.pop("genlab", None)
            if withheld:
                cell.outputs = []
            return cell, resources
        hidden_here = self.begin_test_delimeter in cell.source
        if not hidden_here and not withheld:
            cell.metadata.pop("genlab", None)
            return cell, resources
        docstring = _docstring(cell.source)
        _, hidden_source = split_hidden(cell.source, self.begin_test_delimeter)
        cell, resources = super().preprocess_cell(cell, resources, index)
        outputs = list(cell.get("outputs", []))
        start = cell.metadata.get("genlab", {}).get("hidden_outputs_from")
        if not hidden_here:
            start = len(outputs)
        elif type(start) is not int or not 0 <= start <= len(outputs):
            start = 0  # not known: nothing is shown but the verdict
        shown, hidden = outputs[:start], outputs[start:]
        cell.metadata.pop("genlab", None)
        visible_failed = any(o.get("output_type") == "error" for o in shown)
        lines = []
        if withheld:
            lines.append(self._visible_verdict(shown, docstring, hidden_here))
            shown = []
        if hidden_here:
            self._after_hidden = True
            if not visible_failed:
                lines.append(self._verdict(hidden, hidden_source, docstring))
            elif withheld:
                lines[-1] += " So the hidden checks did not run."
            else:
                lines.append("A visible check failed, so the hidden checks did not run.")
        grade = cell.metadata["nbgrader"]
        if "score" in grade and grade.get("points") is not None:
            points = grade["points"]
            partly = hidden_here and not visible_failed and grade["score"] < points
            if partly and lines[-1] == "Hidden checks: all passed.":
                lines[-1] = "Hidden checks: partly right (they give credit in proportion)."
            lines[-1] += f" {grade['score']:g} of {points:g} point{'s' if points != 1 else ''}."
        text = "\n".join(lines)
        cell.outputs = [*shown, new_output("stream", name="stdout", text=text + "\n")]
        return cell, resources

    @staticmethod
    def _visible_verdict(shown, docstring, hidden_here) -> str:
        """A visible part's outcome in the grader's words: passed, or which test failed."""
        errors = [o for o in shown if o.get("output_type") == "error"]
        if not errors:
            return "Visible checks: passed." if hidden_here else "Checks: all passed."
        if str(errors[0].get("ename", "")) in _MACHINERY:
            return f"The checks stopped: {_machinery_words(errors[0])}"
        what = f": {docstring.rstrip('.')}." if docstring else "."
        return f"A visible check failed{what}"

    @staticmethod
    def _verdict(hidden, hidden_source, docstring) -> str:
        """The hidden part's outcome: passed, which property failed, or what stopped it."""
        errors = [o for o in hidden if o.get("output_type") == "error"]
        if not errors:
            return "Hidden checks: all passed."
        error = errors[0]
        ename = str(error.get("ename", ""))
        if ename in _MACHINERY:
            return f"The checks stopped: {_machinery_words(error)}"
        what = hidden_property(hidden_source, _failing_line(error)) or docstring
        verdict = f"A hidden check failed: {what}" if what else "A hidden check failed"
        verdict = verdict.rstrip(".") + "."
        if ename not in _CHECK_FAILED:
            verdict += (
                f" (It stopped with {clean_text(ename, 60)}, raised by your code or on what "
                "it returned.)"
            )
        return verdict


# What the machinery says in feedback. Where its message may hold what the student's code
# sent (an error's text, an argument's name), fixed words; where the grader wrote all of it,
# the message itself.
_MACHINERY_WORDS = {
    "SubmissionError": "your kernel did not answer the checks as it should (it stopped, took "
    "too long, or sent what the checks cannot read).",
    "SetupFailed": "the course's setup these checks need did not finish (it runs your code "
    "above, which raised an error or took too long).",
    "InPlaceChange": "a function changed an argument in place that it must not change: work "
    "on a copy.",
}


def _machinery_words(error) -> str:
    ename = str(error.get("ename", ""))
    if ename in _MACHINERY_WORDS:
        return _MACHINERY_WORDS[ename]
    return clean_text(error.get("evalue", ""), 300)


def _docstring(source: str) -> str | None:
    """The first line of a test cell's docstring, which students see."""
    try:
        tree = ast.parse(split_hidden(source)[0])
    except SyntaxError:
        return None
    text = ast.get_docstring(tree) if tree.body else None
    return text.splitlines()[0] if text else None


class GetGradesAndWaiting(GetGrades):
    """nbgrader's `GetGrades`, and which answers still wait for a person.

    An answer graded by hand (a written response) has no score until the instructor gives
    one; nbgrader's feedback shows it as 0 of its points. This marks such a cell `waiting`
    (in its `nbgrader` metadata) and sums their points in `resources["nbgrader"]
    ["waiting_points"]`, for the course's feedback page (`FEEDBACK_PAGE`), which says they
    wait and leaves them out of the score it shows. A cell the instructor has graded is
    told as nbgrader tells it.
    """

    def preprocess(self, nb, resources):
        resources["nbgrader"]["waiting_points"] = 0.0
        return super().preprocess(nb, resources)

    def _get_score(self, cell, resources):
        super()._get_score(cell, resources)
        grade = self.gradebook.find_grade(
            cell.metadata["nbgrader"]["grade_id"],
            self.notebook_id,
            self.assignment_id,
            self.student_id,
        )
        waiting = bool(grade.needs_manual_grade) and grade.manual_score is None
        cell.metadata.nbgrader["waiting"] = waiting
        if waiting:
            resources["nbgrader"]["waiting_points"] += grade.max_score


FEEDBACK_TEMPLATES = Path(__file__).with_name("templates")
# The feedback page: nbgrader's "feedback" template, but for answers that wait for a person.
FEEDBACK_PAGE = "genlab-feedback.html.j2"


def feedback_preprocessors() -> list:
    """nbgrader's own feedback pipeline, with `GetGradesAndWaiting` for `GetGrades` and
    `HideHiddenTests` right after it."""
    from nbgrader.converters import GenerateFeedback

    pipeline = _pipeline_with(GenerateFeedback, "preprocessors", HideHiddenTests, GetGrades)
    return [GetGradesAndWaiting if step is GetGrades else step for step in pipeline]


def feedback_template_dirs() -> list[str]:
    """Where the feedback page (`FEEDBACK_PAGE`, in the folder of nbgrader's "feedback"
    template) and nbgrader's own page, which it extends, are found: for
    `c.HTMLExporter.extra_template_basedirs`. nbgrader sets that trait only when the
    configuration does not, so both folders are listed."""
    import nbgrader

    nbgrader_templates = Path(nbgrader.__file__).parent / "server_extensions/formgrader/templates"
    return [str(FEEDBACK_TEMPLATES), str(nbgrader_templates)]
