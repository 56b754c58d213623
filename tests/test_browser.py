"""Every module in real JupyterLab, in a real browser: headless Chromium driven by Playwright.

A headless kernel never runs a widget's callbacks the way a student's browser does: the
browser renders the widget, sends each move of a slider to the kernel, and draws what
comes back. So this suite starts JupyterLab on 127.0.0.1 with a token on a scratch copy of
the course, opens each module's reference solution, runs all its cells from the Run menu,
and checks:

* no cell ends in an error, and every cell ran;
* every live widget of the module renders, its pictures loaded;
* moving each slider, choosing another option of each menu, pressing each Play or
  button, and typing a new text into each text box changes what the widget draws (its
  pictures and captions, compared as pixels before and after);
* the kernel's peak memory stays under 1 GB, the smallest Binder gives;
* on a release notebook, nbgrader's Validate button reports the result: failures for the
  untouched release, success for the solved one;
* and the first module, run the same way in Notebook 7.

Screenshots land in artifacts/browser/ (git-ignored): each widget before it is touched and
after each control, and each Validate dialog; beside them, each kernel's peak memory.
Needs Chromium (`apt-get install chromium`, which .ci/run does, or CHROMIUM=<its path>).
"""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import psutil
import pytest
from course import (
    ROOT,
    STUB,
    bench_run,
    copy_course,
    errors,
    hand_ins,
    live_figures,
    modules,
    nbgrader_meta,
    read,
    release_notebook,
)

pytestmark = pytest.mark.browser
MODULES = modules()
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Chromium as root, on a machine without a display or a network beyond localhost
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# JupyterLab settings for the test: every cell in the page (no windowing), no news pop-ups
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
PROMPTS = "[...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')]"
RUNNING = f"() => {PROMPTS}.some(p => p.textContent.includes('*'))"
SETTLED = f"() => !{PROMPTS}.some(p => p.textContent.includes('*'))"


class Lab:
    """A JupyterLab server on a scratch course."""

    def __init__(self, root: Path, tmp: Path):
        self.root, self.token = root, secrets.token_hex(16)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        settings = tmp / "settings"
        for name, value in SETTINGS.items():
            path = settings / f"{name}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        env = {
            **os.environ,
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
            "JUPYTER_CONFIG_DIR": str(tmp / "config"),
        }
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
        ] + (["--allow-root"] if os.getuid() == 0 else [])
        self.log = tmp / "lab.log"
        # from the course root, as `make lab`: Validate reads its nbgrader_config.py
        self.process = subprocess.Popen(
            command, cwd=root, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url("api/status"), timeout=2)
                return
            except OSError:
                assert self.process.poll() is None, self.log.read_text()[-3000:]
                time.sleep(0.5)
        raise AssertionError(f"JupyterLab did not start:\n{self.log.read_text()[-3000:]}")

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path}{sep}token={self.token}"

    def open(self, page, notebook: str, ui: str = "lab"):
        """Open a notebook in JupyterLab alone (`reset`: no tabs restored), or in Notebook 7
        (`ui="notebook"`), and wait for its kernel."""
        path = f"lab/tree/{notebook}?reset" if ui == "lab" else f"notebooks/{notebook}"
        page.goto(self.url(path))
        page.wait_for_function(
            """() => {
              const k = document.querySelector(
                '.jp-NotebookPanel-toolbar [data-jp-item-name="kernelName"]');
              const s = document.querySelector('.jp-Notebook-ExecutionIndicator');
              return k && /Python/.test(k.textContent) && s && s.dataset.status === 'idle';
            }""",
            timeout=90_000,
        )

    def save(self, page, notebook: str):
        """Save the open notebook with its toolbar button; what was written to disk."""
        path = self.root / notebook
        written = path.stat().st_mtime_ns
        page.locator('.jp-NotebookPanel-toolbar [data-jp-item-name="save"] jp-button').click()
        deadline = time.monotonic() + 30
        while path.stat().st_mtime_ns == written:
            assert time.monotonic() < deadline, f"JupyterLab did not save {notebook}"
            time.sleep(0.2)
        page.wait_for_function("() => !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')")
        return read(path)

    def kernel_peak_mb(self) -> float:
        """The peak resident memory of the server's kernel (`VmHWM`, read as the benchmark
        reads it), in MB."""
        (kernel,) = [
            p
            for p in psutil.Process(self.process.pid).children(recursive=True)
            if "ipykernel_launcher" in " ".join(p.cmdline())
        ]
        return bench_run().high_water_mark(kernel.pid) / 2**20

    def shut_down_kernels(self):
        for kernel in json.load(urllib.request.urlopen(self.url("api/kernels"))):
            request = urllib.request.Request(
                self.url(f"api/kernels/{kernel['id']}"), method="DELETE"
            )
            urllib.request.urlopen(request)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a scratch course whose solved/ folder holds every reference solution."""
    tmp = tmp_path_factory.mktemp("lab")
    root = copy_course(tmp / "genai")
    for module in MODULES:
        path = root / "solved" / module / f"{module}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(hand_ins(module)["reference"], path)
    server = Lab(root, tmp)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "needs Chromium: apt-get install chromium, or set CHROMIUM"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield page
    page.close()


def _drawing(widget) -> bytes:
    """What a widget draws now: the pixels of its pictures and captions, not its controls."""
    parts = widget.locator("img.widget-image:visible, .widget-html:visible")
    return b"".join(parts.nth(i).screenshot() for i in range(parts.count()))


def _changed(widget, before: bytes, timeout: float = 20) -> bool:
    """Whether the drawing comes to differ from `before` within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while _drawing(widget) == before:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _settled(widget) -> bytes:
    """The drawing once it holds still (a redraw may be on its way)."""
    now = _drawing(widget)
    for _ in range(50):
        time.sleep(0.3)
        later = _drawing(widget)
        if later == now:
            break
        now = later
    return now


