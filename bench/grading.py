"""Grading a class, module by module: nbgrader's serial autograde, `genlab grade --workers N`
and the floor, as ratios.

For each module a scratch course gets a class of hand-ins built by
`genlab.grader.handins.class_of` (by default 4 per module: two right, one partly right, one
handed in as released; `--students` changes it). Three ways to process them are timed from
the command line, each on a fresh copy:

* `nbgrader autograde <module>`: nbgrader's serial grading, what instructors run today;
* `genlab grade <module> --workers N`: the same nbgrader grading in N processes;
* the floor: the same notebooks executed with nbclient and nothing else (no sandbox, no
  judge, no sanitising, no gradebook), in N processes with the thread limits `genlab grade`
  sets.

It checks that both gradings wrote the same scores, and reports per module the ratio of
`genlab grade` to the floor (target: at most 1.3 with 2 workers) and its speed-up over
serial. What this leaves out: submissions that time out (each costs the cell limit).

    python bench/grading.py [--module M ...] [--students 4] [--workers 2]
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

MODULES = sorted(p.name for p in (Path(__file__).resolve().parents[1] / "source").iterdir()
                 if p.is_dir() and (p / f"{p.name}.ipynb").exists())  # fmt: skip

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
    kinds = [work["ada"], work["ben"], work["cy"], work["dee"]]  # right, partly, released, right
    for i in range(students):
        folder = dest / "submitted" / f"s{i:02d}" / module
        folder.mkdir(parents=True)
        nbformat.write(kinds[i % len(kinds)], folder / f"{module}.ipynb")
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


def measure(module: str, students: int, workers: int, serial_floor: bool = False) -> dict:
    """Time the three ways on one module's class; the result as `bench/results` keeps it."""
    with tempfile.TemporaryDirectory(prefix="genlab-bench-") as tmp:
        base = _course(Path(tmp) / "base", module, students)
        serial, parallel = (
            shutil.copytree(base, Path(tmp) / name) for name in ("serial", "parallel")
        )
        notebooks = sorted(str(p) for p in base.glob(f"submitted/*/{module}/*.ipynb"))
        times = {}
        if serial_floor:
            times["floor, 1 process"] = _floor(notebooks, 1)
        times["floor"] = _floor(notebooks, workers)
        times["nbgrader autograde"] = _timed([BIN / "nbgrader", "autograde", module], serial)
        times["genlab grade"] = _timed(
            [BIN / "genlab", "grade", module, "--workers", str(workers)], parallel
        )
        scores = auto_scores(module, course=parallel)
        same = scores == auto_scores(module, course=serial)
    return {
        "module": module,
        "submissions": students,
        "seconds": {k: round(v, 1) for k, v in times.items()},
        "ratio_to_floor": round(times["genlab grade"] / times["floor"], 2),
        "serial_to_floor": round(times["nbgrader autograde"] / times["floor"], 2),
        "speed_up_over_serial": round(times["nbgrader autograde"] / times["genlab grade"], 2),
        "same_scores": same,
        "grades_compared": len(scores),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", nargs="*", default=MODULES, help="default: every module")
    parser.add_argument("--students", type=int, default=4, help="hand-ins per module")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serial-floor", action="store_true", help="also the 1-process floor")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "grading.json"))
    args = parser.parse_args()
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"  # nbgrader runs alembic

    header = (
        f"{'module':<24} {'hand-ins':>8} {'floor':>7} {'nbgrader':>9} {'genlab':>7} "
        f"{'genlab/floor':>12} {'nbgrader/floor':>14}"
    )
    print(f"{args.workers} workers, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(header)
    rows = []
    for module in args.module:
        row = measure(module, args.students, args.workers, args.serial_floor)
        rows.append(row)
        t = row["seconds"]
        cells = [
            f"{module:<24}",
            f"{row['submissions']:>8}",
            f"{t['floor']:>6.1f}s",
            f"{t['nbgrader autograde']:>8.1f}s",
            f"{t['genlab grade']:>6.1f}s",
            f"{row['ratio_to_floor']:>11.2f}x",
            f"{row['serial_to_floor']:>13.2f}x",
        ]
        print(" ".join(cells) + ("" if row["same_scores"] else "  DIFFERENT SCORES"), flush=True)
    result = {
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "target_ratio_to_floor": 1.3,
        "modules": rows,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    if not all(row["same_scores"] for row in rows):
        sys.exit("the parallel grading wrote different scores from nbgrader's serial one")


if __name__ == "__main__":
    main()
