"""Every module's reference solution in a Colab-like environment, set up by its own first cell.

Colab opens a release notebook in a fresh runtime that has numpy, torch, matplotlib,
scikit-learn and ipywidgets 7, and neither genlab nor nbgrader nor JupyterLab. The
release notebook's first cell (from release_header.ipynb) must then install genlab and
turn on Colab's widget manager, and everything after it must run on ipywidgets 7.

This test builds such an environment in `.venv-colab` from tests/colab-runtime.txt
(reused while that file is unchanged and its pinned versions hold, with genlab removed
before every run) and runs each module's reference solution in it, the setup cell
included; installing genlab must leave Colab's pinned packages as they are (pip would
otherwise upgrade, say, IPython under Colab's running kernel). Two things are stood in for:
the course's address in the setup cell becomes the student edition built from this
checkout by scripts/edition.py (Colab would install the edition's tag from GitHub: the
same files), and `google.colab` is a small package that records that the widget manager
was turned on (only Colab has the real one).

This is the suite's one run of each module outside a browser and the grader, so the tests
that read an executed notebook read it here: every visible test cell passes (what
`nbgrader validate` would say), and the page nbconvert exports shows a figure wherever a
widget would be.
"""

import copy
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from course import (
    ROOT,
    WIDGET_VIEW,
    autograded_cells,
    errors,
    hand_ins,
    live_figures,
    modules,
    nbgrader_meta,
    outputs,
    script,
)
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from nbgrader.utils import determine_grade

pytestmark = pytest.mark.colab
MODULES = modules()
RUNTIME = ROOT / "tests" / "colab-runtime.txt"
ENV = ROOT / ".venv-colab"

FAKE_COLAB_OUTPUT = '''"""Stand-in for Colab's google.colab.output (tests/test_colab.py)."""

custom_widget_manager = False


def enable_custom_widget_manager():
    global custom_widget_manager
    custom_widget_manager = True
'''

REPORT = """
import importlib.util, json, sys
import genlab, ipywidgets
from google.colab import output
print(json.dumps({
    "genlab": genlab.__file__,
    "ipywidgets": ipywidgets.__version__,
    "widget_manager": output.custom_widget_manager,
    "absent": [
        m for m in ("nbgrader", "jupyterlab", "genlab.grader") if importlib.util.find_spec(m)
    ],
}))
"""


def _python() -> str:
    return str(ENV / "bin" / "python")


