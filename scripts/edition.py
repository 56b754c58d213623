"""Build the student edition: the tree an instructor publishes for students.

This repository holds everything: the source notebooks with their solutions and hidden
tests, the grader, the tests. Students get a public copy of part of it, the *edition*, at
the GitHub repository named by `[tool.genlab] edition` in pyproject.toml, tagged
`v<version>` for each `[project] version`. The commands:

    python scripts/edition.py header       # release_header.ipynb, for this version
    python scripts/edition.py build OUT    # the edition in OUT, checked (`make edition`)
    python scripts/edition.py check OUT    # the check alone, on a tree already built

`header` rewrites the COURSE_PACKAGE line of release_header.ipynb, the setup cell nbgrader
puts on top of every release notebook, to install `genlab` from the edition at the tag of
this version: a notebook released with version 0.2.0 installs 0.2.0 on Colab for as long
as the tag exists, never a moving branch. `make release` runs it before
`nbgrader generate_assignment`. The same input gives the same bytes.

`build` writes into OUT (emptied first but for a clone's `.git`, if it holds an earlier
edition): `release/` as it is; `genlab/` without `genlab/grader/`; a `pyproject.toml` that
installs only that runtime; an `environment.yml` for Binder with the runtime's packages
and JupyterLab; `LICENSE`; and `README.md`, this repository's README without its blocks
between the lines `<!-- instructors -->` and `<!-- /instructors -->`, its relative links
to what the edition leaves out made plain text (`docs/modules/` comes along when the
README links into it). Then it checks what it wrote, and empties it again and exits with 1 if
any of it gives something away: a file of `source/`, `tests/` or the grader, a line of a
solution or of a hidden test, a model answer, an import of the grader in the runtime, a
link that leads nowhere.

What it leaves out: `source/`, `tests/`, `bench/`, `scripts/`, the grader and its
templates, nbgrader's configuration (the edition has no nbgrader: students check their
work with the cell under each exercise), the Makefile, and anything graded. It does not
publish: commit OUT to the edition's repository, then tag it `v<version>`.
"""

import argparse
import ast
import gzip
import io
import json
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

# nbgrader's regions, as the source notebooks use them (code and markdown cells alike)
from genlab.grader.handins import REGION

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli, pytest's own TOML parser, is the same
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
HEADER = "release_header.ipynb"
RUNTIME = "genlab"
GRADER = "grader"  # genlab/grader/: what only the grading server runs
# The first line of the edition's pyproject.toml: how `build` knows OUT holds an edition it
# may delete.
STAMP = "# The student edition of the course, written by scripts/edition.py"
DOCS = "docs/modules"  # copied when the README links into it
LICENSE = "LICENSE"
# Never part of an edition: the answer key, the grader, its configuration, the tests, and
# what grading makes (student data).
FORBIDDEN = (
    "source",
    "tests",
    f"{RUNTIME}/{GRADER}",
    "nbgrader_config.py",
    "gradebook.db",
    "submitted",
    "autograded",
    "feedback",
    "exchange",
    "downloaded",
    "reports",
)
CACHES = ("__pycache__", "*.pyc", "*.egg-info", ".ipynb_checkpoints", ".DS_Store")
CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge name, where they differ
# A region's line shorter than this is syntax, a literal or an idiom (`return out`,
# `means = []`, `e = np.exp(z)`, `patterns = [`, `break`): any file may hold it and it gives
# nothing away; the runtime's own code holds several. Every region of the six modules has a
# longer line, which any copy of it carries. Multiple-choice keys are short but checked.
MIN_SECRET = 16
KEY = re.compile(r"""^Q\d+ = ["'][a-z]["']$""")  # `Q3 = "a"`: found as a whole line only


class EditionError(Exception):
    """What stops the script: the message says what is wrong and how to fix it."""


# ---------------------------------------------------------------------------
# The one place the version and the edition's address are set: pyproject.toml


@dataclass(frozen=True)
class Settings:
    version: str  # [project] version, e.g. "0.2.0"; the edition's tag is v<version>
    edition: str  # [tool.genlab] edition: "owner/name" of the edition on GitHub

    @property
    def course_package(self) -> str:
        """What the setup cell pip-installs on Colab: the runtime at this version's tag."""
        return f"genlab @ git+https://github.com/{self.edition}@v{self.version}"


