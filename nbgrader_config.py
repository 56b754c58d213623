"""nbgrader configuration of the course "Generative AI, from judging to creating".

The repository root is the course directory: `source/<module>/<module>.ipynb` is
authored here, `release/` is generated from it, and grading writes `submitted/`,
`autograded/`, `feedback/` and `gradebook.db` next to this file (all git-ignored).
"""

from pathlib import Path

from genlab.grading import autograde_preprocessors

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "genai"
c.CourseDirectory.root = str(Path(__file__).resolve().parent)

# One cell may run for at most two minutes; every module's slowest cell takes seconds.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# A test cell fails on an exception only: harmless stderr (warnings, progress bars)
# in a test cell would otherwise zero a correct answer.
c.Autograde.autograde_preprocessors = autograde_preprocessors()
# A test cell the student deleted is put back from the gradebook and graded.
c.OverwriteCells.add_missing_cells = True

# Submissions: no single file over 5 MB, no hand-in over 20 MB (in kilobytes); a
# notebook of this course with all its figures is under 2 MB.
c.CourseDirectory.max_file_size = 5_000
c.CourseDirectory.max_dir_size = 20_000
# Runaway printing in a submission is cut in the graded copy.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
