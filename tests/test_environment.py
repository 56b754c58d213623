"""Dependencies that hold: environment.yml names the same packages as pyproject.toml; every
package the code imports is declared in the extra that needs it; the install is pinned by
constraints.txt; the supported Pythons are the ones the compatibility run covers."""

import ast
import re
import sys
from importlib.metadata import packages_distributions

import tomllib
from course import ROOT
from packaging.requirements import Requirement

CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge name, where they differ


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!\[~;]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = {_name(r) for r in project["dependencies"] + extras["lab"] + extras["grader"]}
    wanted = {CONDA_NAMES.get(n, n) for n in wanted}
    lines = (ROOT / "environment.yml").read_text().splitlines()
    dependencies = lines[lines.index("dependencies:") + 1 :]
    listed = {_name(line[4:]) for line in dependencies if re.match(r"^  - [a-z-]+[^:]*$", line)}
    assert wanted == listed - {"python", "pip"}
    assert "      - -e ." in lines, "Binder must install the course package itself"
    assert "conda-forge" in (ROOT / "environment.yml").read_text()
    assert "build='cpu*'" in (ROOT / "environment.yml").read_text(), "PyTorch must be the CPU build"


def test_python_range_and_ci_use_the_readme_test_command():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10,<3.14"
    compat = re.search(r"^COMPAT_VERSIONS \?= (.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert compat and compat[1].split() == ["3.10", "3.12", "3.13"], "oldest, and the newest two"
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def _imported(files) -> set[str]:
    """Top-level names of the third-party packages that `files` import (lazily or not), but
    for the fallbacks of older Pythons (an import in an `except ModuleNotFoundError:`)."""
    names = set()
    for path in files:
        tree = ast.parse(path.read_text())
        fallbacks = {
            id(inner)
            for handler in ast.walk(tree)
            if isinstance(handler, ast.ExceptHandler)
            for inner in ast.walk(handler)
        }
        for node in ast.walk(tree):
            if id(node) in fallbacks:
                continue
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "genlab"}


def _distributions(modules: set[str]) -> set[str]:
    found = packages_distributions()
    missing = sorted(m for m in modules if m not in found)
    assert not missing, f"imported but not installed: {missing}"
    return {_name(d).replace("_", "-") for m in modules for d in found[m]}


def _declared(*groups: str) -> set[str]:
    """The distributions pyproject.toml declares, in `groups` and the runtime's, for this
    Python (a requirement marked for older Pythons only is left out)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for group in groups:
        requirements += project["optional-dependencies"][group]
    return {
        _name(r).replace("_", "-")
        for r in requirements
        if Requirement(r).marker is None or Requirement(r).marker.evaluate()
    }


def test_every_imported_package_is_declared_where_it_is_needed():
    genlab = ROOT / "genlab"
    runtime = [p for p in genlab.rglob("*.py") if "grader" not in p.relative_to(genlab).parts]
    grader = list((genlab / "grader").rglob("*.py"))
    undeclared = _distributions(_imported(runtime)) - _declared()
    assert not undeclared, f"the students' runtime imports {undeclared}: declare in dependencies"
    undeclared = _distributions(_imported(grader)) - _declared("grader")
    assert not undeclared, f"the grader imports {undeclared}: declare in the grader extra"
    tools = [*(ROOT / "tests").glob("*.py"), *(ROOT / "bench").glob("*.py")]
    tools += (ROOT / "scripts").glob("*.py")
    local = {p.stem for p in tools}  # the tests' own helpers (course, hostile, pgserver, ...)
    undeclared = _distributions(_imported(tools) - local)
    undeclared -= _declared("grader", "lab", "dev")
    assert not undeclared, f"tests, bench or scripts import {undeclared}: declare in dev"


def test_the_install_is_pinned_by_the_constraints_file():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*-c \$\(CONSTRAINTS\).* -e \"\.\[grader,lab,dev\]\"", makefile)
    assert re.search(r"^CONSTRAINTS \?= constraints\.txt$", makefile, re.M)
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt pins exact versions only: {line}"
            pins[_name(name).replace("_", "-")] = version
    declared = _declared("grader", "lab", "dev") - {"torch"}  # torch: pinned by the Makefile
    assert not declared - set(pins), f"not pinned: {sorted(declared - set(pins))}"
    assert "genlab" not in pins and "torch" not in pins
    # CI installs through the Makefile, so with these pins, and installs nothing by itself
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.findall(r"^make (\w+)$", ci, re.M) == ["compat", "test"]
    assert not re.search(r"\bpip\b", ci) and "CONSTRAINTS" not in ci
