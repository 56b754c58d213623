"""nbgrader configuration of the course "Generative AI, from judging to creating".

The repository root is the course directory: `source/<module>/<module>.ipynb` is
authored here, `release/` is generated from it, and grading writes `submitted/`,
`autograded/`, `feedback/` and `gradebook.db` next to this file (all git-ignored).
"""

import os
from functools import partial
from pathlib import Path

from genlab.grader.preprocessors import (
    FEEDBACK_PAGE,
    SafeCollect,
    UnreadableIsBlank,
    autograde_preprocessors,
    feedback_preprocessors,
    feedback_template_dirs,
    prepare_hand_in,
    sanitize_preprocessors,
)

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "genai"
c.CourseDirectory.root = str(Path(__file__).resolve().parent)

# The exchange: a folder every student can write to (students' side:
# nbgrader_config_students.py). Set GENLAB_EXCHANGE to move it.
c.Exchange.root = os.environ.get("GENLAB_EXCHANGE", "/srv/nbgrader/exchange")
# Collecting never follows a link a student left in their inbound folder.
c.ExchangeFactory.collect = SafeCollect

# Every release notebook opens with the cells of release_header.ipynb: the setup cell
# that installs genlab on Colab (and does nothing elsewhere). The course's address, from
# which Colab installs genlab, is set there, in COURSE_PACKAGE: change it in a fork.
c.IncludeHeaderFooter.header = str(Path(c.CourseDirectory.root) / "release_header.ipynb")
# An exercise not yet written says so when it runs (in the student's checks, in
# `nbgrader validate` and in feedback).
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\n"
    'raise NotImplementedError("not written yet: replace this line with your code")'
}

# One cell may run for at most two minutes; every module's slowest cell takes seconds.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# Autograding runs each submission in a sandbox (bubblewrap: no network, nothing of the
# machine but the Python environment, limits on memory, CPU, processes and output) and
# each test cell in a judge kernel where the submission's code never runs: see
# genlab/grader/sandbox.py, genlab/grader/judge.py and docs/instructors.md, "Grading untrusted
# code". A test cell fails on an exception only: harmless stderr (warnings, progress bars) would
# otherwise zero a correct answer.
c.Autograde.autograde_preprocessors = autograde_preprocessors()
# Memory of one submission's kernel (MB, all its processes together).
c.SandboxedKernelManager.memory_mb = 2048
# Only for submissions of people you trust, when bubblewrap cannot be installed:
# c.GradingExecute.run_submissions_unsandboxed = True
# A hand-in that is not a notebook is graded as the blank release, with the reason; cells
# with nbgrader metadata the gradebook does not know become ordinary cells; a notebook
# handed in under another name ("Copy of ...") is graded when it is the only candidate.
c.Autograde.exporter_class = UnreadableIsBlank
c.Autograde.sanitize_preprocessors = sanitize_preprocessors()
c.Autograde.pre_convert_hook = partial(prepare_hand_in, root=c.CourseDirectory.root)
# A test cell the student deleted is put back from the gradebook and graded.
c.OverwriteCells.add_missing_cells = True

# Submissions: no single file over 5 MB, no hand-in over 20 MB (in kilobytes); a
# notebook of this course with all its figures is under 2 MB.
c.CourseDirectory.max_file_size = 5_000
c.CourseDirectory.max_dir_size = 20_000
# Runaway printing in a submission is cut in the graded copy.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# Feedback says, per test cell, whether the hidden checks passed and what they earned,
# never what they are (nbgrader would show their source).
c.GenerateFeedback.preprocessors = feedback_preprocessors()
# ... and an answer the instructor has not graded yet says it waits, outside the score
# (nbgrader's page would show it as 0 points).
c.HTMLExporter.template_file = FEEDBACK_PAGE
c.HTMLExporter.extra_template_basedirs = feedback_template_dirs()

# Hand-ins through an LMS (students on Colab download their notebook and upload it):
# save the LMS's "download all submissions" zip as downloaded/<module>/archive/<any>.zip
# and run `nbgrader zip_collect <module>`. The LMS names each file
#   <student>_[late_]<id>_[<id>_...]<name the student uploaded>
# (Canvas adds "late_" and two ids); Colab may prepend "Copy of ", and a browser that
# downloads twice appends " (1)". The pattern is matched against the whole path.
c.FileNameCollectorPlugin.named_regexp = (
    r".*/(?P<student_id>[^/_]+)_(?:late_)?(?:\d+_)+(?:Copy of )?"
    r"(?P<file_id>[^/]+?)(?: \(\d+\))?\.ipynb$"
)
