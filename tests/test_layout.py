"""The package's layout holds: the students' runtime imports nothing of the grader, no
module imports a private name of another, no imports go round in a circle, and the
grader's use of other packages' private parts is the short list in genlab.grader.private.

Each rule is checked on the real package and, so that a check that cannot fail is caught,
on a small package built here that breaks it.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from course import ROOT

PACKAGE = ROOT / "genlab"
# What only the grading server runs; the runtime must not load any of it.
GRADING_ONLY = ("genlab.grader", "nbgrader", "nbconvert", "nbclient", "jupyter_client")


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package at `root`, by dotted name."""
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import in a module, lazy ones
    included, relative ones resolved. A name taken that is itself a module counts as one."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [alias.name for alias in node.names]
            found.append((target, names, node.lineno))
            found += [(f"{target}.{n}", [], node.lineno) for n in names if f"{target}.{n}" in known]
    return found


def graph(root: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports, with the packages that importing them
    runs first (importing a.b.c runs a and a.b), except the importer's own packages."""
    mods = modules(root)
    edges = {}
    for name, path in mods.items():
        targets = set()
        for target, _, _ in imports(name, path, set(mods)):
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in mods and not (name + ".").startswith(prefix + "."):
                    targets.add(prefix)
        edges[name] = targets - {name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of a graph, each once, as the path that closes it."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(root: Path) -> list[str]:
    """Private names one module of the package takes from another."""
    mods = modules(root)
    bad = []
    for name, path in mods.items():
        for target, names, line in imports(name, path, set(mods)):
            if target.split(".")[0] != root.name or target == name:
                continue
            taken = [f"{target}.{n}" for n in names] or [target]
            hidden = [
                t
                for t in taken
                if any(p.startswith("_") and not p.startswith("__") for p in t.split("."))
            ]
            bad += [f"{path.relative_to(root.parent)}:{line} takes {t}" for t in hidden]
    return bad


def topic_of(name: str, root: Path) -> str | None:
    """The topic a module belongs to: a subpackage of the runtime (not the grader)."""
    parts = name.split(".")
    if len(parts) > 1 and (root / parts[1]).is_dir() and parts[1] != "grader":
        return parts[1]
    return None


def reaching_into_topics(root: Path) -> list[str]:
    """Imports of another topic's inner modules: a topic is used through its __init__."""
    mods = modules(root)
    bad = []
    for name, path in mods.items():
        for target, _, line in imports(name, path, set(mods)):
            theirs = topic_of(target, root)
            inner = target.count(".") >= 2
            if theirs and inner and theirs != topic_of(name, root) and target in mods:
                bad.append(f"{path.relative_to(root.parent)}:{line} reaches into {target}")
    return bad


def grader_imports(root: Path) -> list[str]:
    """Imports of the grader by a module of the students' runtime."""
    mods = modules(root)
    grader = f"{root.name}.grader"
    return [
        f"{path.relative_to(root.parent)}:{line} imports {target}"
        for name, path in mods.items()
        if not (name + ".").startswith(grader + ".")
        for target, _, line in imports(name, path, set(mods))
        if (target + ".").startswith(grader + ".")
    ]


# ---------------------------------------------------------------------------
# The rules, on the real package


def runtime_modules() -> list[str]:
    return [m for m in modules(PACKAGE) if not (m + ".").startswith("genlab.grader.")]


def test_the_runtime_imports_nothing_of_the_grader():
    assert grader_imports(PACKAGE) == []
    assert "genlab.lm.widget" in runtime_modules() and "genlab.grader.judge" in modules(PACKAGE)
    # and in a fresh interpreter, importing every module of the runtime loads none of it
    # (the compatibility run has no torch: the topics that need it are left out there)
    code = (
        f"import importlib, sys\nfor m in {runtime_modules()!r}:\n"
        "    try: importlib.import_module(m)\n"
        "    except ModuleNotFoundError as e:\n"
        "        if e.name != 'torch': raise\n"
        f"print(sorted(m for m in sys.modules if m.startswith({GRADING_ONLY!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", f"the runtime loaded {done.stdout}"


def test_no_module_imports_a_private_name_of_another():
    assert private_imports(PACKAGE) == []


SHARED = ("genlab", "course", "hostile", "conftest")  # what the tools may import, publicly


def private_uses(path: Path) -> list[str]:
    """A tool's imports of private names of genlab or of the tests' shared modules, of a test
    file, and its reads of private attributes of the modules it imported from them."""
    bad, bound = [], set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in SHARED:
                    bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("test_"):
                bad.append(f"{node.lineno}: imports the test file {node.module}")
            elif node.module.split(".")[0] in SHARED:
                hidden = [a.name for a in node.names if _private(a.name)]
                bad += [f"{node.lineno}: takes {node.module}.{n}" for n in hidden]
                bound |= {a.asname or a.name for a in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in bound:
                bad.append(f"{node.lineno}: reads {base.id}...{node.attr}")
    return bad


def test_the_tools_take_no_private_name_of_the_package_or_of_the_tests(tmp_path):
    """bench/ and scripts/ use genlab's public names and the tests' shared modules' public ones."""
    tools = [*(ROOT / "bench").glob("*.py"), *(ROOT / "scripts").glob("*.py")]
    assert {p.name for p in tools} >= {"run.py", "latency.py", "hostile.py", "edition.py"}
    assert {str(p.relative_to(ROOT)): private_uses(p) for p in tools if private_uses(p)} == {}
    broken = tmp_path / "tool.py"
    broken.write_text(
        "import genlab.live as live\nfrom course import _secret, copy_course\n"
        "from test_hostile import CONFIG\nlive._LIVE.clear()\ncopy_course._cache\n"
    )
    assert sorted(private_uses(broken)) == [
        "2: takes course._secret",
        "3: imports the test file test_hostile",
        "4: reads live..._LIVE",
        "5: reads copy_course..._cache",
    ]


TOPICS = (
    "classifiers",
    "lm",
    "gan",
    "diffusion",
    "ingredients",
    "gpt",
    "families",
    "risks",
    "assistant",
)


def test_a_topic_is_used_through_its_init():
    assert reaching_into_topics(PACKAGE) == []
    for topic in TOPICS:
        try:
            package = importlib.import_module(f"genlab.{topic}")
        except ModuleNotFoundError as missing:  # the compatibility run has no torch
            if missing.name != "torch":
                raise
            continue
        inner = [m for m in modules(PACKAGE) if m.startswith(f"genlab.{topic}.")]
        public = {
            n
            for m in inner
            for n in getattr(importlib.import_module(m), "__all__", [])
            if m.rsplit(".", 1)[1]
            in ("model", "figures", "widget", "measure", "recall", "scaling", "rivals")
        }
        assert set(package.__all__) == public, topic
        assert all(hasattr(package, n) for n in package.__all__), topic


def test_no_import_circles():
    edges = graph(PACKAGE)
    assert "genlab.lm" in edges["genlab.ingredients.recall"]  # the graph sees imports
    assert "genlab.lm.model" in edges["genlab.lm.widget"]  # relative ones too
    assert "genlab.lm" not in edges["genlab.lm.widget"]  # but for the importer's own
    assert cycles(edges) == []


def test_each_topic_keeps_its_model_figures_and_widget_together():
    for topic in TOPICS:
        folder = PACKAGE / topic
        assert (folder / "figures.py").exists() and (folder / "widget.py").exists(), topic
        init = (folder / "__init__.py").read_text()
        assert "from .figures import" in init and "from .widget import" in init, topic
    shared = {p.stem for p in PACKAGE.glob("*.py")}
    assert shared == {"__init__", "checks", "data", "figures", "live", "text", "threads"}


# ---------------------------------------------------------------------------
# The same rules catch a package that breaks them


@pytest.fixture
def broken(tmp_path) -> Path:
    root = tmp_path / "pkg"
    files = {
        "__init__.py": "",
        "a.py": "from .b import helper\n",
        "b.py": "def helper(): from pkg import a\n",  # a circle, through a lazy import
        "c.py": "from pkg.a import _secret\nfrom .grader._wire import send\n",
        "topic/__init__.py": "from .model import run\n",
        "topic/model.py": "from ..a import helper\nfrom .. import c\n",
        "other/__init__.py": "from .model import go\n",
        "other/model.py": "from ..topic.model import run\nfrom ..topic import run as fine\n",
        "grader/__init__.py": "",
        "grader/_wire.py": "def send(): pass\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_checks_catch_a_package_that_breaks_them(broken):
    assert cycles(graph(broken)) == [["pkg.a", "pkg.b", "pkg.a"]]
    assert private_imports(broken) == [
        "pkg/c.py:1 takes pkg.a._secret",
        "pkg/c.py:2 takes pkg.grader._wire.send",
    ]
    assert grader_imports(broken) == ["pkg/c.py:2 imports pkg.grader._wire"]
    assert reaching_into_topics(broken) == ["pkg/other/model.py:1 reaches into pkg.topic.model"]
    assert "pkg" not in graph(broken)["pkg.topic.model"]  # a module's own packages: no edge
    assert "pkg.a" in graph(broken)["pkg.topic.model"]


# ---------------------------------------------------------------------------
# Other packages' private parts: the grader's short list


def _defined_in_genlab() -> set[str]:
    """Every private name genlab defines itself: functions, classes, attributes it sets."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)  # __slots__, setdefault("_x"), type(..., {"_x": ...})
    return {n for n in names if isinstance(n, str) and n.startswith("_")}


def test_the_private_names_of_other_packages_are_the_listed_ones():
    pytest.importorskip("nbgrader")
    from genlab.grader import private

    assert private.missing() == [], "a private name the grader needs is gone: see private.py"
    listed = {p.name for p in private.PRIVATE}
    used = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                used.add(node.attr)
    # sys._getframe and the like are the standard library's, documented as such
    foreign = {n for n in used if not n.startswith("__")} - _defined_in_genlab()
    foreign -= {"_getframe", "_exit"}
    assert foreign <= listed, f"private names of other packages, not listed: {foreign - listed}"
    # an override of another package's private method counts too
    import genlab.grader.preprocessors as pre
    import genlab.grader.sandbox as sandbox

    overridden = set()
    for module in (pre, sandbox):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            foreign_bases = [b for b in cls.__mro__[1:] if not b.__module__.startswith("genlab")]
            for name, value in vars(cls).items():
                # methods written in the class (traitlets' metaclass adds private data too)
                if inspect.isfunction(value) and _private(name):
                    if any(name in vars(b) for b in foreign_bases):
                        overridden.add(name)
    assert overridden <= listed, f"overrides of private methods, not listed: {overridden - listed}"
    assert "_get_score" in overridden  # the scan sees overrides


def test_the_log_lines_and_template_parts_the_grader_reads_are_nbgrader_s():
    pytest.importorskip("nbgrader")
    import importlib

    import nbgrader

    from genlab.grader import private

    for module, text in private.LOG_LINES:
        assert text in inspect.getsource(importlib.import_module(module)), (module, text)
    theirs = (
        (Path(nbgrader.__file__).parent / "server_extensions/formgrader/templates/feedback")
        .joinpath("index.html.j2")
        .read_text()
    )
    ours = (PACKAGE / "grader/templates/feedback/genlab-feedback.html.j2").read_text()
    blocks = set(re.findall(r"{%-? block (\w+)", ours))
    assert blocks == set(private.TEMPLATE_BLOCKS)
    assert blocks <= set(re.findall(r"{%-? block (\w+)", theirs))
    macros_ours = set(re.findall(r"{%-? macro (\w+)", ours))
    called = set(re.findall(r"{{-? *(\w+)\(", ours)) - macros_ours
    assert called == set(private.TEMPLATE_MACROS)
    assert called <= set(re.findall(r"{%-? macro (\w+)", theirs))