def pyproject(root: Path) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text())


def settings(root: Path = ROOT) -> Settings:
    """The version and the edition's address, from the repository's pyproject.toml."""
    config = pyproject(root)
    edition = config.get("tool", {}).get("genlab", {}).get("edition")
    if not edition:
        raise EditionError(
            'pyproject.toml has no [tool.genlab] edition = "owner/name": add the GitHub '
            "repository the student edition is published to"
        )
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", edition):
        raise EditionError(f'[tool.genlab] edition = "{edition}" is not "owner/name"')
    version = config["project"]["version"]
    if not re.fullmatch(r"[\w.+-]+", version):
        raise EditionError(f'[project] version = "{version}" cannot name a git tag')
    return Settings(version=version, edition=edition)


# ---------------------------------------------------------------------------
# The setup cell on top of every release notebook


def header_text(root: Path = ROOT) -> str:
    """release_header.ipynb as `header` writes it: the file as it is, with its
    COURSE_PACKAGE line naming this version of the edition."""
    path = root / HEADER
    nb = nbformat.read(path, as_version=4)
    (cell,) = nb.cells
    lines = cell.source.split("\n")
    found = [i for i, line in enumerate(lines) if line.startswith("COURSE_PACKAGE = ")]
    if len(found) != 1:
        raise EditionError(f"{HEADER} needs exactly one COURSE_PACKAGE line, found {len(found)}")
    lines[found[0]] = f'COURSE_PACKAGE = "{settings(root).course_package}"'
    cell.source = "\n".join(lines)
    out = io.StringIO()
    nbformat.write(nb, out)  # the bytes nbformat.write gives a file, as before
    return out.getvalue()


def write_header(root: Path = ROOT) -> bool:
    """Write release_header.ipynb; whether it changed."""
    path, text = root / HEADER, header_text(root)
    if path.read_text() == text:
        return False
    path.write_text(text)
    return True


def stale_release(root: Path) -> list[str]:
    """Why release/ cannot go out as it is: a setup cell that is not this version's."""
    text = header_text(root)
    if (root / HEADER).read_text() != text:
        return [f"{HEADER} is not this version's: run `make release` and commit it"]
    (setup,) = nbformat.reads(text, as_version=4).cells
    stale = []
    for path in sorted((root / "release").glob("*/*.ipynb")):
        first = nbformat.read(path, as_version=4).cells[0]
        if first.source != setup.source:
            stale.append(f"{path.relative_to(root)} does not open with {HEADER}'s cell")
    if stale:
        stale.append("run `make release` and commit release/")
    return stale


# ---------------------------------------------------------------------------
# What the edition holds


def build(out: Path, root: Path = ROOT) -> list[str]:
    """Write the edition into `out` and check it; what was made plain text in its pages.

    Raises EditionError (and deletes `out`) if the check finds anything."""
    out = out.resolve()
    refuse(out, root)
    problems = stale_release(root)
    if problems:
        raise EditionError("release/ is not ready:\n  " + "\n  ".join(problems))
    _clear(out)
    shutil.copytree(root / "release", out / "release", ignore=shutil.ignore_patterns(*CACHES))
    copy_runtime(root / RUNTIME, out / RUNTIME)
    shutil.copy2(root / LICENSE, out / LICENSE)
    (out / "pyproject.toml").write_text(edition_pyproject(root, out / RUNTIME))
    (out / "environment.yml").write_text(environment_yml(root))
    readme = strip_instructors((root / "README.md").read_text(), "README.md")
    if (root / DOCS).is_dir() and re.search(rf"\]\({re.escape(DOCS)}/", readme):
        copy_docs(root / DOCS, out / DOCS)
    (out / "README.md").write_text(readme)
    unlinked = []
    for page in sorted(out.rglob("*.md")):
        text, dead = fix_links(page.read_text(), page, out)
        page.write_text(text)
        unlinked += [f"{page.relative_to(out)}: {target}" for target in dead]
    problems = check(out, root)
    if problems:
        _clear(out)
        raise EditionError(
            f"{_problems(problems)}, so {out} was deleted:\n  " + "\n  ".join(problems)
        )
    return unlinked


