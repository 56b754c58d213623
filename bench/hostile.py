"""Grading the hostile corpus: time and peak memory of each hand-in of tests/hostile.py.

Each hand-in is graded alone, with plain `nbgrader autograde <module> --student <id>` in a
scratch course, with the settings of its test (a cell may run 15 s, so each loop costs 15 s;
module 01's judge setup gets 8 s, the other modules' the default). While it runs, the
process tree of that command is sampled every 0.1 s: the peak memory (PSS, so that pages
forked processes share count once) of the whole tree (nbgrader, the judge's sandbox and the
submission's) and of what runs in bwrap. Where the sandboxes have memory cgroups, the peaks
the kernel counted for each (all their memory, socket buffers included) are read from
nbgrader's log too. Results go to bench/results/hostile.json.

    python bench/hostile.py [--only module/case ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
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
from hostile import (  # noqa: E402
    M01,
    Canary,
    hand_in,
    module_01_cases,
    module_cases,
    outside,
    rows,
    unmet,
)

CONFIG = "\nc.Execute.timeout = 15\n"
SETTINGS = {M01: ["--GradingExecute.setup_timeout=8"]}  # as in tests/test_hostile.py
PEAK = re.compile(r"Peak memory grading \S+: (?:submission (\d+) MB)?(?:, )?(?:judge (\d+) MB)?")


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
    parser.add_argument("--only", nargs="*", help="module/case, e.g. 01-judging-vs-creating/exits")
    args = parser.parse_args()
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"  # nbgrader runs alembic

    with tempfile.TemporaryDirectory() as scratch:
        course = copy_course(Path(scratch) / "genai")
        outside(course)
        canary = Canary(Path(scratch) / "outside" / "canary.sock")
        classes = {M01: module_01_cases(canary.path), **module_cases(canary.path)}
        with open(course / "nbgrader_config.py", "a") as config:
            config.write(CONFIG)
        subprocess.run(
            [BIN / "nbgrader", "generate_assignment", "*", "--force", "--log-level=ERROR"],
            cwd=course,
            check=True,
        )
        results = []
        for module, cases in classes.items():
            for student, case in cases.items():
                if args.only and f"{module}/{student}" not in args.only:
                    continue
                hand_in(course, module, student, case)
                start = time.perf_counter()
                command = subprocess.Popen(
                    [BIN / "nbgrader", "autograde", module, "--student", student, "--force"]
                    + SETTINGS.get(module, []),
                    cwd=course,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                peak = Peak(command.pid)
                log = command.communicate()[1]
                peak.stop()
                seconds = time.perf_counter() - start
                counted = [
                    max((int(m[i]) for m in PEAK.findall(log) if m[i]), default=None)
                    for i in (0, 1)
                ]
                row = rows(course, module, [student])[student]
                result = {
                    "module": module,
                    "case": student,
                    "what": case.why,
                    "as_expected": unmet(row, module, case.expected) is None,
                    "points": sum(score or 0 for score, _, _ in row.values()),
                    "exit": command.returncode,
                    "seconds": round(seconds, 1),
                    "peak_mb": round(peak.total),
                    "sandbox_peak_mb": round(peak.sandbox),
                    "cgroup_peak_mb": {"submission": counted[0], "judge": counted[1]},
                }
                results.append(result)
                print(
                    f"{module[:2]} {student:>20}  {'ok ' if result['as_expected'] else 'BAD'} "
                    f"{result['points']:5.1f} pts  exit {command.returncode}  {seconds:6.1f} s  "
                    f"peak {result['peak_mb']:5d} MB (bwrap {result['sandbox_peak_mb']} MB; "
                    f"counted: submission {counted[0]}, judge {counted[1]} MB)",
                    flush=True,
                )
    out = ROOT / "bench" / "results" / "hostile.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "cases": results}, indent=1))
    worst = max(results, key=lambda r: r["peak_mb"])
    print(
        f"{len(results)} cases in {sum(r['seconds'] for r in results):.0f} s; "
        f"worst peak {worst['peak_mb']} MB ({worst['module'][:2]}/{worst['case']}); "
        f"{sum(not r['as_expected'] for r in results)} not as expected; results in {out}"
    )


if __name__ == "__main__":
    main()
