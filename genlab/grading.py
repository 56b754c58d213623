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

What this module leaves out: sandboxing (a later issue); parallel grading and the class
report are in `genlab.classroom`.
"""

from __future__ import annotations

import re

from nbformat.v4 import new_output
from nbgrader.preprocessors import ClearHiddenTests, Execute, GetGrades, NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution

__all__ = [
    "HideHiddenTests",
    "StderrIsNotFailure",
    "autograde_preprocessors",
    "feedback_preprocessors",
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
    """nbgrader's own autograde pipeline with `StderrIsNotFailure` right after `Execute`."""
    from nbgrader.converters import Autograde

    return _pipeline_with(Autograde, "autograde_preprocessors", StderrIsNotFailure, Execute)


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
