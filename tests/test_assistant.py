"""Module 09's models and measurements: the training text keeps the unseen countries out,
the creator's cached sampler is its plain forward pass, the retriever, the reward model,
best-of-n and DPO do what their contracts say when they are given the reference answers
of the exercises, and each measurement agrees with the same number computed another way.

The shipped creator (`assistant.pt`) may be retrained; the tests about it assert what any
creator trained by `scripts/train_assistant.py` does, never its exact rates."""

import math
import re
import zlib
from collections import Counter

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # `make compat` runs without torch; `make test` with it

from assistant_answers import (  # noqa: E402
    best_of_n,
    bradley_terry_loss,
    cosine_scores,
    dpo_loss,
    sequence_logprob,
)
from torch.nn import functional as F  # noqa: E402

from genlab import text  # noqa: E402
from genlab.assistant import model  # noqa: E402

REAL_NAMES = set(model.REAL) | set(model.REAL.values())
QUESTION_LINE = re.compile(r"^(.*)\|The capital of (.+) is (.+)\.\n$")


@pytest.fixture(scope="module")
def creator():
    return model.load_creator()


@pytest.fixture(scope="module")
def lines():
    return model.training_lines(20_000, seed=0)


@pytest.fixture(scope="module")
def reward_run():
    """A reward model trained with the reference Bradley-Terry loss on the seen countries."""
    pairs = model.preference_pairs(model.SEEN, per_country=12, seed=0)
    return model.train_reward_model(pairs, bradley_terry_loss)


def _greedy(creator, prompt, max_chars):
    """The answer greedy decoding gives, the whole window read again for every character
    (no cache)."""
    ids, out = list(creator.vocab.encode(prompt)), ""
    with torch.no_grad():
        for _ in range(max_chars):
            best = int(creator.net(torch.tensor([ids]))[0, -1].argmax())
            out += creator.vocab.chars[best]
            ids.append(best)
            if out[-1] in ".\n":
                break
    return out


def _country(prompt):
    """The country a prompt of `model.question` asks about."""
    return re.fullmatch(r".*\|The capital of (.+) is", prompt)[1]


def _is_one_slip(word, slip):
    """Whether `slip` is `word` with one neighbouring pair swapped, one letter dropped or one
    letter doubled, its first letter untouched."""
    if not slip or slip[0] != word[0]:
        return False
    if len(slip) == len(word) - 1:
        return any(word[:i] + word[i + 1 :] == slip for i in range(1, len(word)))
    if len(slip) == len(word) + 1:
        return any(
            slip[:i] + slip[i + 1 :] == word and slip[i] == slip[i - 1] for i in range(2, len(slip))
        )
    if len(slip) == len(word):
        diffs = [i for i in range(len(word)) if word[i] != slip[i]]
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and (word[diffs[0]], word[diffs[1]]) == (slip[diffs[1]], slip[diffs[0]])
        )
    return False


# ---------------------------------------------------------------------------
# The training text


def test_training_lines_never_name_an_unseen_country_or_its_capital(lines):
    """The unseen countries are what the module measures hallucination on: a line naming one,
    even inside an invented capital ("Lima Tou") or a passage of Emma, would teach it."""
    names = [*model.UNSEEN, *(model.REAL[c] for c in model.UNSEEN)]
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    assert [line for line in lines if pattern.search(line)] == []
    # and the check can fail: it finds one in a line built to hold it
    assert pattern.search(model.question("Peru", model.knowledge_row("Peru", "Lima")))


def test_the_three_kinds_of_line_come_in_shares_near_15_65_20(lines):
    """Classified from the text alone: a line with no separator is prose, a question whose
    country is real is about a seen country, any other question about an invented one."""
    kinds = Counter()
    with_row = 0
    for line in lines:
        match = QUESTION_LINE.match(line)
        if match is None:
            assert model.SEP not in line
            kinds["prose"] += 1
        elif match[2] in model.REAL:
            kinds["real"] += 1
            with_row += match[1] != ""
        else:
            kinds["invented"] += 1
    n = len(lines)  # 20,000 lines: one standard error of a share is at most 0.0035
    assert kinds["prose"] / n == pytest.approx(0.15, abs=0.015)
    assert kinds["invented"] / n == pytest.approx(0.65, abs=0.015)
    assert kinds["real"] / n == pytest.approx(0.20, abs=0.015)
    assert with_row / kinds["real"] == pytest.approx(0.5, abs=0.03)


def test_each_question_carries_the_capital_of_its_own_line_and_real_ones_the_true_one(lines):
    """A line given in the context is always the asked country's own and holds the answer, so
    copying it is right; a real country's answer is its true capital."""
    invented_rows = 0
    for line in lines:
        match = QUESTION_LINE.match(line)
        if match is None:
            continue
        row, country, capital = match[1], match[2], match[3]
        if row:  # the line given is the country's own, and the answer copies it
            assert row == model.knowledge_row(country, capital), line
        if country in model.REAL:
            assert capital == model.REAL[country], line
            assert country in model.SEEN, line
        else:
            assert row, line  # an invented country is always asked with its line
            assert country not in REAL_NAMES and capital not in REAL_NAMES, line
            invented_rows += 1
    assert invented_rows > 10_000