def _drag(page, slider):
    """Drag a slider's handle along its track: to 30% of it from the left half, to 20% from
    the right half. (Not to the far end: there top-k keeps 32 characters, which at a low
    temperature hold all the probability, and so changes nothing on the screen.)"""
    track = slider.locator(".noUi-base").bounding_box()
    handle = slider.locator(".noUi-handle").bounding_box()
    y = handle["y"] + handle["height"] / 2
    here = handle["x"] + handle["width"] / 2
    there = track["x"] + track["width"] * (0.3 if here < track["x"] + track["width"] / 2 else 0.2)
    page.mouse.move(here, y)
    page.mouse.down()
    page.mouse.move(there, y, steps=8)
    page.mouse.up()


def _controls(widget):
    """(kind, label, act) for each control of a widget, in the order they are laid out."""
    found = []
    for kind, selector in [
        ("menu", ".widget-dropdown"),
        ("slider", ".widget-slider"),
        ("play", ".widget-play"),
        ("button", ".widget-button"),
        ("text", ".widget-text"),
    ]:
        items = widget.locator(selector)
        for i in range(items.count()):
            item = items.nth(i)
            label = item.locator(".widget-label").first
            name = label.inner_text() if label.count() else item.inner_text()[:20]
            found.append((kind, name.strip() or kind, item))
    return found


def _act(page, kind, item):
    if kind == "menu":
        select = item.locator("select")
        # ipywidgets shows a label's spaces as no-break spaces; its value keeps plain ones
        options = [o.replace("\xa0", " ") for o in select.locator("option").all_inner_texts()]
        current = select.evaluate("s => s.value")
        select.select_option(index=next(i for i, o in enumerate(options) if o != current))
    elif kind == "slider":
        _drag(page, item)
    elif kind == "play":
        item.locator("button").first.click()  # play; paused once the change is seen
    elif kind == "text":
        # its own characters, the first moved to the end: a new text the vocabulary knows;
        # Enter sends it from a box that waits for it (continuous_update=False)
        field = item.locator("input")
        now = field.input_value()
        field.fill(now[1:] + now[:1] if len(set(now)) > 1 else now + now)
        field.press("Enter")
    else:
        item.click()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@pytest.mark.parametrize("module", MODULES)
