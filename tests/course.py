"""What the tests know about the course layout, so that adding a module adds no test code."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source"
RELEASE = ROOT / "release"

REGION = re.compile(
    r"^[ \t]*### BEGIN (SOLUTION|HIDDEN TESTS)[ \t]*\n(.*?)^[ \t]*### END \1[ \t]*$",
    re.S | re.M,
)


def modules() -> list[str]:
    """Every folder of source/ that holds a notebook of its own name."""
    return sorted(p.parent.name for p in SOURCE.glob("*/*.ipynb") if p.stem == p.parent.name)


def source_notebook(module: str) -> Path:
    return SOURCE / module / f"{module}.ipynb"


def release_notebook(module: str, root: Path = ROOT) -> Path:
    return root / "release" / module / f"{module}.ipynb"


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def hidden_lines(nb) -> set[str]:
    """Lines that appear only inside solution or hidden-test regions of a source notebook.

    A line that also appears outside every region (a blank line, `return self`) is public
    anyway and is not counted.
    """
    inside, outside = set(), set()
    for cell in nb.cells:
        text = cell.source
        for match in REGION.finditer(text):
            inside.update(line.strip() for line in match.group(2).splitlines())
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


def copy_course(dest: Path) -> Path:
    """A scratch course: the files git would hand out, without grading output or caches."""
    ignore = shutil.ignore_patterns(
        ".git",
        ".venv",
        "__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        "*.egg-info",
        "submitted",
        "autograded",
        "feedback",
        "gradebook.db",
        "exchange",
        "bench",
    )
    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


# ---------------------------------------------------------------------------
# Submissions built from the release notebook


def _strip_markers(text: str) -> str:
    """The solution as a student would hand it in: the region's body, markers gone."""
    return REGION.sub(lambda m: m.group(2), text)


def solved(release_nb, source_nb, grade_ids: set[str] | None = None):
    """The release notebook with the reference solution in every solution cell (or in those
    whose grade_id is in `grade_ids`); the rest stays untouched."""
    answers = {
        nbgrader_meta(c)["grade_id"]: _strip_markers(c.source)
        for c in source_nb.cells
        if nbgrader_meta(c).get("solution")
    }
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution") and (grade_ids is None or grade_id in grade_ids):
            cell.source = answers[grade_id]
    return nb


def solution_ids(nb) -> list[str]:
    return [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c).get("solution")]


def read(path: Path):
    return nbformat.read(path, as_version=4)