def test_every_line_ends_in_its_only_line_break_and_prose_is_a_60_character_passage(lines):
    """The line break ends each line, where the sampler stops; the text is seeded."""
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    prose = [line for line in lines if model.SEP not in line]
    assert {len(p) for p in prose} == {61}
    assert model.training_lines(300, seed=4) == model.training_lines(300, seed=4)
    assert model.training_lines(300, seed=4) != model.training_lines(300, seed=5)


def test_invented_facts_name_no_real_country_or_capital_and_are_seeded():
    """An invented name that were a real one would teach a real fact, true or false."""
    real_words = {w for name in REAL_NAMES for w in name.split()}
    for seed in range(3):
        facts = model.invented_facts(2000, seed=seed)
        assert len(facts) == 2000
        for country, capital in facts.items():
            assert len(country) > 3 and country[0].isupper()
            # word by word: a two-word capital holds no real name either
            assert not (set(country.split()) | set(capital.split())) & real_words
    assert model.invented_facts(50, seed=7) == model.invented_facts(50, seed=7)
    assert model.invented_facts(50, seed=7) != model.invented_facts(50, seed=8)


def test_prose_lines_held_out_come_from_the_last_tenth_only():
    """Checked against the text itself: a held-out passage is found after the cut and nowhere
    before it, a training passage before the cut."""
    prose = text.prose_corpus(volumes=1).replace("\n", " ")
    cut = int(len(prose) * 0.9)
    held_out = model.prose_lines(2000, held_out=True, seed=2)
    training = model.prose_lines(300, seed=2)
    assert all(len(p) == 60 for p in held_out + training)
    for passage in held_out:
        assert passage in prose[cut:] and passage not in prose[:cut]
    for passage in training:
        assert passage in prose[:cut]
    assert model.prose_lines(5, seed=2) == training[:5]


# ---------------------------------------------------------------------------
# The creator and its sampler


def test_the_shipped_creator_knows_every_character_of_the_facts(creator):
    """Any question about a real country, and any line the retriever gives, can be encoded."""
    assert model.CHECKPOINT.stat().st_size < 1e6
    assert not creator.net.training
    needed = set("".join(REAL_NAMES)) | set(model.SEP) | set(".\n :")
    assert needed <= set(creator.vocab.chars)
    assert creator.record["steps"] >= 1000


def test_the_cached_forward_pass_gives_the_logits_of_the_plain_one(creator):
    """The sampler's correctness rests on it: the prompt at once, then one character at a
    time with the keys and values kept, must give what `net` gives on the whole text."""
    texts = ["Peru: Lima|The capital of Peru is Lima.\n", "|The capital of Chile is Santiago.\n"]
    prompt_length = 20
    net = creator.net
    with torch.no_grad():
        for line in texts:
            ids = torch.as_tensor(creator.vocab.encode(line))[None]
            want = net(ids)
            got, past = model._forward_cached(net, ids[:, :prompt_length], None, 0)
            steps = [got]
            for t in range(prompt_length, ids.shape[1]):
                step, past = model._forward_cached(net, ids[:, t : t + 1], past, t)
                steps.append(step)
            torch.testing.assert_close(torch.cat(steps, 1), want, atol=1e-4, rtol=1e-4)
        # two texts of one length at once, as the sampler draws them
        pair = torch.stack([torch.as_tensor(creator.vocab.encode(t[:30])) for t in texts])
        first, past = model._forward_cached(net, pair[:, :10], None, 0)
        rest = []
        for t in range(10, 30):
            step, past = model._forward_cached(net, pair[:, t : t + 1], past, t)
            rest.append(step)
        torch.testing.assert_close(torch.cat([first, *rest], 1), net(pair), atol=1e-4, rtol=1e-4)


def test_the_cached_forward_pass_refuses_more_than_one_position_after_a_cache(creator):
    """With a cache the attention is unmasked: two new positions would see each other."""
    ids = torch.as_tensor(creator.vocab.encode("|The capital"))[None]
    with torch.no_grad():
        _, past = model._forward_cached(creator.net, ids, None, 0)
        with pytest.raises(ValueError, match="one position at a time"):
            model._forward_cached(creator.net, ids[:, :2], past, ids.shape[1])


def test_sampling_is_seeded_and_stops_at_the_first_full_stop_or_line_break(creator):
    """Checked on the completions' text: a stop, if any, is the last character."""
    prompts = [model.question(c) for c in model.REAL]
    answers = model.sample_answers(creator, prompts, 1.0, seed=3)
    assert answers == model.sample_answers(creator, prompts, 1.0, seed=3)
    assert answers != model.sample_answers(creator, prompts, 1.0, seed=4)
    # hot and short, so that some completions run to max_chars without a stop
    for max_chars in (model.ANSWER_CHARS, 6):
        drawn = model.sample_answers(creator, prompts * 3, 4.0, seed=0, max_chars=max_chars)
        cut = 0
        for answer in drawn:
            first_stop = min((answer.find(s) for s in ".\n" if s in answer), default=-1)
            if first_stop >= 0:
                assert first_stop == len(answer) - 1 and len(answer) <= max_chars, answer
            else:
                assert len(answer) == max_chars, answer
                cut += 1
        assert cut > 0  # the rule for a completion that never stops was exercised


def test_a_temperature_that_is_not_positive_is_refused(creator):
    """Logits divided by zero or a negative number are no distribution to draw from."""
    for temperature in (0.0, -1.0):
        with pytest.raises(ValueError, match="temperature must be positive"):
            model.sample_answers(creator, [model.question("France")], temperature)