def _clear(out: Path) -> None:
    """An empty `out`, but for its `.git`: the edition may be built into a clone of its
    public repository, then committed and tagged there."""
    out.mkdir(parents=True, exist_ok=True)
    for child in out.iterdir():
        if child.name == GIT:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def refuse(out: Path, root: Path) -> None:
    """Raise EditionError if deleting `out` could lose something: the repository, what the
    edition is made from, or a folder that holds anything but an earlier edition."""
    root = root.resolve()
    if out == root or out in root.parents:
        raise EditionError(f"{out} holds the repository itself: choose another folder")
    for folder in ("source", "release", RUNTIME, "docs", "tests"):
        if out.is_relative_to(root / folder):
            raise EditionError(f"{out} is inside {folder}/, which the edition is made from")
    if out.is_file() or out.is_dir() and any(c.name != GIT for c in out.iterdir()):
        stamp = out / "pyproject.toml"
        if not (stamp.is_file() and stamp.read_text().startswith(STAMP)):
            raise EditionError(
                f"{out} is not empty and holds no edition built by this script: "
                "remove it yourself or choose another folder"
            )


def copy_runtime(src: Path, dest: Path) -> None:
    """genlab/ as students install it: everything but the grader and caches."""

    def ignore(folder, names):
        ignored = shutil.ignore_patterns(*CACHES)(folder, names)
        if Path(folder) == src:
            ignored |= {GRADER} & set(names)
        return ignored

    shutil.copytree(src, dest, ignore=ignore)


def copy_docs(src: Path, dest: Path) -> None:
    """docs/modules/: the pages of measured claims the README links to."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*CACHES))
    for page in dest.rglob("*.md"):
        page.write_text(strip_instructors(page.read_text(), str(page.relative_to(dest.parent))))


def package_data(runtime: Path) -> dict[str, list[str]]:
    """Every file of the runtime that is not Python, by the package that holds it."""
    found: dict[str, list[str]] = {}
    for path in sorted(runtime.rglob("*")):
        if path.is_dir() or path.suffix == ".py":
            continue
        package = path.parent
        while not (package / "__init__.py").exists() and package != runtime:
            package = package.parent
        name = ".".join(package.relative_to(runtime.parent).parts)
        found.setdefault(name, []).append(path.relative_to(package).as_posix())
    return found


def edition_pyproject(root: Path, runtime: Path) -> str:
    """pyproject.toml of the edition: the runtime alone, at this repository's version,
    with its dependencies and data; no extras, no scripts, no grader."""
    project = pyproject(root)["project"]
    license_ = project.get("license", {"text": "MIT"})
    if isinstance(license_, dict):
        license_ = "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in license_.items()) + " }"
    else:
        license_ = _toml(license_)
    title = (root / "README.md").read_text().split("\n", 1)[0].removeprefix("# ")
    description = f"The helper package of the course '{title}': what its notebooks import."
    dependencies = "".join(f"    {_toml(d)},\n" for d in project["dependencies"])
    data = "".join(
        f"{_toml(package)} = [{', '.join(_toml(f) for f in files)}]\n"
        for package, files in package_data(runtime).items()
    )
    return f"""{STAMP}
# from the course repository's pyproject.toml: edit that one, then build again.
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = {_toml(project["name"])}
version = {_toml(project["version"])}
description = {_toml(description)}
readme = "README.md"
license = {license_}
requires-python = {_toml(project["requires-python"])}
dependencies = [
{dependencies}]

[tool.setuptools.packages.find]
include = ["{RUNTIME}*"]
exclude = ["{RUNTIME}.{GRADER}*"]

