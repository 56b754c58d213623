"""How long a module takes a student, estimated the same way for every module.

    python bench/module_times.py [--bench bench/results/bench.json] [--write]

A student's time is reading, answering and waiting for the runs:
- reading: the words of every markdown cell the student reads (solution cells excluded),
  at 200 words a minute, a common figure for careful reading of technical text;
- answering: 5 minutes for each cell the student answers (a function, a value, a question);
- the runs: the module's median time from `bench/run.py` (rounded up to a minute), taken
  from its results file when one exists, otherwise the figure of the "Measured cost" table
  in docs/instructors.md.

Parts headed "Optional" (a heading with the word, down to the next heading of the same or a
higher level) are counted apart: the required path leaves them out, the whole module adds
them. The total is rounded to 5 minutes. With `--write`, each source notebook's opening
line ("*About N minutes...") is brought in line with the estimate.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
WORDS_PER_MINUTE = 200
MINUTES_PER_ANSWER = 5
# Where the measured run of each module is written down, for when no results file is given.
COST_TABLE = ROOT / "docs" / "instructors.md"
# A row of its "Measured cost" table: "| 04 Sculpting from static | 60.0 s ..."
_COST_ROW = re.compile(r"^\| (\d\d) [^|]*\| ([\d.]+) s\b", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$", re.MULTILINE)
_WORD = re.compile(r"[A-Za-z][A-Za-z']*")


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def count(nb) -> dict[str, float]:
    """Words to read and cells to answer, on the required path and in optional parts."""
    counts = {"words": 0, "optional_words": 0, "answers": 0, "optional_answers": 0}
    optional_level = None  # the level of the "Optional" heading we are under, if any
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for match in _HEADING.finditer(cell.source):
                level, title = len(match.group(1)), match.group(2)
                if optional_level is not None and level <= optional_level:
                    optional_level = None
                if optional_level is None and re.search(r"\boptional\b", title, re.I):
                    optional_level = level
        prefix = "optional_" if optional_level is not None else ""
        if _nbgrader(cell).get("solution"):
            counts[prefix + "answers"] += 1
        elif cell.cell_type == "markdown":
            counts[prefix + "words"] += len(_WORD.findall(cell.source))
    return counts


def estimate(counts: dict[str, float], run_seconds: float) -> tuple[int, int]:
    """Minutes for the required path and for the whole module, each rounded to 5."""
    run = math.ceil(run_seconds / 60)
    required = counts["words"] / WORDS_PER_MINUTE + MINUTES_PER_ANSWER * counts["answers"] + run
    extra = (
        counts["optional_words"] / WORDS_PER_MINUTE
        + MINUTES_PER_ANSWER * counts["optional_answers"]
    )
    return 5 * round(required / 5), 5 * round((required + extra) / 5)


def run_seconds(results: Path | None) -> dict[str, float]:
    """Each module's median run, from `results` where it has one, else from `COST_TABLE`."""
    table = COST_TABLE.read_text()
    seconds = {module: float(median) for module, median in _COST_ROW.findall(table)}
    if results and results.exists():
        for row in json.loads(results.read_text())["modules"]:
            if "median_seconds" in row:
                seconds[row["module"][:2]] = row["median_seconds"]
    return seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=None, help="a bench/run.py results file")
    parser.add_argument("--write", action="store_true", help="update the notebooks' first line")
    args = parser.parse_args(argv)
    seconds = run_seconds(args.bench)
    print(f"{'module':<28} {'words':>6} {'answers':>7} {'run s':>6} {'required':>8} {'all':>4}")
    for path in sorted(ROOT.glob("source/*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        counts = count(nb)
        if path.stem[:2] not in seconds:
            sys.exit(
                f"{path.stem}: no run time in the Measured cost table of "
                f"{COST_TABLE.relative_to(ROOT)}, nor in a --bench results file"
            )
        required, whole = estimate(counts, seconds[path.stem[:2]])
        words = counts["words"] + counts["optional_words"]
        answers = counts["answers"] + counts["optional_answers"]
        print(
            f"{path.stem:<28} {words:>6} {answers:>7} {seconds[path.stem[:2]]:>6.1f} "
            f"{required:>8} {whole:>4}"
        )
        if args.write:
            _write(path, nb, required, whole, counts["answers"])


def _write(path: Path, nb, required: int, whole: int, answers: int) -> None:
    how = (
        f"estimated at {WORDS_PER_MINUTE} words of reading a minute, {MINUTES_PER_ANSWER} "
        f"minutes for each of the {answers} cells you answer, and the runs"
    )
    if whole > required:
        said = f"About {required} minutes, or about {whole} with the optional parts ({how})."
    else:
        said = f"About {required} minutes ({how})."
    first = nb.cells[0]
    opening = re.compile(r"^\*About \d+ minutes[^*]*?\.(?= Part of the course)", re.M)
    new, n = opening.subn("*" + said, first.source)
    if n != 1:
        sys.exit(f"{path.name}: no '*About N minutes ... . Part of the course' line to update")
    if new != first.source:
        first.source = new
        nbformat.write(nb, path)
        print(f"  {path.name}: written")


if __name__ == "__main__":
    main()