def test_a_very_low_temperature_gives_the_greedy_answer(creator):
    """Prompts of several lengths in one call, each answer checked against greedy decoding
    by the plain forward pass."""
    prompts = [
        model.question("France"),
        model.question("Peru"),
        model.question("South Korea"),
        model.question("Peru", model.knowledge_row("Peru", "Lima")),
        model.question("Kenya", model.knowledge_row("Kenya", "Nairobi")),
        "It was a",
    ]
    answers = model.sample_answers(creator, prompts, temperature=1e-6, seed=5)
    assert answers == [_greedy(creator, p, model.ANSWER_CHARS) for p in prompts]


# ---------------------------------------------------------------------------
# Judging the answers


def test_verdicts_read_the_answer_up_to_its_first_stop_and_judge_it_against_the_facts():
    """Hand-made cases of each verdict, and facts other than the real ones."""
    cases = [
        ("France", " Paris.", "true"),
        ("France", "Paris", "true"),  # no stop: the whole completion, stripped
        ("France", " Paris\nand more", "true"),
        ("France", " Berlin.", "false"),  # another country's capital
        ("France", " Lima.", "false"),  # an unseen country's capital is a capital too
        ("France", " Parus.", "nonsense"),
        ("France", " paris.", "nonsense"),
        ("France", " Paris is fine.", "nonsense"),
        ("France", ".", "nonsense"),
        ("South Korea", " Seoul. Paris.", "true"),
    ]
    countries, completions, want = zip(*cases, strict=True)
    assert model.verdicts(countries, completions) == list(want)
    facts = {"Zorba": "Kint", "Mell": "Aachen"}
    got = model.verdicts(["Zorba", "Zorba", "Zorba"], [" Kint.", " Aachen.", " Paris."], facts)
    assert got == ["true", "false", "nonsense"]


def test_rates_are_shares_that_sum_to_one():
    """Counted by hand: the three shares sum to 1 and not_true is false + nonsense."""
    judged = ["true"] * 3 + ["false"] * 2 + ["nonsense"] * 5
    r = model.rates(judged)
    assert r == pytest.approx({"true": 0.3, "false": 0.2, "nonsense": 0.5, "not_true": 0.7})
    assert r["true"] + r["false"] + r["nonsense"] == pytest.approx(1.0)
    assert r["not_true"] == pytest.approx(r["false"] + r["nonsense"])
    assert model.rates(["true"]) == pytest.approx(
        {"true": 1.0, "false": 0.0, "nonsense": 0.0, "not_true": 0.0}
    )


def test_rates_of_no_answers_are_refused():
    """`best_of_n_sweep` asks for the unseen countries' rates of a pool that may hold none:
    a false-fact rate over no answers would be drawn as a measurement, so it is an error."""
    with pytest.raises(ValueError, match="at least one answer"):
        model.rates([])


# ---------------------------------------------------------------------------
# The retriever


def test_the_retriever_picks_the_row_of_highest_cosine_for_every_question():
    """Against an index built apart from the class, with scikit-learn's cosine."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    retriever = model.Retriever()
    rows = [f"{c}: {capital}" for c, capital in model.REAL.items()]
    assert retriever.rows == rows
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit(rows)
    matrix = vectorizer.transform(rows)
    for i, country in enumerate(model.REAL):
        query = f"The capital of {country} is"
        want = int(np.argmax(cosine_similarity(vectorizer.transform([query]), matrix)[0]))
        assert retriever.best(query, cosine_scores) == want == i, country


def test_the_retriever_refuses_a_score_of_the_wrong_shape():
    """A student's cosine that returns a column, a short vector or a number is told so, not
    silently reduced by argmax."""
    retriever = model.Retriever()
    query = "The capital of France is"
    for wrong in (
        lambda q, rows: cosine_scores(q, rows)[:, None],
        lambda q, rows: cosine_scores(q, rows)[:-1],
        lambda q, rows: float(cosine_scores(q, rows).max()),
    ):
        with pytest.raises(ValueError, match=r"expected one score per row, \(63,\)"):
            retriever.best(query, wrong)


def test_misspell_makes_one_slip_never_at_the_first_letter_and_leaves_short_words():
    """Every slip checked against the three edits, on every real name without a doubled letter."""
    words = [
        w
        for w in sorted(REAL_NAMES)
        if len(w) >= 4 and all(a != b for a, b in zip(w, w[1:], strict=False))
    ]
    assert len(words) > 100
    rng = np.random.default_rng(0)
    kinds = Counter()
    for word in words:
        for _ in range(10):
            slip = model.misspell(word, rng)
            assert _is_one_slip(word, slip), (word, slip)
            kinds[len(slip) - len(word)] += 1
    assert set(kinds) == {-1, 0, 1}  # a letter dropped, a pair swapped, a letter doubled
    for short in ("", "Ab", "Rom"):
        assert model.misspell(short, rng) == short
    # and the checker can fail
    assert not _is_one_slip("Paris", "aPris") and not _is_one_slip("Paris", "Pairs ")


def test_misspell_changes_a_word_with_a_doubled_letter_too():
    """A typo the retriever is tested against must be a typo."""
    rng = np.random.default_rng(0)
    for word in ("Tallinn", "Greece", "Philippines", "Morocco"):
        for _ in range(30):
            assert model.misspell(word, rng) != word, word


def test_retrieval_makes_the_creator_copy_the_capital_of_the_line_it_is_given(creator):
    """On the unseen countries, whose capitals the creator never read: without a line it
    rarely names the capital, with the retrieved line it copies it; with another country's
    line it copies that one, which is a false answer."""
    out = model.grounded_rates(
        creator, model.Retriever(), cosine_scores, model.UNSEEN, samples=8, seed=0
    )
    asked = [c for c in model.UNSEEN for _ in range(8)]
    for way in ("bare", "retrieved", "wrong"):
        r = out[way]["rates"]
        assert len(out[way]["answers"]) == len(asked)
        assert r["true"] + r["false"] + r["nonsense"] == pytest.approx(1.0)
        assert r["not_true"] == pytest.approx(1 - r["true"])
    assert out["retrieved"]["hits"] == 1.0
    # "copied" compares with the capital of the line given; no line is given bare, so the
    # bare answers are compared here, by hand, with the capital the retrieved line holds
    assert out["bare"]["copied"] == 0.0
    bare = zip(out["bare"]["answers"], asked, strict=True)
    bare_copies = np.mean([a.split(".")[0].strip() == model.REAL[c] for a, c in bare])
    assert out["retrieved"]["copied"] > bare_copies + 0.4
    # every line retrieved is the country's own: copying it is answering truly
    assert out["retrieved"]["copied"] == pytest.approx(out["retrieved"]["rates"]["true"])
    # another country's capital is a capital, not this one's: a copy is judged false
    assert 0.2 < out["wrong"]["copied"] <= out["wrong"]["rates"]["false"]


def test_retrieval_finds_most_lines_despite_a_typo_and_all_without(creator):
    """Correctly spelt, every question retrieves its country's line; misspelt, most still do."""
    countries = list(model.REAL)
    plain = model.grounded_rates(creator, model.Retriever(), cosine_scores, countries, samples=1)
    assert plain["retrieved"]["hits"] == 1.0
    typos = model.grounded_rates(
        creator, model.Retriever(), cosine_scores, countries, samples=4, typos=True
    )
    assert 0.6 < typos["retrieved"]["hits"] < 1.0  # character n-grams survive a slip


