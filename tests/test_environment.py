"""environment.yml (what Binder builds) names the same packages as pyproject.toml."""

import re

import tomllib
from course import ROOT

CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge name, where they differ


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!\[~;]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["lab"]}
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
    assert project["requires-python"] == ">=3.10,<3.13"
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
