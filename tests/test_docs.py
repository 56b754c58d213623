"""The pages in docs/ stay true to the tree and to each other: the layout names every file of
the package and no file that is gone, and each module's page gives the cost that the
instructors' table measured."""

from __future__ import annotations

import re

from course import ROOT, modules

DOCS = ROOT / "docs"
PACKAGE = ROOT / "genlab"


def _layout_blocks() -> str:
    """The code blocks of docs/layout.md: the trees."""
    return "\n".join(re.findall(r"^```\n(.*?)^```", (DOCS / "layout.md").read_text(), re.S | re.M))


def test_the_layout_names_every_file_of_the_package():
    trees = _layout_blocks()
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__init__.py":
            continue
        if not re.search(rf"(?<![\w.]){re.escape(path.name)}\b", trees):
            missing.append(str(path.relative_to(ROOT)))
    folders = {p.parent.relative_to(PACKAGE).parts[0] for p in PACKAGE.glob("*/__init__.py")}
    missing += [f"genlab/{f}/" for f in sorted(folders) if f"{f}/" not in trees]
    assert missing == [], f"docs/layout.md does not name {missing}"


def test_the_layout_names_no_file_that_is_gone():
    names = set(re.findall(r"(?<![\w/.])([\w]+\.py)\b", _layout_blocks()))
    present = {p.name for p in ROOT.rglob("*.py") if ".venv" not in str(p)}
    assert names and names <= present, f"docs/layout.md names {sorted(names - present)}"


def _cost_rows() -> dict[str, tuple[str, str, list[str]]]:
    """Module number -> (time, memory, redraw figures) of the Measured cost table."""
    rows = {}
    for line in (DOCS / "instructors.md").read_text().splitlines():
        found = re.match(r"^\| (\d\d) [^|]+\| ([\d.]+ s)[^|]*\| (\d+ MB) \| ([^|]+)\|$", line)
        if found:
            rows[found[1]] = (found[2], found[3], re.findall(r"\d+", found[4]))
    return rows


def test_each_module_page_gives_the_measured_cost_of_the_table():
    rows = _cost_rows()
    assert sorted(rows) == [m[:2] for m in modules()], "a row per module"
    for module in modules():
        page = (DOCS / "modules" / f"{module}.md").read_text()
        seconds, memory, redraws = rows[module[:2]]
        assert f"runs in {seconds}" in page, (module, seconds)
        assert memory in page, (module, memory)
        (line,) = [line for line in page.splitlines() if "redraw" in line]
        said = re.sub(r"p(50|95)", "", line.partition("redraw")[2])
        assert re.findall(r"\d+", said) == redraws, (module, line)
