"""Test cells graded in a kernel the submission never ran in.

A test cell that runs in the student's kernel can be fooled by the code before it: it can
swallow every error (`get_ipython().set_custom_exc`), rewrite cells before they run,
replace `np.allclose` or `genlab.checks`, or hand over objects whose `==` always says
yes. No check inside that process can be trusted once the submission has run there.

So while grading, each autograded test cell runs in a second kernel, the judge, where
no line of the submission ever runs. The judge runs the course's own setup cells, then
the test cell. The names the student defines in answer cells (their functions, classes
and values) are looked up in the student's kernel, and come back as one of two things:

- data (numbers, strings, containers, NumPy arrays, torch tensors), decoded from plain
  JSON, with its size, nesting and decoded memory bounded before it is decoded: never
  unpickled, so nothing the student built can run in the judge;
- a reference (`Remote`) to a function, class or object that stays in the student's
  kernel. Calling it sends the arguments there (pickled: the judge's objects travel to
  the student's side, never back) and returns data or another reference.

What the judge sends is data too, with one exception: a function, class or object that a
test or setup cell defined (a model stub, a loss, a spy) stays in the judge. The student's
code receives a `JudgeObject` in its place, and calling it, or reading an attribute of
it, calls back into the judge, which runs its own code on the data the student sends.
So a test's helper can be neither read nor rewritten by the code it checks.

A call changes nothing on the judge's side unless the test declared the argument as one
the function may change in place (`genlab.checks.in_place`: a random generator it draws
from, the players it trains); then the argument's new state comes back as data (array and
tensor contents, a generator's state, a module's and an optimiser's state, the plain
attributes the object already had). A function that changes an argument it was not
allowed to change fails the call, with a message that says so. Gradients of a scalar
tensor a call returns, with respect to the tensor arguments that require them, come back
with it (in both directions), so `loss.backward()` reaches the tensors it was built from.

The wire: each message is an 8-byte length and a body. The judge's bodies are pickles (the
student's kernel may unpickle what the judge sends), the student's are JSON (the judge
never unpickles). Every request carries an id; a reply to another id is dropped, so a
late answer to a call that was given up on can never answer the next one. A call that
does not finish in time, or is interrupted, closes the connection.

Three parts: `answer` runs in the student's kernel, in its main thread, for as long as
the judge has questions (the grader starts it before each judged cell, and interrupts it
if it overstays); `Submission` and `Remote` in the judge. The module is loaded in both
kernels under the name `genlab_judge`.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import copy
import functools
import gc
import io
import itertools
import json
import math
import operator
import os
import pickle
import random
import re
import shutil
import socket
import struct
import sys
import time
import types
from typing import Any

import numpy as np

__all__ = [
    "InPlaceChange",
    "JudgeObject",
    "ProtocolError",
    "Remote",
    "Submission",
    "SubmissionError",
    "answer",
    "clean_text",
]

# What one message from the student's kernel may hold before anything of it is decoded.
MAX_FRAME = 64 * 2**20  # bytes
MAX_ITEMS = 1_000_000  # JSON values (counted by their brackets and commas)
MAX_DEPTH = 64  # nesting of lists and dicts
MAX_MESSAGE = 2000  # characters of an error message kept
MAX_STALE = 1000  # replies to other requests dropped before the connection is given up
MAX_REPEAT = 100_000  # calls in one `repeat` request (their results share one reply)
_HEADER = struct.Struct("!Q")
_ARRAY_KINDS = "biufc"

# Loaded in the student's kernel as `genlab_judge` (from this file) and in the judge as
# `genlab.grader.judge`: pickles name the functions below by the first name in both.
sys.modules.setdefault("genlab_judge", sys.modules[__name__])


class SubmissionError(RuntimeError):
    """The submission's kernel did not answer a request (in time, or at all)."""


class ProtocolError(ValueError):
    """A message from the student's kernel that breaks the protocol or its limits."""


class InPlaceChange(AssertionError):
    """A function changed an argument the test did not let it change."""


# ---------------------------------------------------------------------------
# Frames


def _send(sock: socket.socket, data: bytes) -> None:
    sock.sendall(_HEADER.pack(len(data)) + data)


def _receive(sock: socket.socket, limit: int, deadline: float | None = None) -> bytes:
    """One message; `deadline` is a time.monotonic() by which it must have arrived."""
    size = _HEADER.unpack(_exactly(sock, _HEADER.size, deadline))[0]
    if size > limit:
        raise ProtocolError(f"a message of {size} bytes, over the limit of {limit}")
    return _exactly(sock, size, deadline)


