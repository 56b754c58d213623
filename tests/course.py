"""What the tests know about the course layout, so that adding a module adds no test code."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from genlab.grader.handins import REGION, solution_ids, solved  # noqa: F401 (the tests' submissions)
from genlab.live import WIDGET_VIEW

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source"
RELEASE = ROOT / "release"
HEADER = ROOT / "release_header.ipynb"  # the cells nbgrader puts on top of every release notebook
# What an answer left as released says when it runs: the message of nbgrader_config.py's code stub.
STUB = re.search(r'NotImplementedError\("([^"]+)"\)', (ROOT / "nbgrader_config.py").read_text())[1]


def modules() -> list[str]:
    """Every folder of source/ that holds a notebook of its own name."""
    return sorted(p.parent.name for p in SOURCE.glob("*/*.ipynb") if p.stem == p.parent.name)


def modules_run() -> list[str]:
    """The modules the tests that run notebooks run: every one, or only those named in
    $GENLAB_MODULES (comma-separated), as `make check` sets it."""
    every = modules()
    chosen = [m.strip() for m in os.environ.get("GENLAB_MODULES", "").split(",") if m.strip()]
    unknown = sorted(set(chosen) - set(every))
    if unknown:
        raise ValueError(f"GENLAB_MODULES names no module of source/: {', '.join(unknown)}")
    return [m for m in every if m in chosen] if chosen else every


def source_notebook(module: str) -> Path:
    return SOURCE / module / f"{module}.ipynb"


def release_notebook(module: str, root: Path = ROOT) -> Path:
    return root / "release" / module / f"{module}.ipynb"


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def hidden_lines(nb, regions=("SOLUTION", "HIDDEN TESTS")) -> set[str]:
    """Lines that appear only inside solution or hidden-test regions of a source notebook
    (or only inside the kinds of region named in `regions`).

    A line that also appears outside those regions (a blank line, `return self`, or for
    hidden tests a line of the reference solution, which a student may well write), or in
    the setup cell nbgrader puts on top of every release notebook (`try:`), is not secret
    and is not counted.
    """
    inside = set()
    outside = {line.strip() for c in read(HEADER).cells for line in c.source.splitlines()}
    for cell in nb.cells:
        text = cell.source
        for match in REGION.finditer(text):
            lines = {line.strip() for line in match.group(2).splitlines()}
            (inside if match.group(1) in regions else outside).update(lines)
        outside.update(line.strip() for line in REGION.sub("", text).splitlines())
    return {line for line in inside - outside if len(line) > 3}


def is_test_cell(cell) -> bool:
    """An autograded test cell: graded, and not an answer the student writes."""
    return bool(nbgrader_meta(cell).get("grade") and not nbgrader_meta(cell).get("solution"))


def autograded_cells(nb) -> list:
    return [c for c in nb.cells if is_test_cell(c)]


def autograded_points(nb) -> float:
    """Points of the autograded test cells of a notebook."""
    return sum(float(nbgrader_meta(c)["points"]) for c in autograded_cells(nb))


def hand_ins(module: str) -> dict:
    """The hand-ins every grading test starts from, fresh copies on each call: the reference
    answers, the untouched release and every other answer solved."""
    release, source = read(release_notebook(module)), read(source_notebook(module))
    return {
        "reference": solved(release, source),
        "untouched": release,
        "partial": solved(release, source, set(solution_ids(source)[::2])),
    }


def copy_course(dest: Path) -> Path:
    """A scratch course: the files git would hand out, without grading output or caches."""
    caches = shutil.ignore_patterns(
        ".git", ".venv*", "__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info"
    )
    # Grading output and local folders, at the course's root only:
    # genlab/grader/templates/feedback is the feedback page, not feedback.
    at_root = {"artifacts", "submitted", "autograded", "feedback", "gradebook.db", "exchange"}
    at_root |= {"downloaded", "reports", "bench"}

    def ignore(folder, names):
        ignored = caches(folder, names)
        if Path(folder) == ROOT:
            ignored |= at_root & set(names)
        return ignored

    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def read(path: Path):
    return nbformat.read(path, as_version=4)


def outputs(nb) -> list[tuple[int, dict]]:
    """(cell index, output) of every output of an executed notebook's code cells."""
    return [(i, o) for i, c in enumerate(nb.cells) if c.cell_type == "code" for o in c.outputs]


def errors(nb) -> list[str]:
    """Every error an executed notebook shows, as "cell <index>: <name>: <message>"."""
    return [f"cell {i}: {o.ename}: {o.evalue}" for i, o in outputs(nb) if o.output_type == "error"]


def live_figures(nb) -> list[tuple[int, dict]]:
    """(cell index, output) of every live widget of genlab's (`genlab.live.live_figure`)
    an executed notebook displayed: a widget view with the figure's line of text, which
    opens with "[" (a progress bar's does not)."""
    return [
        (i, o)
        for i, o in outputs(nb)
        if WIDGET_VIEW in o.get("data", {}) and o.data.get("text/plain", "").startswith("[")
    ]


def script(path: str, name: str):
    """A script of the repository (`path` from the root) loaded as a module named `name`."""
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as an import would (dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module


def latency_report() -> dict:
    """bench/latency.py's report of the live widgets drawn so far in this process."""
    return script("bench/latency.py", "bench_latency").latency_report()


def bench_run():
    """bench/run.py, the benchmark, as a module: its measuring parts serve the tests too."""
    return script("bench/run.py", "bench_run")


# ---------------------------------------------------------------------------
# Multiple-choice questions, as the source notebooks hold them: a markdown cell with options
# "* a) ...", then the answer cell `qn` whose solution holds the key.

_OPTION = re.compile(r"^\s*[*-] ([a-z])\) (.+?)\s*$", re.M)
_KEY = re.compile(r"^Q\d+ = [\"']([a-z])[\"']", re.M)


@dataclass
class Question:
    grade_id: str
    options: dict[str, str]
    key: str


def questions(module: str) -> list[Question]:
    """The module's lettered questions: each answer cell `qn`, its options and key."""
    return questions_of(read(source_notebook(module)))


def questions_of(nb) -> list[Question]:
    """A notebook's lettered questions."""
    found = []
    for index, cell in enumerate(nb.cells):
        grade_id = nbgrader_meta(cell).get("grade_id", "")
        if not re.fullmatch(r"q\d+", grade_id):
            continue
        key = _KEY.search(cell.source.split("### BEGIN SOLUTION")[-1])
        text = next(c.source for c in reversed(nb.cells[:index]) if c.cell_type == "markdown")
        options = dict(_OPTION.findall(text))
        if key:  # a question answered by a number is graded against the run, not a letter
            found.append(Question(grade_id, options, key.group(1)))
    return found