[tool.setuptools.package-data]
{data}"""


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!\[~;]", requirement.strip(), maxsplit=1)[0].lower()


def environment_yml(root: Path) -> str:
    """environment.yml for Binder: the repository's, keeping only the runtime's packages,
    Python, pip and JupyterLab, and installing the edition itself."""
    names = {requirement_name(r) for r in pyproject(root)["project"]["dependencies"]}
    wanted = {CONDA_NAMES.get(n, n) for n in names}
    keep = wanted | {"python", "pip", "jupyterlab"}
    lines = (root / "environment.yml").read_text().splitlines()
    head = [line for line in lines[: lines.index("dependencies:")] if not line.startswith("#")]
    kept = []
    for line in lines[lines.index("dependencies:") + 1 :]:
        item = re.match(r"^  - ([A-Za-z][\w.-]*)[^:]*$", line)
        if item and item[1].lower() in keep:
            kept.append(line)
    missing = wanted - {requirement_name(line[4:]) for line in kept}
    if missing:
        raise EditionError(f"environment.yml lists no {sorted(missing)}, which genlab needs")
    return "\n".join(
        [
            "# What Binder builds for the student edition of the course (written by",
            "# scripts/edition.py from the course repository's environment.yml): the packages",
            "# of genlab, CPU-only PyTorch from conda-forge, JupyterLab, and genlab itself.",
            *head,
            "dependencies:",
            *kept,
            "  - pip:",
            "      - .",
            "",
        ]
    )


# ---------------------------------------------------------------------------
# The pages: the README without what is for instructors, and no link that leads nowhere

OPEN, CLOSE = "<!-- instructors -->", "<!-- /instructors -->"
GIT = ".git"  # a clone's history, kept when the edition is built into a clone
# [text](target "title") and ![alt](target), with one level of brackets inside the text
# (a badge inside a link)
LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(([^()\s]+)((?:\s+\"[^\"]*\")?)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


# Text for the edition only, kept in this repository's pages as an HTML comment that opens
# with a line EDITION and closes with a line END: the edition keeps what lies between.
EDITION, END = "<!-- edition", "-->"


def strip_instructors(text: str, name: str) -> str:
    """The text without its blocks between the lines OPEN and CLOSE, both included, and
    with its blocks between EDITION and END shown (their two marker lines removed)."""
    text = _reveal_edition(text, name)
    kept, inside = [], None
    for number, line in enumerate(text.split("\n"), start=1):
        marker = line.strip()
        if marker == OPEN:
            if inside:
                raise EditionError(f"{name}:{number}: {OPEN} inside the block opened at {inside}")
            inside = number
        elif marker == CLOSE:
            if not inside:
                raise EditionError(f"{name}:{number}: {CLOSE} closes no block")
            inside = None
            if kept and kept[-1] == "":  # one blank line where the block was
                kept.pop()
        elif not inside:
            kept.append(line)
    if inside:
        raise EditionError(f"{name}:{inside}: {OPEN} has no {CLOSE}")
    return "\n".join(kept)


def _reveal_edition(text: str, name: str) -> str:
    kept, inside = [], None
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip() == EDITION:
            if inside:
                raise EditionError(
                    f"{name}:{number}: {EDITION} inside the block opened at {inside}"
                )
            inside = number
        elif inside and line.strip() == END:
            inside = None
        else:
            kept.append(line)
    if inside:
        raise EditionError(f"{name}:{inside}: {EDITION} has no {END}")
    return "\n".join(kept)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _outside_fences(text: str):
    """(index, line) of every line that is not inside a fenced code block."""
    fenced = False
    for index, line in enumerate(text.split("\n")):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            yield index, line


def anchors(text: str) -> set[str]:
    return {slug(m[1]) for _, line in _outside_fences(text) if (m := re.match(r"#+ (.+)", line))}


def resolves(target: str, page: Path, edition: Path, page_anchors: set[str]) -> bool:
    """Whether a link of `page` leads somewhere inside the edition (or off the site)."""
    if re.match(r"^([a-z][a-z0-9+.-]*:|//)", target, re.I):
        return True  # an address on the web: not the edition's business
    path, _, fragment = target.partition("#")
    if not path:
        return fragment in page_anchors
    found = (page.parent / path.split("?")[0]).resolve()
    return found.is_relative_to(edition.resolve()) and found.exists()


def fix_links(text: str, page: Path, edition: Path) -> tuple[str, list[str]]:
    """The page with each link that leads nowhere in the edition made plain text (an
    image: removed); and those links' targets."""
    lines, dead, known = text.split("\n"), [], anchors(text)

    def replace(match):
        image, label, target = match[1], match[2], match[3]
        if resolves(target, page, edition, known):
            return match[0]
        dead.append(target)
        return "" if image else label

    for index, line in _outside_fences(text):
        lines[index] = LINK.sub(replace, line)
    return "\n".join(lines), dead