def _exactly(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    chunks, left = [], size
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
        chunk = sock.recv(min(left, 2**20))
        if not chunk:
            raise ConnectionError("the other side closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_BRACKETS = re.compile(rb"[\[\]{}]")


def _loads(frame: bytes) -> Any:
    """JSON from the student's kernel, refused before decoding when it is too large."""
    if len(frame) > MAX_FRAME:
        raise ProtocolError(f"a message of {len(frame)} bytes, over the limit of {MAX_FRAME}")
    items = frame.count(b",") + frame.count(b"[") + frame.count(b"{")
    if items > MAX_ITEMS:
        raise ProtocolError(f"a message of {items} values, over the limit of {MAX_ITEMS}")
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub(b'""', frame)):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        raise ProtocolError(f"a message nested {deepest} deep, over the limit of {MAX_DEPTH}")
    try:
        return json.loads(frame)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"a message that is not JSON ({str(exc)[:80]})") from None


def clean_text(text: Any, limit: int = MAX_MESSAGE) -> str:
    """`text` as a string that any JSON encoder can send: lone surrogates escaped, cut."""
    text = str(text)[:limit]
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


# ---------------------------------------------------------------------------
# Data


def _torch():
    return sys.modules.get("torch")


def _array_node(array: np.ndarray) -> dict:
    array = np.array(array, order="C", copy=True)  # (ascontiguousarray would make 0-d 1-d)
    return {
        "$": "array",
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "data": base64.b64encode(array.tobytes()).decode(),
    }


def _array(node: dict) -> np.ndarray:
    """An array from its node, refused unless its dtype is numeric and its bytes fit its shape."""
    try:
        dtype = np.dtype(str(node["dtype"]))
    except TypeError:
        raise ProtocolError("an array of an unknown dtype") from None
    shape = node.get("shape")
    if (
        dtype.kind not in _ARRAY_KINDS
        or dtype.fields
        or not isinstance(shape, list)
        or len(shape) > 32
        or not all(type(n) is int and n >= 0 for n in shape)
    ):
        raise ProtocolError("an array with a refused dtype or shape")
    data = base64.b64decode(str(node["data"]), validate=True)
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise ProtocolError("an array whose data does not match its shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _state(obj, depth: int = 0):
    """What a call may change in an argument, as data (None: nothing that can change)."""
    torch = _torch()
    if depth > 4 or obj is None or isinstance(obj, (str, int, float, bool, complex, type)):
        return None
    if isinstance(obj, (JudgeObject, Remote)) or id(obj) in _current_table().ids:
        return None  # the judge's own helper, or a student's object the judge refers to
    if isinstance(obj, np.ndarray):
        return _array_node(obj) if obj.dtype.kind in _ARRAY_KINDS else None
    if isinstance(obj, np.random.Generator):
        return {"$": "rng", "state": json.dumps(obj.bit_generator.state)}
    if torch is not None:
        if isinstance(obj, torch.Tensor):
            return Encoder.tensor(obj)
        if isinstance(obj, torch.nn.Module):
            return {"$": "module", "state": Encoder().encode(dict(obj.state_dict()))}
        if isinstance(obj, torch.optim.Optimizer):
            return {"$": "optimizer", "state": Encoder().encode(obj.state_dict())}
    if type(obj) in (list, dict):
        try:
            return {"$": "contents", "v": Encoder(refs=False).encode(obj)}
        except ValueError:
            return None
    if hasattr(obj, "__dict__") and not callable(obj):
        attrs = {}
        for name, value in vars(obj).items():
            inner = _state(value, depth + 1)
            if inner is None and _is_data(value):
                inner = {"$": "value", "v": Encoder(refs=False).encode(value)}
            if inner is not None:
                attrs[name] = inner
        return {"$": "object", "attrs": attrs}
    return None


def _is_data(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, complex, np.generic))


class Encoder:
    """Data as JSON-ready nodes; anything else as a reference (`table.ref(obj)`).

    In the student's kernel, what a call returns and what it passes to the judge's
    helpers. A `JudgeObject` goes back as the judge's own id.
    """

    def __init__(self, refs: bool = True):
        self.refs = refs

    @staticmethod
    def tensor(obj) -> dict:
        torch = _torch()
        data = obj.detach().cpu()
        if data.dtype == torch.bfloat16:
            data = data.float()
        node = _array_node(data.contiguous().numpy())
        return {**node, "$": "tensor", "requires_grad": bool(obj.requires_grad)}

    def encode(self, obj, depth: int = 0):
        if depth > 20:  # each level is up to three levels of JSON
            raise ValueError("the value is nested too deeply to send")
        if obj is None or isinstance(obj, bool):
            return obj
        if type(obj) is str:
            return clean_text(obj, limit=MAX_FRAME)
        if type(obj) is int or type(obj) is float:
            return obj
        torch = _torch()
        if isinstance(obj, np.ndarray) and obj.dtype.kind in _ARRAY_KINDS and not obj.dtype.fields:
            return _array_node(obj)
        if isinstance(obj, np.generic) and obj.dtype.kind in _ARRAY_KINDS:
            return {**_array_node(np.asarray(obj)), "$": "scalar"}
        if torch is not None and isinstance(obj, torch.Tensor):
            return self.tensor(obj)
        if type(obj) in (list, tuple, set, frozenset):
            return {"$": type(obj).__name__, "v": [self.encode(x, depth + 1) for x in obj]}
        if type(obj) is dict:
            pairs = [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in obj.items()]
            return {"$": "dict", "v": pairs}
        if type(obj) is complex:
            return {"$": "complex", "v": [obj.real, obj.imag]}
        if isinstance(obj, JudgeObject):
            return {"$": "judge", "id": object.__getattribute__(obj, "_id")}
        if not self.refs:
            raise ValueError(f"a value of type {type(obj).__name__} is not data")
        kind = "class" if isinstance(obj, type) else "callable" if callable(obj) else "object"
        name = getattr(obj, "__qualname__", None) if kind != "object" else type(obj).__qualname__
        return {
            "$": "ref",
            "id": _current_table().ref(obj),
            "kind": kind,
            "name": clean_text(name, 200),
        }


