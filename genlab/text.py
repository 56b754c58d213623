"""Text for the language-model modules: a prose corpus, a facts corpus, a character vocabulary.

The prose corpus is Jane Austen's novel *Emma* (1816), in the public domain. Its text ships
inside the package (`emma.txt.gz`, 320 KB), so every platform and Python version trains on
the same characters and nothing is downloaded. `scripts/fetch_corpus.py` says where the
file comes from and reproduces it byte for byte.

The facts corpus is generated from a table of countries and their capitals, so the code
knows which generated "facts" are true. A few countries are kept out of the training
text on purpose: a model asked about them can only make something up.

What this module leaves out: tokenisers other than characters, and any text that would
need a download.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

__all__ = [
    "CAPITALS",
    "UNSEEN",
    "FACT_FORMS",
    "Vocab",
    "EMMA",
    "prose_corpus",
    "facts_corpus",
    "capital_prompt",
    "judge_capital",
    "train_test_text",
    "words",
    "text_stats",
]

# ---------------------------------------------------------------------------
# The prose corpus: Jane Austen's "Emma", shipped with the package

EMMA = Path(__file__).with_name("emma.txt.gz")

# Emma's three volumes; each opens with a heading "VOLUME I", "VOLUME II", "VOLUME III".
_VOLUME = re.compile(r"^VOLUME (I{1,3})$", re.MULTILINE)
# Lines that are not the novel's prose: its title, chapter and volume headings, its last word.
_HEADING = re.compile(r"\[Emma by Jane Austen 1816\]|VOLUME I{1,3}|CHAPTER [IVXL]+|FINIS")


def prose_corpus(volumes: int = 1) -> str:
    """The first `volumes` volumes of Jane Austen's *Emma* (1816), one paragraph a line.

    The text is Project Gutenberg's, as NLTK's corpus holds it, shipped in `genlab/emma.txt.gz`
    (public domain; provenance and the script that reproduces the file in
    `scripts/fetch_corpus.py`). Headings are dropped, line breaks inside a paragraph
    become spaces, the underscores that mark italics go, and the backquote that opens a
    quotation becomes an apostrophe. Volume I is about 270,000 characters; the whole novel
    about 870,000.

    Args:
        volumes: 1, 2 or 3.
    Returns:
        ASCII text, paragraphs separated by "\\n", in the novel's order; the same on every
        platform and Python version.
    """
    if volumes not in (1, 2, 3):
        raise ValueError(f"volumes must be 1, 2 or 3, got {volumes!r}")
    with gzip.open(EMMA, "rt", encoding="ascii") as file:
        novel = file.read()
    starts = [match.start() for match in _VOLUME.finditer(novel)]
    if volumes < 3:
        novel = novel[: starts[volumes]]
    paragraphs = (re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", novel))
    kept = (p for p in paragraphs if p and not _HEADING.fullmatch(p))
    kept = (p.replace("_", "").replace("`", "'") for p in kept)
    return "\n".join(kept)


def train_test_text(text: str, every: int = 10) -> tuple[str, str]:
    """Split a text by paragraph (line): every `every`-th one is held out, the rest trains.

    Returns:
        (train, test), each paragraphs joined by "\\n".
    """
    lines = text.split("\n")
    test = lines[every - 1 :: every]
    train = [line for i, line in enumerate(lines) if i % every != every - 1]
    return "\n".join(train), "\n".join(test)


def words(text: str) -> list[str]:
    """The lower-case words of a text (runs of letters and apostrophes)."""
    return re.findall(r"[a-z']+", text.lower())


def text_stats(text: str, known_words: set[str]) -> dict[str, float]:
    """Two numbers that move in opposite directions as sampling gets bolder.

    Returns:
        "distinct_words": share of the words of `text` that are different (1 means no word
            repeats; a text that loops on one phrase scores near 0).
        "real_words": share of the words of `text` found in `known_words` (1 means every
            word is real; invented words lower it).
    """
    found = words(text)
    if not found:
        return {"distinct_words": 0.0, "real_words": 0.0}
    return {
        "distinct_words": len(set(found)) / len(found),
        "real_words": sum(w in known_words for w in found) / len(found),
    }


# ---------------------------------------------------------------------------
# A character vocabulary


@dataclass(frozen=True)
class Vocab:
    """The characters a model knows, each with an integer id (its index in `chars`)."""

    chars: str

    @classmethod
    def from_text(cls, *texts: str) -> Vocab:
        """Every character that appears in the texts, sorted."""
        return cls("".join(sorted(set("".join(texts)))))

    def __len__(self) -> int:
        return len(self.chars)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.chars)}

    def encode(self, text: str) -> np.ndarray:
        """(len(text),) int64 ids; a character outside the vocabulary is a ValueError."""
        index = self._index
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise ValueError(
                f"characters not in the vocabulary: {''.join(unknown)!r}; "
                f"the model knows only {self.chars!r}"
            )
        return np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a sequence of ids."""
        return "".join(self.chars[int(i)] for i in ids)


