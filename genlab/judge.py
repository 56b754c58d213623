"""Test cells graded in a kernel the submission never ran in.

A test cell that runs in the student's kernel can be fooled by the code before it: it can
swallow every error (`get_ipython().set_custom_exc`), rewrite cells before they run,
replace `np.allclose` or `genlab.checks`, or hand over objects whose `==` always says
yes. No check inside that process can be trusted once the submission has run there.

So while grading, each autograded test cell runs in a second kernel, the judge, where
no line of the submission ever runs. The judge runs the course's own setup cells (from
`source/`), then the test cell. The names the student defines in answer cells (their
functions, classes and values) are looked up in the student's kernel, and come back
as one of two things:

- data (numbers, strings, containers, NumPy arrays, torch tensors), decoded from plain
  JSON: never unpickled, so nothing the student built can run in the judge;
- a reference (`Remote`) to a function, class or object that stays in the student's
  kernel. Calling it sends the arguments there (pickled: the judge's objects travel to
  the student's side, never back) and returns data or another reference.

The judge sees the effect of a call on its own arguments, as data: the new contents of
arrays and tensors, the state of a `np.random.Generator`, of a torch module or
optimiser, and the attributes of plain objects. Gradients of a scalar tensor the
student's code returns, with respect to tensor arguments that require them, come back
too, so `loss.backward()` in a test fills the `.grad` of the test's own tensors.

Whatever the submission does to its own kernel only changes the answers the judge
receives, and each answer is checked by code and libraries of the judge's own.

Two halves: `serve` runs in the student's kernel (started before any of the student's
code; replacing it only breaks the student's own grading), `Submission` in the judge.
"""

from __future__ import annotations

import base64
import builtins
import functools
import io
import json
import pickle
import socket
import struct
import threading
from typing import Any

import numpy as np

__all__ = ["Remote", "Submission", "serve"]

MAX_REPLY = 256 * 2**20  # bytes; a bigger answer is refused
_HEADER = struct.Struct("!Q")


def _send(sock: socket.socket, data: bytes) -> None:
    sock.sendall(_HEADER.pack(len(data)) + data)


