"""The private parts of other packages that the grader relies on, in one list.

Grading extends nbgrader, nbconvert, nbclient and jupyter_client where they offer no public
hook, and reads nbgrader's log as text. Each such dependency is written here, with what it
is for and what breaks if it changes; constraints.txt pins the versions it was checked
with, and tests/test_layout.py fails when the code uses a private name of another package
that is not in this list, or when a listed one is gone from the installed version.

A public extension point replaces an entry where one exists: the sandboxed kernel is
launched, pinned and cleaned up by a kernel provisioner (genlab.grader.sandbox), and
interrupted by message as its kernel spec asks, so jupyter_client's kernel manager is
extended through public parts only. The one entry outside the
grader is the students' widgets' call of ipywidgets 7's `_handle_displayed`, made only
where it exists (ipywidgets 8 has none).

What this module leaves out: the public APIs the grader uses (nbgrader's preprocessors,
`NbGraderAPI`, nbclient's `NotebookClient`, jupyter_client's `AsyncKernelManager`), which
follow their packages' deprecation rules.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["Private", "PRIVATE", "LOG_LINES", "TEMPLATE_BLOCKS", "TEMPLATE_MACROS", "missing"]


@dataclass(frozen=True)
class Private:
    """`owner.name`, a private attribute of a class of another package, and why we use it."""

    owner: str  # "package.module:Class"
    name: str
    why: str
    required: bool = True  # False: used only where the installed version has it

    def resolve(self):
        module, _, cls = self.owner.partition(":")
        return getattr(importlib.import_module(module), cls)


PRIVATE = (
    Private(
        "nbgrader.preprocessors:ClearHiddenTests",
        "_remove_hidden_test_region",
        "the judge's plan and the hand-in's sweep remove hidden tests exactly as nbgrader does",
    ),
    Private(
        "nbconvert.preprocessors:ExecutePreprocessor",
        "_check_assign_resources",
        "GradingExecute.preprocess sets up resources as nbconvert's own preprocess does",
    ),
    Private(
        "nbclient:NotebookClient",
        "_async_cleanup_kernel",
        "stopping a submission's or a judge's kernel (restart after a dead kernel, the end)",
    ),
    Private(
        "nbgrader.preprocessors:GetGrades",
        "_get_score",
        "GetGradesAndWaiting marks answers that wait for a person after nbgrader scores them",
    ),
    Private(
        "ipywidgets:Widget",
        "_handle_displayed",
        "genlab.live (the students' runtime): a LiveFigure runs ipywidgets 7's on_displayed"
        " callbacks as ipywidgets 7 would; ipywidgets 8 has no such method and needs none",
        required=False,
    ),
)

# Text of nbgrader's log that genlab.grader.classroom reads: (module, text in its source).
LOG_LINES = (
    # _reason: NbGraderAPI captures the log with each record opening with its level
    ("nbgrader.utils", '"[%(levelname)s] %(message)s"'),
    # _grade_one: a hand-in graded before, and not forced, is skipped with this message
    ("nbgrader.converters.base", '"Skipping existing assignment: {}"'),
)

# nbgrader's feedback template (formgrader/templates/feedback/index.html.j2), which
# templates/feedback/genlab-feedback.html.j2 extends: the blocks it overrides and the
# macros of nbgrader's that it calls.
TEMPLATE_BLOCKS = ("body", "markdowncell", "input")
TEMPLATE_MACROS = ("nbgrader_footer",)


def missing() -> list[str]:
    """Which entries of PRIVATE the installed packages no longer have."""
    return [
        f"{p.owner}.{p.name}" for p in PRIVATE if p.required and not hasattr(p.resolve(), p.name)
    ]
