"""Grading a class: `genlab grade` with N workers against nbgrader's serial autograde.

A scratch course gets 20 submissions of one module (by default module 01): a third right,
a third partly right, a third handed in as released, built by `genlab.grader.handins.class_of`.
Three ways to process them are timed from the command line, each on a fresh copy:

* `nbgrader autograde <module>`: nbgrader's serial grading, what instructors run today;
* `genlab grade <module> --workers N`: the same nbgrader grading in N processes;
* the floor: the same notebooks executed with nbclient and nothing else (no sanitising,
  no gradebook, no feedback-ready copy), serially and in N processes with the thread
  limits `genlab grade` sets.

It checks that both gradings wrote the same scores, and reports the speed-up over serial
(target: at least 1.7 with 2 workers) and the ratio to the N-process floor (target: at
most 1.5). What this leaves out: submissions that time out (each costs the cell limit).

    python bench/grading.py [--module M] [--students 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from genlab.grader.classroom import THREAD_VARIABLES, auto_scores
from genlab.grader.handins import class_of, scratch_course

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _course(dest: Path, module: str, students: int) -> Path:
    scratch_course(dest, module)
    subprocess.run(
        [BIN / "nbgrader", "generate_assignment", module, "--log-level=ERROR"],
        cwd=dest,
        check=True,
    )
    release = nbformat.read(dest / "release" / module / f"{module}.ipynb", as_version=4)
    source = nbformat.read(dest / "source" / module / f"{module}.ipynb", as_version=4)
    work = class_of(release, source)
    kinds = [work["ada"], work["ben"], work["cy"]]  # right, partly right, as released
    for i in range(students):
        folder = dest / "submitted" / f"s{i:02d}" / module
        folder.mkdir(parents=True)
        nbformat.write(kinds[i % 3], folder / f"{module}.ipynb")
    return dest


def _timed(args: list, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, capture_output=True)  # exit 1 if a submission failed
    return time.perf_counter() - start


def _execute(path: str) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=120, allow_errors=True, resources={"metadata": {"path": str(Path(path).parent)}}
    )
    client.execute()


def _floor(notebooks: list[str], workers: int) -> float:
    start = time.perf_counter()
    if workers == 1:
        for path in notebooks:
            _execute(path)
    else:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
        os.environ.update({name: threads for name in THREAD_VARIABLES})
        try:
            with ProcessPoolExecutor(workers) as pool:
                list(pool.map(_execute, notebooks))
        finally:
            for name, value in saved.items():
                os.environ.pop(name)
                if value is not None:
                    os.environ[name] = value
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", default="01-judging-vs-creating")
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "grading.json"))
    args = parser.parse_args()
    module, n = args.module, args.students
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"  # nbgrader runs alembic

    with tempfile.TemporaryDirectory(prefix="genlab-bench-") as tmp:
        base = _course(Path(tmp) / "base", module, n)
        serial, parallel = (
            shutil.copytree(base, Path(tmp) / name) for name in ("serial", "parallel")
        )
        notebooks = sorted(str(p) for p in base.glob(f"submitted/*/{module}/*.ipynb"))
        times = {
            "floor, nbclient, 1 process": _floor(notebooks, 1),
            f"floor, nbclient, {args.workers} processes": _floor(notebooks, args.workers),
            "nbgrader autograde (serial)": _timed([BIN / "nbgrader", "autograde", module], serial),
            f"genlab grade --workers {args.workers}": _timed(
                [BIN / "genlab", "grade", module, "--workers", str(args.workers)], parallel
            ),
        }
        scores = auto_scores(module, course=parallel)
        same = scores == auto_scores(module, course=serial)
        count = len(scores)

    ours = times[f"genlab grade --workers {args.workers}"]
    result = {
        "module": module,
        "submissions": n,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "seconds": {k: round(v, 1) for k, v in times.items()},
        "speed_up_over_serial": round(times["nbgrader autograde (serial)"] / ours, 2),
        "ratio_to_floor": round(ours / times[f"floor, nbclient, {args.workers} processes"], 2),
        "ratio_to_serial_floor": round(ours / times["floor, nbclient, 1 process"], 2),
        "same_scores": same,
        "grades_compared": count,
    }
    for label, seconds in times.items():
        print(f"{label:<36} {seconds:6.1f} s")
    print(
        f"speed-up over serial: {result['speed_up_over_serial']}x (target >= 1.7); "
        f"ratio to the {args.workers}-process floor: {result['ratio_to_floor']}x (target <= 1.5); "
        f"same scores in {count} grades: {same}"
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    if not same:
        sys.exit("the parallel grading wrote different scores from nbgrader's serial one")


if __name__ == "__main__":
    main()