def _receive(sock: socket.socket, limit: int = MAX_REPLY) -> bytes:
    size = _HEADER.unpack(_exactly(sock, _HEADER.size))[0]
    if size > limit:
        raise ValueError(f"the submission's answer is {size} bytes, over the limit of {limit}")
    return _exactly(sock, size)


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 2**20))
        if not chunk:
            raise ConnectionError("the submission's kernel closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


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
    """The table of the server that runs (loaded as `genlab_judge` in a student's kernel)."""
    import sys

    return sys.modules.get("genlab_judge", sys.modules[__name__])._table


def _lookup(ref: int):
    """Unpickling a reference in the student's kernel gives back the object."""
    return _current_table().objects[ref]


def _torch():
    import sys

    return sys.modules.get("torch")


def _encode(obj, depth: int = 0):
    """Data as JSON-ready nodes; anything else as a reference."""
    if depth > 50:
        raise ValueError("the value is nested too deeply to send")
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if type(obj) is int or type(obj) is float:
        return obj
    torch = _torch()
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "biufc" and not obj.dtype.fields:
        return _array_node(obj)
    if isinstance(obj, np.generic) and obj.dtype.kind in "biufc":
        return {"$": "scalar", **_array_node(np.asarray(obj))}
    if torch is not None and isinstance(obj, torch.Tensor):
        data = obj.detach().cpu()
        if data.dtype == torch.bfloat16:
            data = data.float()
        node = _array_node(data.contiguous().numpy())
        return {**node, "$": "tensor", "requires_grad": bool(obj.requires_grad)}
    if type(obj) in (list, tuple, set, frozenset):
        kind = type(obj).__name__
        return {"$": kind, "v": [_encode(item, depth + 1) for item in obj]}
    if type(obj) is dict:
        return {
            "$": "dict",
            "v": [[_encode(k, depth + 1), _encode(v, depth + 1)] for k, v in obj.items()],
        }
    if type(obj) is complex:
        return {"$": "complex", "v": [obj.real, obj.imag]}
    kind = "class" if isinstance(obj, type) else "callable" if callable(obj) else "object"
    name = getattr(obj, "__qualname__", None) if kind != "object" else type(obj).__qualname__
    return {"$": "ref", "id": _current_table().ref(obj), "kind": kind, "name": str(name)}


def _array_node(array: np.ndarray) -> dict:
    array = np.array(array, order="C", copy=True)  # (ascontiguousarray would make 0-d 1-d)
    return {
        "$": "array",
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "data": base64.b64encode(array.tobytes()).decode(),
    }


def _state(obj, depth: int = 0):
    """What a call may have changed in an argument, as data (None: nothing to report)."""
    torch = _torch()
    if depth > 4 or obj is None or isinstance(obj, (str, int, float, bool, type)):
        return None
    if id(obj) in _current_table().ids:  # the student's own object: the judge holds a reference
        return None
    if isinstance(obj, np.ndarray):
        return _encode(obj)
    if isinstance(obj, np.random.Generator):
        return {"$": "rng", "state": json.dumps(obj.bit_generator.state)}
    if torch is not None:
        if isinstance(obj, torch.Tensor):
            return _encode(obj)
        if isinstance(obj, torch.nn.Module):
            return {"$": "module", "state": _encode(dict(obj.state_dict()))}
        if isinstance(obj, torch.optim.Optimizer):
            return {"$": "optimizer", "state": _encode(obj.state_dict())}
    if type(obj) in (list, dict):
        try:
            return {"$": "contents", "v": _encode(obj)}
        except ValueError:
            return None
    if hasattr(obj, "__dict__") and not callable(obj):
        attrs = {}
        for name, value in vars(obj).items():
            inner = _state(value, depth + 1)
            if inner is None and _is_data(value):
                inner = {"$": "value", "v": _encode(value)}
            if inner is not None:
                attrs[name] = inner
        return {"$": "object", "attrs": attrs}
    return None


def _changed(obj, before):
    """`obj`'s state if the call changed it, else None."""
    after = _state(obj)
    return None if after == before else after


def _is_data(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, complex, np.generic))


def _grads(result, args, kwargs):
    """d result / d each tensor argument that requires grad, for a scalar result."""
    torch = _torch()
    if torch is None or not isinstance(result, torch.Tensor) or result.grad_fn is None:
        return None
    inputs = _differentiable(torch, args, kwargs)
    if not inputs or result.numel() != 1:
        return None
    grads = torch.autograd.grad(result.sum(), inputs, retain_graph=True, allow_unused=True)
    return [None if g is None else _encode(g) for g in grads]


def _differentiable(torch, args, kwargs) -> list:
    """The tensor arguments that require grad, in the order gradients travel."""
    return [a for a in [*args, *kwargs.values()] if isinstance(a, torch.Tensor) and a.requires_grad]


def _error(exc: BaseException) -> dict:
    builtin = next(
        (k.__name__ for k in type(exc).__mro__ if getattr(builtins, k.__name__, None) is k),
        "Exception",
    )
    return {"type": type(exc).__qualname__, "builtin": builtin, "message": str(exc)[:2000]}


def _handle(request: bytes, namespace: dict) -> bytes:
    try:
        op, *params = pickle.loads(request)
        if op == "get":
            (name,) = params
            if name not in namespace:
                raise NameError(f"name '{name}' is not defined")
            reply = {"ok": _encode(namespace[name])}
        elif op == "getattr":
            obj, name = params
            reply = {"ok": _encode(getattr(obj, name))}
        elif op == "isinstance":
            obj, cls = params
            reply = {"ok": isinstance(obj, cls)}
        elif op == "call":
            function, args, kwargs = params
            before = [_state(a) for a in args], {k: _state(v) for k, v in kwargs.items()}
            result = function(*args, **kwargs)
            reply = {
                "ok": _encode(result),
                # only what the call changed goes back (an unchanged training set stays here)
                "args": [_changed(a, old) for a, old in zip(args, before[0], strict=True)],
                "kwargs": {k: _changed(v, before[1][k]) for k, v in kwargs.items()},
                "grads": _grads(result, args, kwargs),
            }
        else:
            raise ValueError(f"unknown request {op!r}")
    except BaseException as exc:  # noqa: BLE001 (whatever the student's code raises)
        reply = {"error": _error(exc)}
    try:
        return json.dumps(reply).encode()
    except (TypeError, ValueError) as exc:
        return json.dumps({"error": _error(exc)}).encode()


