"""The judge's protocol in one process: both ends of `genlab.grader.judge`, no kernel, no sandbox.

The student's end (`answer`) runs in a thread, or is played by hand to send what an honest
`answer` never would: broken, huge, deeply nested, late, repeated and interleaved replies.
"""

from __future__ import annotations

import itertools
import json
import pickle
import socket
import threading
import time

import numpy as np
import pytest

from genlab.checks import in_place
from genlab.grader import judge
from genlab.grader.judge import ProtocolError, Submission, SubmissionError

try:
    import torch
except ImportError:  # `make compat` runs these on Pythons without torch
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

_tokens = itertools.count()


@pytest.fixture
def socket_path(tmp_path):
    return str(tmp_path / "judge.sock")


class Student:
    """A namespace of the student's, answered by `judge.answer` in a thread per session."""

    def __init__(self, judge_side: Submission, code: str = ""):
        self.judge = judge_side
        self.namespace: dict = {}
        exec(code, self.namespace)
        self.thread: threading.Thread | None = None

    def session(self):
        token = f"t{next(_tokens)}"
        self.judge.open(token)
        self.thread = threading.Thread(
            target=judge.answer, args=(self.judge.path, token, self.namespace), daemon=True
        )
        self.thread.start()
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.judge.close()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


def judge_cell(code: str) -> dict:
    """Names defined as a test cell defines them (in the judge's __main__)."""
    namespace = {"__name__": "__main__", "np": np, "torch": torch}
    exec(code, namespace)
    return namespace


# ---------------------------------------------------------------------------
# What an honest student's kernel answers


