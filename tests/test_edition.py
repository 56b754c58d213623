"""The student edition (scripts/edition.py): what an instructor publishes for students.

Built from this repository into a scratch folder, the edition must hold release/, the
runtime without its grader, what installs it (pyproject.toml, Binder's environment.yml),
the licence and a README for students, and nothing of source/, the hidden tests or the
grader. The check that guards it must find nothing in the edition as built, and must
report each kind of leak planted in a copy. Last, module 01 runs from a copy of the
edition in a fresh virtual environment that has only what the edition installs.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from course import ROOT, modules, read, script, solved, source_notebook

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli, pytest's own TOML parser, is the same
    import tomli as tomllib

edition_script = script("scripts/edition.py", "edition_script")
MODULES = modules()
FIRST = MODULES[0]
TOP = {"release", "genlab", "pyproject.toml", "environment.yml", "README.md", "LICENSE"}
CACHES = {"__pycache__", ".ipynb_checkpoints"}
# the CPU build of PyTorch the course pins everywhere (the Colab-like environment's too)
TORCH = next(
    line
    for line in (ROOT / "tests" / "colab-runtime.txt").read_text().splitlines()
    if line.startswith("torch==")
)


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("edition") / "judging-to-creating"
    edition_script.build(out)
    return out


@pytest.fixture(scope="module")
def secrets():
    return edition_script.secrets()


def _files(root: Path, skip=()) -> dict[str, bytes]:
    """{path from root: bytes} of every file, caches and the folders in `skip` left out."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and not CACHES & set(p.parts)
        and not p.name.endswith(".pyc")
        and p.relative_to(root).parts[0] not in skip
        and not any(part.endswith(".egg-info") for part in p.parts)
    }


# ---------------------------------------------------------------------------
# What is there, what is not