def serve(path: str, namespace: dict | None = None) -> None:
    """Answer the judge's requests on the Unix socket `path`, each in a thread of its own."""
    if namespace is None:
        from IPython import get_ipython

        namespace = get_ipython().user_ns
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)

    def answer(connection):
        with connection:
            while True:
                try:
                    request = _receive(connection)
                except (ConnectionError, OSError, ValueError):
                    return
                _send(connection, _handle(request, namespace))

    def accept():
        while True:
            connection, _ = server.accept()
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True, name="genlab-judge").start()


# ---------------------------------------------------------------------------
# The judge's side


class SubmissionError(RuntimeError):
    """The submission's kernel did not answer a request."""


def _remote_ref(obj) -> int | None:
    if isinstance(obj, _RemoteType):
        return type.__getattribute__(obj, "_ref")
    if isinstance(obj, Remote):
        return object.__getattribute__(obj, "_ref")
    return None


@functools.cache
def _pickler():
    """cloudpickle's pickler, sending a `Remote` as a reference to the student's object."""
    import cloudpickle

    class Pickler(cloudpickle.CloudPickler):
        def reducer_override(self, obj):
            ref = _remote_ref(obj)
            if ref is not None:
                return _lookup, (ref,)
            return super().reducer_override(obj)

    return Pickler


