"""A class in a box: a synthetic class of module 01 taken through a whole term.

`run_demo` builds a scratch course and plays every part with nbgrader's own commands,
printing each one as an instructor would type it:

* the instructor releases module 01 to an exchange folder;
* three students fetch it, work (one right, one partly right, one not at all) and submit;
* three more hand in through an LMS: a zip of files named `<student>_<id>_<file>`, one
  downloaded from Colab ("Copy of ..."), one downloaded twice (" (1)"), one cut short
  by a failed upload, so it is not a notebook any more;
* the instructor collects both channels, grades in parallel (`genlab.grader.classroom.grade`),
  returns feedback, which the exchange students fetch, and writes the class report.

The students' work is built from the release notebook and the reference solutions in
source/, so the demo needs a clone of the course, not only the installed package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from genlab.grader.classroom import ClassReport, GradingSummary, grade, release_feedback, report
from genlab.grader.handins import ROOT, class_of, scratch_course

__all__ = ["run_demo", "Demo", "MODULE", "EXCHANGE_STUDENTS", "LMS_NAMES"]

MODULE = "01-judging-vs-creating"

EXCHANGE_STUDENTS = ("ada", "ben", "cy")
# LMS file names, as the LMS builds them from the student, its ids and the uploaded file.
LMS_NAMES = {
    "dee": "dee_1004_Copy of {module}.ipynb",
    "eve": "eve_1005_{module}.ipynb",
    "fay": "fay_late_1006_77_{module} (1).ipynb",
}


# ---------------------------------------------------------------------------
# The term


@dataclass
class Demo:
    course: Path
    exchange: Path
    homes: dict[str, Path]
    grading: GradingSummary
    report: ClassReport
    seconds: float


class _Shell:
    """Runs and prints the commands of the term, each as its user would type it."""

    def __init__(self, env: dict[str, str], verbose: bool):
        self.env, self.verbose = env, verbose

    def say(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    def __call__(self, who: str, cwd: Path, *args: str, home: Path | None = None) -> None:
        self.say(f"  {who:>10} $ {' '.join(args)}")
        env = dict(self.env, HOME=str(home)) if home else self.env
        result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"`{' '.join(args)}` failed:\n{result.stderr[-3000:]}")


def run_demo(
    dest: str | Path | None = None,
    *,
    module: str = MODULE,
    workers: int = 2,
    root: Path = ROOT,
    db_url: str | None = None,
    verbose: bool = True,
) -> Demo:
    """Build a course in `dest` (default: a new temporary folder), run a term, print it.

    `db_url`: the gradebook, as nbgrader's `c.CourseDirectory.db_url` takes it (an empty
    database on a server, e.g. postgresql+psycopg://user@host/dbname); default: SQLite in
    the course folder.
    """
    start = time.perf_counter()
    source_nb_path = root / "source" / module / f"{module}.ipynb"
    if not source_nb_path.exists():
        raise SystemExit(
            f"The demo needs the course's source notebooks; {source_nb_path} is missing."
        )
    dest = Path(dest or tempfile.mkdtemp(prefix="genlab-demo-")).resolve()
    course, exchange = dest / "course", dest / "exchange"
    if course.exists():
        raise SystemExit(f"{course} exists already; give the demo a new folder.")
    if db_url and "%" in db_url:  # nbgrader copies it into an alembic.ini, which reads % itself
        raise ValueError("nbgrader cannot take a database URL with a % in it")
    scratch_course(course, module, root)
    if db_url:
        with open(course / "nbgrader_config.py", "a") as f:
            f.write(f"\nc.CourseDirectory.db_url = {db_url!r}\n")
    exchange.mkdir(parents=True, exist_ok=True)
    for config in ("nbgrader_config.py", "nbgrader_config_students.py"):
        with open(course / config, "a") as f:  # this class's exchange, on both sides
            f.write(f"\nc.Exchange.root = {str(exchange)!r}\n")
    bin_dir = str(Path(sys.executable).parent)  # nbgrader from this environment
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"])
    sh = _Shell(env, verbose)

    sh.say(f"A class of {module} in {dest}\n\nThe instructor releases the module:")
    sh("instructor", course, "nbgrader", "generate_assignment", module)
    sh("instructor", course, "nbgrader", "release_assignment", module)

    release_nb = nbformat.read(course / "release" / module / f"{module}.ipynb", as_version=4)
    work = class_of(release_nb, nbformat.read(source_nb_path, as_version=4))
    sh.say("\nThree students fetch it, work, and submit through the exchange:")
    homes = {}
    for student in EXCHANGE_STUDENTS:
        home = homes[student] = dest / "home" / student
        (home / ".jupyter").mkdir(parents=True)
        shutil.copy(
            course / "nbgrader_config_students.py", home / ".jupyter" / "nbgrader_config.py"
        )
        sh(student, home, "nbgrader", "fetch_assignment", module, home=home)
        nbformat.write(work[student], home / module / f"{module}.ipynb")
        sh(student, home, "nbgrader", "submit", module, "--student", student, home=home)

    sh.say("\nThree more hand in through an LMS; the instructor saves its zip of submissions:")
    archive = course / "downloaded" / module / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "lms-submissions.zip", "w") as zf:
        for student, name in LMS_NAMES.items():
            nb = work[student]
            zf.writestr(
                name.format(module=module), nb if isinstance(nb, bytes) else nbformat.writes(nb)
            )
            sh.say(f"  {'':>10}   {name.format(module=module)}")

    sh.say("\nThe instructor collects both channels and grades in parallel:")
    sh("instructor", course, "nbgrader", "collect", module)
    sh("instructor", course, "nbgrader", "zip_collect", module)
    sh.say(f"  {'instructor':>10} $ genlab grade {module} --workers {workers}")
    summary = grade(module, course=course, workers=workers, progress=verbose)
    sh.say(str(summary))

    sh.say("\nFeedback goes back; the exchange students fetch theirs:")
    sh("instructor", course, "nbgrader", "generate_feedback", module)
    sh.say(f"  {'instructor':>10} $ genlab release-feedback {module}")
    released, for_the_lms = release_feedback(module, course=course)
    for student in released:
        sh(
            student,
            homes[student],
            "nbgrader",
            "fetch_feedback",
            module,
            "--student",
            student,
            home=homes[student],
        )
    sh.say(
        f"  (feedback of {', '.join(for_the_lms)}, who handed in through the LMS, is in "
        f"{course / 'feedback'}/<student>/{module}/, to upload there)"
    )

    sh.say(f"\nThe class report:\n  {'instructor':>10} $ genlab report {module}")
    class_report = report(module, course=course)
    sh.say(str(class_report))
    seconds = time.perf_counter() - start
    sh.say(f"\nThe whole term took {seconds:.0f} s.")
    return Demo(course, exchange, homes, summary, class_report, seconds)
