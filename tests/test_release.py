"""release/ is generated from source/, byte for byte, and gives nothing away."""

import re
import subprocess

import pytest
from course import (
    RELEASE,
    ROOT,
    copy_course,
    hidden_lines,
    modules,
    read,
    release_notebook,
    source_notebook,
)

MODULES = modules()
FIX = "regenerate it with `make release` and commit release/"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """A scratch course whose release/ was deleted and regenerated twice by `make release`."""
    course = copy_course(tmp_path_factory.mktemp("course") / "genai")
    subprocess.run(["rm", "-rf", "release"], cwd=course, check=True)
    command = ["nbgrader", "generate_assignment", "*", "--force", "--log-level=WARN"]
    for _ in range(2):  # the second run must not change anything either
        subprocess.run(command, cwd=course, check=True, capture_output=True, text=True)
    return course


def test_release_is_made_by_the_make_target():
    makefile = (ROOT / "Makefile").read_text()
    assert 'nbgrader generate_assignment "*" --force --log-level=WARN' in makefile


def test_release_holds_exactly_the_modules_of_source():
    assert sorted(p.name for p in RELEASE.iterdir() if p.is_dir()) == MODULES, FIX


def test_release_is_in_sync_with_source(regenerated):
    def files(root):
        return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    committed, fresh = files(RELEASE), files(regenerated / "release")
    differ = sorted(
        str(p) for p in committed.keys() | fresh.keys() if committed.get(p) != fresh.get(p)
    )
    assert not differ, f"release/ is out of date with source/ in {differ}: {FIX}"


@pytest.mark.parametrize("module", MODULES)
def test_no_solution_or_hidden_test_line_reaches_release(module):
    secret = hidden_lines(read(source_notebook(module)))
    assert len(secret) > 20, "the source should hold solutions and hidden tests"
    released = release_notebook(module).read_text()
    public = {
        line.strip()
        for cell in read(release_notebook(module)).cells
        for line in cell.source.splitlines()
    }
    leaked = sorted(secret & public)
    assert not leaked, f"{len(leaked)} solution/hidden lines appear in release: {leaked[:5]}"
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in released


@pytest.mark.parametrize("module", MODULES)
def test_every_solution_cell_of_release_is_a_stub(module):
    """Every solution cell of the release is a stub that raises NotImplementedError."""
    for cell in read(release_notebook(module)).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            assert "raise NotImplementedError(" in cell.source, meta["grade_id"]


@pytest.mark.parametrize("module", MODULES)
def test_every_hidden_check_is_named_for_the_feedback(module):
    """Feedback names a failed hidden check by the `# hidden check:` comment above it (never
    by its message): every hidden region opens with one, and none gives a value away."""
    from genlab.grader.preprocessors import hidden_property, split_hidden

    for cell in read(source_notebook(module)).cells:
        _, hidden = split_hidden(cell.source)
        if not hidden:
            continue
        first = next(line for line in hidden.splitlines() if line.strip())
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        assert hidden_property(hidden, 1) and first.lstrip().startswith("# hidden check:"), (
            f"{grade_id}: its hidden region should open with a '# hidden check: ...' comment"
        )
        for line in hidden.splitlines():
            named = hidden_property(line, 1)
            if named:
                assert not re.search(r"\d", re.sub(r"\bQ\d+\b", "", named)), f"{grade_id}: {named}"
                quoted = re.search(r"(?<![A-Za-z])['\"]|['\"](?![A-Za-z])", named)
                assert not quoted, f"{grade_id}: a quoted value in {named!r}"