def test_the_edition_holds_release_the_runtime_and_what_installs_them(edition):
    top = {p.name for p in edition.iterdir()}
    linked_docs = (edition / "docs").exists()
    assert top == TOP | ({"docs"} if linked_docs else set())
    if linked_docs:  # only the pages of measured claims the README links to
        assert [p.name for p in (edition / "docs").iterdir()] == ["modules"]
    assert _files(edition / "release") == _files(ROOT / "release"), "release/ copied as it is"
    runtime = _files(ROOT / "genlab", skip={"grader"})
    assert _files(edition / "genlab") == runtime, "genlab/ copied without its grader"
    assert {"emma.txt.gz", "deepfakes.npz", "gpt/checkpoints.pt"} <= set(runtime), (
        "the package's data come along"
    )
    assert (edition / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()


@pytest.mark.parametrize(
    "absent",
    ["source", "tests", "genlab/grader", "nbgrader_config.py", "bench", "scripts", "Makefile"],
)
def test_the_edition_leaves_out(edition, absent):
    assert not (edition / absent).exists()


def test_nothing_in_the_edition_gives_an_answer_away(edition, secrets):
    assert edition_script.check(edition) == []
    # the check has something to look for: secrets of every module, of every kind
    for module in MODULES:
        kinds = {s.where.split(", ")[1] for s in secrets if s.where.startswith(module)}
        assert kinds == {"solution", "hidden test", "model answer"}, module
        assert sum(s.where.startswith(module) for s in secrets) > 50, module


def test_the_runtime_imports_neither_the_grader_nor_nbgrader(edition):
    assert edition_script.grader_imports(edition) == []


def test_the_edition_installs_only_the_runtime(edition):
    mine = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    built = tomllib.loads((edition / "pyproject.toml").read_text())
    project = built["project"]
    assert (project["name"], project["version"]) == ("genlab", mine["version"])
    assert project["dependencies"] == mine["dependencies"]
    assert not [d for d in project["dependencies"] if "nbgrader" in d]
    assert "optional-dependencies" not in project and "scripts" not in project
    assert built["tool"]["setuptools"]["packages"]["find"] == {
        "include": ["genlab*"],
        "exclude": ["genlab.grader*"],
    }
    data = built["tool"]["setuptools"]["package-data"]
    shipped = {
        f"{package.replace('.', '/')}/{name}" for package, names in data.items() for name in names
    }
    not_python = {p for p in _files(edition, skip={"release"}) if p.startswith("genlab/")}
    assert shipped == {p for p in not_python if not p.endswith(".py")}
    assert "grader" not in json.dumps(data)


def test_binder_builds_the_runtime_and_jupyterlab_only(edition):
    lines = (edition / "environment.yml").read_text().splitlines()
    listed = {
        edition_script.requirement_name(line[4:])
        for line in lines[lines.index("dependencies:") + 1 :]
        if line.startswith("  - ") and not line.endswith(":")
    }
    runtime = {
        edition_script.CONDA_NAMES.get(n, n)
        for n in map(
            edition_script.requirement_name,
            edition_script.pyproject(ROOT)["project"]["dependencies"],
        )
    }
    assert listed == runtime | {"python", "pip", "jupyterlab"}
    assert lines[-2:] == ["  - pip:", "      - ."], "Binder installs the edition itself"


def test_the_readme_is_for_students_and_every_link_leads_somewhere(edition):
    readme = (edition / "README.md").read_text()
    assert "instructors -->" not in readme
    # no line that only the instructors' blocks of this repository's README hold
    mine = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^<!-- instructors -->\n(.*?)^<!-- /instructors -->$", mine, re.S | re.M)
    for_instructors = {line for block in blocks for line in block.splitlines() if line.strip()}
    for_students = set(edition_script.strip_instructors(mine, "README.md").splitlines())
    assert not (for_instructors - for_students) & set(readme.splitlines())
    assert edition_script.dead_links(edition) == []
    assert edition_script.missing_links(edition) == []


# ---------------------------------------------------------------------------
# The check fails when it should: one leak planted at a time in a copy of the edition


def _plant_line(edition, secrets, kind):
    """A line of `kind` (the first with a quote, so a notebook escapes it) appended to a
    runtime file; the problem the check must report."""
    secret = next(s for s in secrets if s.where.endswith(kind) and '"' in s.text)
    with open(edition / "genlab" / "checks.py", "a") as f:
        f.write(f"\n# {secret.text}\n")
    return f"genlab/checks.py holds a line of {secret.where}"


def _plant_in_a_notebook(edition, secrets):
    secret = next(s for s in secrets if s.where.endswith("hidden test") and '"' in s.text)
    path = edition / "release" / FIRST / f"{FIRST}.ipynb"
    nb = read(path)
    nb.cells.append(nbformat.v4.new_code_cell(f"x = 1\n    {secret.text}  # kept\n"))
    nbformat.write(nb, path)
    return f"release/{FIRST}/{FIRST}.ipynb holds a line of {secret.where}"


def _plant_a_key(edition, secrets):
    secret = next(s for s in secrets if edition_script.KEY.match(s.text))
    (edition / "README.md").write_text((edition / "README.md").read_text() + secret.text + "\n")
    return f"README.md holds a line of {secret.where}: {secret.text}"


def _plant_a_model_answer(edition, secrets):
    answer = max(
        (s for s in secrets if s.where.endswith("model answer")), key=lambda s: len(s.text)
    )
    (edition / "answers.md").write_text(answer.text)
    return f"answers.md holds a line of {answer.where}"


def _plant_the_source(edition, secrets):
    shutil.copytree(ROOT / "source" / FIRST, edition / "source" / FIRST)
    return "source must not be in an edition"


def _plant_the_grader(edition, secrets):
    shutil.copytree(ROOT / "genlab" / "grader", edition / "genlab" / "grader")
    return "genlab/grader must not be in an edition"


def _plant_a_grader_import(edition, secrets):
    path = edition / "genlab" / "lm" / "__init__.py"
    path.write_text(path.read_text() + "\nfrom ..grader import cli\n")
    return "imports genlab.grader"


def _plant_a_dead_link(edition, secrets):
    readme = edition / "README.md"
    readme.write_text(readme.read_text() + "\nSee [the grader](docs/instructors.md).\n")
    return "README.md links to docs/instructors.md"


PLANTS = {
    "hidden-test line in the runtime": lambda e, s: _plant_line(e, s, "hidden test"),
    "solution line in the runtime": lambda e, s: _plant_line(e, s, "solution"),
    "hidden-test line in a release notebook": _plant_in_a_notebook,
    "multiple-choice key in the README": _plant_a_key,
    "model answer in a new file": _plant_a_model_answer,
    "source/": _plant_the_source,
    "genlab/grader/": _plant_the_grader,
    "runtime importing the grader": _plant_a_grader_import,
    "link to what the edition leaves out": _plant_a_dead_link,
}


@pytest.mark.parametrize("plant", PLANTS)
def test_the_check_reports_a_planted_leak(plant, edition, secrets, tmp_path):
    copy = shutil.copytree(edition, tmp_path / "edition")
    expected = PLANTS[plant](copy, secrets)
    problems = edition_script.check(copy)
    assert any(expected in problem for problem in problems), (expected, problems[:5])


# ---------------------------------------------------------------------------
# Building


def test_header_names_the_version_and_the_edition_of_pyproject_and_nothing_else(tmp_path):
    """A fork with another address and version: `header` rewrites the COURSE_PACKAGE line
    only, and writing it again changes nothing."""
    shutil.copy(ROOT / "release_header.ipynb", tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nversion = "9.1.0"\n[tool.genlab]\nedition = "someone/fork"\n'
    )
    assert edition_script.write_header(tmp_path)
    before, after = (
        read(folder / "release_header.ipynb").cells[0].source.splitlines()
        for folder in (ROOT, tmp_path)
    )
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert [b for _, b in changed] == [
        'COURSE_PACKAGE = "genlab @ git+https://github.com/someone/fork@v9.1.0"'
    ]
    assert not edition_script.write_header(tmp_path), "the same input, the same bytes"
    (tmp_path / "pyproject.toml").write_text('[project]\nversion = "9.1.0"\n')
    with pytest.raises(edition_script.EditionError, match=r"\[tool.genlab\] edition"):
        edition_script.header_text(tmp_path)


def test_the_readme_loses_its_instructor_blocks_and_links_to_what_is_left_out(tmp_path):
    text = "\n".join(
        [
            "# Course",
            "",
            "[Set up](#set-up) and [grade](#grading); [modules](docs/modules/01.md).",
            "![shot](artifacts/shot.png)",
            "",
            "<!-- instructors -->",
            "## Grading",
            "Secret ways.",
            "<!-- /instructors -->",
            "",
            "## Set up",
            "```",
            "[not a link](tests/x.py)",
            "```",
        ]
    )
    stripped = edition_script.strip_instructors(text, "README.md")
    assert "Grading" not in stripped and "Secret" not in stripped
    assert "\n\n\n" not in stripped, "one blank line where the block was"
    fixed, dead = edition_script.fix_links(stripped, tmp_path / "README.md", tmp_path)
    assert dead == ["#grading", "docs/modules/01.md", "artifacts/shot.png"]
    assert fixed.splitlines()[2] == "[Set up](#set-up) and grade; modules."
    assert "[not a link](tests/x.py)" in fixed, "code is left as it is"
    for broken in ("<!-- instructors -->\nx", "x\n<!-- /instructors -->"):
        with pytest.raises(edition_script.EditionError, match="instructors"):
            edition_script.strip_instructors(broken, "README.md")


def test_text_for_the_edition_only_is_a_comment_here_and_shown_there():
    text = "\n".join(
        ["## Set up", "<!-- instructors -->", "make lab", "<!-- /instructors -->"]
        + ["<!-- edition", "pip install .", "-->", "End."]
    )
    assert edition_script.strip_instructors(text, "README.md") == "## Set up\npip install .\nEnd."
    with pytest.raises(edition_script.EditionError, match="edition"):
        edition_script.strip_instructors("<!-- edition\nnever closed", "README.md")
    readme = (ROOT / "README.md").read_text()
    assert "\n<!-- edition\n" in readme, "the README keeps the edition's set-up as a comment"


def test_build_refuses_a_folder_it_must_not_delete(tmp_path):
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    for out, reason in [
        (ROOT, "repository itself"),
        (ROOT.parent, "repository itself"),
        (ROOT / "source" / "edition", "inside source/"),
        (mine, "not empty"),
    ]:
        with pytest.raises(edition_script.EditionError, match=reason):
            edition_script.build(out)
    assert (mine / "keep.txt").read_text() == "mine"


def test_build_replaces_an_earlier_edition(edition, tmp_path):
    out = shutil.copytree(edition, tmp_path / "edition")
    (out / "stale.txt").write_text("from an earlier build")
    (out / ".git").mkdir()  # built into a clone of the public repository
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    edition_script.build(out)
    assert not (out / "stale.txt").exists()
    assert (out / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n", "the clone survives"
    shutil.rmtree(out / ".git")
    assert _files(out) == _files(edition)
    empty_clone = tmp_path / "clone"
    (empty_clone / ".git").mkdir(parents=True)
    edition_script.build(empty_clone)  # a fresh clone of the empty public repository
    assert (empty_clone / "release").is_dir() and (empty_clone / ".git").is_dir()


# ---------------------------------------------------------------------------
# Module 01, run from the edition in a fresh environment with only what it installs

RUNNER = """
import json, sys
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

# this environment's kernel, whatever kernel specs the machine has elsewhere
specs, notebook = sys.argv[1], sys.argv[2]
with open(f"{specs}/venv/kernel.json", "w") as f:
    json.dump({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
               "display_name": "venv", "language": "python"}, f)
km = KernelManager(kernel_name="venv", kernel_spec_manager=KernelSpecManager(kernel_dirs=[specs]))
nb = nbformat.read(notebook, as_version=4)
NotebookClient(nb, km=km, timeout=600, resources={"metadata": {"path": "."}}).execute()
nbformat.write(nb, notebook)
"""

REPORT = """
import importlib.util, json, os, sys
from importlib import resources
import genlab
print(json.dumps({
    "genlab": genlab.__file__,
    "prefix": sys.prefix,
    "cwd": os.getcwd(),
    "absent": [m for m in ("genlab.grader", "nbgrader") if importlib.util.find_spec(m)],
    "data": sorted(p.name for p in resources.files("genlab").iterdir() if p.is_file()
                   and not p.name.endswith(".py")),
}))
"""


def _environment() -> dict:
    """os.environ without this repository's environment: no .venv on PATH, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    path = [p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(ROOT))]
    env["PATH"] = os.pathsep.join(path)
    return env


@pytest.mark.edition
def test_module_01_runs_from_the_edition_in_a_fresh_environment(edition, tmp_path):
    started = time.monotonic()
    student = shutil.copytree(edition, tmp_path / "judging-to-creating")  # a clone of it
    venv = tmp_path / "venv"
    env = _environment()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    python = str(venv / "bin" / "python")
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    # the edition, PyTorch as the course pins it, and what runs a notebook
    # (--no-compile: byte-compiling torch's files would add half a minute)
    install = [python, "-m", "pip", "install", "--quiet", "--no-compile", str(student)]
    install.append(TORCH)
    done = subprocess.run(
        [*install, "nbclient", "ipykernel"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    installed = time.monotonic()

    folder = student / "release" / FIRST
    nb = solved(read(folder / f"{FIRST}.ipynb"), read(source_notebook(FIRST)))
    nb.cells.append(nbformat.v4.new_code_cell(REPORT))
    notebook = folder / "finished.ipynb"  # a student's finished work, beside the release
    nbformat.write(nb, notebook)
    (tmp_path / "kernels" / "venv").mkdir(parents=True)
    done = subprocess.run(
        [python, "-c", RUNNER, str(tmp_path / "kernels"), notebook.name],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ran = read(notebook)
    report = json.loads(ran.cells[-1].outputs[-1].text)

    assert Path(report["prefix"]) == venv, "the kernel is the fresh environment's"
    assert Path(report["genlab"]).is_relative_to(venv), report["genlab"]
    assert not report["genlab"].startswith(str(ROOT)), "genlab from the edition, not this repo"
    assert Path(report["cwd"]) == folder
    assert report["absent"] == [], f"{report['absent']} must not be installed"
    data = sorted(
        p.name for p in (edition / "genlab").iterdir() if p.is_file() and p.suffix != ".py"
    )
    assert report["data"] == data, "the package's data are installed with it"
    print(f"install {installed - started:.0f} s, run {time.monotonic() - installed:.0f} s")