def _error(exc: BaseException) -> dict:
    builtin = next(
        (k.__name__ for k in type(exc).__mro__ if getattr(builtins, k.__name__, None) is k),
        "Exception",
    )
    return {
        "type": clean_text(type(exc).__qualname__, 200),
        "builtin": builtin,
        "message": clean_text(exc),
    }


def _exception(error: Any) -> BaseException:
    """The judge's own exception for an error the student's kernel reported (a plain dict)."""
    if not isinstance(error, dict):
        return ProtocolError("an error report that is not a dict")
    kind = getattr(builtins, str(error.get("builtin")), None)
    message = clean_text(error.get("message", ""))
    named = f"{clean_text(error.get('type'), 200)}: {message}"
    if not (isinstance(kind, type) and issubclass(kind, Exception)) or kind is Exception:
        return RuntimeError(named)
    if kind is KeyError:
        return KeyError(message)
    try:
        return kind(message)
    except TypeError:  # an exception class that wants other arguments
        return RuntimeError(named)


# ---------------------------------------------------------------------------
# Autograd across the boundary


def _differentiable(torch, args, kwargs) -> list:
    """The tensor arguments that require grad, in the order gradients travel."""
    return [a for a in [*args, *kwargs.values()] if isinstance(a, torch.Tensor) and a.requires_grad]


def _grads(result, args, kwargs):
    """d result / d each tensor argument that requires grad, for a scalar result."""
    torch = _torch()
    if torch is None or not isinstance(result, torch.Tensor) or result.grad_fn is None:
        return None
    inputs = _differentiable(torch, args, kwargs)
    if not inputs or result.numel() != 1:
        return None
    grads = torch.autograd.grad(result.sum(), inputs, retain_graph=True, allow_unused=True)
    return list(grads)


@functools.cache
def _bridge():
    import torch

    class Bridge(torch.autograd.Function):
        """A result computed in the other kernel, with the gradients that came with it."""

        @staticmethod
        def forward(ctx, value, grads, *inputs):
            ctx.grads = grads
            return value.clone()

        @staticmethod
        def backward(ctx, grad_output):
            return (None, None, *[None if g is None else grad_output * g for g in ctx.grads])

    return Bridge


def _with_grads(result, grads, args, kwargs):
    """`result` joined to the autograd graph of `args` by the gradients computed elsewhere."""
    torch = _torch()
    inputs = _differentiable(torch, args, kwargs)
    if not isinstance(result, torch.Tensor) or not isinstance(grads, list):
        return result
    if len(grads) != len(inputs):
        raise ProtocolError("gradients that do not match the arguments")
    for g, x in zip(grads, inputs, strict=True):
        if g is not None and (not isinstance(g, torch.Tensor) or g.shape != x.shape):
            raise ProtocolError("a gradient whose shape is not its argument's")
    return _bridge().apply(result.detach(), grads, *inputs)


# ---------------------------------------------------------------------------
# The student's side


class _Table:
    """Objects of the student's kernel the judge holds references to."""

    def __init__(self):
        self.objects: dict[int, Any] = {}
        self.ids: dict[int, int] = {}

    def ref(self, obj) -> int:
        key = id(obj)
        if key not in self.ids:
            self.ids[key] = len(self.objects) + 1
            self.objects[self.ids[key]] = obj
        return self.ids[key]


_table = _Table()


def _current_table() -> _Table:
    """The table of the kernel this runs in (the student's loads this file as genlab_judge)."""
    return sys.modules["genlab_judge"]._table


def _lookup(ref: int):
    """Unpickling a reference in the student's kernel gives back the object."""
    return _current_table().objects[ref]