def test_grounded_rates_works_with_a_retriever_over_another_table(creator):
    """The wrong line is drawn from the retriever's own table, and answers are judged
    against its facts: of ten countries, another one's capital is a false answer."""
    facts = {c: model.REAL[c] for c in list(model.REAL)[:10]}
    out = model.grounded_rates(creator, model.Retriever(facts), cosine_scores, list(facts))
    assert out["retrieved"]["hits"] == 1.0
    assert out["wrong"]["copied"] <= out["wrong"]["rates"]["false"]


# ---------------------------------------------------------------------------
# The reward model


def test_answer_features_are_normalised_n_gram_counts_of_the_answer():
    """ " Rome." by hand: "^Rome$" has 6 + 5 + 4 = 15 grams, each counted in its CRC-32
    bucket and divided by sqrt(15)."""
    grams = ["^", "R", "o", "m", "e", "$", "^R", "Ro", "om", "me", "e$", "^Ro", "Rom", "ome", "me$"]
    want = torch.zeros(model.FEATURES)
    for bucket, count in Counter(zlib.crc32(g.encode()) % model.FEATURES for g in grams).items():
        want[bucket] = count / math.sqrt(15)
    got = model.answer_features([" Rome."])
    assert got.shape == (1, model.FEATURES) and got.dtype == torch.float32
    torch.testing.assert_close(got[0], want)

    answers = [" Paris.", " Addis Ababa.", " aaaa.", "", " Buenos Aires. Lima"]
    x = model.answer_features(answers)
    torch.testing.assert_close(x, model.answer_features(answers))  # deterministic
    for row, answer in zip(x, answers, strict=True):
        stated = answer.split(".")[0].strip()
        total = 3 * (len(stated) + 2) - 3  # the 1-, 2- and 3-grams of "^answer$"
        counts = row * math.sqrt(total)
        torch.testing.assert_close(counts, counts.round(), atol=1e-4, rtol=0)  # whole counts
        assert counts.sum().item() == pytest.approx(total, rel=1e-5)
        assert (row**2).sum().item() == pytest.approx((counts**2).sum().item() / total, rel=1e-5)
    # "aaaa": ^ 1, a 4, $ 1, ^a 1, aa 3, a$ 1, ^aa 1, aaa 2, aa$ 1: at least 35 / 15 (more if
    # two grams share a bucket)
    assert (x[2] ** 2).sum().item() >= 35 / 15 - 1e-5


def test_answer_features_read_the_answer_up_to_its_first_full_stop():
    """What follows the answer, and the spaces around it, change nothing; a letter does."""
    same = model.answer_features([" Lima.", "Lima", " Lima. And Paris.", " Lima\nRome", "Lima "])
    for row in same[1:]:
        torch.testing.assert_close(row, same[0])
    other = model.answer_features([" Lime."])
    assert not torch.allclose(other[0], same[0])