def dead_links(edition: Path) -> list[str]:
    found = []
    for page in sorted(edition.rglob("*.md")):
        text = page.read_text()
        known = anchors(text)
        for _, line in _outside_fences(text):
            for match in LINK.finditer(line):
                if not resolves(match[3], page, edition, known):
                    found.append(f"{page.relative_to(edition)} links to {match[3]}, not in it")
    return found


# ---------------------------------------------------------------------------
# The check: nothing of the answer key, the hidden tests or the grader in the edition


@dataclass(frozen=True)
class Secret:
    text: str  # a line of a region, stripped; or a markdown answer, whole
    where: str  # "02-next-token, hidden test"

    def found_in(self, contents: str) -> bool:
        if KEY.match(self.text):  # `Q3 = "a"` is inside the public `# Q3 = "a", "b", ...`
            return re.search(rf"(?m)^[ \t]*{re.escape(self.text)}[ \t]*$", contents) is not None
        return self.text in contents


def secrets(root: Path = ROOT) -> list[Secret]:
    """What no file of an edition may hold, from every source notebook: each line of a
    solution or hidden-test region, and each markdown model answer whole.

    A line is left out when public text holds it too, where it tells nothing: the same
    notebook outside its regions, any release notebook, the setup cell, or the runtime's
    own code (`rng = np.random.default_rng(seed)`, an error message a docstring
    promises); and when it is shorter than MIN_SECRET, unless it is a multiple-choice key.
    """
    public = _public_text(root)
    found: dict[str, Secret] = {}
    for path in sorted((root / "source").glob("*/*.ipynb")):
        if path.stem != path.parent.name:
            continue
        nb = nbformat.read(path, as_version=4)
        outside = "\n".join(REGION.sub("", cell.source) for cell in nb.cells)
        for cell in nb.cells:
            for match in REGION.finditer(cell.source):
                where = f"{path.stem}, {match[1].lower().replace('tests', 'test')}"
                candidates = [line.strip() for line in match[2].splitlines()]
                if cell.cell_type == "markdown":
                    where = f"{path.stem}, model answer"
                    candidates.append(match[2].strip())
                for text in candidates:
                    long_enough = len(text) >= MIN_SECRET or KEY.match(text)
                    if not long_enough or text in found:
                        continue
                    secret = Secret(text, where)
                    if not secret.found_in(outside) and not secret.found_in(public):
                        found[text] = secret
    return list(found.values())


def _public_text(root: Path) -> str:
    """Release notebooks, the setup cell and the runtime's code: published anyway."""
    parts = [contents(p) for p in sorted((root / "release").glob("*/*.ipynb"))]
    parts.append(contents(root / HEADER))
    for path in sorted((root / RUNTIME).rglob("*.py")):
        if GRADER not in path.relative_to(root / RUNTIME).parts[:1]:
            parts.append(path.read_text())
    return "\n".join(parts)


