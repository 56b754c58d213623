import numpy as np
import pytest

from genlab import checks
from genlab.checks import CheckFailed


class EqualsEverything:
    """What a student might hand in, knowingly or not: an object equal to anything."""

    def __eq__(self, other):
        return True

    __hash__ = object.__hash__

    def __float__(self):
        return 1.0


def test_check_type_takes_numpy_scalars_where_a_numpy_family_is_asked_for():
    """A float64 is a NumPy float: the message must never say 'expected a float or
    floating, got float64' (it read as a contradiction)."""
    for value in (np.float64(2.5), np.float32(2.5), 2.5):
        assert checks.check_type(value, (float, np.floating), "ppl") is None
    assert checks.check_type(np.int64(3), np.integer, "n") is None
    with pytest.raises(checks.CheckFailed, match="a float or a NumPy float") as error:
        checks.check_type("2.5", (float, np.floating), "ppl")
    assert "floating," not in str(error.value)
    with pytest.raises(checks.CheckFailed):
        checks.check_type(np.int64(3), (float, np.floating), "ppl")

    class Lying(np.float64):  # a student's subclass is not NumPy's
        pass

    with pytest.raises(checks.CheckFailed):
        checks.check_type(Lying(2.5), (float, np.floating), "ppl")


def test_check_type_is_strict_about_subclasses():
    class MyDict(dict):
        pass

    assert checks.check_type({}, dict, "d") is None  # never echoes a value nbgrader could read
    with pytest.raises(
        CheckFailed, match="expected `d` to be a dict, got an object of type MyDict"
    ):
        checks.check_type(MyDict(), dict, "d")
    with pytest.raises(CheckFailed, match=r"type float64. Convert it with float\(...\)\.$"):
        checks.check_type(np.float64(2.5), float, "diversity")
    with pytest.raises(CheckFailed, match=r"type int64\.$"):
        checks.check_type(np.int64(3), float, "diversity")  # int(...) would not help
    with pytest.raises(CheckFailed, match="a bool"):
        checks.check_type(1, bool, "flag")


def test_check_array_messages_name_shape_dtype_and_range():
    with pytest.raises(CheckFailed, match=r"expected `p` to have shape \(5, 10\), got \(10, 5\)"):
        checks.check_array(np.zeros((10, 5)), "p", shape=(5, 10))
    with pytest.raises(CheckFailed, match=r"shape \(any, 3\)"):
        checks.check_array(np.zeros((2, 4)), "p", shape=(None, 3))
    with pytest.raises(CheckFailed, match="floating-point numbers, got dtype int64"):
        checks.check_array(np.zeros(3, dtype=np.int64), "p", dtype="f")
    with pytest.raises(CheckFailed, match="NaN or infinite"):
        checks.check_array(np.array([1.0, np.nan]), "p")
    with pytest.raises(CheckFailed, match=">= 0"):
        checks.check_array(np.array([-1.0]), "p", low=0)
    with pytest.raises(CheckFailed, match=r"np.asarray"):
        checks.check_array([1.0, 2.0], "p")
    assert checks.check_array(np.ones((2, 3)), "p", shape=(2, 3), dtype="f", low=0, high=1) is None


def test_check_array_rejects_array_subclasses():
    class Sneaky(np.ndarray):
        pass

    with pytest.raises(CheckFailed, match="numpy array"):
        checks.check_array(np.zeros(3).view(Sneaky), "p")


def test_check_probabilities_wants_rows_summing_to_one():
    checks.check_probabilities(np.full((4, 5), 0.2), "p", shape=(4, 5))
    with pytest.raises(CheckFailed, match="should sum to 1, but one sums to 0.9"):
        checks.check_probabilities(np.array([[0.5, 0.4], [0.5, 0.5]]), "p")