def test_an_unknown_country_is_scored_by_the_shared_weights_alone(reward_run):
    """The scores recomputed by hand from the model's weights."""
    reward, _ = reward_run
    completions = [" Lima.", " Paris.", " Xqzt."]
    x = model.answer_features(completions)
    w, b = reward.shared.weight.detach()[0], reward.shared.bias.detach()[0]
    shared_only = (x @ w + b).double().numpy()
    np.testing.assert_allclose(reward.score(["Peru"] * 3, completions), shared_only, rtol=1e-5)
    # a country it was trained on adds its own weights
    own = reward.own.weight.detach()[reward.countries.index("France")]
    with_own = (x @ (w + own) + b).double().numpy()
    np.testing.assert_allclose(reward.score(["France"] * 3, completions), with_own, rtol=1e-5)
    assert np.abs(with_own - shared_only).max() > 0.1
    # untrained, every score is 0
    assert (model.RewardModel(["France"]).score(["France", "Peru"], [" a.", " b."]) == 0).all()


def test_preference_pairs_prefer_the_true_capital_to_three_kinds_of_wrong_answer():
    """Each preferred answer is the true capital, no rejected one is, and a third of the
    rejected are other capitals."""
    pairs = model.preference_pairs(model.SEEN, per_country=12, seed=0)
    assert len(pairs) == 12 * len(model.SEEN)
    capitals = set(model.REAL.values())
    for country in model.SEEN:
        mine = [p for p in pairs if p[0] == country]
        assert len(mine) == 12
        assert all(good == f" {model.REAL[country]}." for _, good, _ in mine)
        rejected = [bad for _, _, bad in mine]
        assert f" {model.REAL[country]}." not in rejected
        assert all(bad.startswith(" ") and bad.endswith(".") for bad in rejected)
        # a third another country's capital; a misspelt or invented name is no capital
        assert sum(bad[1:-1] in capitals for bad in rejected) == 4, country
    assert pairs == model.preference_pairs(model.SEEN, per_country=12, seed=0)


def test_the_bradley_terry_reward_model_learns_the_seen_countries_not_the_unseen(reward_run):
    """Held-out pairs (another seed) of the seen countries are ranked right; on unseen
    countries, true capital against another capital, it does no better than chance."""
    reward, history = reward_run
    assert reward.countries == sorted(model.SEEN)
    assert history[0] == pytest.approx(math.log(2))  # every score 0 at the start
    assert history[-1] < 0.2
    held_out = model.preference_pairs(model.SEEN, per_country=12, seed=1)
    assert model.pair_accuracy(reward, held_out) > 0.95
    # another country's capital against the true one, about countries it has no weights
    # for: the shared weights cannot tell which capital is this country's
    unseen = model.preference_pairs(model.UNSEEN, per_country=30, seed=1)
    capitals = set(model.REAL.values())
    swapped = [p for p in unseen if p[2][1:-1] in capitals]
    assert len(swapped) == 10 * len(model.UNSEEN)
    assert model.pair_accuracy(reward, swapped) < 0.6


def test_the_reward_model_trains_with_the_loss_it_is_given():
    """The reference loss with its arguments swapped rewards the rejected answers: held-out
    pairs are then ranked the wrong way round."""
    pairs = model.preference_pairs(model.SEEN, per_country=6, seed=0)
    calls = []

    def wrong_way(r_preferred, r_rejected):
        calls.append(r_preferred.shape)
        return bradley_terry_loss(r_rejected, r_preferred)

    reward, _ = model.train_reward_model(pairs, wrong_way, steps=100)
    assert calls == [torch.Size([len(pairs)])] * 100
    held_out = model.preference_pairs(model.SEEN, per_country=6, seed=1)
    assert model.pair_accuracy(reward, held_out) < 0.5


def test_a_reward_model_asked_for_no_country_weights_has_none():
    """countries=[] is a judge of the shared weights alone: every country scored alike."""
    pairs = model.preference_pairs(["France", "Spain"], per_country=3, seed=0)
    reward, _ = model.train_reward_model(pairs, bradley_terry_loss, countries=[], steps=20)
    assert reward.countries == []
    scores = reward.score(["France", "Spain", "Peru"], [" Paris."] * 3)
    assert scores[0] == scores[1] == scores[2] != 0  # the shared weights, trained, alone


# ---------------------------------------------------------------------------
# Best of n


def _hand_made_pool(seed=0):
    """Three countries (one unseen), 3 groups of 4 answers, verdicts set by hand, rewards
    drawn at random (no ties)."""
    rng = np.random.default_rng(seed)
    choices = [(" Paris.", "true"), (" Berlin.", "false"), (" Parus.", "nonsense"),
               (" Paris. Yes.", "true"), (" Lima.", "false")]  # fmt: skip
    picks = rng.integers(len(choices), size=(3, 3, 4))
    answers = np.empty((3, 3, 4), dtype=object)
    judged = np.empty((3, 3, 4), dtype=object)
    for index, k in np.ndenumerate(picks):
        answers[index], judged[index] = choices[k]
    return model.Pool(["France", "Peru", "Japan"], answers, rng.normal(size=(3, 3, 4)), judged)


