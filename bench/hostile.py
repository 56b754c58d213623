"""Grading the hostile class: time and peak memory of each hand-in of tests/test_hostile.py.

Each hand-in is graded alone, with plain `nbgrader autograde <module> --student <id>` in a
scratch course (a cell may run 30 s, as in the test, so each loop costs 30 s). While it
runs, the process tree of that command is sampled every 0.1 s: the peak memory (PSS, so
that pages forked processes share count once) of the whole tree (nbgrader, the judge and
the sandboxed kernel) and of the sandboxed kernel alone (the processes under bubblewrap).
Results go to bench/results/hostile.json.

    python bench/hostile.py [--only case ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tests"))

from course import copy_course  # noqa: E402
from test_hostile import CASES, MODULE, _hand_in  # noqa: E402

from genlab.classroom import auto_scores  # noqa: E402


class Peak:
    """Peak memory (PSS) of a process tree, in MB: all of it, and what runs in bwrap."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.total = self.sandbox = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self):
        while not self._done.is_set():
            try:
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            total = sandboxed = 0
            inside = set()
            for process in tree:
                try:
                    rss = process.memory_full_info().pss  # shared pages counted once
                    if process.name() == "bwrap" or process.ppid() in inside:
                        inside.add(process.pid)
                        sandboxed += rss
                    total += rss
                except psutil.Error:
                    continue
            self.total = max(self.total, total / 2**20)
            self.sandbox = max(self.sandbox, sandboxed / 2**20)
            time.sleep(0.1)

    def stop(self):
        self._done.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(CASES))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        course = copy_course(Path(scratch) / "genai")
        with open(course / "nbgrader_config.py", "a") as config:
            config.write("\nc.Execute.timeout = 30\n")
        subprocess.run(
            [BIN / "nbgrader", "generate_assignment", MODULE, "--force", "--log-level=ERROR"],
            cwd=course,
            check=True,
        )
        rows = []
        for student in args.only:
            _hand_in(course, student)
            start = time.perf_counter()
            command = subprocess.Popen(
                [BIN / "nbgrader", "autograde", MODULE, "--student", student, "--force"],
                cwd=course,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            peak = Peak(command.pid)
            code = command.wait()
            peak.stop()
            seconds = time.perf_counter() - start
            scores = auto_scores(MODULE, course=course)
            points = sum(v or 0 for (who, _), v in scores.items() if who == student)
            rows.append(
                {
                    "case": student,
                    "expected": CASES[student][1],
                    "points": points,
                    "exit": code,
                    "seconds": round(seconds, 1),
                    "peak_mb": round(peak.total),
                    "sandbox_peak_mb": round(peak.sandbox),
                }
            )
            row = rows[-1]
            print(
                f"{student:>18}  {row['expected']:>7}  {points:5.1f} pts  exit {code}  "
                f"{seconds:6.1f} s  peak {row['peak_mb']:5d} MB  "
                f"(sandbox {row['sandbox_peak_mb']} MB)",
                flush=True,
            )
    out = ROOT / "bench" / "results" / "hostile.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps({"machine": platform.platform(), "module": MODULE, "cases": rows}, indent=1)
    )
    worst = max(rows, key=lambda r: r["peak_mb"])
    print(
        f"{len(rows)} cases in {sum(r['seconds'] for r in rows):.0f} s; "
        f"worst peak {worst['peak_mb']} MB ({worst['case']}); results in {out}"
    )


if __name__ == "__main__":
    main()
