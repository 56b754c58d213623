"""Hand-ins built from the course's own source: the reference answers put into the release
notebook, in whole or in part, and a copy of one module in a scratch course.

The demo's class (`genlab.grader.demo`), the grading benchmark (bench/grading.py) and the
tests grade such hand-ins; they need a clone of the course (source/ holds the answers), not
only the installed package. What this module leaves out: wrong answers; the hostile corpus
(tests/hostile.py) writes those.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import nbformat

__all__ = ["ROOT", "REGION", "solution_ids", "solved", "class_of", "scratch_course"]

# The course's root: genlab/grader/handins.py is two folders below it in a clone.
ROOT = Path(__file__).resolve().parents[2]

REGION = re.compile(
    r"^[ \t]*### BEGIN (SOLUTION|HIDDEN TESTS)[ \t]*\n(.*?)^[ \t]*### END \1[ \t]*$",
    re.S | re.M,
)


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def solution_ids(nb) -> list[str]:
    """grade_ids of the cells a student writes in, in notebook order."""
    return [_meta(c)["grade_id"] for c in nb.cells if _meta(c).get("solution")]


def solved(release_nb, source_nb, grade_ids: set[str] | None = None):
    """The release notebook with the reference solution in every solution cell (or in those
    whose grade_id is in `grade_ids`); the rest stays as released."""
    answers = {
        _meta(c)["grade_id"]: REGION.sub(lambda m: m.group(2), c.source)  # markers gone
        for c in source_nb.cells
        if _meta(c).get("solution")
    }
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        grade_id = _meta(cell).get("grade_id")
        if _meta(cell).get("solution") and (grade_ids is None or grade_id in grade_ids):
            cell.source = answers[grade_id]
    return nb


def class_of(release_nb, source_nb) -> dict[str, object]:
    """The work of the demo's students: student -> notebook (or bytes, for a broken file)."""
    correct = solved(release_nb, source_nb)
    partly = solved(release_nb, source_nb, set(solution_ids(source_nb)[::2]))
    return {
        "ada": correct,
        "ben": partly,
        "cy": copy.deepcopy(release_nb),  # handed in as released
        "dee": correct,
        "eve": nbformat.writes(partly).encode()[:4000],  # an upload cut short
        "fay": partly,
    }


def scratch_course(course: Path, module: str, root: Path = ROOT) -> Path:
    """A new course folder with one module's source, the course's two nbgrader configs and
    the header every release notebook opens with."""
    (course / "source").mkdir(parents=True)
    shutil.copytree(root / "source" / module, course / "source" / module)
    for name in ("nbgrader_config.py", "nbgrader_config_students.py", "release_header.ipynb"):
        shutil.copy(root / name, course / name)
    return course