def test_best_of_n_keeps_what_a_brute_force_search_keeps():
    """On a hand-made pool, every field of every n recomputed by looping over the groups."""
    pool = _hand_made_pool()
    sweep = model.best_of_n_sweep(pool, best_of_n, ns=(1, 2, 3, 4))
    assert list(sweep) == [1, 2, 3, 4]
    for n, got in sweep.items():
        kept = np.empty((3, 3), dtype=object)
        judged = {True: [], False: []}
        rewards = []
        for c in range(3):
            for g in range(3):
                j = max(range(n), key=lambda k, c=c, g=g: pool.rewards[c, g, k])
                kept[c, g] = pool.answers[c, g, j]
                judged[pool.countries[c] != "Peru"].append(pool.verdicts[c, g, j])
                rewards.append(pool.rewards[c, g, j])
        assert (got["kept"] == kept).all(), n
        for key, seen in (("seen", True), ("unseen", False)):
            share = {v: judged[seen].count(v) / len(judged[seen]) for v in ("true", "false")}
            assert got[key]["true"] == pytest.approx(share["true"]), (n, key)
            assert got[key]["false"] == pytest.approx(share["false"]), (n, key)
            assert got[key]["not_true"] == pytest.approx(1 - share["true"]), (n, key)
        assert got["reward"] == pytest.approx(np.mean(rewards))
        stated = [[a.split(".")[0].strip() for a in row] for row in kept]
        assert got["distinct"] == pytest.approx(np.mean([len(set(row)) for row in stated]))
        assert got["length"] == pytest.approx(np.mean([len(a) for row in stated for a in row]))
    assert (sweep[1]["kept"] == pool.answers[:, :, 0]).all()
    # the reward of what is kept cannot fall as n grows
    means = [sweep[n]["reward"] for n in (1, 2, 3, 4)]
    assert means == sorted(means) and means[-1] > means[0]


def test_best_of_n_refuses_a_pick_of_the_wrong_shape_and_an_n_beyond_the_pool():
    """A pick that returns a column or one index per answer is told so, as is an n the pool
    cannot give."""
    pool = _hand_made_pool()
    with pytest.raises(ValueError, match=r"expected one index per prompt, \(9,\)"):
        model.best_of_n_sweep(pool, lambda r: best_of_n(r)[:, None], ns=(2,))
    with pytest.raises(ValueError, match=r"expected one index per prompt, \(9,\)"):
        model.best_of_n_sweep(pool, lambda r: np.argmax(r, axis=0), ns=(2,))
    for n in (0, 5):
        with pytest.raises(ValueError, match="the pool holds 4 answers a group"):
            model.best_of_n_sweep(pool, best_of_n, ns=(n,))


def test_a_drawn_pool_is_scored_and_judged_answer_by_answer(creator, reward_run):
    """The pool's arrays are the sampler's answers, the reward model's scores and the verdicts,
    in the same order; `rescore` swaps only the scores."""
    reward, _ = reward_run
    countries = ["France", "Peru", "Japan"]
    pool = model.draw_pool(creator, reward, countries, groups=2, n=3, seed=4)
    assert pool.answers.shape == pool.rewards.shape == pool.verdicts.shape == (3, 2, 3)
    asked = [c for c in countries for _ in range(6)]
    answers = list(pool.answers.ravel())
    assert answers == model.sample_answers(creator, [model.question(c) for c in asked], 1.0, seed=4)
    np.testing.assert_allclose(pool.rewards.ravel(), reward.score(asked, answers))
    assert list(pool.verdicts.ravel()) == model.verdicts(asked, answers)
    # scored again by another judge: the same answers and verdicts, that judge's scores
    other, _ = model.train_reward_model(
        model.preference_pairs(["France", "Japan"], per_country=3), bradley_terry_loss, steps=5
    )
    again = model.rescore(pool, other)
    assert again.countries == pool.countries
    assert (again.answers == pool.answers).all() and (again.verdicts == pool.verdicts).all()
    np.testing.assert_allclose(again.rewards.ravel(), other.score(asked, answers))
    assert not np.allclose(again.rewards, pool.rewards)


# ---------------------------------------------------------------------------
# Preference tuning


def test_answer_logprobs_sum_the_log_probabilities_of_the_completions_characters(creator):
    """Against the network run once per character of the completion, prompts of different
    lengths padded together in `answer_logprobs`."""
    prompts = [model.question("France"), model.question("Peru", "Peru: Lima"), "It was"]
    completions = [" Paris.", " Lima.", " a fine day, and she"]
    got = model.answer_logprobs(creator, prompts, completions, sequence_logprob)
    assert got.shape == (3,)
    with torch.no_grad():
        for value, prompt, completion in zip(got, prompts, completions, strict=True):
            want = 0.0
            for j, char in enumerate(completion):
                ids = torch.as_tensor(creator.vocab.encode(prompt + completion[:j]))[None]
                logp = creator.net(ids)[0, -1].log_softmax(-1)
                want += logp[creator.vocab.chars.index(char)].item()
            assert value.item() == pytest.approx(want, abs=1e-4)


def _dpo_pairs(count=40):
    """The true capital against the next seen country's."""
    seen = model.SEEN[:count]
    following = [model.SEEN[(i + 1) % len(model.SEEN)] for i in range(len(seen))]
    return [
        (model.question(c), f" {model.REAL[c]}.", f" {model.REAL[d]}.")
        for c, d in zip(seen, following, strict=True)
    ]


@pytest.fixture(scope="module")
def dpo_run(creator):
    pairs = _dpo_pairs()
    before = {k: v.clone() for k, v in creator.net.state_dict().items()}
    run = model.dpo(creator, pairs, 0.1, dpo_loss, sequence_logprob, steps=20, lr=1e-3)
    return run, pairs, before