@needs_torch
def test_data_comes_back_as_data_and_undefined_names_are_removed(socket_path):
    sub = Submission(socket_path, timeout=10)
    student = Student(
        sub,
        "import numpy as np, torch\n"
        "A = np.arange(6, dtype=np.float32).reshape(2, 3)\n"
        "T = torch.tensor([1.5, 2.5])\n"
        "D = {'a': [1, 2.5, 'x'], (1, 2): {3}, 'c': 1 + 2j, 'n': np.int64(7)}\n",
    )
    names = {"stale": 1}
    with student.session():
        sub.bind(names, ["A", "T", "D", "stale"])
    assert names["A"].dtype == np.float32 and names["A"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert isinstance(names["T"], torch.Tensor) and names["T"].tolist() == [1.5, 2.5]
    assert names["D"] == {"a": [1, 2.5, "x"], (1, 2): {3}, "c": 1 + 2j, "n": 7}
    assert type(names["D"]["n"]) is np.int64
    assert "stale" not in names


def test_functions_and_classes_stay_in_the_students_kernel(socket_path):
    sub = Submission(socket_path, timeout=10)
    student = Student(
        sub,
        "class Counter:\n"
        "    def __init__(self, start):\n"
        "        self.n = start\n"
        "    def add(self, k):\n"
        "        self.n += k\n"
        "        return self.n\n"
        "def double(x):\n"
        "    return 2 * x\n",
    )
    with student.session():
        Counter, double = sub.get("Counter"), sub.get("double")
        counter = Counter(3)
        assert isinstance(counter, Counter) and repr(Counter) == "<submitted class Counter>"
        assert counter.add(4) == 7 and counter.n == 7
        assert double(np.array([1, 2])).tolist() == [2, 4]


def test_the_judges_helpers_stay_in_the_judge(socket_path):
    """A spy the checks pass in is called, never received: its record cannot be rewritten."""
    sub = Submission(socket_path, timeout=10)
    student = Student(
        sub,
        "def generate(model, n):\n"
        "    out = [model.next(i) for i in range(n)]\n"
        "    found = {'type': type(model).__name__, 'code': hasattr(model, '__dict__')}\n"
        "    try:\n"
        "        model.seen = [[-1]]\n"
        "    except AttributeError:\n"
        "        found['write'] = 'refused'\n"
        "    try:\n"
        "        model._id = 1\n"  # pointing it at another of the judge's objects
        "    except AttributeError:\n"
        "        found['retarget'] = 'refused'\n"
        "    found['seen'] = model.seen\n"
        "    return out, found\n",
    )
    cell = judge_cell(
        "class Recorder:\n"
        "    def __init__(self):\n"
        "        self.seen = []\n"
        "    def next(self, i):\n"
        "        self.seen.append([i])\n"
        "        return i * 10\n"
        "spy = Recorder()\n"
    )
    with student.session():
        out, found = sub.get("generate")(cell["spy"], 3)
    assert out == [0, 10, 20]
    assert cell["spy"].seen == [[0], [1], [2]]  # the judge's own record
    assert found == {
        "type": "JudgeObject",
        "code": False,
        "write": "refused",
        "retarget": "refused",
        "seen": cell["spy"].seen,
    }


def test_a_call_that_changes_an_undeclared_argument_fails_and_changes_nothing(socket_path):
    sub = Submission(socket_path, timeout=10)
    student = Student(
        sub,
        "import numpy as np\n"
        "def attention(Q, K, V):\n"
        "    Q[:] = 0\n"
        "    K *= 0\n"
        "    return V.copy()\n",
    )
    Q, K, V = np.ones((2, 3)), np.ones((2, 3)), np.arange(6.0).reshape(2, 3)
    with student.session():
        with pytest.raises(AssertionError, match="changed its argument\\(s\\) 'Q', 'K' in place"):
            sub.get("attention")(Q, K, V)
    assert Q.tolist() == K.tolist() == np.ones((2, 3)).tolist()


@needs_torch
def test_declared_arguments_come_back_changed(socket_path):
    sub = Submission(socket_path, timeout=10)
    student = Student(
        sub,
        "import torch\n"
        "def draw(rng):\n"
        "    return int(rng.integers(1000))\n"
        "def train(net, opt):\n"
        "    opt.zero_grad()\n"
        "    net(torch.ones(1, 2)).sum().backward()\n"
        "    opt.step()\n"
        "    net.extra = 'new attribute'\n",
    )
    mine, reference = in_place(np.random.default_rng(5)), np.random.default_rng(5)
    torch.manual_seed(0)
    net = in_place(torch.nn.Linear(2, 1))
    opt = in_place(torch.optim.SGD(net.parameters(), lr=0.5))
    before = net.weight.detach().clone()
    with student.session():
        draws = [sub.get("draw")(mine) for _ in range(3)]
        sub.get("train")(net, opt)
    assert draws == [int(reference.integers(1000)) for _ in range(3)]
    assert torch.allclose(net.weight, before - 0.5)  # d(sum)/dw = 1 for an input of ones
    assert not hasattr(net, "extra")  # only the state it had comes back


@needs_torch
def test_gradients_cross_in_both_directions(socket_path):
    sub = Submission(socket_path, timeout=10)
    student = Student(
        sub,
        "import torch\n"
        "def loss(x):\n"
        "    return (x ** 2).sum()\n"
        "def step(x, loss_fn):\n"
        "    w = torch.ones(3, requires_grad=True)\n"
        "    loss_fn(w * x).backward()\n"
        "    return w.grad\n",
    )
    cell = judge_cell("def cube_sum(y):\n    return (y ** 3).sum()\n")
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with student.session():
        sub.get("loss")(x).backward()
        assert x.grad.tolist() == [2.0, 4.0, 6.0]
        grad = sub.get("step")(torch.tensor([1.0, 2.0, 3.0]), cell["cube_sum"])
    assert torch.allclose(grad, torch.tensor([3.0, 24.0, 81.0]))  # 3 w^2 x^3 at w = 1


def test_an_unserialisable_error_still_fails_the_call(socket_path):
    sub = Submission(socket_path, timeout=10)
    student = Student(
        sub,
        "def bad():\n    raise ValueError('surrogate \\udc80 and more ' + 'x' * 100_000)\n",
    )
    with student.session():
        with pytest.raises(ValueError) as caught:
            sub.get("bad")()
    message = str(caught.value)
    message.encode("utf-8")  # safe to send on
    assert "\\udc80" in message and len(message) <= judge.MAX_MESSAGE


def test_a_slow_call_fails_alone_and_its_late_answer_answers_nothing(socket_path):
    sub = Submission(socket_path, timeout=0.5)
    student = Student(
        sub,
        "import time\n"
        "def slow(x):\n    time.sleep(1.0)\n    return 'late'\n"
        "def fast(x):\n    return x\n",
    )
    with student.session():
        slow, fast = sub.get("slow"), sub.get("fast")
        with pytest.raises(SubmissionError, match="did not finish within 0.5 s"):
            slow(1)
        with pytest.raises(SubmissionError, match="later calls were not made"):
            fast(2)  # same session: the connection was closed
    with student.session():
        assert [fast(i) for i in range(3)] == [0, 1, 2]


# ---------------------------------------------------------------------------
# A student's kernel that breaks the protocol


class Forger:
    """Plays the student's end by hand: connects, says the token, and replies what it likes."""

    def __init__(self, sub: Submission, token: str | None = None):
        self.token = token or f"t{next(_tokens)}"
        sub.open(self.token)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sub.path)
        self.send_json({"hello": self.token})

    def send(self, body: bytes, size: int | None = None):
        self.sock.sendall(judge._HEADER.pack(len(body) if size is None else size) + body)

    def send_json(self, message):
        self.send(json.dumps(message).encode())

    def request(self):
        """(kind, rid, op, params) of the judge's next message."""
        return pickle.loads(judge._receive(self.sock, 2**30))

    def play(self, script):
        """Run `script(self)` in a thread while the judge makes its request."""
        thread = threading.Thread(target=script, args=(self,), daemon=True)
        thread.start()
        return thread