class _Link:
    """The student's end of one session with the judge."""

    def __init__(self, sock: socket.socket, namespace: dict):
        self.sock = sock
        self.namespace = namespace
        self.ids = itertools.count(1)

    def send(self, message: dict) -> None:
        try:
            body = json.dumps(message).encode()
        except (TypeError, ValueError) as exc:
            message = {key: message[key] for key in ("reply", "callback") if key in message}
            message["error"] = _error(exc)
            body = json.dumps(message).encode()
        _send(self.sock, body)

    def next_message(self):
        return pickle.loads(_receive(self.sock, 2**31))

    def callback(self, op: str, target, *params):
        """Ask the judge to run one of its objects; answer its requests meanwhile."""
        cid = next(self.ids)
        message = {"callback": cid, "op": op, "target": object.__getattribute__(target, "_id")}
        if op == "getattr":
            message["name"] = params[0]
        else:
            args, kwargs = params
            encoder = Encoder()
            message["args"] = [encoder.encode(a) for a in args]
            message["kwargs"] = {str(k): encoder.encode(v) for k, v in kwargs.items()}
        self.send(message)
        while True:
            kind, *rest = self.next_message()
            if kind == "request":
                self.send(_handle(rest, self))
            elif kind == "reply" and rest[0] == cid:
                status, value, grads = rest[1]
                if status == "error":
                    raise _exception(value)
                if grads is not None:
                    value = _with_grads(value, grads, *params)
                return value
            elif kind == "end":
                raise SubmissionError("the judge ended the session during a call to it")


class JudgeObject:
    """A function, class or object of the judge's, as the student's code receives it.

    Calling it, or reading an attribute, runs the judge's own code with the data sent.
    """

    __slots__ = ("_link", "_id", "_name")

    def __init__(self, link, ref: int, name: str):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_id", ref)
        object.__setattr__(self, "_name", name)

    def __call__(self, *args, **kwargs):
        return object.__getattribute__(self, "_link").callback("call", self, args, kwargs)

    def __setattr__(self, name, value):
        raise AttributeError("a helper of the judge cannot be changed by the student's code")

    def __delattr__(self, name):
        raise AttributeError("a helper of the judge cannot be changed by the student's code")

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return object.__getattribute__(self, "_link").callback("getattr", self, name)

    def __repr__(self):
        return f"<the checks' {object.__getattribute__(self, '_name')}>"


_current_link: _Link | None = None


def _judge_object(ref: int, name: str) -> JudgeObject:
    """Unpickling a judge's helper in the student's kernel gives a JudgeObject."""
    return JudgeObject(sys.modules["genlab_judge"]._current_link, ref, name)


def _handle(request, link: _Link) -> dict:
    rid, op, params = request
    reply: dict = {"reply": rid}
    try:
        if op == "get":
            (name,) = params
            namespace = link.namespace
            if name not in namespace:
                raise NameError(f"name '{name}' is not defined")
            reply["ok"] = Encoder().encode(namespace[name])
        elif op == "getattr":
            obj, name = params
            reply["ok"] = Encoder().encode(getattr(obj, name))
        elif op == "isinstance":
            obj, cls = params
            reply["ok"] = isinstance(obj, cls)
        elif op in ("call", "repeat"):
            function, times, args, kwargs, declared = (
                params if op == "repeat" else (params[0], None, *params[1:])
            )
            declared = set(declared)
            positions = [*range(len(args)), *kwargs]
            values = [*args, *kwargs.values()]
            before = [_state(v) for v in values]
            if times is None:
                result = function(*args, **kwargs)
            else:  # one reply for many calls: an in-place argument moves on through them
                result = [function(*args, **kwargs) for _ in range(int(times))]
            reply["ok"] = Encoder().encode(result)
            changed, states = [], {}
            for where, value, old in zip(positions, values, before, strict=True):
                new = _state(value)
                if new == old:
                    continue
                if where in declared:
                    states[str(where)] = new
                else:
                    changed.append(_parameter_name(function, where))
            grads = _grads(result, args, kwargs)
            if grads is not None:
                grads = [None if g is None else Encoder.tensor(g) for g in grads]
            reply.update(changed=changed, states=states, grads=grads)
        else:
            raise ValueError(f"unknown request {op!r}")
    except BaseException as exc:  # noqa: BLE001 (whatever the student's code raises)
        if isinstance(exc, KeyboardInterrupt):
            raise
        reply = {"reply": rid, "error": _error(exc)}
    return reply


