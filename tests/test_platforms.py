"""How students open the course: the setup cell every release notebook starts with, README's
Colab and Binder links, and `nbgrader validate` as their own check before handing in.

The Colab environment itself is tests/test_colab.py; JupyterLab in a browser is
tests/test_browser.py.
"""

import re
import subprocess

import nbformat
import pytest
from course import (
    HEADER,
    ROOT,
    STUB,
    autograded_cells,
    hand_ins,
    modules_run,
    nbgrader_meta,
    read,
    release_notebook,
    script,
)
from nbclient import NotebookClient

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli, pytest's own TOML parser, is the same
    import tomli as tomllib

MODULES = modules_run()
# The setup cell installs the student edition at this version's tag, never a branch; both
# are set in pyproject.toml only ([project] version, [tool.genlab] edition), and
# scripts/edition.py writes them into release_header.ipynb.
PACKAGE = re.compile(
    r'^COURSE_PACKAGE = "genlab @ git\+https://github\.com/(?P<repo>[\w.-]+/[\w.-]+)'
    r'@v(?P<version>[\w.+-]+)"$',
    re.MULTILINE,
)
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
EDITION = PYPROJECT["tool"]["genlab"]["edition"]


def _setup_cell():
    (cell,) = read(HEADER).cells
    return cell


def test_the_setup_cell_installs_this_version_of_the_edition():
    found = PACKAGE.search(_setup_cell().source)
    assert found, "COURSE_PACKAGE names genlab at a version tag of the edition on GitHub"
    assert (found["repo"], found["version"]) == (EDITION, VERSION), (
        "COURSE_PACKAGE must install this version from [tool.genlab] edition: `make release`"
    )


def test_the_setup_cell_is_what_scripts_edition_writes():
    edition = script("scripts/edition.py", "edition_script")
    assert HEADER.read_text() == edition.header_text(), (
        f"{HEADER.name} is out of date: `make release` rewrites it and release/"
    )


def test_every_release_notebook_opens_with_the_setup_cell():
    setup = _setup_cell()
    for module in MODULES:
        first = read(release_notebook(module)).cells[0]
        assert (first.cell_type, first.source) == ("code", setup.source), module


def test_the_setup_cell_does_nothing_outside_colab():
    probe = "print(sorted(k for k in globals() if not k.startswith('_') and k.isupper()))"
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(_setup_cell().source), nbformat.v4.new_code_cell(probe)]
    )
    NotebookClient(nb, kernel_name="python3", timeout=60).execute()
    assert nb.cells[0].outputs == [], "no pip, no message, no error"
    assert nb.cells[1].outputs[0].text == "['COURSE_PACKAGE']\n"


def test_readme_opens_every_module_in_colab_and_the_course_on_binder():
    """The README's links open the published edition (at main: the README is the
    edition's too, and a link names no version)."""
    readme = (ROOT / "README.md").read_text()
    for module in MODULES:
        path = f"release/{module}/{module}.ipynb"
        colab = f"https://colab.research.google.com/github/{EDITION}/blob/main/{path}"
        assert colab in readme, f"README needs the Colab link of {module}: {colab}"
    first = f"release/{MODULES[0]}/{MODULES[0]}.ipynb"
    binder = f"https://mybinder.org/v2/gh/{EDITION}/main?urlpath=lab/tree/{first}"
    assert f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder})" in readme


def _validate(nb, tmp_path) -> str:
    """`nbgrader validate` on a notebook, as a student runs it in the course: its report."""
    path = tmp_path / "handed-in.ipynb"
    nbformat.write(nb, path)
    done = subprocess.run(
        ["nbgrader", "validate", str(path)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.notebooks
def test_validate_passes_the_reference_solution(tmp_path):
    report = _validate(hand_ins(MODULES[0])["reference"], tmp_path)
    assert report.strip() == "Success! Your notebook passes all the tests."


@pytest.mark.notebooks
def test_validate_tells_an_untouched_release_what_is_missing(tmp_path):
    """The report's form, on the first module. That every module's untouched release fails
    each graded cell, the unwritten functions saying so, test_autograde.py reads from the
    untouched hand-in it grades: the same cells, run once."""
    module = MODULES[0]
    release = read(release_notebook(module))
    graded = [c for c in release.cells if nbgrader_meta(c).get("grade")]
    report = _validate(release, tmp_path)
    assert report.startswith(f"VALIDATION FAILED ON {len(graded)} CELL(S)!")
    # each failing cell comes with its error: the test's hint, the stub's "not written yet",
    # or for a written answer nbgrader's "You did not provide a response."
    assert report.count("The following cell failed:") == report.count("The error was:")
    assert report.count("The error was:") == len(graded)
    assert STUB in report
    written = len(graded) - len(autograded_cells(release))
    assert report.count("You did not provide a response.") == written
