"""Estimate each module's time: 200 words a minute of reading, 5 minutes an answer cell,
plus the module's run (the bench's median, rounded up to a minute). Print; with --write,
put it in the notebooks that still say 'About 60 minutes'."""
import math, re, sys
from pathlib import Path
import nbformat
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from course import modules, nbgrader_meta, source_notebook

RUN = {"01": 5.1, "02": 27.5, "03": 42.0, "04": 49.8, "05": 20.1, "06": 23.0}
out = {}
for m in modules():
    path = source_notebook(m)
    nb = nbformat.read(path, as_version=4)
    words = sum(len(re.findall(r"[A-Za-z][A-Za-z']*", c.source)) for c in nb.cells
                if c.cell_type == "markdown" and not nbgrader_meta(c).get("solution"))
    answers = sum(1 for c in nb.cells if nbgrader_meta(c).get("solution"))
    minutes = words / 200 + 5 * answers + math.ceil(RUN[m[:2]] / 60)
    total = int(5 * round(minutes / 5))
    out[m] = (words, answers, total)
    print(m, words, answers, round(minutes, 1), total)
    if "--write" in sys.argv:
        for c in nb.cells:
            if c.cell_type == "markdown" and "About 60 minutes" in c.source:
                c.source = c.source.replace(
                    "About 60 minutes",
                    f"About {total} minutes (estimated at 200 words of reading a minute, "
                    f"5 minutes for each of the {answers} cells you answer, and the runs)",
                )
                nbformat.write(nb, path)
                print("  written")
                break
