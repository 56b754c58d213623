"""Module 08's measurements: batched drawing, the skewed corpus, fake digits and their
detectors, requests to the router, the risk sweep and its dashboard.

The language models here are stand-ins with fixed next-character probabilities, so every
share a test expects is known exactly. The student's functions of the notebook are written
plainly here, for these tests only.
"""

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # `make compat` runs without torch; `make test` with it

from course import latency_report, script  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from genlab import checks, classifiers, data, lm, risks, text  # noqa: E402
from genlab.checks import CheckFailed  # noqa: E402

VOCAB = text.Vocab.from_text("ab\n")


class Fixed:
    """A language model whose next character is "a", "b" or a line break with fixed
    probabilities (in that order), whatever came before."""

    context, vocab_size = 3, 3

    def __init__(self, probs=(0.8, 0.15, 0.05)):
        chance = dict(zip("ab\n", probs, strict=True))
        self.logits = np.log([chance[c] for c in VOCAB.chars])

    def batch_logits(self, contexts):
        return np.tile(self.logits, (len(contexts), 1))


def test_draw_samples_each_character_from_the_tempered_probabilities():
    model = Fixed((0.6, 0.3, 0.1))
    for t in (0.5, 1.0, 2.0):
        drawn = risks.draw(model, VOCAB, ["a"] * 400, 10, t, seed=1)
        chars = "".join(drawn.texts)
        tempered = np.array([0.6, 0.3, 0.1]) ** (1 / t)
        tempered /= tempered.sum()
        share = [chars.count(c) / len(chars) for c in "ab\n"]
        assert share == pytest.approx(tempered, abs=0.02), t


def test_draw_is_greedy_at_zero_and_seeded_otherwise():
    greedy = risks.draw(Fixed(), VOCAB, ["b", "ab"], 5, 0.0)
    assert greedy.texts == ["aaaaa", "aaaaa"]
    assert greedy.probs == pytest.approx(
        np.full((2, 5), 0.8)
    )  # at temperature 1, as the model has it
    one, two = (risks.draw(Fixed(), VOCAB, ["a"] * 20, 30, 1.0, seed=4) for _ in range(2))
    assert one.texts == two.texts
    assert one.texts != risks.draw(Fixed(), VOCAB, ["a"] * 20, 30, 1.0, seed=5).texts


def test_draw_stops_each_text_at_its_stop_and_counts_the_stop_in_the_confidence():
    drawn = risks.draw(Fixed((0.5, 0.0001, 0.4999)), VOCAB, ["a"] * 50, 40, 1.0, seed=0, stop="\n")
    assert all("\n" not in t and set(t) <= {"a", "b"} for t in drawn.texts)
    assert drawn.probs.shape[1] < 40  # every text stopped early, so drawing ended
    lengths = np.array([len(t) for t in drawn.texts])
    counted = (drawn.probs < 1).sum(axis=1)
    assert counted.tolist() == (lengths + 1).tolist()
    assert drawn.confidence() == pytest.approx(0.5**lengths * 0.4999, rel=1e-3)


def test_draw_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="temperature"):
        risks.draw(Fixed(), VOCAB, ["a"], 3, -1.0)
    with pytest.raises(ValueError, match="no prompts"):
        risks.draw(Fixed(), VOCAB, [], 3, 1.0)
    with pytest.raises(ValueError, match="knows only"):
        risks.draw(Fixed(), VOCAB, ["xyz"], 3, 1.0)


def test_whole_lines_keeps_only_finished_lines():
    assert risks.whole_lines(["one\ntwo\nthr", "four\n", "none"]) == ["one", "two", "four"]


def test_the_skewed_corpus_has_exactly_its_share_and_a_known_prompt():
    corpus = risks.skewed_corpus(0.7, lines=1000, seed=3)
    lines = corpus.splitlines()
    assert len(lines) == 1000
    assert sum(" he was" in line for line in lines) == 700
    assert all(re.fullmatch(r"the (\w+) said that (he|she) was late\.", line) for line in lines)
    assert all(line.startswith(risks.bias_prompt(line.split()[1])) for line in lines)
    assert corpus != risks.skewed_corpus(0.7, lines=1000, seed=4)
    with pytest.raises(ValueError):
        risks.skewed_corpus(1.5)