def _pickle(payload) -> bytes:
    buffer = io.BytesIO()
    _pickler()(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(payload)
    return buffer.getvalue()


class Submission:
    """The judge's connection to the student's kernel."""

    def __init__(self, path: str, timeout: float = 60.0):
        self.path = path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._proxies: dict[int, Any] = {}

    def attach(self, path: str) -> None:
        """Talk to the kernel at `path` from now on (a new one, after a crash)."""
        if path != self.path:
            self._drop()
            self._proxies.clear()
            self.path = path

    def _connection(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.path)
            except OSError as exc:
                raise SubmissionError(
                    "the submission's kernel is not running (it may have crashed or been "
                    "stopped earlier): nothing of it can be graded here"
                ) from exc
            self._sock = sock
        return self._sock

    def request(self, *message):
        __tracebackhide__ = True  # IPython leaves this frame out of tracebacks
        sock = self._connection()
        try:
            _send(sock, _pickle(message))
            reply = json.loads(_receive(sock))
        except TimeoutError:
            self._drop()
            raise SubmissionError(
                f"the submission's code did not finish within {self.timeout:g} s"
            ) from None
        except (OSError, ConnectionError, ValueError) as exc:
            self._drop()
            raise SubmissionError(f"the submission's kernel stopped answering ({exc})") from None
        if "error" in reply:
            raise _exception(reply["error"])
        return reply

    def _drop(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def get(self, name: str):
        return self.decode(self.request("get", name)["ok"])

    def bind(self, namespace: dict, names) -> None:
        """Put the student's `names` into `namespace`; names they left undefined are removed."""
        for name in names:
            try:
                namespace[name] = self.get(name)
            except NameError:
                namespace.pop(name, None)

    def decode(self, node):
        if not isinstance(node, dict):
            return node
        kind = node["$"]
        if kind == "array":
            return _array(node)
        if kind == "scalar":
            return _array(node)[()]
        if kind == "tensor":
            import torch

            tensor = torch.from_numpy(_array(node))
            return tensor.requires_grad_(node["requires_grad"] and tensor.is_floating_point())
        if kind in ("list", "tuple", "set", "frozenset"):
            return getattr(builtins, kind)(self.decode(item) for item in node["v"])
        if kind == "dict":
            return {_hashable(self.decode(k)): self.decode(v) for k, v in node["v"]}
        if kind == "complex":
            return complex(*node["v"])
        if kind == "ref":
            return self._proxy(node)
        raise ValueError(f"unknown value kind {kind!r}")

    def _proxy(self, node):
        ref = int(node["id"])
        if ref not in self._proxies:
            if node["kind"] == "class":
                name = str(node["name"]).rsplit(".", 1)[-1] or "Submitted"
                proxy = _RemoteType(name, (), {"_ref": ref, "_submission": self})
            else:
                proxy = Remote(self, ref, str(node["name"]))
            self._proxies[ref] = proxy
        return self._proxies[ref]

    def call(self, target, args, kwargs):
        __tracebackhide__ = True  # IPython leaves this frame out of tracebacks
        reply = self.request("call", target, args, kwargs)
        result = self.decode(reply["ok"])
        for arg, state in zip(args, reply["args"], strict=False):
            _apply(self, arg, state)
        for name, state in reply["kwargs"].items():
            _apply(self, kwargs.get(name), state)
        if reply.get("grads") is not None:
            result = _with_grads(self, result, args, kwargs, reply["grads"])
        return result


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


def _array(node) -> np.ndarray:
    dtype = np.dtype(node["dtype"])
    if dtype.kind not in "biufc":
        raise ValueError(f"refused array dtype {dtype}")
    data = base64.b64decode(node["data"])
    return np.frombuffer(data, dtype=dtype).reshape(node["shape"]).copy()


def _exception(error: dict) -> BaseException:
    kind = getattr(builtins, str(error.get("builtin")), None)
    message = str(error.get("message", ""))
    if not (isinstance(kind, type) and issubclass(kind, Exception)) or kind is Exception:
        return RuntimeError(f"{error.get('type')}: {message}")
    if kind is KeyError:
        return KeyError(message)
    try:
        return kind(message)
    except TypeError:  # an exception class that wants other arguments
        return RuntimeError(f"{error.get('type')}: {message}")


def _apply(submission: Submission, obj, state) -> None:
    """Bring what the student's code did to an argument into the judge's own object."""
    if state is None or obj is None:
        return
    kind = state["$"]
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
        obj.bit_generator.state = json.loads(state["state"])
    elif kind == "module":
        obj.load_state_dict(submission.decode(state["state"]))
    elif kind == "optimizer":
        obj.load_state_dict(submission.decode(state["state"]))
    elif kind == "contents":
        value = submission.decode(state["v"])
        if isinstance(obj, list) and isinstance(value, list):
            obj[:] = value
        elif isinstance(obj, dict) and isinstance(value, dict):
            obj.clear()
            obj.update(value)
    elif kind == "object" and hasattr(obj, "__dict__"):
        for name, inner in state["attrs"].items():
            current = vars(obj).get(name)
            if inner["$"] == "value":
                setattr(obj, name, submission.decode(inner["v"]))
            elif current is not None:
                _apply(submission, current, inner)


def _with_grads(submission, result, args, kwargs, grads):
    import torch

    decoded = [None if g is None else submission.decode(g) for g in grads]
    return _bridge().apply(result.detach(), decoded, *_differentiable(torch, args, kwargs))


@functools.cache
def _bridge():
    import torch

    class Bridge(torch.autograd.Function):
        """A result computed elsewhere, with the gradients that came with it."""

        @staticmethod
        def forward(ctx, value, grads, *inputs):
            ctx.grads = grads
            return value.clone()

        @staticmethod
        def backward(ctx, grad_output):
            return (None, None, *[None if g is None else grad_output * g for g in ctx.grads])

    return Bridge


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

    def __getattr__(self, name):
        __tracebackhide__ = True  # IPython leaves this frame out of tracebacks
        if name.startswith("__"):
            raise AttributeError(name)
        submission = object.__getattribute__(self, "_submission")
        return submission.decode(submission.request("getattr", self, name)["ok"])

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
        return bool(cls._submission.request("isinstance", obj, cls)["ok"])

    def __getattr__(cls, name):
        __tracebackhide__ = True  # IPython leaves this frame out of tracebacks
        if name.startswith("__"):
            raise AttributeError(name)
        return cls._submission.decode(cls._submission.request("getattr", cls, name)["ok"])

    def __repr__(cls):
        return f"<submitted class {cls.__name__}>"
