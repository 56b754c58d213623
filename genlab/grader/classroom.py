"""The instructor's side of a term: grade a module with several processes, report on a class.

nbgrader does every step of a term (release, collect, autograde, feedback, export) one
student after another. `grade` runs nbgrader's own autograding, `NbGraderAPI.autograde`,
the code behind `nbgrader autograde`, in N worker processes at once, with a progress bar,
resume and a summary; the scores are those nbgrader writes. `report` reads the gradebook
and writes what an instructor looks at: the LMS's CSV (nbgrader's own export), the mean
score of every question, a histogram of totals and the submissions that failed to grade.

The instructor's command, `genlab` (`genlab.grader.cli`), calls these.

Each submission is graded in nbgrader's pipeline as `nbgrader_config.py` sets it up, so in
the sandbox and with the judge of `genlab.grader.preprocessors`.

A class too large for one machine is graded by several, each with its own copy of the
course and all with one gradebook on a database server (nbgrader's `db_url`): `grade(...,
shard=(k, n))` takes the k-th of n disjoint shards of the students, the same on every host.
A host that dies mid-run is started again with the same command: what it finished is kept
(a record per student in reports/<module>/graded/, written once nbgrader has), what it had
begun is graded again, and the gradebook's keys keep one row per grade.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import sqlite3
import sys
import textwrap
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

from tqdm.auto import tqdm

__all__ = [
    "Outcome",
    "GradingSummary",
    "ClassReport",
    "auto_scores",
    "grade",
    "in_shard",
    "parse_shard",
    "release_feedback",
    "report",
]

# Numerical libraries in a kernel would each start one thread per core; N kernels at once
# share the cores instead.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# How long a worker waits for another one's gradebook transaction (they take milliseconds).
BUSY_TIMEOUT_MS = 120_000


def reports_dir(course: Path, module: str) -> Path:
    """Where grading and the report write for `module`: reports/<module>/ (git-ignored)."""
    return Path(course) / "reports" / module


# ---------------------------------------------------------------------------
# Grading in parallel


@dataclass
class Outcome:
    """What happened to one student's submission."""

    student: str
    status: str  # "graded", "skipped" (graded before and not handed in again) or "failed"
    reason: str = ""  # why it failed: the exception's last line
    seconds: float = 0.0


@dataclass
class GradingSummary:
    module: str
    workers: int
    seconds: float
    outcomes: list[Outcome] = field(default_factory=list)

    def having(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    def __str__(self) -> str:
        graded, failed, skipped = (self.having(s) for s in ("graded", "failed", "skipped"))
        lines = [
            f"{self.module}: {len(graded)} graded, {len(failed)} failed, "
            f"{len(skipped)} skipped ({self.workers} workers, {self.seconds:.0f} s)"
        ]
        lines += [f"  failed  {o.student}: {o.reason}" for o in failed]
        return "\n".join(lines)


def _wait_for_the_gradebook() -> None:
    """Make every SQLite transaction of this process take the write lock first, and wait for it.

    SQLite lets one connection write at a time. pysqlite starts a transaction lazily and
    takes the write lock only at its first write; two workers that both read first then
    both ask to write deadlock, and SQLite fails one of them at once with "database is
    locked", however long the busy timeout (nbgrader stops on that error). So every
    transaction here starts with BEGIN IMMEDIATE (SQLAlchemy's recipe for pysqlite), and a
    worker that finds the lock taken waits up to BUSY_TIMEOUT_MS for it: on a loaded machine
    the worker that holds it can stall longer than pysqlite's 5 s (a commit behind slow
    disk I/O, a process starved of CPU by N kernels, an instructor's formgrader writing a
    long batch). Transactions take milliseconds; waiting two minutes costs nothing.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _set_busy_timeout):
        event.listen(Engine, "connect", _set_busy_timeout)
        event.listen(Engine, "begin", _begin_immediately)


def _set_busy_timeout(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        dbapi_connection.isolation_level = None  # pysqlite's own lazy BEGIN off: ours below


def _begin_immediately(connection) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _nbgrader_api(course: Path):
    """nbgrader's API, configured as `nbgrader` is when run in `course` (it reads the
    nbgrader_config.py of the folder it runs in)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.apps.nbgraderapp import NbGraderApp

    cwd = Path.cwd()
    os.chdir(course)
    try:
        app = NbGraderApp()
        app.initialize([])
        return NbGraderAPI(config=app.config)
    finally:
        os.chdir(cwd)


