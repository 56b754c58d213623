"""Module 05's long-range task, its two models, and the attention explorer.

The attention function is the student's in the notebook; the one here is written plainly
for these tests (a loop over rows), so genlab is measured without holding an answer.
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # `make compat` runs without torch; `make test` with it

from course import latency_report  # noqa: E402

from genlab import ingredients, text  # noqa: E402
from genlab.checks import CheckFailed  # noqa: E402


def attention(Q, K, V, causal=False):
    weights = np.zeros((len(Q), len(K)))
    for i, q in enumerate(Q):
        seen = i + 1 if causal else len(K)
        scores = np.array([q @ k / math.sqrt(len(q)) for k in K[:seen]])
        e = np.exp(scores - scores.max())
        weights[i, :seen] = e / e.sum()
    return weights @ V, weights


@pytest.fixture(scope="module")
def task():
    return ingredients.recall_task(text.prose_corpus(), length=64)


@pytest.fixture(scope="module")
def trained(task):
    """The module's two models, trained as the notebook trains them (about 4 s)."""
    return {
        "window": ingredients.train_recall(task, "window", context=8, progress=False),
        "attention": ingredients.train_recall(task, "attention", progress=False),
    }


def test_the_prose_has_no_digit_and_no_question_mark(task):
    for prose in (task.train_text, task.test_text):
        assert not set(prose) & set(ingredients.DIGITS + ingredients.QUERY)
    assert set(ingredients.DIGITS + ingredients.QUERY) <= set(task.vocab.chars)
    assert task.max_distance == 63


def test_each_line_hides_its_digit_at_its_distance_and_ends_with_the_question(task):
    ids, answers, distances = task.lines(200, np.random.default_rng(0))
    assert ids.shape == (200, 64) and answers.shape == distances.shape == (200,)
    assert distances.min() >= 1 and distances.max() <= 63
    assert len(set(distances.tolist())) > 40  # spread over the whole range
    digit_ids = set(task.vocab.encode(ingredients.DIGITS).tolist())
    for line, answer, distance in zip(ids, answers, distances, strict=True):
        assert task.vocab.decode(line[-1:]) == "?"
        where = [i for i, c in enumerate(line.tolist()) if c in digit_ids]
        assert where == [63 - distance] and line[where[0]] == answer
        # the rest is one unbroken stretch of the training prose
        rest = np.delete(line[:-1], where[0])
        assert task.vocab.decode(rest) in task.train_text


def test_test_lines_come_from_the_held_out_paragraphs_and_take_a_fixed_digit(task):
    ids, answers, distances = task.lines(
        20, np.random.default_rng(1), distance=30, split="test", digit=7
    )
    assert (distances == 30).all() and (answers == task.vocab.encode("7")[0]).all()
    for line in ids:
        assert task.vocab.decode(np.delete(line[:-1], 63 - 30)) in task.test_text


@pytest.mark.parametrize("distance", [0, 64])
def test_a_distance_outside_the_line_is_refused(task, distance):
    with pytest.raises(ValueError, match=r"\[1, 63\]"):
        task.lines(1, np.random.default_rng(0), distance=distance)


@pytest.mark.parametrize("digit", [10, -1, "7"])
def test_a_digit_that_is_not_0_to_9_is_refused(task, digit):
    with pytest.raises(ValueError, match="digit must be an int from 0 to 9"):
        task.lines(1, np.random.default_rng(0), digit=digit)


def test_an_unknown_split_or_model_is_refused(task):
    with pytest.raises(ValueError, match="split"):
        task.lines(1, np.random.default_rng(0), split="validation")
    with pytest.raises(ValueError, match="attention"):
        ingredients.train_recall(task, "lstm", steps=1, progress=False)


def test_the_window_model_recalls_only_inside_its_window(task, trained):
    scores = ingredients.accuracy_by_distance(trained["window"], task, [1, 4, 7, 8, 16, 63])
    assert (scores[:3] > 0.95).all(), scores
    assert (scores[3:] < 0.25).all(), scores  # chance is 0.1


def test_the_attention_model_recalls_at_every_distance_with_fewer_weights(task, trained):
    scores = ingredients.accuracy_by_distance(trained["attention"], task, [1, 8, 16, 32, 63])
    assert (scores > 0.95).all(), scores
    assert trained["attention"].parameters * 3 < trained["window"].parameters


def test_training_is_seeded(task):
    first = ingredients.train_recall(task, "attention", steps=20, progress=False)
    second = ingredients.train_recall(task, "attention", steps=20, progress=False)
    for a, b in zip(first.net.parameters(), second.net.parameters(), strict=True):
        assert torch.equal(a, b)
    assert first.history == second.history and len(first.history) == 2