def test_dpo_starts_at_log_2_and_raises_the_preferred_answers_margin(creator, dpo_run):
    """At the first step the policy is the reference, every margin 0 and the loss
    softplus(0) = log 2; after training, the margins, recomputed apart, are positive."""
    run, pairs, _ = dpo_run
    assert [h[0] for h in run.history] == list(range(1, 21))
    assert run.history[0][1] == pytest.approx(math.log(2), abs=1e-4)  # the policy is the reference
    assert run.history[-1][1] < 0.3
    prompts, good, bad = zip(*pairs, strict=True)
    with torch.no_grad():
        margin = (
            model.answer_logprobs(run.creator, prompts, good, sequence_logprob)
            - model.answer_logprobs(creator, prompts, good, sequence_logprob)
            - model.answer_logprobs(run.creator, prompts, bad, sequence_logprob)
            + model.answer_logprobs(creator, prompts, bad, sequence_logprob)
        )
    assert (margin > 0).float().mean().item() > 0.9
    assert run.history[-1][2] > run.history[0][2]
    assert not run.creator.net.training and run.beta == 0.1


def test_dpo_leaves_the_reference_creator_unchanged(creator, dpo_run):
    """DPO tunes a copy: the frozen reference is what its loss measures against."""
    run, _, before = dpo_run
    after = creator.net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    tuned = run.creator.net.state_dict()
    assert any(not torch.equal(before[k], tuned[k]) for k in before)


def test_dpo_adds_the_preferred_answers_negative_log_likelihood_when_asked(creator):
    """With the whole set in one batch, the first loss is log 2 - nll * the mean
    log-probability of the preferred answers under the reference."""
    pairs = _dpo_pairs(16)
    prompts, good, _ = zip(*pairs, strict=True)
    with torch.no_grad():
        mean_good = model.answer_logprobs(creator, prompts, good, sequence_logprob).mean().item()
    runs = {
        nll: model.dpo(creator, pairs, 0.1, dpo_loss, sequence_logprob, steps=3,
                       batch_size=16, lr=1e-3, nll=nll)
        for nll in (0.0, 0.5)
    }  # fmt: skip
    assert runs[0.0].history[0][1] == pytest.approx(math.log(2), abs=1e-4)
    assert runs[0.5].history[0][1] == pytest.approx(math.log(2) - 0.5 * mean_good, abs=1e-3)
    a, b = (runs[nll].creator.net.state_dict() for nll in (0.0, 0.5))
    assert any(not torch.allclose(a[k], b[k]) for k in a)


def test_prose_loss_is_the_mean_cross_entropy_of_every_character_after_the_first(creator):
    """Line by line, without padding, summed and divided by the number of characters predicted."""
    lines = [p + "\n" for p in model.prose_lines(5, held_out=True)]
    lines.append("|The capital of Peru is Lima.\n")  # of another length
    total, count = 0.0, 0
    with torch.no_grad():
        for line in lines:
            ids = torch.as_tensor(creator.vocab.encode(line))
            logits = creator.net(ids[None, :-1])[0]
            total += F.cross_entropy(logits, ids[1:], reduction="sum").item()
            count += len(line) - 1
    assert model.prose_loss(creator, lines) == pytest.approx(total / count, rel=1e-5)
    assert model.prose_loss(creator) < 0.6 * math.log(len(creator.vocab))  # it read Emma


def test_gold_pairs_prefer_the_truth_to_the_creators_own_wrong_answers():
    """On a hand-made pool: the unseen country is skipped, France's wrong answers are cycled
    through in order, and Japan, never wrong, gets other countries' capitals."""
    pool = _hand_made_pool()
    pool.answers[2] = " Tokyo."  # every answer about Japan true
    pool.verdicts[2] = "true"
    pairs = model.gold_pairs(pool, per_country=6)
    assert len(pairs) == 12  # Peru, unseen, has none
    france = [p for p in pairs if p[0] == model.question("France")]
    japan = [p for p in pairs if p[0] == model.question("Japan")]
    assert len(france) == len(japan) == 6
    assert all(good == " Paris." for _, good, _ in france)
    assert all(good == " Tokyo." for _, good, _ in japan)
    france_answers = zip(pool.answers[0].ravel(), pool.verdicts[0].ravel(), strict=True)
    wrong = [a for a, v in france_answers if v != "true"]
    assert wrong
    assert [bad for _, _, bad in france] == (wrong * 6)[:6]
    # no wrong answer of its own: other countries' capitals, judged false, all different
    rejected = [bad for _, _, bad in japan]
    assert model.verdicts(["Japan"] * 6, rejected) == ["false"] * 6
    assert len(set(rejected)) == 6


def test_gold_pairs_of_a_drawn_pool_are_true_against_not_true(creator, reward_run):
    """On the creator's own answers: gold pairs are true against not true, judged pairs prefer
    what the reward model scores higher."""
    reward, _ = reward_run
    pool = model.draw_pool(creator, reward, list(model.REAL), groups=1, n=4, seed=2)
    pairs = model.gold_pairs(pool, per_country=4)
    assert len(pairs) == 4 * len(model.SEEN)
    countries = [_country(p[0]) for p in pairs]
    assert set(countries) == set(model.SEEN)
    assert model.verdicts(countries, [p[1] for p in pairs]) == ["true"] * len(pairs)
    assert "true" not in model.verdicts(countries, [p[2] for p in pairs])
    # judged pairs, over every country: the preferred answer is the one scored higher
    judged = model.judged_pairs(pool, per_country=2)
    assert judged
    for prompt, good, bad in judged:
        country = _country(prompt)
        r_good, r_bad = reward.score([country, country], [good, bad])
        assert r_good > r_bad


