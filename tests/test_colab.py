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
"""

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from course import ROOT, errors, hand_ins, live_figures, modules, outputs, script
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

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


@pytest.mark.parametrize("module", MODULES)
def test_reference_solution_runs_as_on_colab(module, colab_kernel, edition, tmp_path):
    nb = hand_ins(module)["reference"]
    _install_from(edition, nb)
    nb.cells.append(nbformat.v4.new_code_cell(REPORT))
    path = tmp_path / f"{module}.ipynb"  # alone in its folder, as in Colab's /content
    km = AsyncKernelManager(kernel_name="colab", kernel_spec_manager=colab_kernel)
    NotebookClient(
        nb, km=km, timeout=600, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    nbformat.write(nb, path)  # kept for a look when this test fails

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