def test_a_students_attention_on_the_models_qkv_gives_the_models_own_answer(task, trained):
    model = trained["attention"]
    ids, _, _ = task.lines(5, np.random.default_rng(3), split="test")
    for line in ids:
        Q, K, V = model.net.qkv(line)
        assert Q.shape == K.shape == V.shape == (64, 32) and Q.dtype == np.float64
        output, _ = attention(Q, K, V, causal=True)
        with torch.inference_mode():
            own = model.net(torch.as_tensor(line[None]))[0].double().numpy()
        np.testing.assert_allclose(model.net.read_out(output[-1]), own, rtol=1e-4, atol=1e-4)


def test_the_attention_view_reads_the_weights_and_answer_through_the_given_function(task, trained):
    model = trained["attention"]
    line = task.lines(1, np.random.default_rng(4), distance=40, split="test", digit=3)[0][0]
    view = ingredients.attention_view(model, task.vocab, attention, line)
    assert view.text == task.vocab.decode(line) and view.weights.shape == (64, 64)
    np.testing.assert_allclose(view.weights.sum(axis=1), 1)
    assert view.answer == "3" and view.confidence > 0.9
    assert int(np.argmax(view.weights[-1])) == 63 - 40  # the "?" looks at the digit
    # a uniform "attention" gives the same weights to everything: the view shows that, not ours
    flat = ingredients.attention_view(
        model,
        task.vocab,
        lambda Q, K, V, causal: (np.tile(V.mean(0), (64, 1)), np.full((64, 64), 1 / 64)),
        line,
    )
    np.testing.assert_allclose(flat.weights, 1 / 64)


@pytest.mark.parametrize(
    "wrong, error, message",
    [
        (lambda Q, K, V, causal: Q @ K.T, TypeError, "pair"),
        (lambda Q, K, V, causal: (V, (Q @ K.T)[:, :10]), CheckFailed, r"weights.*\(64, 64\)"),
        (lambda Q, K, V, causal: (V[:5], np.eye(64)), CheckFailed, "output"),
    ],
    ids=["one-array", "weights-shape", "output-shape"],
)
def test_a_wrong_attention_is_named_in_the_error(task, trained, wrong, error, message):
    line = task.lines(1, np.random.default_rng(5))[0][0]
    with pytest.raises(error, match=message):
        ingredients.attention_view(trained["attention"], task.vocab, wrong, line)


@pytest.fixture(scope="module")
def lines(task):
    rng = np.random.default_rng(6)
    return {
        f"{d} back": task.lines(1, rng, distance=d, split="test", digit=5)[0][0] for d in (5, 50)
    }


def test_the_explorer_moves_the_query_and_the_line(task, trained, lines):
    box = ingredients.attention_explorer(trained["attention"], task.vocab, attention, lines)
    assert box.name == "attention explorer" and box.query.value == 63
    assert "answers '5'" in box.caption.value
    first = box.image.value
    box.query.value = 10
    assert box.image.value != first and "position 10" in box.caption.value
    assert "answers" not in box.caption.value  # only the "?" answers
    at_ten = box.image.value
    box.line.value = "50 back"
    assert box.image.value != at_ten
    box.query.value = 63
    assert "position 13" in box.caption.value  # 50 back from position 63


def test_the_explorer_says_why_when_attention_fails(task, trained, lines):
    def unwritten(Q, K, V, causal=False):
        raise NotImplementedError("not written yet")

    box = ingredients.attention_explorer(trained["attention"], task.vocab, unwritten, lines)
    assert "attention failed" in box.caption.value and "not written yet" in box.caption.value
    assert box.image.value == b""


def test_the_explorer_redraws_within_its_budget(task, trained, lines):
    box = ingredients.attention_explorer(trained["attention"], task.vocab, attention, lines)
    report = latency_report()["attention explorer"]
    assert report["changes"] >= len(box.demo_changes) - 1
    assert report["p95_ms"] < 5 * report["budget_ms"]  # the benchmark holds it to the budget


def test_the_snapshots_shade_each_line_by_where_its_question_looks(task, trained, lines):
    fig = ingredients.attention_snapshots(trained["attention"], task.vocab, attention, lines)
    assert len(fig.axes) == 2
    for ax, name in zip(fig.axes, lines, strict=True):
        assert ax.get_title(loc="left").startswith(f"{name}: position 63")
        shade = ax.images[0].get_array().ravel()
        assert int(np.argmax(shade)) == 63 - int(name.split()[0])


def test_the_accuracy_figure_marks_chance_and_the_window():
    fig = ingredients.plot_accuracy_by_distance(
        [1, 8, 63], {"a": [1, 0.1, 0.1], "b": [1, 1, 1]}, window=8
    )
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["a", "b", "chance (1 in 10)"]
    assert len(ax.patches) == 1  # the window's band
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "8", "63"]