def test_pronoun_share_reads_the_first_word_only():
    assert risks.pronoun_share(["he was", "she was", "he is", "hello", "they"]) == pytest.approx(
        2 / 3
    )
    assert np.isnan(risks.pronoun_share(["hello", "", "the"]))


def test_a_trained_skewed_model_learns_the_skew_and_low_temperature_amplifies_it():
    corpus = risks.skewed_corpus(0.7)
    vocab = text.Vocab.from_text(corpus)
    model = lm.train_lm(vocab.encode(corpus), len(vocab), context=12, steps=1500, hidden=64,
                        seed=0, progress=False)  # fmt: skip
    prompts = [risks.bias_prompt(job) for job in risks.JOBS] * 50
    share = {t: risks.pronoun_share(risks.draw(model, vocab, prompts, 20, t, stop="\n").texts)
             for t in (0.25, 1.0)}  # fmt: skip
    assert share[1.0] == pytest.approx(0.7, abs=0.06)
    assert share[0.25] > 0.9


def test_detector_accuracy_is_chance_for_twins_and_high_for_different_images():
    rng = np.random.default_rng(0)
    real = rng.random((300, 64))
    assert risks.detector_accuracy(real, rng.random((300, 64)), LogisticRegression()) < 0.62
    assert risks.detector_accuracy(real, rng.random((300, 64)) + 0.3, LogisticRegression()) > 0.95
    with pytest.raises(CheckFailed, match="fake"):
        risks.detector_accuracy(real, real[:, :10], LogisticRegression())


def test_digit_asked_reads_numerals_and_words():
    assert risks.digit_asked("Draw a 7") == 7
    assert risks.digit_asked("show me a handwritten Three, please") == 3
    assert risks.digit_asked("paint zero") == 0
    assert risks.digit_asked("draw something") is None
    assert risks.digit_asked("draw 12 cats") is None  # no single digit


def test_the_shipped_fakes_are_digits_on_the_real_grey_levels():
    fakes = data.load_fakes()
    assert list(fakes.images) == [500, 1500, 5000]
    assert np.bincount(fakes.labels).tolist() == [60] * 10
    real = data.load_digits()
    critic = classifiers.digit_critic(real)
    recognised = {}
    for steps, images in fakes.images.items():
        assert images.shape == (600, 64) and images.min() >= 0 and images.max() <= 1
        assert np.allclose(images * 16, np.round(images * 16))  # 17 levels, like the scans
        recognised[steps] = (critic.predict(images) == fakes.labels).mean()
    assert recognised[5000] > 0.9  # the best generator draws the digit asked for


def test_the_fakes_script_runs_module_04s_own_formulas():
    formulas = script("scripts/make_deepfakes.py", "make_deepfakes").module_04_formulas()
    betas, alpha_bar = formulas["linear_beta_schedule"](1000)
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)
    x0, noise = torch.ones(2, 64), torch.zeros(2, 64)
    noised = formulas["add_noise"](x0, noise, torch.tensor([0, 999]), alpha_bar)
    assert noised[:, 0] == pytest.approx(alpha_bar[[0, 999]].sqrt())


def test_requests_are_balanced_seeded_and_not_decided_by_one_keyword():
    asks, kinds = data.requests(200, seed=0)
    assert len(asks) == 200 and kinds.count("image") == 100 and set(kinds) == {"image", "text"}
    assert (asks, kinds) == data.requests(200, seed=0)
    assert asks != data.requests(200, seed=1)[0]
    assert all(
        risks.digit_asked(a) is not None for a, k in zip(asks, kinds, strict=True) if k == "image"
    )
    numbered_texts = [
        a
        for a, k in zip(asks, kinds, strict=True)
        if k == "text" and re.search(r"\d|draw|picture|image", a, re.I)
    ]
    assert len(numbered_texts) >= 10


def test_score_accuracy_scales_from_chance_to_full():
    truth = ["image"] * 5 + ["text"] * 5

    def always_image(request):
        return "image"

    assert checks.score_accuracy(lambda r: r, truth, truth, 4) == 4
    assert checks.score_accuracy(always_image, truth, truth, 4) == 0  # 50%: chance
    seventy = list(range(10))  # examples 0..9, answered right for the first seven
    answers = truth[:7] + ["text" if k == "image" else "image" for k in truth[7:]]
    assert checks.score_accuracy(answers.__getitem__, seventy, truth, 4) == pytest.approx(
        2.0
    )  # halfway from chance to full
    assert checks.score_accuracy(str.upper, truth, truth, 4) == 0  # wrong case is wrong
    assert checks.score_accuracy(lambda r: np.str_(r), truth, truth, 4) == 0  # not a str
    with pytest.raises(ValueError):
        checks.score_accuracy(always_image, truth, truth[:3], 4)