_API = None  # one per worker process


def _start_worker(course: str, threads: int, log_path: str) -> None:
    global _API
    os.chdir(course)
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))
    # Everything a worker and its kernels print goes to the log, not over the progress bar.
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    _wait_for_the_gradebook()
    _API = _nbgrader_api(Path(course))


_RECORD = re.compile(r"^\[[A-Z]+\] ", re.M)


def _reason(result: dict) -> str:
    """Why autograding failed: the last line of the traceback nbgrader logged.

    nbgrader logs the traceback of the failing submission, then raises a generic
    NbGraderException ("see the traceback above"), which says nothing and is skipped.
    """
    records = _RECORD.split(result.get("log", "") + "\n[ERROR] " + result.get("error", ""))
    tracebacks = [
        textwrap.dedent(r.partition("\n")[2])
        for r in records
        if r.startswith("Traceback (most recent call last):") and "NbGraderException" not in r
    ]
    if not tracebacks:
        return "unknown error: see grading.log"
    # In a traceback, only the lines naming an exception start at the margin.
    reason = [line for line in tracebacks[-1].splitlines() if line[:1].strip()][-1].strip()
    return reason if len(reason) <= 200 else reason[:197] + "..."


def _grade_one(course: Path, module: str, student: str, force: bool) -> Outcome:
    start = time.perf_counter()
    if force:  # nbgrader deletes the grading before: its record vouches for nothing now
        _finished_record(course, module, student).unlink(missing_ok=True)
    result = _API.autograde(module, student, force=force, create=True)
    log = result.get("log", "")
    if not result["success"]:
        outcome = Outcome(student, "failed", _reason(result))
    elif "Skipping existing assignment" in log:
        outcome = Outcome(student, "skipped")
    else:
        outcome = Outcome(student, "graded")
    outcome.seconds = round(time.perf_counter() - start, 2)
    print(f"===== {module} / {student}: {outcome.status}", file=sys.stderr)
    print(log + result.get("error", ""), file=sys.stderr, flush=True)
    return outcome


def _submitted(course: Path, module: str) -> list[str]:
    return sorted(p.parent.name for p in (course / "submitted").glob(f"*/{module}") if p.is_dir())


def parse_shard(text: str) -> tuple[int, int]:
    """ "k/n" -> (k, n), with 1 <= k <= n; a clear error otherwise."""
    k, slash, n = text.partition("/")
    if not (slash and k.strip().isdigit() and n.strip().isdigit()) or not 1 <= int(k) <= int(n):
        raise ValueError(f"a shard is k/n with 1 <= k <= n, e.g. 2/4; got {text!r}")
    return int(k), int(n)


def in_shard(student: str, shard: tuple[int, int] | None) -> bool:
    """Whether `student` belongs to shard (k, n): the same answer on every host and Python
    (CRC-32 of the id, not `hash`, which each interpreter salts), so n hosts given 1/n ... n/n
    grade every student exactly once."""
    if shard is None:
        return True
    k, n = shard
    return zlib.crc32(student.encode()) % n == k - 1


