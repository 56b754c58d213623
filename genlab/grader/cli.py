"""The instructor's command, `genlab`: grade a module's hand-ins, release their feedback,
report on the class, or play a synthetic term (`genlab demo`).

`genlab grade <module> --workers 2 [--shard k/n]`, `genlab release-feedback <module>`,
`genlab report <module>`, `genlab demo`; each takes `--course` (default: here). The work is
done by `genlab.grader.classroom` and `genlab.grader.demo`; this module only parses.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="genlab", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    g = commands.add_parser("grade", help="autograde every submission of a module in parallel")
    g.add_argument("module")
    g.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes (default: one per core)"
    )
    g.add_argument("--force", action="store_true", help="grade again what was graded before")
    g.add_argument("--student", action="append", help="only this student (repeatable)")
    g.add_argument(
        "--shard",
        metavar="K/N",
        help="only the K-th of N disjoint shards of the students: N hosts sharing one "
        "gradebook on a database server each run one (1/N ... N/N)",
    )
    g.add_argument("--course", default=".", help="the course directory (default: here)")
    f = commands.add_parser(
        "release-feedback", help="release feedback to the exchange's students; list the LMS's"
    )
    f.add_argument("module")
    f.add_argument("--course", default=".")
    r = commands.add_parser("report", help="grades.csv, per-question means and a histogram")
    r.add_argument("module")
    r.add_argument("--course", default=".")
    d = commands.add_parser(
        "demo", help="a synthetic class of module 01, graded from release to feedback"
    )
    d.add_argument("--dir", help="where to build it (default: a new temporary folder)")
    d.add_argument("--workers", type=int, default=2)
    d.add_argument(
        "--db",
        metavar="URL",
        help="the gradebook: an empty database, as nbgrader's db_url takes it "
        "(default: SQLite in the demo's course)",
    )
    args = parser.parse_args(argv)
    # installed without the grader's extra? (found, not imported: nbgrader takes seconds)
    absent = [m for m in ("nbgrader", "nbformat") if importlib.util.find_spec(m) is None]
    if absent:
        print(
            f"genlab {args.command} needs {absent[0]}, from the grader's extra: "
            "pip install 'genlab[grader]'",
            file=sys.stderr,
        )
        return 2
    from genlab.grader.classroom import (
        grade,
        in_shard,
        parse_shard,
        release_feedback,
        report,
        reports_dir,
    )

    if args.command == "grade":
        try:
            shard = parse_shard(args.shard) if args.shard else None
        except ValueError as error:
            parser.error(str(error))
        elsewhere = [s for s in args.student or [] if not in_shard(s, shard)]
        if elsewhere:
            parser.error(f"not in shard {args.shard}: {', '.join(elsewhere)}")
        summary = grade(
            args.module,
            course=args.course,
            workers=args.workers,
            force=args.force,
            students=args.student,
            shard=shard,
        )
        print(summary)
        print(f"  log: {reports_dir(Path(args.course).resolve(), args.module) / 'grading.log'}")
        return 1 if summary.having("failed") else 0
    if args.command == "release-feedback":
        released, for_the_lms = release_feedback(args.module, course=args.course)
        print(f"released through the exchange: {', '.join(released) or 'nobody'}")
        if for_the_lms:
            print(
                f"handed in through the LMS (upload feedback/<student>/{args.module}/ there): "
                + ", ".join(for_the_lms)
            )
        return 0
    if args.command == "report":
        print(report(args.module, course=args.course))
        return 0
    if args.db and "%" in args.db:  # nbgrader copies it into an alembic.ini, which reads % itself
        parser.error("nbgrader cannot take a database URL with a % in it")
    from genlab.grader.demo import run_demo  # nbformat's import takes a second: only here

    run_demo(args.dir, workers=args.workers, db_url=args.db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