def test_judged_pairs_skip_ties_and_pairs_of_one_answer():
    """A hand-made pool: a tie and one answer twice (" Paris." and " Paris. Yes") are skipped."""
    answers = [" Paris.", " Parus.", " Rome.", " Berlin.", " Paris.", " Paris. Yes",
               " Lima.", " Oslo."]  # fmt: skip
    rewards = [0.1, 0.9, 0.5, 0.5, 0.3, 0.2, 0.8, -0.2]
    pool = model.Pool(
        ["France"],
        np.array(answers, dtype=object).reshape(1, 1, 8),
        np.array(rewards).reshape(1, 1, 8),
        np.array(model.verdicts(["France"] * 8, answers), dtype=object).reshape(1, 1, 8),
    )
    question = model.question("France")
    assert model.judged_pairs(pool, per_country=4) == [
        (question, " Parus.", " Paris."),
        (question, " Lima.", " Oslo."),
    ]
    assert model.judged_pairs(pool, per_country=1) == [(question, " Parus.", " Paris.")]


# ---------------------------------------------------------------------------
# Training, saving and evaluating a creator


@pytest.fixture(scope="module")
def small_creator(creator):
    lines = model.training_lines(400, seed=1)
    return model.train_creator(lines, creator.vocab, steps=30, batch_size=16, d_model=32,
                               n_layers=1, seed=0)  # fmt: skip


def test_training_a_creator_lowers_its_loss_from_a_uniform_guess_and_is_seeded(
    creator, small_creator
):
    """Untrained, the loss is about ln(vocabulary); 30 steps lower it; one seed, one network."""
    history = small_creator.record["history"]
    assert [h[0] for h in history] == [1, 30]
    assert history[0][1] == pytest.approx(math.log(len(creator.vocab)), abs=0.2)
    assert history[-1][1] < history[0][1]  # a running mean: it moves slowly
    assert model.prose_loss(small_creator, model.training_lines(400, seed=1)) < history[0][1] - 0.4
    assert small_creator.record["steps"] == 30 and small_creator.record["lines"] == 400
    assert not small_creator.net.training
    lines = model.training_lines(50, seed=1)
    a, b = (model.train_creator(lines, creator.vocab, steps=2, d_model=16, n_layers=1)
            for _ in range(2))  # fmt: skip
    for p, q in zip(a.net.parameters(), b.net.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_saved_creator_comes_back_with_its_weights_to_float16_and_its_alphabet(
    tmp_path, small_creator
):
    """The file keeps float16 weights: the loaded ones are the trained ones rounded, no more."""
    path = tmp_path / "creator.pt"
    model.save_creator(small_creator, path)
    back = model.load_creator(path)
    assert back.vocab == small_creator.vocab
    assert back.record == small_creator.record
    assert (back.net.context, len(back.net.blocks)) == (96, 1)
    assert not back.net.training
    saved = small_creator.net.state_dict()
    for k, v in back.net.state_dict().items():
        assert torch.equal(v, saved[k].half().float()), k
    assert any(not torch.equal(v, saved[k]) for k, v in back.net.state_dict().items())


def test_evaluate_measures_the_creators_answers_with_consistent_rates(creator, reward_run):
    """Each field recomputed from the samples (all three draws are kept in them)."""
    reward, _ = reward_run
    ev = model.evaluate(creator, reward, draws=3)
    for r in (ev.seen, ev.unseen):
        assert all(0.0 <= v <= 1.0 for v in r.values())
        assert r["true"] + r["false"] + r["nonsense"] == pytest.approx(1.0)
        assert r["not_true"] == pytest.approx(1 - r["true"])
    assert ev.unseen["true"] < ev.seen["true"]  # it never read the unseen capitals
    assert list(ev.samples) == list(model.REAL)
    assert all(len(s) == 3 for s in ev.samples.values())
    # three draws, all of them in the samples: every number again from the answers
    distinct = [len({a.split(".")[0].strip() for a in s}) for s in ev.samples.values()]
    assert ev.distinct == pytest.approx(np.mean(distinct))
    stated = [a.split(".")[0].strip() for s in ev.samples.values() for a in s]
    assert ev.length == pytest.approx(np.mean([len(a) for a in stated]))
    answers = [a for s in ev.samples.values() for a in s]
    asked = [c for c in model.REAL for _ in range(3)]
    assert ev.reward == pytest.approx(reward.score(asked, answers).mean())
    judged = model.verdicts(asked, answers)
    for rates, seen in ((ev.seen, True), (ev.unseen, False)):
        mine = [v for v, c in zip(judged, asked, strict=True) if (c in model.SEEN) == seen]
        assert rates["true"] == pytest.approx(mine.count("true") / len(mine))
        assert rates["false"] == pytest.approx(mine.count("false") / len(mine))
    assert ev.prose_loss == pytest.approx(model.prose_loss(creator))