def test_check_close_numbers_and_arrays():
    checks.check_close(1.0 + 1e-9, 1.0, "x")
    checks.check_close(np.float32(2.0), 2, "x")
    with pytest.raises(CheckFailed, match="expected `x` to be about 1, got 1.5"):
        checks.check_close(1.5, 1.0, "x")
    with pytest.raises(CheckFailed, match=r"at index \(1,\) expected 2, got 3"):
        checks.check_close(np.array([1.0, 3.0]), np.array([1.0, 2.0]), "x")
    checks.check_close(np.array([[0.5, 0.5]]), [[0.5, 0.5]], "x")  # a list stands for an array
    with pytest.raises(CheckFailed, match=r"at index \(0,\) expected 1, got nan"):
        checks.check_close(np.array([np.nan, 2.0, 3.5]), np.array([1.0, 2.0, 3.0]), "x")
    with pytest.raises(CheckFailed, match=r"shape \(3,\), got \(2,\)"):
        checks.check_close(np.array([1.0, 2.0]), (1.0, 2.0, 3.0), "x")
    with pytest.raises(CheckFailed, match="numpy array"):
        checks.check_close([1.0, 2.0], [1.0, 2.0], "x")
    for impostor in (True, "1.0", EqualsEverything(), None, 1 + 0j, np.complex128(1)):
        with pytest.raises(CheckFailed, match="to be a number"):
            checks.check_close(impostor, 1.0, "x")


def test_check_close_tensors_against_a_tensor():
    torch = pytest.importorskip("torch")
    expected = torch.tensor([[1.0, 2.0]])
    checks.check_close(torch.tensor([[1.0, 2.0]], requires_grad=True), expected, "t")
    with pytest.raises(CheckFailed, match=r"at index \(0, 1\) expected 2, got 2.5"):
        checks.check_close(torch.tensor([[1.0, 2.5]]), expected, "t")
    with pytest.raises(CheckFailed, match=r"shape \(1, 2\), got \(2,\)"):
        checks.check_close(torch.tensor([1.0, 2.0]), expected, "t")
    for impostor in (np.array([[1.0, 2.0]]), [[1.0, 2.0]], 1.0):
        with pytest.raises(CheckFailed, match="to be a torch tensor"):
            checks.check_close(impostor, expected, "t")


def test_check_equal_cannot_be_fooled_by_eq():
    checks.check_equal("b", "b", "Q1")
    checks.check_equal(3, 3, "n")
    with pytest.raises(CheckFailed, match="expected `Q1` to be a string, got an object of type"):
        checks.check_equal(EqualsEverything(), "b", "Q1")
    with pytest.raises(CheckFailed, match="an int, got 3.0"):
        checks.check_equal(3.0, 3, "n")
    with pytest.raises(CheckFailed, match="expected `Q1` to be 'b', got 'c'"):
        checks.check_equal("c", "b", "Q1")
    with pytest.raises(CheckFailed, match="does not hold the expected values"):
        checks.check_equal(np.array([1, 2]), np.array([1, 3]), "a")


def test_check_choice_and_keys():
    assert checks.check_choice("a", "abcd", "Q1") is None
    with pytest.raises(CheckFailed, match="use lower case"):
        checks.check_choice("A", "abcd", "Q1")
    with pytest.raises(CheckFailed, match="a string"):
        checks.check_choice(EqualsEverything(), "abcd", "Q1")
    with pytest.raises(CheckFailed, match="missing 1 key\\(s\\): 'b'"):
        checks.check_keys({"a": 1}, ["a", "b"], "d")
    with pytest.raises(CheckFailed, match="unexpected key"):
        checks.check_keys({"a": 1, "z": 2}, ["a"], "d")


def test_score_matches_gives_partial_credit_strictly():
    expected = {"a": "x", "b": "y", "c": "x", "d": "y"}
    assert checks.score_matches(dict(expected), expected, 6) == 6
    assert checks.score_matches({"a": "x", "b": "x", "c": "x", "d": "x"}, expected, 6) == 3
    assert checks.score_matches({}, expected, 6) == 0
    everything = EqualsEverything()
    assert checks.score_matches(dict.fromkeys(expected, everything), expected, 6) == 0
    assert checks.score_matches(["a"], expected, 6) == 0


