"""The instructor's whole term on module 01, as `genlab demo` runs it.

Release to an exchange folder; three students fetch, work and submit; three more hand in
through an LMS zip (one of them a broken file); collect and zip_collect; grade in two
processes; feedback generated, released and fetched; the class report. Then the results
are held to what the issue promises: scores equal to nbgrader's serial autograde, resume,
and no hidden test in any feedback.

The same term runs again on a PostgreSQL gradebook (a real server, tests/pgserver.py) and
must give the same gradebook; then two grading hosts share one PostgreSQL gradebook, each
grading its shard of the class, and one is killed mid-run and started again.
"""

import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nbformat
import psutil
import pytest
from bs4 import BeautifulSoup
from course import autograded_cells, autograded_points, hidden_lines, read, source_notebook
from nbgrader.api import Grade, Gradebook
from pgserver import PostgresServer

from genlab.grader import cli
from genlab.grader.classroom import auto_scores, grade, in_shard, reports_dir
from genlab.grader.demo import EXCHANGE_STUDENTS, LMS_NAMES, MODULE, run_demo

pytestmark = pytest.mark.grading


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    return run_demo(tmp_path_factory.mktemp("term"), verbose=False)


def _text(html_path):
    """What a reader sees in an HTML file (code is split into highlighting spans)."""
    return BeautifulSoup(html_path.read_text(), "html.parser").get_text()


def _feedback_files(term):
    files = list((term.course / "feedback").glob(f"*/{MODULE}/*.html"))
    for home in term.homes.values():
        files += list((home / MODULE / "feedback").glob("*/*.html"))
    return files


def test_three_students_fetch_their_own_feedback_through_the_exchange(term):
    for student in EXCHANGE_STUDENTS:
        fetched = list((term.homes[student] / MODULE / "feedback").glob(f"*/{MODULE}.html"))
        assert len(fetched) == 1, f"{student} fetched {fetched}"
        made = term.course / "feedback" / student / MODULE / f"{MODULE}.html"
        assert fetched[0].read_text() == made.read_text()


def test_lms_hand_ins_land_under_their_students_with_the_released_name(term):
    for student in LMS_NAMES:
        folder = term.course / "submitted" / student / MODULE
        assert [p.name for p in folder.glob("*.ipynb")] == [f"{MODULE}.ipynb"]


def test_every_hand_in_is_graded_or_reported_with_its_reason(term):
    full = autograded_points(read(source_notebook(MODULE)))
    totals = term.report.totals
    assert totals["ada"] == totals["dee"] == full
    assert 0 < totals["ben"] == totals["fay"] < full
    assert totals["cy"] == totals["eve"] == 0
    # eve's upload was cut short: graded as the blank release, with the reason on top
    assert not term.grading.having("failed") and term.report.failed == {}
    graded = nbformat.read(term.course / "autograded" / "eve" / MODULE / f"{MODULE}.ipynb", 4)
    assert "could not be read as a notebook" in graded.cells[0].source
    assert "NotJSONError" in graded.cells[0].source
    assert {o.student for o in term.grading.having("graded")} == set(totals)


def test_parallel_scores_equal_nbgrader_serial_autograde(term, tmp_path):
    serial = shutil.copytree(term.course, tmp_path / "serial")
    result = subprocess.run(
        ["nbgrader", "autograde", MODULE, "--force"], cwd=serial, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]  # eve's broken file graded there too
    parallel, again = auto_scores(MODULE, course=term.course), auto_scores(MODULE, course=serial)
    assert len(parallel) == 6 * 14
    assert parallel == again


