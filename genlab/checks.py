"""Checks that the notebooks' tests call, with messages written for a student.

Every check raises `CheckFailed` (an `AssertionError`, so nbgrader counts it as a
failed test) whose message says what was expected and what was found:
"expected `probs` to have shape (5, 10), got (10, 5)". Types are checked strictly
before any value is compared, so an object whose `__eq__` always answers True, or a
string that looks like a number, fails with a clear message instead of passing.

The checks return None on purpose: nbgrader reads a number left as a test cell's last
value as partial credit, so a check must never echo the student's value back there.
Only the `score_*` functions, meant to be a test cell's last line, return a number.

`in_place` marks what a test lets the function under test change (a random generator it
draws from, the players it trains): under the autograder, only what is marked comes back
changed from a call, and a call that changes anything else fails.
In a notebook it only returns what it is given.

What this module leaves out: it knows no answers. The tests in each notebook hold
the expected values; these functions only compare and explain.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Iterable, Mapping

import numpy as np

__all__ = [
    "CheckFailed",
    "in_place",
    "is_in_place",
    "repeat",
    "check_type",
    "check_array",
    "check_tensor",
    "check_close",
    "check_equal",
    "check_probabilities",
    "check_choice",
    "check_keys",
    "score_matches",
    "score_in_order",
    "score_accuracy",
]


class CheckFailed(AssertionError):
    """A check failed; the message tells the student what was expected."""


def _describe(value) -> str:
    """A short, safe description of a value for a message (never calls its __repr__)."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if _is_plain(value):
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    return f"an object of type {type(value).__name__}"


_SCALARS = (bool, int, float, str, type(None))


def _is_plain(value, depth: int = 2) -> bool:
    """A built-in scalar, or a list/tuple/set of them (nested up to `depth`): safe to repr."""
    if type(value) in _SCALARS:
        return True
    if type(value) in (list, tuple, set, frozenset) and depth > 0:
        return len(value) <= 1000 and all(_is_plain(v, depth - 1) for v in value)
    return False


# ---------------------------------------------------------------------------
# What a call may change


_IN_PLACE: dict[int, object] = {}  # id -> the object itself (so that the id stays its own)


def in_place(obj):
    """Mark `obj` as something the function it is passed to may change, and return it.

    A random generator the function draws from, or the models and optimisers it trains:
    their new state is what the test looks at next. Arrays, tensors and lists a function
    is given are inputs, and a function that changes one fails its check.
    """
    _IN_PLACE[id(obj)] = obj
    return obj


def is_in_place(obj) -> bool:
    """Whether a test marked `obj` with `in_place`."""
    return _IN_PLACE.get(id(obj)) is obj


def repeat(function, times: int, *args, **kwargs) -> list:
    """The results of `times` calls `function(*args, **kwargs)`, in order, as a list.

    The same as a loop; but where the function is a student's and a grader's judge checks
    it, the calls are made in the student's kernel and their results come back in one
    round trip, not one per call (thousands of draws from a sampler, say). An argument
    marked `in_place` moves on through the calls, as it would in the loop.
    """
    many = getattr(type(function), "__genlab_repeat__", None)
    if many is not None:
        return many(function, times, args, kwargs)
    return [function(*args, **kwargs) for _ in range(times)]


# ---------------------------------------------------------------------------
# Types


_TYPE_NAMES = {
    dict: "a dict",
    list: "a list",
    tuple: "a tuple",
    str: "a string",
    int: "an int",
    float: "a float",
    bool: "a bool",
    np.ndarray: "a numpy array",
    np.floating: "a NumPy float (np.float64, np.float32, ...)",
    np.integer: "a NumPy integer (np.int64, ...)",
}
# NumPy's abstract scalar types: they stand for NumPy's own scalar types under them
_NUMPY_FAMILIES = (np.floating, np.integer, np.number, np.generic)


def _is_numpy_scalar_of(value, family: type) -> bool:
    kind = type(value)
    return family in _NUMPY_FAMILIES and issubclass(kind, family) and kind.__module__ == "numpy"