def test_score_matches_accepts_any_answer_of_a_set():
    expected = {"a": "x", "b": {"x", "y"}}
    assert checks.score_matches({"a": "x", "b": "y"}, expected, 2) == 2
    assert checks.score_matches({"a": "x", "b": "x"}, expected, 2) == 2
    assert checks.score_matches({"a": "x", "b": "z"}, expected, 2) == 1
    assert checks.score_matches({"a": "x", "b": EqualsEverything()}, expected, 2) == 1


def test_score_in_order_credits_each_neighbouring_pair_in_order():
    rank = {"a": 1, "b": 2, "c": 2, "d": 3}
    assert checks.score_in_order(["a", "b", "c", "d"], rank, 3) == 3
    assert checks.score_in_order(["a", "c", "b", "d"], rank, 3) == 3  # equal ranks either way
    assert checks.score_in_order(["a", "d", "b", "c"], rank, 3) == 2  # d > b breaks one pair
    assert checks.score_in_order(["d", "c", "b", "a"], rank, 3) == 1  # only c, b (equal ranks)
    assert checks.score_in_order(["a", "b", "c"], rank, 3) == 0  # one missing
    assert checks.score_in_order(["a", "a", "b", "c"], rank, 3) == 0  # one twice
    assert checks.score_in_order(["a", "b", "c", "e"], rank, 3) == 0  # one unknown
    assert checks.score_in_order(("a", "b", "c", "d"), rank, 3) == 0  # not a list
    assert checks.score_in_order(["a", "b", "c", EqualsEverything()], rank, 3) == 0


def test_messages_show_plain_lists_and_hide_other_objects():
    with pytest.raises(CheckFailed, match=r"to be \[1, 2\], got \[1, 3\]"):
        checks.check_equal([1, 3], [1, 2], "ids")
    with pytest.raises(CheckFailed, match=r"to be \[\[0\], \[0, 1\]\], got \[\[0\]\]"):
        checks.check_equal([[0]], [[0], [0, 1]], "contexts")
    with pytest.raises(CheckFailed, match="holds other objects"):
        checks.check_equal([EqualsEverything()], [1], "x")  # an item's __eq__ cannot lie
    with pytest.raises(CheckFailed, match="holds other objects"):
        checks.check_equal([[1, EqualsEverything()]], [[1, 2]], "x")
    with pytest.raises(CheckFailed, match="got an object of type list"):
        checks.check_type([EqualsEverything()], tuple, "x")  # a student's object is never repr'd


def test_check_tensor_explains_what_a_loss_should_be():
    torch = pytest.importorskip("torch")
    logits = torch.zeros(3, requires_grad=True)
    assert checks.check_tensor(logits.sum(), "loss", shape=(), grad=True) is None
    with pytest.raises(CheckFailed, match=r"to be a torch tensor, got 1.5. Return the tensor"):
        checks.check_tensor(1.5, "loss")
    with pytest.raises(CheckFailed, match="not numpy"):
        checks.check_tensor(np.zeros(()), "loss")
    with pytest.raises(CheckFailed, match=r"or convert the array with torch.tensor"):
        checks.check_tensor(np.zeros(3), "betas", shape=(3,))
    with pytest.raises(CheckFailed, match=r"NaN or infinite values\.$"):
        checks.check_tensor(torch.full((2, 2), float("nan")), "x_t", shape=(2, 2))
    with pytest.raises(CheckFailed, match=r"shape \(\) \(a single number: take the mean"):
        checks.check_tensor(logits * 2, "loss", shape=())
    with pytest.raises(CheckFailed, match=r"shape \(any, 1\), got \(3,\)"):
        checks.check_tensor(logits, "logits", shape=(None, 1))
    with pytest.raises(CheckFailed, match="floating-point numbers, got torch.int64"):
        checks.check_tensor(torch.tensor(3), "loss")
    with pytest.raises(CheckFailed, match="NaN or infinite values"):
        checks.check_tensor(torch.tensor(float("inf")), "loss")
    with pytest.raises(CheckFailed, match="carries no gradient"):
        checks.check_tensor(logits.sum().detach(), "loss", grad=True)
    with pytest.raises(CheckFailed, match="to be a torch tensor"):
        checks.check_tensor(torch.nn.Parameter(torch.zeros(())), "loss")  # a subclass
