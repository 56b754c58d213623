"""nbgrader plumbing for the course: what `nbgrader_config.py` plugs into autograding.

nbgrader scores a test cell zero when its output holds an error *or anything written
to stderr* (`nbgrader.utils.determine_grade`). Harmless stderr is everywhere: a
DeprecationWarning from a library, a tqdm progress bar, a student's own `warnings.warn`.
`StderrIsNotFailure` runs right after execution and turns stderr text in test cells
into ordinary output, so only a raised exception fails a test. The text stays
visible in the feedback.

What this module leaves out: sandboxing and parallel grading (later issues).
"""

from __future__ import annotations

from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution

__all__ = ["StderrIsNotFailure", "autograde_preprocessors"]


class StderrIsNotFailure(NbGraderPreprocessor):
    """Re-label stderr streams of autograded test cells as stdout."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_grade(cell) and not is_solution(cell):
            for output in cell.get("outputs", []):
                if output.output_type == "stream" and output.name == "stderr":
                    output.name = "stdout"
        return cell, resources


def autograde_preprocessors() -> list:
    """nbgrader's own autograde pipeline with `StderrIsNotFailure` right after `Execute`.

    Built from nbgrader's default list, so that whatever a future nbgrader adds is kept.
    """
    from nbgrader.converters import Autograde

    defaults = Autograde.class_traits()["autograde_preprocessors"].default()
    position = defaults.index(Execute) + 1
    return [*defaults[:position], StderrIsNotFailure, *defaults[position:]]