def _run(*args: str, cwd=None) -> str:
    """Run a command of the environment's Python; its output, or a failure that shows it."""
    done = subprocess.run([_python(), *args], capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, f"{args}: {done.stderr[-3000:]}"
    return done.stdout


def _changed_pins() -> list[str]:
    """Colab's own packages (the pins of tests/colab-runtime.txt) at another version than
    Colab's in the environment, or missing: what the setup cell's pip must never change."""
    pins = dict(re.findall(r"^([\w.-]+)==(\S+)$", RUNTIME.read_text(), re.MULTILINE))
    probe = (
        "import json, sys, importlib.metadata as m\n"
        "def v(n):\n"
        "    try: return m.version(n).split('+')[0]\n"  # torch's 2.13.0+cpu is 2.13.0
        "    except m.PackageNotFoundError: return None\n"
        "print(json.dumps({n: v(n) for n in sys.argv[1:]}))"
    )
    installed = json.loads(_run("-c", probe, *pins))
    return [f"{n} {installed[n]} (Colab: {v})" for n, v in pins.items() if installed[n] != v]


@pytest.fixture(scope="module")
def colab_kernel(tmp_path_factory):
    """A kernel spec that starts ipykernel in the Colab-like environment, without genlab."""
    stamp = ENV / "colab-runtime.txt"
    fresh = stamp.exists() and stamp.read_text() == RUNTIME.read_text()
    if not fresh or _changed_pins():  # a run that changed Colab's packages spoils it
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(ENV)], check=True)
        _run("-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(RUNTIME))
        site = _run("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
        colab = Path(site) / "google" / "colab"
        colab.mkdir(parents=True)
        (colab.parent / "__init__.py").write_text("")
        (colab / "__init__.py").write_text("")
        (colab / "output.py").write_text(FAKE_COLAB_OUTPUT)
        stamp.write_text(RUNTIME.read_text())
    # every run starts without genlab: the setup cell must install it
    _run("-m", "pip", "uninstall", "--yes", "--quiet", "genlab")
    probe = "import importlib.util as u; print(u.find_spec('genlab') is None)"
    assert _run("-c", probe, cwd=tmp_path_factory.getbasetemp()) == "True\n"
    specs = tmp_path_factory.mktemp("kernels")
    (specs / "colab").mkdir()
    (specs / "colab" / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [_python(), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Colab-like",
                "language": "python",
                # pip keeps the wheel it built from a file: URL and reuses it for the same URL:
                # an edition built at a tmp path an earlier run used would install that run's
                # genlab (CI once ran module 06 on a genlab without genlab.gpt)
                "env": {"PIP_NO_CACHE_DIR": "1"},
            }
        )
    )
    return KernelSpecManager(kernel_dirs=[str(specs)])


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    """The student edition, built from this checkout: what the setup cell installs."""
    out = tmp_path_factory.mktemp("edition") / "judging-to-creating"
    script("scripts/edition.py", "edition_script").build(out)
    return out


def _install_from(edition: Path, nb) -> None:
    """Point the setup cell's COURSE_PACKAGE at the edition built here instead of GitHub."""
    setup = nb.cells[0]
    lines = setup.source.splitlines()
    (i,) = [i for i, line in enumerate(lines) if line.startswith("COURSE_PACKAGE = ")]
    lines[i] = f'COURSE_PACKAGE = "genlab @ {edition.as_uri()}"'
    setup.source = "\n".join(lines)


@pytest.fixture(scope="module")
def on_colab(colab_kernel, edition, tmp_path_factory):
    """module -> its reference solution run on Colab from its setup cell on, with the report
    cell at the end (once per module), and the widget state that nbclient stores."""
    runs = {}

    def run(module):
        if module not in runs:
            nb = hand_ins(module)["reference"]
            _install_from(edition, nb)
            nb.cells.append(nbformat.v4.new_code_cell(REPORT))
            folder = tmp_path_factory.mktemp(module)  # alone in its folder, as in /content
            km = AsyncKernelManager(kernel_name="colab", kernel_spec_manager=colab_kernel)
            NotebookClient(
                nb, km=km, timeout=600, resources={"metadata": {"path": str(folder)}}
            ).execute()
            nbformat.write(nb, folder / f"{module}.ipynb")  # kept for a look when a test fails
            runs[module] = nb
        return runs[module]

    return run


@pytest.mark.parametrize("module", MODULES)
def test_reference_solution_runs_as_on_colab(module, on_colab):
    nb = on_colab(module)
    assert not errors(nb), "\n".join(errors(nb))
    report = json.loads(nb.cells[-1].outputs[-1].text)
    assert report["genlab"].startswith(str(ENV)), "the setup cell installed genlab"
    assert report["ipywidgets"].startswith("7."), report["ipywidgets"]
    assert report["widget_manager"], "the setup cell turned on Colab's widget manager"
    assert report["absent"] == [], f"{report['absent']} must not be in Colab's environment"
    changed = _changed_pins()
    assert not changed, f"installing genlab changed Colab's own packages: {changed}"
    # every live widget displayed under ipywidgets 7 carries its still, as under 8
    assert all("image/png" in o.data for _, o in live_figures(nb))
    figures = sum("image/png" in o.get("data", {}) for _, o in outputs(nb))
    assert figures >= 3, textwrap.shorten(f"only {figures} figures in {module}", 80)
    # what `nbgrader validate` says of the reference solution: every visible test cell passes
    # (one that writes to stderr, a warning say, fails validation though it grades)
    failing = [
        nbgrader_meta(c)["grade_id"]
        for c in autograded_cells(nb)
        if determine_grade(c)[0] != determine_grade(c)[1]
    ]
    assert not failing, f"nbgrader validate would fail these test cells: {failing}"


@pytest.mark.parametrize("module", MODULES)
def test_html_export_shows_a_figure_wherever_a_widget_would_be(module, on_colab):
    """A static page (nbconvert's HTML, GitHub's viewer) runs no widget. Where the notebook
    was saved without widget state (JupyterLab's default), each widget's output shows its
    still; where the state was saved (`jupyter nbconvert --execute`, Colab), the page draws
    the widget from it, pictures included. Either way the static snapshot cells follow."""
    nb = on_colab(module)
    live = live_figures(nb)
    images = sum("image/png" in o.get("data", {}) for _, o in outputs(nb))

    saved_by_lab = copy.deepcopy(nb)
    saved_by_lab.metadata.pop("widgets", None)
    page, _ = HTMLExporter().from_notebook_node(saved_by_lab)
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', page)) == images
    for i, output in live:  # the still stands where the widget would be
        alone = copy.deepcopy(saved_by_lab)
        alone.cells = [alone.cells[i]]
        cell, _ = HTMLExporter(exclude_input=True).from_notebook_node(alone)
        assert output.data["image/png"][:64] in cell.replace("\n", "")
        assert "VBox(" not in cell and "jupyter-widgets" not in cell

    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    page, _ = HTMLExporter().from_notebook_node(nb)
    for _, output in live:
        model = output.data[WIDGET_VIEW]["model_id"]
        assert model in state and model in page, "the page draws the widget from its state"
        pictures = [m for m in _descendants(state, model) if m["model_name"] == "ImageModel"]
        assert pictures and all(_has_png(m) for m in pictures), "its pictures are in the state"
    snapshots = images - len(live)
    assert snapshots >= len(live), "each widget has a static figure beside it"


def _descendants(state: dict, model_id: str) -> list[dict]:
    """The widget models under `model_id` in a saved widget state."""
    model = state[model_id]
    children = re.findall(r"IPY_MODEL_([0-9a-f]+)", str(model["state"].get("children", "")))
    return [model] + [m for child in children for m in _descendants(state, child)]


def _has_png(model: dict) -> bool:
    """An ImageModel whose value, saved as a base64 buffer, holds a PNG."""
    buffers = {tuple(b["path"]): b["data"] for b in model.get("buffers", [])}
    return buffers.get(("value",), "").startswith("iVBORw0KGgo")  # b"\x89PNG" in base64
