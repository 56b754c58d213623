"""The neural language model, the sampler bundle, and the module-02 widget and figures.

The sampling functions are the student's in the notebook; the ones here are written
plainly for these tests, so genlab is measured without holding an answer.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # `make compat` runs without torch; `make test` with it

from course import latency_report  # noqa: E402

from genlab import figures, lm, text  # noqa: E402
from genlab.checks import CheckFailed  # noqa: E402


def softmax_t(logits, t):
    logits = np.asarray(logits, dtype=float)
    if t == 0:
        return np.eye(logits.shape[-1])[logits.argmax(axis=-1)]
    e = np.exp((logits - logits.max(axis=-1, keepdims=True)) / t)
    return e / e.sum(axis=-1, keepdims=True)


def keep_top_k(logits, k):
    out = np.full(len(logits), -np.inf)
    best = np.argsort(-np.asarray(logits))[:k]
    out[best] = np.asarray(logits)[best]
    return out


def keep_top_p(logits, p):
    probs = softmax_t(logits, 1)
    order = np.argsort(-probs)
    n = int(np.argmax(np.cumsum(probs[order]) >= p - 1e-12)) + 1
    out = np.full(len(logits), -np.inf)
    out[order[:n]] = np.asarray(logits)[order[:n]]
    return out


def generate(model, prompt_ids, n_new, temperature, rng, top_k=None, top_p=None):
    ids = [int(i) for i in prompt_ids]
    for _ in range(n_new):
        z = model.next_logits(ids)
        z = keep_top_k(z, top_k) if top_k else z
        z = keep_top_p(z, top_p) if top_p else z
        probs = softmax_t(z, temperature)
        ids.append(int(rng.choice(len(probs), p=probs)))
    return ids


SAMPLER = lm.Sampler(softmax_t, keep_top_k, keep_top_p, generate)
VOCAB = text.Vocab.from_text("abc.")
CYCLE = VOCAB.encode("abc." * 300)


@pytest.fixture(scope="module")
def cycle_model():
    """A model that has learned the cycle a -> b -> c -> . -> a."""
    return lm.train_lm(CYCLE, len(VOCAB), context=4, steps=150, hidden=32, progress=False)


def test_windows_hold_the_previous_ids_padded_at_the_start():
    X = lm.windows(np.array([5, 6, 7, 8]), context=3, pad=9)
    assert X.tolist() == [[9, 9, 9], [9, 9, 5], [9, 5, 6], [5, 6, 7]]


def test_train_lm_learns_a_cycle_and_is_reproducible(cycle_model):
    assert cycle_model.loss(CYCLE) < 0.05
    for prompt, expected in [("a", "b"), ("ab", "c"), ("abc", "."), ("", "a"), ("c.", "a")]:
        logits = cycle_model.next_logits(VOCAB.encode(prompt))
        assert logits.shape == (4,)
        if prompt:  # an empty context is all padding: anything may follow
            assert VOCAB.chars[int(np.argmax(logits))] == expected, prompt
    again = lm.train_lm(CYCLE, len(VOCAB), context=4, steps=150, hidden=32, progress=False)
    assert again.history == cycle_model.history
    assert cycle_model.history[0][0] == 0 and cycle_model.history[-1][0] == 149
    assert cycle_model.seconds > 0


def test_loss_is_the_mean_negative_log_likelihood_of_next_logits():
    model = lm.train_lm(CYCLE[:200], len(VOCAB), context=4, steps=5, hidden=16, progress=False)
    ids = VOCAB.encode("abcab.ca")
    by_hand = []
    for t in range(len(ids)):
        logits = torch.tensor(model.next_logits(ids[:t]))
        by_hand.append(-torch.log_softmax(logits, 0)[ids[t]].item())
    assert model.loss(ids, batch_size=3) == pytest.approx(np.mean(by_hand), rel=1e-5)
    assert np.allclose(
        model.batch_logits(lm.windows(ids, 4, len(VOCAB)))[5], model.next_logits(ids[:5])
    )


def test_train_lm_rejects_ids_outside_the_vocabulary():
    with pytest.raises(CheckFailed, match="ids"):
        lm.train_lm(np.array([0, 1, 7]), vocab_size=4, steps=1, progress=False)


def test_entropy_bits():
    assert lm.entropy_bits(np.full(8, 1 / 8)) == pytest.approx(3.0)
    assert lm.entropy_bits(np.array([0.0, 1.0, 0.0])) == 0.0
    assert lm.entropy_bits(np.array([[0.5, 0.5], [1.0, 0.0]])).tolist() == [1.0, 0.0]


def test_sampler_filters_on_the_model_logits_then_applies_the_temperature():
    z = np.log([0.5, 0.3, 0.15, 0.05])
    probs = SAMPLER.distribution(z, 2.0, top_k=3, top_p=0.7)
    kept = np.array([0.5, 0.3]) ** 0.5  # the nucleus of the model's own distribution, then T=2
    assert np.allclose(probs, [*(kept / kept.sum()), 0, 0])
    assert np.allclose(SAMPLER.distribution(z, 0), [1, 0, 0, 0])


def test_sampler_reports_a_softmax_of_the_wrong_shape():
    broken = lm.Sampler(lambda z, t: np.ones(2), keep_top_k, keep_top_p, generate)
    with pytest.raises(CheckFailed, match="shape"):
        broken.distribution(np.zeros(4), 1.0)


def test_complete_decodes_the_new_text_and_checks_its_length(cycle_model):
    rng = np.random.default_rng(0)
    assert lm.complete(generate, cycle_model, VOCAB, "ab", 6, 0, rng) == "c.abc."

    def too_short(model, prompt_ids, n_new, *args, **kwargs):
        return list(prompt_ids)

    with pytest.raises(CheckFailed, match="generate"):
        lm.complete(too_short, cycle_model, VOCAB, "ab", 6, 0, rng)


def test_next_token_view_shows_the_distribution_the_sampler_draws_from(cycle_model):
    view = lm.next_token_view(cycle_model, VOCAB, SAMPLER, "abc", 1.0, k=3, n_new=8)
    full = softmax_t(cycle_model.next_logits(VOCAB.encode("abc")), 1.0)
    assert view.chars[0] == "." and len(view.chars) == 3
    assert np.allclose(view.probs, np.sort(full)[::-1][:3])
    assert view.entropy == pytest.approx(float(lm.entropy_bits(full)))
    assert len(view.samples) == 3 and all(len(s) == 8 for s in view.samples)
    again = lm.next_token_view(cycle_model, VOCAB, SAMPLER, "abc", 1.0, k=3, n_new=8)
    assert again.samples == view.samples  # seeded
    greedy = lm.next_token_view(cycle_model, VOCAB, SAMPLER, "abc", 0, n_new=8)
    assert set(greedy.samples) == {".abc.abc"} and greedy.entropy == 0


def test_temperature_explorer_redraws_reports_errors_and_times_itself(cycle_model):
    models = {"cycle": (cycle_model, VOCAB), "other": (cycle_model, VOCAB)}
    box = lm.temperature_explorer(models, SAMPLER, prompt="ab", n_new=10)
    first, first_text = box.image.value, box.samples.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and first_text.count("<pre") == 3
    box.temperature.value = 2.0
    assert box.image.value != first
    box.prompt.value = "abz"  # z is not in the vocabulary
    assert "not in the vocabulary" in box.samples.value
    box.prompt.value = ""
    assert "prompt is empty" in box.samples.value
    box.prompt.value = "ab"
    assert "<pre" in box.samples.value
    report = latency_report()
    assert report["temperature explorer"]["changes"] == len(box.demo_changes) > 20  # all redrew
    assert 0 < report["temperature explorer"]["p50_ms"] <= report["temperature explorer"]["p95_ms"]


def test_temperature_snapshots_draw_one_panel_per_temperature(cycle_model):
    fig = lm.temperature_snapshots(cycle_model, VOCAB, SAMPLER, "ab", temperatures=(0.5, 2))
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["T = 0.5", "T = 2"]
    assert all(len(ax.patches) == 4 for ax in fig.axes)  # k = 15, but there are 4 characters


def test_language_model_figures():
    vocab = text.Vocab.from_text("ab .,etaoinsrhlcdu")
    probs = np.full((len(vocab), len(vocab)), 1 / len(vocab))
    assert lm.plot_bigram(probs, vocab).axes[0].images
    fig = lm.plot_training([(0, 3.0), (50, 2.0)], {"bigram": 2.4, "neural": 1.2})
    assert [line.get_label() for line in fig.axes[0].lines][1:] == [
        "bigram, held-out: 2.40",
        "neural, held-out: 1.20",
    ]
    fig = lm.plot_sweep([0, 1, 2], {"a": [1, 2, 3], "b": [3, 2, 1]}, "y", "t")
    assert len(fig.axes[0].lines) == 2
    verdicts = {0: ["true", "true"], 1: ["true", "false"], 2: ["nonsense", "false"]}
    fig = lm.plot_fact_check([0, 1, 2], verdicts, "t")
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == [1.0, 0.5, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.5]
    assert figures.token_label(" ") == "\u2423" and figures.token_label("a") == "a"