def contents(path: Path) -> str:
    """Everything a file holds as text: gzip and zip (npz) unpacked, and a notebook's
    (or JSON file's) strings decoded, where an answer would be escaped in the raw file."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if zipfile.is_zipfile(io.BytesIO(raw)):
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            raw = b"\n".join(archive.read(name) for name in archive.namelist())
    text = raw.decode("utf-8", errors="replace")
    if path.suffix in (".ipynb", ".json"):
        try:
            text += "\n" + "\n".join(_strings(json.loads(text)))
        except ValueError:
            pass
    return text


def _strings(value):
    """Every string of parsed JSON; a list of strings (a notebook's lines) joined."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        yield "".join(value)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def forbidden(edition: Path) -> list[str]:
    return [f"{name} must not be in an edition" for name in FORBIDDEN if (edition / name).exists()]


def leaks(edition: Path, root: Path = ROOT) -> list[str]:
    """Every secret (see `secrets`) any file of the edition holds, one line each."""
    found, secret_list = [], secrets(root)
    files = (p for p in edition.rglob("*") if p.is_file())
    for path in sorted(p for p in files if GIT not in p.relative_to(edition).parts):
        text, name = contents(path), path.relative_to(edition)
        held = [secret for secret in secret_list if secret.found_in(text)]
        for secret in held[:3]:
            shown = secret.text if len(secret.text) < 80 else secret.text[:77] + "..."
            found.append(f"{name} holds a line of {secret.where}: {shown}")
        if len(held) > 3:
            found.append(f"{name} holds {len(held) - 3} more such lines")
    return found


def grader_imports(edition: Path) -> list[str]:
    """Imports, in the edition's runtime, of what it does not ship: genlab.grader, nbgrader."""
    found = []
    for path in sorted((edition / RUNTIME).rglob("*.py")):
        package = ".".join(path.relative_to(edition).parent.parts)
        try:
            tree = ast.parse(path.read_text(), str(path))
        except (SyntaxError, UnicodeDecodeError) as error:
            found.append(f"{path.relative_to(edition)} is not Python students can import: {error}")
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # from .grader import x, from .. import grader
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                names = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for name in names:
                if name.split(".")[:1] == ["nbgrader"] or name.split(".")[:2] == [RUNTIME, GRADER]:
                    where = f"{path.relative_to(edition)}:{node.lineno}"
                    found.append(f"{where} imports {name}, which students do not have")
                    break
    return found


def missing_links(edition: Path, root: Path = ROOT) -> list[str]:
    """The README's Colab link of each module and its Binder badge, to this edition."""
    if not (edition / "README.md").is_file():
        return ["README.md is missing"]
    readme, repo = (edition / "README.md").read_text(), settings(root).edition
    missing = []
    modules = sorted(p.parent.name for p in (edition / "release").glob("*/*.ipynb"))
    for module in modules:
        path = f"release/{module}/{module}.ipynb"
        colab = f"https://colab.research.google.com/github/{repo}/blob/main/{path}"
        if colab not in readme:
            missing.append(f"README.md has no Colab link of {module}: {colab}")
    if modules:
        first = f"release/{modules[0]}/{modules[0]}.ipynb"
        binder = f"https://mybinder.org/v2/gh/{repo}/main?urlpath=lab/tree/{first}"
        if binder not in readme:
            missing.append(f"README.md has no Binder link to the edition: {binder}")
    return missing


def check(edition: Path, root: Path = ROOT) -> list[str]:
    """Everything wrong with an edition; empty when it may be published."""
    return (
        forbidden(edition)
        + leaks(edition, root)
        + grader_imports(edition)
        + dead_links(edition)
        + missing_links(edition, root)
    )


def _problems(problems: list[str]) -> str:
    return f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"


# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("header", help=f"write {HEADER} for this version")
    for name, text in (
        ("build", "build the edition into OUT, then check it"),
        ("check", "check OUT"),
    ):
        commands.add_parser(name, help=text).add_argument("out", type=Path, metavar="OUT")
    args = parser.parse_args(argv)

    if args.command == "header":
        changed = write_header()
        print(f"{HEADER}: {settings().course_package} ({'written' if changed else 'unchanged'})")
    elif args.command == "build":
        unlinked = build(args.out)
        for line in unlinked:
            print(f"made plain text, not in the edition: {line}")
        s = settings()
        print(f"{args.out}: the student edition {s.version}, checked: commit it to {s.edition}")
        print(f"and tag it v{s.version} (the setup cell installs {s.course_package})")
    else:
        if not args.out.is_dir():
            raise EditionError(f"{args.out} is not a folder")
        problems = check(args.out.resolve())
        if problems:
            raise EditionError(f"{_problems(problems)}:\n  " + "\n  ".join(problems))
        print(f"{args.out}: nothing of source/, the hidden tests or the grader")


if __name__ == "__main__":
    try:
        main()
    except EditionError as error:
        sys.exit(f"edition: {error}")