def _fingerprint(course: Path, module: str, student: str) -> str:
    """What was handed in, as nbgrader's autograde sees it: names, sizes and times of the files."""
    folder = course / "submitted" / student / module
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        h.update(f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _finished_record(course: Path, module: str, student: str) -> Path:
    return reports_dir(course, module) / "graded" / f"{student}.json"


def _mark_finished(course: Path, module: str, student: str, handed_in: str) -> None:
    """Written only after nbgrader has written the student's grades and notebooks, with the
    fingerprint of the hand-in as it was when its grading began (a newer one, collected
    meanwhile, is then graded by the next run)."""
    path = _finished_record(course, module, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps({"handed_in": handed_in}))
    os.replace(partial, path)  # atomic: a record is whole or absent


def _interrupted(course: Path, module: str, student: str, handed_in: str) -> bool:
    """Whether a grading of this hand-in (`handed_in`, its `_fingerprint`) began and never
    finished (a killed process or host).

    nbgrader writes the student's folder in autograded/ before it runs the notebook, so a
    folder there proves nothing; only the record `_mark_finished` writes afterwards does.
    """
    done = course / "autograded" / student / module
    if not done.is_dir():
        return False
    notebooks = (course / "submitted" / student / module).glob("*.ipynb")
    if any(not (done / nb.name).exists() for nb in notebooks):
        return True
    record = _finished_record(course, module, student)
    try:
        finished = json.loads(record.read_text())["handed_in"]
    except (OSError, ValueError, KeyError):
        return True
    return finished != handed_in


def _check_released(course: Path, module: str) -> None:
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import OperationalError

    api = _nbgrader_api(course)
    db_url = api.coursedir.db_url
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///") :]).exists():
        raise SystemExit(
            f"There is no gradebook at {db_url}: run `nbgrader generate_assignment {module}` "
            f"in {course} first."
        )
    try:
        with Gradebook(db_url, api.coursedir.course_id) as gb:
            gb.find_assignment(module)
    except MissingEntry:
        raise SystemExit(
            f"{module} is not in the gradebook: run `nbgrader generate_assignment {module}` "
            f"in {course} first."
        ) from None
    except OperationalError as error:  # a database server that cannot be reached
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise SystemExit(
            f"The gradebook at {_without_password(db_url)} cannot be opened: {reason}\n"
            "Is the database server running, and does c.CourseDirectory.db_url in "
            "nbgrader_config.py name it?"
        ) from None


def _without_password(url: str) -> str:
    return re.sub(r"(//[^:/@]+):[^@]*@", r"\1:***@", url)


def grade(
    module: str,
    *,
    course: str | Path = ".",
    workers: int = 2,
    force: bool = False,
    students: list[str] | None = None,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
) -> GradingSummary:
    """Autograde every submission of `module` in submitted/ with `workers` processes.

    A submission graded before and not handed in again since is skipped unless `force`
    (nbgrader's own rule), so an interrupted run resumes where it stopped. One failing
    submission never stops the others. The outcome of every student is kept in
    reports/<module>/grading.json and everything nbgrader logged in grading.log.

    Args:
        module: the assignment, e.g. "01-judging-vs-creating".
        course: the course directory (where nbgrader_config.py is).
        workers: processes grading at once; each notebook's numerical libraries get
            cores // workers threads.
        force: grade again what was graded before.
        students: only these students (default: everyone with a submission).
        shard: (k, n): only the k-th of n disjoint shards of the students (`in_shard`), for
            n hosts sharing one gradebook on a database server.
    """
    course = Path(course).resolve()
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if shard is not None:
        parse_shard(f"{shard[0]}/{shard[1]}")
    elsewhere = sorted(s for s in students or [] if not in_shard(s, shard))
    if elsewhere:
        raise ValueError(f"not in shard {shard[0]}/{shard[1]}: {', '.join(elsewhere)}")
    _check_released(course, module)
    handed_in = [s for s in _submitted(course, module) if in_shard(s, shard)]
    todo = [s for s in handed_in if students is None or s in students]
    missing = sorted(s for s in set(students or []) - set(handed_in) if in_shard(s, shard))
    out = reports_dir(course, module)
    out.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // workers)
    start = time.perf_counter()
    outcomes = [Outcome(s, "failed", "no submission in submitted/") for s in missing]
    with ProcessPoolExecutor(
        max_workers=min(workers, max(1, len(todo))),
        mp_context=get_context("spawn"),  # a clean interpreter: no forked locks or sockets
        initializer=_start_worker,
        initargs=(str(course), threads, str(out / "grading.log")),
    ) as pool:
        futures, handed = {}, {}
        for s in todo:
            handed[s] = _fingerprint(course, module, s)  # what this grading reads
            again = force or _interrupted(course, module, s, handed[s])
            futures[pool.submit(_grade_one, course, module, s, again)] = s
        bar = tqdm(
            total=len(futures), desc=f"grading {module}", unit="student", disable=not progress
        )
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except BrokenProcessPool as error:
                outcome = Outcome(futures[future], "failed", f"the grading process died: {error}")
            if outcome.status == "graded":
                _mark_finished(course, module, outcome.student, handed[outcome.student])
            outcomes.append(outcome)
            bar.update()
            bar.set_postfix(failed=sum(o.status == "failed" for o in outcomes))
        bar.close()
    summary = GradingSummary(module, workers, time.perf_counter() - start, outcomes)
    summary.outcomes.sort(key=lambda o: o.student)
    _record(out / "grading.json", summary)
    return summary


def _record(path: Path, summary: GradingSummary) -> None:
    """Keep the latest outcome of every student; a skip keeps what the last grading found."""
    record = json.loads(path.read_text()) if path.exists() else {}
    for outcome in summary.outcomes:
        if outcome.status != "skipped" or outcome.student not in record:
            record[outcome.student] = asdict(outcome)
    path.write_text(json.dumps(dict(sorted(record.items())), indent=1) + "\n")


def auto_scores(module: str, *, course: str | Path = ".") -> dict[tuple[str, str], float | None]:
    """(student, grade id) -> the score autograding gave, for every grade of `module`."""
    from nbgrader.api import Gradebook

    api = _nbgrader_api(Path(course).resolve())
    with Gradebook(api.coursedir.db_url, api.coursedir.course_id) as gb:
        return {
            (submission.student.id, g.name): g.auto_score
            for submission in gb.assignment_submissions(module)
            for notebook in submission.notebooks
            for g in notebook.grades
        }


# ---------------------------------------------------------------------------
# Feedback


def release_feedback(module: str, *, course: str | Path = ".") -> tuple[list[str], list[str]]:
    """Release the feedback of `module` through the exchange to everyone who submitted there.

    `nbgrader release_feedback` stops with FileNotFoundError at the first feedback without
    a timestamp.txt, and every hand-in that `zip_collect` took from an LMS has none (the
    LMS's file names carry no time). Those students are returned instead: upload their
    feedback/<student>/<module>/*.html to the LMS.

    Returns:
        (released, for_the_lms): student ids.
    """
    course = Path(course).resolve()
    api = _nbgrader_api(course)
    released, for_the_lms = [], []
    for folder in sorted((course / "feedback").glob(f"*/{module}")):
        student = folder.parent.name
        if not (folder / "timestamp.txt").exists():
            for_the_lms.append(student)
            continue
        result = api.release_feedback(module, student)
        if not result["success"]:
            raise RuntimeError(f"releasing {student}'s feedback failed: {_reason(result)}")
        released.append(student)
    return released, for_the_lms


# ---------------------------------------------------------------------------
# The class report


@dataclass
class ClassReport:
    module: str
    questions: list[dict]  # per grade cell: question, points, mean, full_marks, to_grade_by_hand
    totals: dict[str, float]  # student -> score
    max_score: float
    failed: dict[str, str]  # student -> why grading failed
    files: list[Path]

    def __str__(self) -> str:
        lines = [f"{self.module}: {len(self.totals)} graded, {len(self.failed)} failed to grade"]
        lines.append(f"  {'question':<40} {'points':>6} {'mean':>6} {'full marks':>10}")
        for q in self.questions:
            by_hand = (
                f"  ({q['to_grade_by_hand']} to grade by hand)" if q["to_grade_by_hand"] else ""
            )
            lines.append(
                f"  {q['question']:<40} {q['points']:>6g} {q['mean']:>6.2f} "
                f"{q['full_marks']:>10.0%}{by_hand}"
            )
        lines.append(f"  {'student':<40} {'total':>6}")
        for student, total in sorted(self.totals.items()):
            lines.append(f"  {student:<40} {total:>6g} / {self.max_score:g}")
        lines += [f"  failed  {s}: {why}" for s, why in sorted(self.failed.items())]
        lines += [f"  wrote {f}" for f in self.files]
        return "\n".join(lines)


def _question_order(course: Path, module: str) -> list[str]:
    """Grade ids in the order the notebook asks them (the gradebook keeps no order)."""
    import nbformat

    names = []
    for folder in ("source", "release"):
        for path in sorted((course / folder / module).glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            names += [
                c.metadata["nbgrader"]["grade_id"]
                for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade")
            ]
        if names:
            break
    return names


def report(module: str, *, course: str | Path = ".") -> ClassReport:
    """Write reports/<module>/: grades.csv, questions.csv and report.png; return the report.

    grades.csv is nbgrader's CSV export of this module (one row per student: raw score,
    late penalty, score, max score), what an LMS imports. questions.csv has the mean
    score of every question and the share of students with full marks; report.png shows
    those means beside a histogram of totals. Students whose submission failed to grade
    are listed with the reason `grade` recorded.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    course = Path(course).resolve()
    out = reports_dir(course, module)
    out.mkdir(parents=True, exist_ok=True)
    api = _nbgrader_api(course)
    scores: dict[str, dict[str, float]] = {}
    points: dict[str, float] = {}
    by_hand: dict[str, int] = {}
    totals: dict[str, float] = {}
    with Gradebook(api.coursedir.db_url, api.coursedir.course_id) as gb:
        max_score = gb.find_assignment(module).max_score
        for submission in gb.assignment_submissions(module):
            student = submission.student.id
            if not (course / "autograded" / student / module).is_dir():
                continue  # its grading failed
            totals[student] = submission.score
            for notebook in submission.notebooks:
                for g in notebook.grades:
                    scores.setdefault(g.name, {})[student] = g.score
                    points[g.name] = g.max_score
                    by_hand[g.name] = by_hand.get(g.name, 0) + bool(g.needs_manual_grade)
        CsvExportPlugin(to=str(out / "grades.csv"), assignment=[module]).export(gb)

    order = [q for q in _question_order(course, module) if q in scores]
    order += sorted(set(scores) - set(order))
    questions = [
        {
            "question": q,
            "points": points[q],
            "mean": sum(scores[q].values()) / len(scores[q]),
            "full_marks": sum(s >= points[q] for s in scores[q].values()) / len(scores[q]),
            "to_grade_by_hand": by_hand[q],
        }
        for q in order
    ]
    with open(out / "questions.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(questions[0]) if questions else ["question"])
        writer.writeheader()
        writer.writerows(questions)

    failed = {}
    record = out / "grading.json"
    if record.exists():
        failed = {
            s: o["reason"]
            for s, o in json.loads(record.read_text()).items()
            if o["status"] == "failed"
        }
    for student in _submitted(course, module):
        if student not in totals and student not in failed:
            failed[student] = "not graded (run `genlab grade`)"

    fig = Figure(figsize=(11, 4), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    left.barh(
        [q["question"] + (" (by hand)" if q["to_grade_by_hand"] else "") for q in questions][::-1],
        [q["mean"] / q["points"] if q["points"] else 0 for q in questions][::-1],
        color="tab:blue",
    )
    left.set_xlim(0, 1)
    left.set_xlabel("mean score, share of the question's points")
    left.set_title(f"{module}: questions")
    right.hist(
        list(totals.values()),
        bins=min(20, max(5, len(totals))),
        range=(0, max_score),
        color="tab:green",
    )
    right.set_xlabel(f"total score (of {max_score:g})")
    right.set_ylabel("students")
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_title(f"{len(totals)} graded, {len(failed)} failed to grade")
    fig.savefig(out / "report.png", dpi=100)

    files = [out / "grades.csv", out / "questions.csv", out / "report.png"]
    return ClassReport(module, questions, totals, max_score, failed, files)