def _reply_with(body: bytes, size: int | None = None):
    def script(forger):
        forger.request()
        forger.send(body, size)

    return script


@pytest.mark.parametrize(
    "body, size, why",
    [
        (b"{not json", None, "not JSON"),
        (b"", 2**40, "over the limit"),  # claims a terabyte: refused before reading it
        (b"[" * 100 + b"]" * 100, None, "nested 100 deep"),
        (json.dumps({"reply": 1, "ok": [{}] * 1_100_000}).encode(), None, "values, over the limit"),
        (
            json.dumps(
                {"reply": 1, "ok": {"$": "array", "dtype": "<f8", "shape": [10**9], "data": ""}}
            ).encode(),
            None,
            "does not match its shape",
        ),
        (
            json.dumps(
                {"reply": 1, "ok": {"$": "array", "dtype": "|O", "shape": [1], "data": "AA=="}}
            ).encode(),
            None,
            "refused dtype",
        ),
        (
            json.dumps({"reply": 1, "ok": {"$": "judge", "id": 99}}).encode(),
            None,
            "none of the judge",
        ),
        (
            json.dumps(
                {"reply": 1, "ok": {"$": "dict", "v": [[{"$": "dict", "v": []}, 1]]}}
            ).encode(),
            None,
            "unhashable",
        ),
    ],
    ids=[
        "malformed",
        "huge",
        "deep",
        "many-values",
        "array-bomb",
        "object-dtype",
        "fake-ref",
        "bad-key",
    ],
)
def test_broken_replies_are_refused_before_they_are_decoded(socket_path, body, size, why):
    sub = Submission(socket_path, timeout=5)
    forger = Forger(sub)
    thread = forger.play(_reply_with(body, size))
    started = time.monotonic()
    with pytest.raises((SubmissionError, ProtocolError), match=why):
        sub.decode(sub.request("get", "X")["ok"])
    assert time.monotonic() - started < 3
    thread.join(5)


def test_late_repeated_and_interleaved_replies_answer_only_their_own_request(socket_path):
    sub = Submission(socket_path, timeout=5)

    def script(forger):
        _, first, _, _ = forger.request()
        forger.send_json({"reply": first + 7, "ok": "for a request never made"})
        forger.send_json({"reply": True, "ok": "a bool is not an id"})
        forger.send_json({"reply": first, "ok": "first"})
        forger.send_json({"reply": first, "ok": "first, again"})  # a duplicate, answered late
        _, second, _, _ = forger.request()
        forger.send_json({"reply": second, "ok": "second"})

    thread = Forger(sub).play(script)
    assert sub.request("get", "a")["ok"] == "first"
    assert sub.request("get", "b")["ok"] == "second"
    thread.join(5)


def test_a_connection_with_the_wrong_token_is_ignored(socket_path):
    sub = Submission(socket_path, timeout=5, connect_timeout=5)
    token = "right"
    stranger = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stranger.connect(socket_path)  # an earlier session's leftover, or a rogue one
    stranger.sendall(judge._HEADER.pack(17) + b'{"hello": "nope"}')
    forger = Forger(sub, token=token)
    thread = forger.play(lambda f: (f.request(), f.send_json({"reply": 1, "ok": 42})))
    assert sub.request("get", "x")["ok"] == 42
    thread.join(5)
    assert stranger.recv(1) == b""  # closed by the judge