# ---------------------------------------------------------------------------
# Facts whose truth the code knows

# Countries with one capital that nobody disputes, names in plain ASCII.
CAPITALS: dict[str, str] = {
    "Argentina": "Buenos Aires", "Australia": "Canberra", "Austria": "Vienna",
    "Belgium": "Brussels", "Brazil": "Brasilia", "Bulgaria": "Sofia", "Canada": "Ottawa",
    "Chile": "Santiago", "China": "Beijing", "Colombia": "Bogota", "Croatia": "Zagreb",
    "Cuba": "Havana", "Denmark": "Copenhagen", "Ecuador": "Quito", "Egypt": "Cairo",
    "Estonia": "Tallinn", "Ethiopia": "Addis Ababa", "Finland": "Helsinki", "France": "Paris",
    "Germany": "Berlin", "Ghana": "Accra", "Greece": "Athens", "Hungary": "Budapest",
    "Iceland": "Reykjavik", "India": "New Delhi", "Indonesia": "Jakarta", "Iran": "Tehran",
    "Iraq": "Baghdad", "Ireland": "Dublin", "Italy": "Rome", "Japan": "Tokyo",
    "Jordan": "Amman", "Kenya": "Nairobi", "Latvia": "Riga", "Lebanon": "Beirut",
    "Lithuania": "Vilnius", "Malaysia": "Kuala Lumpur", "Mexico": "Mexico City",
    "Mongolia": "Ulaanbaatar", "Morocco": "Rabat", "Nepal": "Kathmandu", "Nigeria": "Abuja",
    "Norway": "Oslo", "Pakistan": "Islamabad", "Peru": "Lima", "Philippines": "Manila",
    "Poland": "Warsaw", "Portugal": "Lisbon", "Qatar": "Doha", "Romania": "Bucharest",
    "Russia": "Moscow", "Senegal": "Dakar", "Serbia": "Belgrade", "South Korea": "Seoul",
    "Spain": "Madrid", "Sweden": "Stockholm", "Syria": "Damascus", "Thailand": "Bangkok",
    "Turkey": "Ankara", "Ukraine": "Kyiv", "Uruguay": "Montevideo", "Venezuela": "Caracas",
    "Vietnam": "Hanoi",
}  # fmt: skip

# Kept out of the facts corpus: the model never reads their capitals.
UNSEEN: tuple[str, ...] = ("Cuba", "Iceland", "Jordan", "Kenya", "Nepal", "Peru", "Qatar", "Serbia")

# The four ways the facts corpus states a fact, as str.format patterns.
FACT_FORMS: tuple[str, ...] = (
    "The capital of {country} is {capital}.",
    "{capital} is the capital of {country}.",
    "{country} has its capital in {capital}.",
    "The capital city of {country} is {capital}.",
)


def capital_prompt(country: str) -> str:
    """The question the facts model is asked: "The capital of <country> is"."""
    return f"The capital of {country} is"


def facts_corpus(
    facts: dict[str, str] = CAPITALS,
    leave_out: Sequence[str] = UNSEEN,
    repeats: int = 12,
    seed: int = 0,
) -> str:
    """Every fact of `facts` in every template, `repeats` times, shuffled, a sentence a line.

    Args:
        facts: country -> capital.
        leave_out: countries whose facts are not written: neither they nor their capitals
            appear in the text.
        repeats: copies of each sentence; more makes the facts easier to memorise.
        seed: the shuffle.
    """
    sentences = [
        template.format(country=country, capital=capital)
        for country, capital in facts.items()
        if country not in leave_out
        for template in FACT_FORMS
    ] * repeats
    np.random.default_rng(seed).shuffle(sentences)
    return "\n".join(sentences) + "\n"


def judge_capital(country: str, completion: str, facts: dict[str, str] = CAPITALS) -> str:
    """Whether a completion of `capital_prompt(country)` states a true fact.

    The completion is read up to its first full stop or line break.

    Returns:
        "true" (the right capital), "false" (some other country's capital: plausible, not
        true) or "nonsense" (not a capital at all).
    """
    answer = re.split(r"[.\n]", completion, maxsplit=1)[0].strip()
    if answer == facts.get(country):
        return "true"
    return "false" if answer in facts.values() else "nonsense"