# ---------------------------------------------------------------------------
# The sweep and the dashboard


def false_fact_rate(samples, facts):
    claims = false = 0
    for sample in samples:
        match = re.fullmatch(r"The capital of (.+) is (.+)\.", sample.strip())
        if match and match[1] in facts and match[2] in facts.values():
            claims, false = claims + 1, false + (facts[match[1]] != match[2])
    return false / claims if claims else float("nan")


def longest_copied_span(sample, corpus):
    for length in range(len(sample), 0, -1):
        for start in range(len(sample) - length + 1):
            if sample[start : start + length] in corpus:
                return sample[start : start + length]
    return ""


@pytest.fixture(scope="module")
def sweep():
    facts_text = "".join(
        f"The capital of {c} is {k}.\n" for c, k in list(text.CAPITALS.items())[:5]
    )
    facts_vocab = text.Vocab.from_text(facts_text)
    facts_model = lm.train_lm(facts_vocab.encode(facts_text * 20), len(facts_vocab), context=16,
                              steps=300, seed=0, progress=False)  # fmt: skip
    return risks.risk_sweep(
        [0, 1.0, 2.0],
        facts=(facts_model, facts_vocab, text.CAPITALS, facts_text.splitlines(keepends=True)),
        prose=(Fixed(), VOCAB, "aaaaab\n", ["a", "b"]),
        bias=(Fixed(), VOCAB, 0.7, ["a"] * 4),
        false_fact_rate=false_fact_rate,
        longest_copied_span=longest_copied_span,
    )


def test_the_sweep_measures_each_risk_with_the_functions_it_is_given(sweep):
    # the copy lengths come from the function given: the corpus "aaaaab\n" caps them at 7
    assert sweep.temperatures == [0, 1.0, 2.0]
    assert sweep.false_rate[0] == 0  # greedy repeats the true lines it learned
    assert all(0 <= r <= 1 for r in sweep.false_rate)
    assert sweep.copied[0] == 5  # greedy "aaaa...": the corpus's longest run of "a"
    assert all(c <= 7 for c in sweep.copied)
    assert all(np.isnan(s) for s in sweep.share)  # no "he" or "she" in "a"/"b" text
    assert len(sweep.examples) == 3 and sweep.examples[0][2] == "aaaaa"


def test_the_dashboard_moves_with_its_slider_and_bolds_the_copy(sweep):
    box = risks.risk_dashboard(sweep)
    assert box.name == "risk dashboard" and box.slider.value == 1.0
    first = box.image.value
    box.slider.value = 0
    assert box.image.value != first
    assert "<b>aaaaa</b>" in box.caption.value
    report = latency_report()["risk dashboard"]
    assert report["changes"] >= len(box.demo_changes) - 1
    assert report["p95_ms"] < 5 * report["budget_ms"]  # the benchmark holds it to the budget


def test_the_risk_figures_mark_the_chosen_temperature(sweep):
    fig = risks.plot_risks(sweep, at=2.0)
    assert [ax.get_title() for ax in fig.axes][0].startswith("false-fact rate at T = 2")
    still = risks.risk_snapshots(sweep)
    assert len(still.axes) == 3
    assert "at T" not in still.axes[0].get_title()


def test_the_other_figures_draw_what_they_are_given():
    fig = risks.plot_confidence({"true": np.array([0.9, 0.99]), "false": np.array([0.2])})
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["true (2)", "false (1)"]
    fig = risks.plot_amplification([0.5, 1.0], [0.85, 0.7], 0.7, 0.7)
    assert fig.axes[0].get_lines()[1].get_ydata().tolist() == [0.85, 0.7]
    fig = risks.plot_detectors([500, 5000], {"linear": [0.9, 0.7]})
    assert fig.axes[0].get_lines()[0].get_ydata().tolist() == [0.9, 0.7]
    fig = risks.plot_responses([("draw a 1", "image", np.zeros(64)), ("go on: x", "text", "x y")])
    assert len(fig.axes) == 3 and fig.axes[0].get_title().endswith("-> image")
