import gzip
import hashlib

import numpy as np
import pytest
from course import script

from genlab import text

fetch_corpus = script("scripts/fetch_corpus.py", "fetch_corpus")


@pytest.fixture(scope="module")
def corpus():
    return text.prose_corpus()


def test_prose_corpus_is_the_shipped_novel_one_paragraph_a_line(corpus):
    raw = gzip.open(text.EMMA).read()
    assert hashlib.sha256(raw).hexdigest() == fetch_corpus.SHA256  # the file the script fetches
    assert corpus.isascii() and 250_000 <= len(corpus) <= 300_000  # volume I
    paragraphs = corpus.split("\n")
    assert paragraphs[0].startswith("Emma Woodhouse, handsome, clever, and rich,")
    assert all(p and p == p.strip() and "  " not in p for p in paragraphs)
    assert not any(p.startswith(("VOLUME", "CHAPTER")) for p in paragraphs)
    assert not set("_`[]") & set(corpus)  # italics marks, backquotes, the title in brackets


def test_prose_corpus_grows_by_volume(corpus):
    whole = text.prose_corpus(3)
    assert whole.startswith(corpus) and whole.startswith(text.prose_corpus(2))
    assert len(whole) > 3 * 0.9 * len(corpus)
    assert whole.endswith("in the perfect happiness of the union.")
    with pytest.raises(ValueError, match="volumes must be 1, 2 or 3"):
        text.prose_corpus(4)


def test_train_test_text_holds_out_every_tenth_paragraph():
    lines = [f"paragraph {i}." for i in range(25)]
    train, test = text.train_test_text("\n".join(lines))
    assert test.split("\n") == ["paragraph 9.", "paragraph 19."]
    assert sorted(train.split("\n") + test.split("\n")) == sorted(lines)


def test_vocab_round_trips_and_names_unknown_characters():
    vocab = text.Vocab.from_text("banana", "bread")
    assert vocab.chars == "abdenr"
    ids = vocab.encode("bread")
    assert ids.dtype == np.int64 and ids.tolist() == [1, 5, 3, 0, 2]
    assert vocab.decode(ids) == "bread"
    with pytest.raises(ValueError, match="'xz'"):
        vocab.encode("zebrax")


def test_capitals_table_is_sound():
    assert len(text.CAPITALS) >= 50
    assert len(set(text.CAPITALS.values())) == len(text.CAPITALS)  # no capital twice
    assert set(text.UNSEEN) <= set(text.CAPITALS)
    assert text.CAPITALS["France"] == "Paris" and text.CAPITALS["Australia"] == "Canberra"


def test_facts_corpus_states_every_seen_fact_and_nothing_of_the_unseen():
    corpus = text.facts_corpus(repeats=2, seed=1)
    for country, capital in text.CAPITALS.items():
        if country in text.UNSEEN:
            assert country not in corpus and capital not in corpus
        else:
            assert f"{text.capital_prompt(country)} {capital}.\n" in corpus
    sentences = corpus.strip().split("\n")
    assert len(sentences) == 2 * 4 * (len(text.CAPITALS) - len(text.UNSEEN))
    assert corpus == text.facts_corpus(repeats=2, seed=1) != text.facts_corpus(repeats=2, seed=2)


@pytest.mark.parametrize(
    ("country", "completion", "verdict"),
    [
        ("France", " Paris.\nThe capital", "true"),
        ("France", " Madrid. And more", "false"),
        ("France", " Parisburg.", "nonsense"),
        ("Mexico", " Mexico City.", "true"),
        ("Mexico", " Mexico", "nonsense"),  # cut short: not a capital
        ("France", "", "nonsense"),
    ],
)
def test_judge_capital(country, completion, verdict):
    assert text.judge_capital(country, completion) == verdict


def test_text_stats_sees_loops_and_invented_words():
    known = set(text.words("the cat sat on the mat"))
    assert text.text_stats("the cat the cat the cat the cat", known) == {
        "distinct_words": 0.25,
        "real_words": 1.0,
    }
    assert text.text_stats("the zqx cat vvb", known) == {"distinct_words": 1.0, "real_words": 0.5}
    assert text.text_stats("  ... ", known) == {"distinct_words": 0.0, "real_words": 0.0}