def test_a_second_run_grades_only_what_changed_or_was_cut_short(term, tmp_path):
    course = shutil.copytree(term.course, tmp_path / "course")
    before = auto_scores(MODULE, course=course)
    # ben hands in again; ada's grading was killed half-way (its notebook never written)
    later = datetime.now(timezone.utc) + timedelta(minutes=5)
    (course / "submitted" / "ben" / MODULE / "timestamp.txt").write_text(
        later.strftime("%Y-%m-%d %H:%M:%S.%f %Z")
    )
    (course / "autograded" / "ada" / MODULE / f"{MODULE}.ipynb").unlink()
    summary = grade(MODULE, course=course, workers=2, progress=False)
    status = {o.student: o.status for o in summary.outcomes}
    assert status == {
        "ada": "graded",
        "ben": "graded",
        "cy": "skipped",
        "dee": "skipped",
        "fay": "skipped",
        "eve": "skipped",
    }
    assert auto_scores(MODULE, course=course) == before
    assert (course / "autograded" / "ada" / MODULE / f"{MODULE}.ipynb").exists()


def test_a_submission_that_cannot_be_graded_is_reported_and_the_rest_graded(term, tmp_path):
    course = shutil.copytree(term.course, tmp_path / "course")
    before = auto_scores(MODULE, course=course)
    (course / "source" / MODULE / f"{MODULE}.ipynb").unlink()  # the judge's setup cells
    summary = grade(
        MODULE, course=course, workers=2, students=["cy", "ada"], force=True, progress=False
    )
    assert {o.student for o in summary.having("failed")} == {"cy", "ada"}
    for outcome in summary.having("failed"):
        assert "the judge needs the course's own notebook" in outcome.reason
    after = auto_scores(MODULE, course=course)
    assert {k: v for k, v in after.items() if k[0] not in {"cy", "ada"}} == {
        k: v for k, v in before.items() if k[0] not in {"cy", "ada"}
    }


def test_no_hidden_test_line_appears_in_any_feedback(term):
    source = read(source_notebook(MODULE))
    secret = hidden_lines(source, regions=("HIDDEN TESTS",))
    assert len(secret) > 20
    # The check has teeth: autograding put the hidden tests back, so nbgrader's own
    # feedback, made from these notebooks, would show them.
    autograded = nbformat.read(term.course / "autograded" / "ada" / MODULE / f"{MODULE}.ipynb", 4)
    assert secret <= {line.strip() for c in autograded.cells for line in c.source.splitlines()}
    files = _feedback_files(term)
    assert len(files) == 6 + len(EXCHANGE_STUDENTS)  # every student's, and the fetched copies
    for path in files:
        text = _text(path)
        lines = {line.strip() for line in text.splitlines()}
        # a hidden line shown as a line, or (if long enough to be unmistakable) inside one
        leaked = sorted(line for line in secret if line in lines or len(line) > 25 and line in text)
        assert not leaked, f"{path} shows hidden test lines: {leaked[:5]}"
        assert "HIDDEN TESTS" not in path.read_text()


def test_feedback_gives_each_hidden_check_its_verdict_and_points(term):
    source = read(source_notebook(MODULE))
    with_hidden = [c for c in autograded_cells(source) if "BEGIN HIDDEN TESTS" in c.source]
    right = _text(term.course / "feedback" / "ada" / MODULE / f"{MODULE}.html")
    verdicts = [line for line in right.splitlines() if line.startswith("Hidden checks: all passed")]
    assert len(verdicts) == len(with_hidden)
    for cell in with_hidden:
        points = cell.metadata.nbgrader["points"]
        assert f"{points:g} of {points:g} point" in right
    blank = _text(term.course / "feedback" / "cy" / MODULE / f"{MODULE}.html")
    assert "Hidden checks: all passed" not in blank
    assert blank.count("A visible check failed, so the hidden checks did not run.") == 1
    assert blank.count("So the hidden checks did not run.") >= 4  # told in the grader's words
    assert "not shown in feedback" in blank  # after the first hidden checks
    assert "NotImplementedError" in blank


def _written(nb):
    """The answers of a notebook graded by hand: (grade id, points)."""
    return [
        (c.metadata.nbgrader["grade_id"], float(c.metadata.nbgrader["points"]))
        for c in nb.cells
        if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")
    ]