def test_a_kernel_that_never_connects_fails_fast_after_the_first_wait(socket_path):
    sub = Submission(socket_path, timeout=5, connect_timeout=0.3)
    sub.open("nobody-comes")
    with pytest.raises(SubmissionError, match="not answering"):
        sub.get("x")
    sub.open("still-nobody")
    started = time.monotonic()
    with pytest.raises(SubmissionError, match="not answering"):
        sub.get("x")
    assert time.monotonic() - started < 0.1  # until the kernel is replaced (reset)


def test_an_interrupted_call_closes_the_session(socket_path):
    sub = Submission(socket_path, timeout=5)
    student = Student(sub, "def call_back(f):\n    return f()\ndef one():\n    return 1\n")
    cell = judge_cell("def interrupt():\n    raise KeyboardInterrupt\n")
    with student.session():
        call_back = sub.get("call_back")
        with pytest.raises(KeyboardInterrupt):
            call_back(cell["interrupt"])
        with pytest.raises(SubmissionError, match="interrupted"):
            sub.get("one")
    with student.session():
        assert sub.get("one")() == 1


def test_a_baseline_brings_back_the_setup_as_it_was_for_every_student(tmp_path):
    """What a kept judge does between students, in one namespace: names a student's checks
    made are gone, what the setup made comes back unchanged (even after changes in place,
    whatever its name), so do the random states and the marks of `in_place`, and the
    judge's folder is emptied."""
    import random

    from genlab import checks

    namespace = {"np": np, "In": ["the kernel's own"]}
    before = set(namespace)
    namespace.update(data=np.arange(3.0), model={"weights": [1.0, 2.0]})
    namespace["_rng"] = np.random.default_rng(0)  # a setup's private name is copied too
    namespace["same"] = namespace["data"]  # one object under two names stays one
    base = judge.Baseline(namespace, before, str(tmp_path))
    first_draws = (random.random(), np.random.random())  # noqa: NPY002 (the legacy state)
    first_rng = namespace["_rng"].random()

    for _ in range(2):  # two students in turn
        namespace["data"] += 10
        namespace["model"]["weights"].append(3.0)
        namespace["_rng"].random(5)
        namespace["checks_made_this"] = in_place(np.zeros(2))
        (tmp_path / "left.txt").write_text("from the last student's checks")
        (tmp_path / "folder").mkdir()
        random.random()
        base.restore(namespace)
        assert namespace["np"] is np and namespace["In"] == ["the kernel's own"]
        assert set(namespace) == {"np", "In", "data", "model", "_rng", "same"}
        assert namespace["data"].tolist() == [0.0, 1.0, 2.0]
        assert namespace["same"] is namespace["data"]
        assert namespace["model"] == {"weights": [1.0, 2.0]}
        assert namespace["_rng"].random() == first_rng
        assert (random.random(), np.random.random()) == first_draws  # noqa: NPY002
        assert checks._IN_PLACE == {}
        assert list(tmp_path.iterdir()) == []


def test_a_baseline_of_what_cannot_be_copied_is_refused(tmp_path):
    with pytest.raises(TypeError):
        judge.Baseline({"lines": (line for line in "abc")}, set(), str(tmp_path))


def test_repeat_makes_many_calls_in_one_round_trip_as_a_loop_would(socket_path):
    """`checks.repeat` of a student's sampler: the draws a loop of calls gives, the shared
    generator moved on through them, in one request (not 300)."""
    from genlab.checks import repeat

    sub = Submission(socket_path, timeout=10)
    code = "def draw(p, rng, scale=1):\n    return int(rng.choice(len(p), p=p)) * scale\n"
    student = Student(sub, code)
    p = np.array([0.2, 0.5, 0.3])
    local = {}
    exec(code, local)
    expected_rng = np.random.default_rng(7)
    expected = [local["draw"](p, expected_rng, scale=2) for _ in range(300)]
    requests = []
    real = sub.request
    sub.request = lambda op, *params: requests.append(op) or real(op, *params)
    rng = in_place(np.random.default_rng(7))
    with student.session():
        draws = repeat(sub.get("draw"), 300, p, rng, scale=2)
        assert draws == expected and requests == ["get", "repeat"]
        assert rng.integers(1000) == expected_rng.integers(1000)  # it moved on as the loop's
        with pytest.raises(ValueError, match="times"):
            repeat(sub.get("draw"), -1, p, rng)
    mine = repeat(local["draw"], 3, p, np.random.default_rng(7), scale=2)
    assert mine == expected[:3]  # no judge: a loop