def _parameter_name(function, where) -> str:
    """How the function calls its argument at `where` (a position or a keyword)."""
    if isinstance(where, str):
        return where
    try:
        import inspect

        names = [
            p.name
            for p in inspect.signature(function).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        return names[where]
    except (TypeError, ValueError, IndexError):
        return f"number {where + 1}"


def answer(path: str, token: str, namespace: dict | None = None) -> None:
    """Answer the judge's requests until it ends the session (in the kernel's main thread).

    Connects to the judge's socket at `path`, says `token` (which session this is), then
    runs what the judge asks. An interrupt ends it, as does a closed connection.
    """
    global _current_link
    if namespace is None:
        from IPython import get_ipython

        namespace = get_ipython().user_ns
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        link = _current_link = _Link(sock, namespace)
        link.send({"hello": token})
        while True:
            kind, *rest = link.next_message()
            if kind == "end":
                return
            if kind == "request":
                link.send(_handle(rest, link))
    except (ConnectionError, OSError, KeyboardInterrupt):
        return
    finally:
        _current_link = None
        sock.close()


# ---------------------------------------------------------------------------
# The judge's side


def _remote_ref(obj) -> int | None:
    if isinstance(obj, _RemoteType):
        return type.__getattribute__(obj, "_ref")
    if isinstance(obj, Remote):
        return object.__getattribute__(obj, "_ref")
    return None


def _judge_local(obj) -> bool:
    """Whether `obj` was made by a test or setup cell (a function, class or their objects).

    Such an object stays in the judge: the student's code gets a JudgeObject in its place.
    """
    if isinstance(obj, (types.FunctionType, type)):
        return getattr(obj, "__module__", None) == "__main__"
    if isinstance(obj, types.MethodType):
        return _judge_local(obj.__func__) or _judge_local(obj.__self__)
    return type(obj).__module__ == "__main__"


@functools.cache
def _pickler():
    """cloudpickle's pickler: a `Remote` as a reference to the student's object, the judge's
    own helpers as references back to the judge."""
    import cloudpickle

    class Pickler(cloudpickle.CloudPickler):
        def reducer_override(self, obj):
            ref = _remote_ref(obj)
            if ref is not None:
                return _lookup, (ref,)
            if _judge_local(obj):
                name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
                return _judge_object, (self.submission.keep(obj), str(name))
            return super().reducer_override(obj)

    return Pickler


class Submission:
    """The judge's connection to the student's kernel.

    The judge listens on a socket of its own (`path`), in a folder the student's sandbox
    sees read-only. For each judged cell the grader opens a session with a token and
    starts `answer` in the student's kernel, which connects and says the token; the
    session ends with `close`. Connections that do not say the session's token are closed.
    """

    def __init__(self, path: str, timeout: float = 60.0, connect_timeout: float = 30.0):
        self.path = path
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        if os.path.lexists(path):  # the socket of a judge this one replaces
            os.unlink(path)
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(path)
        self._server.listen(8)
        self._sock: socket.socket | None = None
        self._token: str | None = None
        self._broken: str | None = None
        self._absent: str | None = None  # the kernel did not connect: until it is replaced
        self._ids = itertools.count(1)
        self._proxies: dict[int, Any] = {}
        self._kept: dict[int, tuple[int, Any]] = {}  # id(obj) -> (ref, obj)
        self._objects: dict[int, Any] = {}  # ref -> obj

    # -- sessions

    def open(self, token: str) -> None:
        """Start a session: the next request waits for a connection that says `token`."""
        self._drop()
        self._token, self._broken = token, None

    def close(self) -> None:
        """End the session: the student's `answer` returns."""
        if self._sock is not None and self._broken is None:
            try:
                self._sock.sendall(self._frame(("end",)))
            except OSError:
                pass
        self._drop()
        self._token = None

    def reset(self) -> None:
        """The student's kernel was replaced: its references mean nothing any more."""
        self._drop()
        self._proxies.clear()
        self._absent = None

    def shut(self) -> None:
        """Stop listening: the student this connection was for has been graded."""
        self.close()
        self._server.close()

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _connection(self) -> socket.socket:
        if self._broken is not None or self._absent is not None:
            raise SubmissionError(self._broken or self._absent)
        if self._sock is not None:
            return self._sock
        if self._token is None:
            raise SubmissionError("no session with the submission's kernel is open")
        deadline = time.monotonic() + self.connect_timeout
        while True:
            self._server.settimeout(max(0.0, deadline - time.monotonic()))
            try:
                sock, _ = self._server.accept()
            except (TimeoutError, OSError):
                self._absent = (
                    "the submission's kernel is not answering (it may have crashed, been "
                    "stopped, or broken what answers the checks): nothing of it can be checked"
                )
                raise SubmissionError(self._absent) from None
            try:
                hello = _loads(_receive(sock, 1024, min(deadline, time.monotonic() + 5)))
            except (OSError, ConnectionError, TimeoutError, ProtocolError):
                sock.close()
                continue
            if isinstance(hello, dict) and hello.get("hello") == self._token:
                self._sock = sock
                return sock
            sock.close()  # a connection from an earlier session, or not from `answer`

    # -- requests

    def keep(self, obj) -> int:
        """The reference by which the student's code may call one of the judge's objects."""
        if id(obj) not in self._kept:
            ref = len(self._objects) + 1
            self._kept[id(obj)] = (ref, obj)
            self._objects[ref] = obj
        return self._kept[id(obj)][0]

    def _frame(self, message) -> bytes:
        buffer = io.BytesIO()
        pickler = _pickler()(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.submission = self
        pickler.dump(message)
        data = buffer.getvalue()
        return _HEADER.pack(len(data)) + data

    def _reply(self, cid, payload: tuple) -> bytes:
        try:
            return self._frame(("reply", cid, payload))
        except Exception as exc:  # noqa: BLE001 (what the judge's helper returned cannot travel)
            return self._frame(("reply", cid, ("error", _error(exc), None)))

    def request(self, op: str, *params) -> dict:
        __tracebackhide__ = True  # IPython leaves this frame out of tracebacks
        sock = self._connection()
        rid = next(self._ids)
        deadline = time.monotonic() + self.timeout
        stale = 0
        try:
            sock.sendall(self._frame(("request", rid, op, params)))
            while True:
                message = _loads(_receive(sock, MAX_FRAME, deadline))
                if not isinstance(message, dict):
                    raise ProtocolError("a message that is not a JSON object")
                if "callback" in message:
                    sock.sendall(self._reply(message["callback"], self._run(message)))
                elif type(message.get("reply")) is int and message["reply"] == rid:
                    break
                else:  # a late or repeated answer to another request: never this one's
                    stale += 1
                    if stale > MAX_STALE:
                        raise ProtocolError("too many answers to requests that were not asked")
        except TimeoutError:
            self._give_up(f"the submission's code did not finish within {self.timeout:g} s")
        except ProtocolError as exc:
            self._give_up(f"the submission's kernel broke the judge's protocol: {exc}")
        except (OSError, ConnectionError) as exc:
            self._give_up(f"the submission's kernel stopped answering ({clean_text(exc, 200)})")
        except BaseException:  # an interrupt: whatever comes later must not answer anything
            self._broken = "an earlier call into the submission's code was interrupted"
            self._drop()
            raise
        if "error" in message:
            raise _exception(message["error"])
        return message

    def _give_up(self, why: str):
        __tracebackhide__ = True
        self._broken = why + "; the cell's later calls were not made"
        self._drop()
        raise SubmissionError(why) from None

    def _run(self, message: dict) -> tuple:
        """Run the judge's own object the student's code called back into."""
        try:
            target = self._objects[int(message["target"])]
            if message.get("op") == "getattr":
                name = str(message.get("name"))
                if name.startswith("_"):
                    raise AttributeError(f"the checks' objects do not show {name!r}")
                return ("ok", getattr(target, name), None)
            if message.get("op") != "call":
                raise ProtocolError("an unknown callback")
            args = [self.decode(a) for a in message.get("args", [])]
            kwargs = {str(k): self.decode(v) for k, v in dict(message.get("kwargs", {})).items()}
            result = target(*args, **kwargs)
            return ("ok", result, _grads(result, args, kwargs))
        except Exception as exc:  # noqa: BLE001 (the judge's helper failed on the student's data)
            return ("error", _error(exc), None)

    def get(self, name: str):
        return self.decode(self.request("get", name)["ok"])

    def bind(self, namespace: dict, names) -> None:
        """Put the student's `names` into `namespace`; names they left undefined are removed."""
        for name in names:
            try:
                namespace[name] = self.get(name)
            except SubmissionError:
                raise
            except Exception:  # noqa: BLE001 (undefined, or not a value that can travel)
                namespace.pop(name, None)

    def call(self, target, args, kwargs, times: int | None = None):
        """Call the student's `target`; with `times`, that many times in one round trip
        (`genlab.checks.repeat`), their results as a list."""
        __tracebackhide__ = True  # IPython leaves this frame out of tracebacks
        from genlab.checks import is_in_place

        declared = [i for i, a in enumerate(args) if is_in_place(a)]
        declared += [k for k, v in kwargs.items() if is_in_place(v)]
        if times is None:
            reply = self.request("call", target, args, kwargs, declared)
        else:
            times = operator.index(times)
            if not 0 <= times <= MAX_REPEAT:
                raise ValueError(f"times must be from 0 to {MAX_REPEAT:,}, got {times}")
            reply = self.request("repeat", target, times, args, kwargs, declared)
        result = self.decode(reply.get("ok"))
        if times is not None and not (isinstance(result, list) and len(result) == times):
            raise ProtocolError(f"not the {times} results of {times} calls")
        changed = reply.get("changed") or []
        if changed:
            names = ", ".join(repr(clean_text(c, 50)) for c in list(changed)[:5])
            raise InPlaceChange(
                f"{_name(target)} changed its argument(s) {names} in place. A function here "
                "must not change what it is given, unless its docstring says so: work on a copy."
            )
        states = reply.get("states") or {}
        for where, state in dict(states).items():
            where = int(where) if str(where).isdigit() else str(where)
            if where not in declared:
                raise ProtocolError("a new state for an argument that was not declared")
            _apply(self, args[where] if isinstance(where, int) else kwargs[where], state)
        if reply.get("grads") is not None:
            grads = [None if g is None else self.decode(g) for g in reply["grads"]]
            result = _with_grads(result, grads, args, kwargs)
        return result

    # -- decoding

    def decode(self, node):
        if isinstance(node, str):
            return clean_text(node, limit=MAX_FRAME)
        if not isinstance(node, dict):
            if isinstance(node, list):
                raise ProtocolError("a bare list where a value was expected")
            return node
        kind = node.get("$")
        if kind == "array":
            return _array(node)
        if kind == "scalar":
            return _array(node)[()]
        if kind == "tensor":
            import torch

            tensor = torch.from_numpy(_array(node))
            return tensor.requires_grad_(
                node.get("requires_grad") is True and tensor.is_floating_point()
            )
        if kind in ("list", "tuple", "set", "frozenset"):
            items = node.get("v")
            if not isinstance(items, list):
                raise ProtocolError("a container without items")
            decoded = [self.decode(item) for item in items]
            if kind in ("set", "frozenset"):
                decoded = [_hashable(x) for x in decoded]
            return getattr(builtins, kind)(decoded)
        if kind == "dict":
            pairs = node.get("v")
            if not isinstance(pairs, list) or not all(
                isinstance(p, list) and len(p) == 2 for p in pairs
            ):
                raise ProtocolError("a dict without pairs")
            return {_hashable(self.decode(k)): self.decode(v) for k, v in pairs}
        if kind == "complex":
            real, imag = node.get("v", [None, None])
            if not all(type(x) in (int, float) for x in (real, imag)):
                raise ProtocolError("a complex number that is not two numbers")
            return complex(real, imag)
        if kind == "ref":
            return self._proxy(node)
        if kind == "judge":
            ref = node.get("id")
            if type(ref) is not int or ref not in self._objects:
                raise ProtocolError("a reference to none of the judge's objects")
            return self._objects[ref]
        raise ProtocolError(f"an unknown value kind {clean_text(kind, 50)!r}")

    def _proxy(self, node):
        ref = node.get("id")
        if type(ref) is not int:
            raise ProtocolError("a reference without an id")
        if ref not in self._proxies:
            name = clean_text(node.get("name"), 200)
            if node.get("kind") == "class":
                short = name.rsplit(".", 1)[-1] or "Submitted"
                proxy = _RemoteType(short, (), {"_ref": ref, "_submission": self})
            else:
                proxy = Remote(self, ref, name)
            self._proxies[ref] = proxy
        return self._proxies[ref]


def _hashable(key):
    if isinstance(key, list):
        return tuple(key)
    if isinstance(key, (dict, set, np.ndarray)) or _torch() and isinstance(key, _torch().Tensor):
        raise ProtocolError("an unhashable key")
    return key


def _name(target) -> str:
    if isinstance(target, _RemoteType):
        return target.__name__
    if isinstance(target, Remote):
        return object.__getattribute__(target, "_name").rsplit(".", 1)[-1]
    return "the function"


def _apply(submission: Submission, obj, state) -> None:
    """Bring what the student's code did to a declared argument into the judge's own object.

    Only contents: an array keeps its shape and dtype, a module its parameters' names and
    shapes, an object the attributes it had.
    """
    if not isinstance(state, dict):
        raise ProtocolError("a state that is not a dict")
    kind = state.get("$")
    if kind == "array" and isinstance(obj, np.ndarray):
        new = _array(state)
        if new.shape == obj.shape and obj.flags.writeable:
            np.copyto(obj, new, casting="unsafe")
    elif kind == "tensor":
        import torch

        new = torch.from_numpy(_array(state))
        if isinstance(obj, torch.Tensor) and new.shape == obj.shape:
            with torch.no_grad():
                obj.copy_(new.to(obj.dtype))
    elif kind == "rng" and isinstance(obj, np.random.Generator):
        new_state = json.loads(clean_text(state.get("state"), MAX_FRAME))
        if (
            not isinstance(new_state, dict)
            or new_state.get("bit_generator") != (obj.bit_generator.state["bit_generator"])
        ):
            raise ProtocolError("a generator's state of another kind")
        obj.bit_generator.state = new_state
    elif kind == "module":
        import torch

        new = submission.decode(state.get("state"))
        old = obj.state_dict()
        if (
            not isinstance(obj, torch.nn.Module)
            or not isinstance(new, dict)
            or set(new) != set(old)
        ):
            raise ProtocolError("a module's state with other parameters")
        for key, value in new.items():
            if not isinstance(value, torch.Tensor) or value.shape != old[key].shape:
                raise ProtocolError("a module's state with parameters of other shapes")
        obj.load_state_dict(new)
    elif kind == "optimizer":
        import torch

        if not isinstance(obj, torch.optim.Optimizer):
            raise ProtocolError("an optimiser's state for something else")
        obj.load_state_dict(submission.decode(state.get("state")))
    elif kind == "contents":
        value = submission.decode(state.get("v"))
        if isinstance(obj, list) and isinstance(value, list):
            obj[:] = value
        elif isinstance(obj, dict) and isinstance(value, dict):
            obj.clear()
            obj.update(value)
    elif kind == "object" and hasattr(obj, "__dict__"):
        attrs = state.get("attrs")
        if not isinstance(attrs, dict):
            raise ProtocolError("an object's state without attributes")
        for name, inner in attrs.items():
            if name not in vars(obj):
                continue  # only what the object had: a call cannot give it new attributes
            current = vars(obj)[name]
            if isinstance(inner, dict) and inner.get("$") == "value":
                value = submission.decode(inner.get("v"))
                if _is_data(current) and _is_data(value):
                    setattr(obj, name, value)
            elif current is not None:
                _apply(submission, current, inner)


class Remote:
    """A function or object that stays in the student's kernel."""

    __slots__ = ("_submission", "_ref", "_name")

    def __init__(self, submission: Submission, ref: int, name: str):
        object.__setattr__(self, "_submission", submission)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_name", name)

    def __call__(self, *args, **kwargs):
        __tracebackhide__ = True  # IPython leaves this frame out of tracebacks
        return object.__getattribute__(self, "_submission").call(self, args, kwargs)

    def __genlab_repeat__(self, times: int, args: tuple, kwargs: dict) -> list:
        """`genlab.checks.repeat` of a function of the student's: one round trip."""
        __tracebackhide__ = True
        return object.__getattribute__(self, "_submission").call(self, args, kwargs, times)

    def __getattr__(self, name):
        __tracebackhide__ = True  # IPython leaves this frame out of tracebacks
        if name.startswith("__"):
            raise AttributeError(name)
        submission = object.__getattribute__(self, "_submission")
        return submission.decode(submission.request("getattr", self, name).get("ok"))

    def __repr__(self):
        return f"<submitted {object.__getattribute__(self, '_name')}>"


class _RemoteType(type):
    """A class of the student's: calling it makes an object in their kernel."""

    def __call__(cls, *args, **kwargs):
        __tracebackhide__ = True  # IPython leaves this frame out of tracebacks
        return cls._submission.call(cls, args, kwargs)

    def __instancecheck__(cls, obj):
        if not isinstance(obj, Remote):
            return False
        return cls._submission.request("isinstance", obj, cls).get("ok") is True

    def __getattr__(cls, name):
        __tracebackhide__ = True  # IPython leaves this frame out of tracebacks
        if name.startswith("__"):
            raise AttributeError(name)
        return cls._submission.decode(cls._submission.request("getattr", cls, name).get("ok"))

    def __repr__(cls):
        return f"<submitted class {cls.__name__}>"


# ---------------------------------------------------------------------------
# A judge kept for the next student


class Baseline:
    """The judge's namespace, random states and folder as they were before any student.

    A grading process keeps its judge for the next student: the course's setup cells
    that read nothing of the student's run once, then `Baseline(globals(), before, folder)`
    keeps deep copies of every name they added or rebound (every name not in `before`, the
    names the kernel had before the setup: IPython's and the judge's own), so that no
    check can change the next student's. `restore(globals())` starts each student from
    them: every other name is removed, the copies come back as fresh deep copies, the
    random states of `random`, NumPy and torch are set back, the marks of
    `genlab.checks.in_place` are forgotten and the judge's `folder` is emptied. Modules,
    functions and classes the setup made are not copied (a function's defaults and a
    class's attributes are shared). Only the course's own code runs in the judge; this is
    what keeps one student's data out of the next one's checks. Raises TypeError if
    something the setup made cannot be copied (the judge is then not kept).
    """

    def __init__(self, namespace: dict, before, folder: str):
        before = set(before)
        copied = {k: v for k, v in namespace.items() if k not in before and _copied(v)}
        self.names = {k: v for k, v in namespace.items() if k not in copied}
        self.copied = copy.deepcopy(copied)
        self.random = _random_states()
        self.folder = folder

    def restore(self, namespace: dict) -> None:
        old = namespace.get("__genlab_submission__")
        if isinstance(old, Submission):
            old.shut()
        for name in [n for n in namespace if n not in self.names and n not in self.copied]:
            del namespace[name]
        namespace.update(self.names)
        namespace.update(copy.deepcopy(self.copied))
        _set_random_states(self.random)
        if "genlab.checks" in sys.modules:
            sys.modules["genlab.checks"]._IN_PLACE.clear()
        for attribute in ("last_type", "last_value", "last_traceback", "last_exc"):
            if hasattr(sys, attribute):
                setattr(sys, attribute, None)
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
        os.chdir(self.folder)
        for entry in os.scandir(self.folder):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
        gc.collect()


def _copied(value) -> bool:
    """Whether the baseline keeps a copy of `value` (data and objects), or the value itself
    (modules, functions and classes)."""
    kinds = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)
    return not isinstance(value, kinds)


# torch's seed when it is imported and nothing has seeded it (c10's default_rng_seed_val)
_TORCH_SEED_AT_IMPORT = 67280421310721


def _random_states() -> dict:
    # the legacy global state: what code that draws without a generator of its own uses
    states = {"random": random.getstate(), "numpy": np.random.get_state()}  # noqa: NPY002
    if "torch" in sys.modules:
        states["torch"] = sys.modules["torch"].get_rng_state()
    return states


def _set_random_states(states: dict) -> None:
    random.setstate(states["random"])
    np.random.set_state(states["numpy"])  # noqa: NPY002
    if "torch" in states:
        sys.modules["torch"].set_rng_state(states["torch"])
    elif "torch" in sys.modules:  # imported since (a tensor a student sent, say): as at import
        sys.modules["torch"].manual_seed(_TORCH_SEED_AT_IMPORT)


# pickles name these by the module name both kernels know
for _function in (_lookup, _judge_object):
    _function.__module__ = "genlab_judge"
del _function