def check_type(value, expected: type | tuple[type, ...], name: str) -> None:
    """Check that `type(value)` is exactly one of `expected` (subclasses do not count, but
    for NumPy's abstract scalar types: `np.floating` accepts `np.float64` and its kin)."""
    types = expected if isinstance(expected, tuple) else (expected,)
    if type(value) not in types and not any(_is_numpy_scalar_of(value, t) for t in types):
        wanted = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
        hint = ""
        if isinstance(value, np.generic) and type(value.item()) in types:
            hint = f" Convert it with {type(value.item()).__name__}(...)."
        raise CheckFailed(f"expected `{name}` to be {wanted}, got {_describe(value)}.{hint}")


def _is_real_number(value) -> bool:
    return isinstance(value, numbers.Real | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


# ---------------------------------------------------------------------------
# Arrays


def _check_shape(got: tuple[int, ...], shape: tuple[int | None, ...], name: str, hint=""):
    """Check an array's or a tensor's shape; `None` in `shape` accepts any length there."""
    ok = len(got) == len(shape) and all(
        want is None or want == size for want, size in zip(shape, got, strict=True)
    )
    if not ok:
        pretty = "(" + ", ".join("any" if s is None else str(s) for s in shape)
        pretty += ",)" if len(shape) == 1 else ")"
        raise CheckFailed(f"expected `{name}` to have shape {pretty}{hint}, got {got}.")


def check_array(
    value,
    name: str,
    shape: tuple[int | None, ...] | None = None,
    dtype: str | None = None,
    finite: bool = True,
    low: float | None = None,
    high: float | None = None,
) -> None:
    """Check that `value` is a numpy array with the expected shape, dtype kind and range.

    Args:
        value: what the student's code returned.
        name: how the message names it, e.g. "predict_proba(X)".
        shape: expected shape; `None` in a position accepts any length there.
        dtype: expected dtype kind: "f" (floating), "i" (signed or unsigned integer),
            "b" (bool), or None for any.
        finite: reject NaN and infinity.
        low, high: inclusive bounds every entry must respect.
    """
    if type(value) is not np.ndarray:  # exactly: a subclass could override comparisons
        hint = ""
        if type(value) in (list, tuple):
            hint = " Wrap it with np.asarray(...)."
        elif type(value).__module__.startswith("torch"):
            hint = " Convert it with .detach().numpy()."
        raise CheckFailed(f"expected `{name}` to be a numpy array, got {_describe(value)}.{hint}")
    if shape is not None:
        _check_shape(tuple(value.shape), shape, name)
    if dtype is not None:
        kinds = {"f": "f", "i": "iu", "b": "b"}[dtype]
        if value.dtype.kind not in kinds:
            words = {"f": "floating-point", "i": "integer", "b": "boolean"}[dtype]
            raise CheckFailed(
                f"expected `{name}` to hold {words} numbers, got dtype {value.dtype}."
            )
    numeric = value.dtype.kind in "fiub"
    if finite and value.dtype.kind == "f" and not np.isfinite(value).all():
        bad = int((~np.isfinite(value)).sum())
        raise CheckFailed(
            f"`{name}` holds {bad} NaN or infinite value(s); "
            "work in log space or subtract the maximum before exponentiating."
        )
    if numeric and value.size and low is not None and value.min() < low:
        raise CheckFailed(f"every entry of `{name}` should be >= {low}, found {value.min():.4g}.")
    if numeric and value.size and high is not None and value.max() > high:
        raise CheckFailed(f"every entry of `{name}` should be <= {high}, found {value.max():.4g}.")


def check_tensor(
    value, name: str, shape: tuple[int | None, ...] | None = None, grad: bool = False
) -> None:
    """Check that `value` is a finite floating-point torch tensor with the expected shape.

    Args:
        value: what the student's code returned.
        name: how the message names it.
        shape: expected shape, `()` for a single number; `None` in a position accepts any
            length there.
        grad: also require that it is part of the autograd graph, so `.backward()` reaches
            the parameters it was computed from.
    """
    import torch  # here, not at the top: the modules without torch use these checks too

    loss = shape in (None, ())  # how module 03 checks its losses; the hints below are for them
    if type(value) is not torch.Tensor:
        hint = ""
        if isinstance(value, float | int | np.floating | np.integer) and loss:
            hint = " Return the tensor itself, not `.item()`: training needs its gradient."
        elif isinstance(value, np.ndarray) and loss:
            hint = " Compute it with torch functions on the tensors you were given, not numpy."
        elif isinstance(value, np.ndarray):
            hint = " Compute it with torch functions, or convert the array with torch.tensor(...)."
        raise CheckFailed(f"expected `{name}` to be a torch tensor, got {_describe(value)}.{hint}")
    if shape is not None:
        hint = " (a single number: take the mean over the batch)" if shape == () else ""
        _check_shape(tuple(value.shape), shape, name, hint)
    if not value.is_floating_point():
        raise CheckFailed(f"expected `{name}` to hold floating-point numbers, got {value.dtype}.")
    if not torch.isfinite(value.detach()).all():
        hint = ""
        if loss:  # the usual cause is an unstable formula
            hint = (
                "; a logit of +-100 must still give a finite loss: use softplus or "
                "binary_cross_entropy_with_logits, not log(sigmoid(...))"
            )
        raise CheckFailed(f"`{name}` holds NaN or infinite values{hint}.")
    if grad and not value.requires_grad:
        raise CheckFailed(
            f"`{name}` carries no gradient: build it from the input tensors with torch "
            "operations only (no .item(), .detach(), numpy or torch.no_grad())."
        )


def check_probabilities(
    value, name: str, shape: tuple[int | None, ...] | None = None, atol=1e-6
) -> None:
    """Check that `value` is a float array of probabilities whose last axis sums to one."""
    check_array(value, name, shape=shape, dtype="f", low=-atol, high=1 + atol)
    sums = value.sum(axis=-1)
    worst = np.abs(sums - 1).max() if sums.size else 0.0
    if worst > atol:
        raise CheckFailed(
            f"each row of `{name}` should sum to 1, but one sums to "
            f"{sums.flat[np.abs(sums - 1).argmax()]:.6g}."
        )


# ---------------------------------------------------------------------------
# Values


def check_close(actual, expected, name: str, rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """Check that a number or an array is close to the expected one.

    `actual` must be a real number (not a bool, not a string) when `expected` is a
    number, a numpy array of the same shape when `expected` is an array (or a list
    or tuple of numbers, which stands for one), and a torch tensor of the same shape when
    `expected` is a tensor (compared as float64, its gradient ignored).
    """
    torch = sys.modules.get("torch")  # only a test that imported torch can expect a tensor
    if torch is not None and isinstance(expected, torch.Tensor):
        if type(actual) is not torch.Tensor:
            raise CheckFailed(f"expected `{name}` to be a torch tensor, got {_describe(actual)}.")
        actual, expected = (t.detach().to(torch.float64).numpy() for t in (actual, expected))
    if isinstance(expected, list | tuple):
        expected = np.asarray(expected, dtype=float)
    if isinstance(expected, np.ndarray):
        check_array(actual, name, shape=expected.shape, finite=False)
        if actual.dtype.kind not in "fiu":
            raise CheckFailed(f"expected `{name}` to hold numbers, got dtype {actual.dtype}.")
        if not np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True):
            diff = np.abs(actual.astype(float) - expected)
            diff[np.isnan(diff) & ~np.isnan(expected)] = np.inf  # a nan where a number belongs
            where = np.unravel_index(np.nanargmax(diff), diff.shape)
            raise CheckFailed(
                f"`{name}` is not close to the expected values: at index {tuple(map(int, where))} "
                f"expected {expected[where]:.6g}, got {actual[where]:.6g}."
            )
        return
    if not _is_real_number(actual):
        raise CheckFailed(f"expected `{name}` to be a number, got {_describe(actual)}.")
    if not np.isclose(float(actual), float(expected), rtol=rtol, atol=atol):
        raise CheckFailed(f"expected `{name}` to be about {expected:.6g}, got {float(actual):.6g}.")


def check_equal(actual, expected, name: str) -> None:
    """Check `actual == expected` after checking that both have exactly the same type."""
    if type(actual) is not type(expected):
        raise CheckFailed(
            f"expected `{name}` to be {_TYPE_NAMES.get(type(expected), type(expected).__name__)}, "
            f"got {_describe(actual)}."
        )
    if isinstance(expected, np.ndarray):
        if actual.shape != expected.shape or not np.array_equal(actual, expected):
            raise CheckFailed(f"`{name}` does not hold the expected values.")
        return
    if _is_plain(expected, depth=3) and not _is_plain(actual, depth=3):
        # a list's == asks its items, and an item's __eq__ can be made to answer True
        raise CheckFailed(
            f"expected `{name}` to hold only plain numbers, strings or booleans, like "
            f"{_describe(expected)}; it holds other objects."
        )
    if not expected == actual:  # the expected object's __eq__, never the student's
        raise CheckFailed(
            f"expected `{name}` to be {_describe(expected)}, got {_describe(actual)}."
        )


def check_choice(answer, choices: Iterable[str], name: str) -> None:
    """Check that a multiple-choice answer is one of the allowed strings (not that it is right)."""
    allowed = list(choices)
    if type(answer) is not str:
        raise CheckFailed(
            f"`{name}` should be one of {', '.join(map(repr, allowed))} (a string), "
            f"got {_describe(answer)}."
        )
    if answer not in allowed:
        raise CheckFailed(
            f"`{name}` should be one of {', '.join(map(repr, allowed))}, got {answer!r}. "
            "Check the spelling, and use lower case."
        )


def check_keys(mapping, expected_keys: Iterable[str], name: str) -> None:
    """Check that `mapping` is a dict with exactly the expected keys; list what is missing."""
    check_type(mapping, dict, name)
    want = list(expected_keys)
    missing = [k for k in want if k not in mapping]
    extra = [k for k in mapping if type(k) is not str or k not in want]
    if missing:
        raise CheckFailed(
            f"`{name}` is missing {len(missing)} key(s): {', '.join(map(repr, missing))}."
        )
    if extra:
        raise CheckFailed(
            f"`{name}` has unexpected key(s): {', '.join(_describe(k) for k in extra)}."
        )


def score_matches(answers: Mapping, expected: Mapping, points: float) -> float:
    """Partial credit: `points` times the share of keys whose answer equals the expected one.

    An expected value may be a set of the answers accepted for its key (where two are
    equally defensible). Strict like `check_equal`: an answer of another type than the
    expected one earns nothing. The result is rounded to 1e-9 so that nbgrader reads it back
    as a clean number.
    """
    if type(answers) is not dict:
        return 0.0
    right = 0
    for key, want in expected.items():
        accepted = want if isinstance(want, set | frozenset) else {want}
        answer = answers.get(key)
        right += any(type(answer) is type(w) and w == answer for w in accepted)
    return round(points * right / len(expected), 9)


def score_in_order(items, rank: Mapping, points: float) -> float:
    """Partial credit for putting things in order: `points` times the share of neighbouring
    pairs (a, b) of `items` with rank[a] <= rank[b] (so equal ranks may come either way).

    `items` must be a list of keys of `rank`, each once, or it earns nothing; so must an item
    of another type than the keys.
    """
    keys = list(rank)
    if type(items) is not list or len(items) != len(keys) or len(items) < 2:
        return 0.0
    if not all(any(type(item) is type(k) and k == item for k in keys) for item in items):
        return 0.0
    if len(set(items)) != len(items):
        return 0.0
    in_order = sum(rank[a] <= rank[b] for a, b in zip(items, items[1:], strict=False))
    return round(points * in_order / (len(items) - 1), 9)


def score_accuracy(
    predict, examples: Iterable, expected: Iterable, points: float, full_at: float = 0.9,
    chance: float = 0.5,
) -> float:  # fmt: skip
    """Partial credit for a classifier: `points` at an accuracy of `full_at` or more, none at
    `chance` or less, in proportion between.

    `predict(example)` is called on each example; an answer counts if it is of the type of
    the expected one and equal to it. An exception in `predict` propagates, so the student
    sees it.
    """
    expected = list(expected)
    answers = [predict(example) for example in examples]
    if not expected or len(answers) != len(expected):
        raise ValueError("score_accuracy needs one expected answer per example")
    right = sum(type(a) is type(e) and a == e for a, e in zip(answers, expected, strict=True))
    share = (right / len(expected) - chance) / (full_at - chance)
    return round(points * min(max(share, 0.0), 1.0), 9)