def test_module_runs_in_jupyterlab_and_its_widgets_respond(module, lab, page):
    _run_and_move_the_widgets(module, lab, page, ui="lab")


def test_notebook_7_runs_a_module_and_its_widget_responds(lab, page):
    """Notebook 7, the other front end a student may open on this server, draws widgets with
    the same manager as JupyterLab: one module shows it (each costs up to a minute here)."""
    _run_and_move_the_widgets(MODULES[0], lab, page, ui="notebook")


def _run_and_move_the_widgets(module, lab, page, ui):
    notebook = f"solved/{module}/{module}.ipynb"
    shots = ARTIFACTS / (module if ui == "lab" else f"notebook7-{module}")
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    lab.open(page, notebook, ui)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(RUNNING, timeout=30_000)
    page.wait_for_function(SETTLED, timeout=600_000, polling=500)
    nb = lab.save(page, notebook)
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code"), "every cell ran"
    assert not errors(nb), errors(nb)
    live = [(i, o.data["text/plain"]) for i, o in live_figures(nb)]

    cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
    assert cells.count() == len(nb.cells)
    # every widget box on the page is one of the live figures found in the file (progress
    # bars are rows, and hidden once done), so none escapes the checks below
    boxes = page.locator(".jp-OutputArea-output > .jupyter-widgets.widget-vbox:visible")
    assert boxes.count() == len(live), f"{boxes.count()} widget boxes, {len(live)} live figures"
    for n, (i, text) in enumerate(live):
        name = _slug(text.split(":")[0])
        widget = cells.nth(i).locator(".jp-OutputArea-output > .jupyter-widgets").first
        widget.scroll_into_view_if_needed()
        pictures = widget.locator("img.widget-image")
        assert pictures.count(), f"{name} rendered no picture"
        loaded = pictures.evaluate_all("imgs => imgs.every(i => i.complete && i.naturalWidth)")
        assert loaded, f"a picture of {name} did not load"
        widget.screenshot(path=shots / f"{n}-{name}-0-as-drawn.png")
        controls = _controls(widget)
        assert any(kind in ("slider", "play") for kind, _, _ in controls), name
        before = _drawing(widget)
        for k, (kind, label, item) in enumerate(controls, start=1):
            _act(page, kind, item)
            changed = _changed(widget, before)
            if kind == "play":
                item.locator("button").first.click()  # pause (ipywidgets 8: play toggles)
            shot = shots / f"{n}-{name}-{k}-{_slug(label)}{'' if changed else '-unchanged'}.png"
            widget.screenshot(path=shot)
            assert changed, f"{module}: {kind} '{label}' of {name} changed nothing it draws"
            before = _settled(widget)
    peak = lab.kernel_peak_mb()
    (shots / "kernel-peak-memory.txt").write_text(f"{peak:.0f} MB\n")
    assert peak < 1024, f"{module}'s kernel peaked at {peak:.0f} MB, over Binder's 1 GB"
    lab.shut_down_kernels()


@pytest.mark.parametrize(
    ("folder", "verdict"), [("release", "validation-failed"), ("solved", "validation-success")]
)
def test_validate_button_reports_the_result(folder, verdict, lab, page):
    module = MODULES[0]
    lab.open(page, f"{folder}/{module}/{module}.ipynb")
    page.locator(".jp-NotebookPanel .jp-Toolbar-item").filter(has_text="Validate").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=300_000)
    assert dialog.locator(".jp-Dialog-header").inner_text().strip() == "Validation Results"
    body = dialog.locator("#validation-message")  # nbgrader names the verdict in its class
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    dialog.screenshot(path=ARTIFACTS / f"validate-{folder}-{module}.png")
    assert verdict in body.get_attribute("class")
    text = body.inner_text()
    if folder == "solved":
        assert "Success! Your notebook passes all the tests." in text
    else:
        graded = [c for c in read(release_notebook(module)).cells if nbgrader_meta(c).get("grade")]
        assert text.count("The following cell failed:") == len(graded)
        assert STUB in text