def test_feedback_tells_a_written_answer_waits_and_keeps_it_out_of_the_score(term, tmp_path):
    ((grade_id, points),) = _written(read(source_notebook(MODULE)))
    full = autograded_points(read(source_notebook(MODULE)))
    waiting = _text(term.course / "feedback" / "ada" / MODULE / f"{MODULE}.html")
    assert f"(Score so far: {full:.1f} / {full:.1f})" in waiting
    assert f"{points:.1f} more points wait for your instructor" in waiting
    assert f"Written response (waits for your instructor: {points:.1f} points" in waiting
    assert f"Score: 0.0 / {points:.1f}" not in waiting  # not told as points lost
    # cy handed in the release untouched: nothing waits, and the blank answer earns nothing
    blank = _text(term.course / "feedback" / "cy" / MODULE / f"{MODULE}.html")
    assert "wait for your instructor" not in blank
    assert f"Written response (Score: 0.0 / {points:.1f})" in blank

    # Once the instructor grades it, feedback tells it as nbgrader does, in the total.
    course = shutil.copytree(term.course, tmp_path / "course")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        grade_row = gradebook.find_grade(grade_id, MODULE, MODULE, "ada")
        grade_row.manual_score = points / 2
        grade_row.needs_manual_grade = False
        gradebook.db.commit()
    result = subprocess.run(
        ["nbgrader", "generate_feedback", MODULE, "--student", "ada", "--force"],
        cwd=course,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    graded = _text(course / "feedback" / "ada" / MODULE / f"{MODULE}.html")
    total = full + points
    assert f"(Score: {full + points / 2:.1f} / {total:.1f})" in graded
    assert f"Written response (Score: {points / 2:.1f} / {points:.1f})" in graded
    assert "wait for your instructor" not in graded


def test_the_class_report(term):
    report = term.report
    assert [p.name for p in report.files] == ["grades.csv", "questions.csv", "report.png"]
    assert report.files[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = report.files[0].read_text().splitlines()
    assert lines[0].startswith("assignment,duedate,timestamp,student_id")
    assert len(lines) == 1 + 6  # every student of the gradebook, eve at 0
    scores = auto_scores(MODULE, course=term.course)
    graded = sorted(report.totals)
    for q in report.questions:
        expected = sum(scores[(s, q["question"])] or 0 for s in graded) / len(graded)
        assert q["mean"] == pytest.approx(expected), q
    by_name = {q["question"]: q for q in report.questions}
    assert by_name["combined_system"]["to_grade_by_hand"] >= 4
    assert list(by_name)[0] == "task_kinds_check"  # in the notebook's order


# ---------------------------------------------------------------------------------------
# The term on PostgreSQL, and a class graded by several hosts


@pytest.fixture(scope="module")
def postgres():
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="module")
def pg_term(tmp_path_factory, postgres):
    url = postgres.create_database("term")
    return run_demo(tmp_path_factory.mktemp("pg-term"), db_url=url, verbose=False), url


def _grades_per_student() -> int:
    source = read(source_notebook(MODULE))
    return len(autograded_cells(source)) + len(_written(source))


def _gradebook(url: str) -> dict:
    """What an instructor reads in a gradebook, without its random ids and timestamps."""
    with Gradebook(url, course_id="genai") as gb:
        submissions = gb.assignment_submissions(MODULE)
        return {
            "students": sorted(s.id for s in gb.students),
            "assignments": sorted(a.name for a in gb.assignments),
            "grades": sorted(
                (sub.student.id, nb.name, g.name, g.auto_score, g.manual_score, g.max_score,
                 g.needs_manual_grade)
                for sub in submissions for nb in sub.notebooks for g in nb.grades
            ),
            "comments": sorted(
                (sub.student.id, c.name, c.auto_comment)
                for sub in submissions for nb in sub.notebooks for c in nb.comments
            ),
        }  # fmt: skip


def test_the_term_on_a_postgresql_gradebook_equals_the_term_on_sqlite(term, pg_term):
    on_pg, url = pg_term
    assert not (on_pg.course / "gradebook.db").exists()  # nothing went to SQLite
    expected = _gradebook(f"sqlite:///{term.course / 'gradebook.db'}")
    assert len(expected["grades"]) == 6 * _grades_per_student()
    assert _gradebook(url) == expected
    assert on_pg.report.totals == term.report.totals
    assert on_pg.report.questions == term.report.questions
    assert [o.status for o in on_pg.grading.outcomes] == [o.status for o in term.grading.outcomes]
    feedback = sorted(p.relative_to(on_pg.course) for p in (on_pg.course / "feedback").rglob("*"))
    assert feedback == sorted(
        p.relative_to(term.course) for p in (term.course / "feedback").rglob("*")
    )
    # what the students fetched through the exchange is the same page
    for student in EXCHANGE_STUDENTS:
        page = f"{MODULE}/feedback"
        assert {p.name for p in (on_pg.homes[student] / page).rglob("*.html")} == {f"{MODULE}.html"}


def _host(term_course, dest, url):
    """A grading host: its own copy of the course (release, source and the class's hand-ins,
    as the exchange's shared volume gives them), with the shared gradebook in its config."""
    skip = shutil.ignore_patterns("autograded", "feedback", "reports", "gradebook.db")
    host = shutil.copytree(term_course, dest, ignore=skip)
    with open(host / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.CourseDirectory.db_url = {url!r}\n")
    return host


def _genlab(host, *args):
    command = [sys.executable, "-m", "genlab.grader.cli", "grade", MODULE, "--course", str(host)]
    return command + list(args)


def _start(host, shard: str, out, *more) -> subprocess.Popen:
    with open(out, "w") as output:
        return subprocess.Popen(
            _genlab(host, "--shard", shard, "--workers", "1", *more), stdout=output, stderr=output
        )


def _grade(host, shard: str) -> str:
    done = subprocess.run(
        _genlab(host, "--shard", shard, "--workers", "1"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    return done.stdout


def _wait_for(condition, host: subprocess.Popen, out) -> None:
    deadline = time.monotonic() + 600
    while not condition():
        assert host.poll() is None, f"the host stopped first:\n{out.read_text()[-3000:]}"
        assert time.monotonic() < deadline, "the host never got there"
        time.sleep(0.1)


def _kill_tree(host: subprocess.Popen) -> list[int]:
    """A host dies: its grading process, the workers, their kernels and judges, at once.

    Only while it runs: once it has ended and been reaped, its pid may be another process's
    (pids wrap around quickly here), whose whole tree this would kill: the kernel of another
    test's student, say.
    """
    if host.poll() is not None:
        return []
    try:
        parent = psutil.Process(host.pid)  # ours and not reaped: the pid is still the host's
        family = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    for process in family:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=30)
    return [p.pid for p in family]


def test_the_shards_are_disjoint_cover_the_class_and_do_not_depend_on_the_interpreter():
    students = [f"s{i:04d}" for i in range(500)] + list(EXCHANGE_STUDENTS) + list(LMS_NAMES)
    for n in (1, 2, 3, 7):
        owners = [[k for k in range(1, n + 1) if in_shard(s, (k, n))] for s in students]
        assert all(len(o) == 1 for o in owners)
        sizes = [sum(o == [k] for o in owners) for k in range(1, n + 1)]
        assert min(sizes) > 0.6 * len(students) / n  # spread, not all on one host
    # CRC-32, fixed for ever: a host running another Python or hash seed agrees
    assert [s for s in sorted([*EXCHANGE_STUDENTS, *LMS_NAMES]) if in_shard(s, (1, 2))] == [
        "ada", "eve", "fay"
    ]  # fmt: skip


@pytest.mark.parametrize("shard", ["0/2", "3/2", "2", "a/b", "1/0", "-1/2"])
def test_a_shard_must_be_k_of_n(shard, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["grade", MODULE, "--course", str(tmp_path), f"--shard={shard}"])
    assert stopped.value.code == 2
    assert "a shard is k/n with 1 <= k <= n" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["grade", MODULE], ["report", MODULE], ["demo"]])
def test_without_the_graders_extra_the_command_says_how_to_install_it(command, monkeypatch, capsys):
    import importlib.util

    found = importlib.util.find_spec
    absent = lambda name, *more: None if name == "nbgrader" else found(name, *more)  # noqa: E731
    monkeypatch.setattr(importlib.util, "find_spec", absent)
    assert cli.main(command) == 2
    assert "needs nbgrader, from the grader's extra: pip install 'genlab[grader]'" in (
        capsys.readouterr().err
    )


def test_two_hosts_share_a_postgresql_gradebook_and_a_killed_host_resumes(term, postgres, tmp_path):
    url = postgres.create_database("shards")
    hosts = [_host(term.course, tmp_path / f"host{k}", url) for k in (1, 2)]
    # Once, on one host: the module into the shared gradebook (nbgrader creates its tables).
    subprocess.run(
        ["nbgrader", "generate_assignment", MODULE, "--force"],
        cwd=hosts[0], check=True, capture_output=True,
    )  # fmt: skip
    first, second = (_start(hosts[k - 1], f"{k}/2", tmp_path / f"host{k}.out") for k in (1, 2))
    try:
        # The second host (ben, cy, dee, in that order) dies while it grades cy: nbgrader
        # has written cy's folder in autograded/ (before it runs the notebook), not grades.
        begun = hosts[1] / "autograded" / "cy" / MODULE / f"{MODULE}.ipynb"
        _wait_for(lambda: begun.exists(), second, tmp_path / "host2.out")
        time.sleep(2)
        killed = _kill_tree(second)
        assert first.wait(timeout=600) == 0, (tmp_path / "host1.out").read_text()[-3000:]
    finally:
        for host in (first, second):
            _kill_tree(host)
    finished = reports_dir(hosts[1], MODULE) / "graded"
    assert sorted(p.stem for p in finished.glob("*.json")) == ["ben"]  # cy was cut short
    assert begun.exists()  # which a resume must not take for finished work
    again = _grade(hosts[1], "2/2")
    assert "2 graded, 0 failed, 1 skipped" in again  # cy and dee graded; ben kept

    # The first host regrades its shard with --force and dies on its first student, ada,
    # whose folder in autograded/ is from the finished grading before: the run after,
    # without --force, must still grade ada again.
    graded_before = (hosts[0] / "autograded" / "ada" / MODULE / f"{MODULE}.ipynb").stat()
    forced = _start(hosts[0], "1/2", tmp_path / "forced.out", "--force")
    try:
        ada = hosts[0] / "autograded" / "ada" / MODULE / f"{MODULE}.ipynb"
        _wait_for(
            lambda: ada.exists() and ada.stat().st_mtime_ns != graded_before.st_mtime_ns,
            forced,
            tmp_path / "forced.out",
        )
        time.sleep(2)
    finally:
        killed += _kill_tree(forced)
    assert "1 graded, 0 failed, 2 skipped" in _grade(hosts[0], "1/2")  # ada; eve, fay kept

    # Every grade once, and the same as the class graded on one machine.
    assert auto_scores(MODULE, course=hosts[0]) == auto_scores(MODULE, course=term.course)
    with Gradebook(url, course_id="genai") as gb:
        assert gb.db.query(Grade).count() == 6 * _grades_per_student()
        assert sorted(s.student.id for s in gb.assignment_submissions(MODULE)) == sorted(
            [*EXCHANGE_STUDENTS, *LMS_NAMES]
        )
    graded_where = {
        s: [h.name for h in hosts if (h / "autograded" / s / MODULE).is_dir()]
        for s in [*EXCHANGE_STUDENTS, *LMS_NAMES]
    }
    assert all(len(where) == 1 for where in graded_where.values()), graded_where
    # What the killed hosts' processes left in /tmp (their sandboxes' and judges' folders)
    # was removed by the processes that came after them.
    left = [
        folder.name
        for pid in killed
        if not psutil.pid_exists(pid)  # (not a pid a new grader has taken since)
        for prefix in ("genlab-grading-", "genlab-judge-")
        for folder in Path(tempfile.gettempdir()).glob(f"{prefix}{pid}-*")
    ]
    assert not left, left
