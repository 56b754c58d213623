"""Text for the language-model modules: a prose corpus, a facts corpus, a character vocabulary.

The prose corpus is English that ships with Python itself: the reference-manual topics
behind `help("if")`, in `pydoc_data.topics` (part of the standard library on every
platform the course runs on, so nothing is downloaded). We keep the paragraphs of prose
and drop code, grammar rules, tables and headings, which leaves about 270 KB. The text is
the Python documentation, (c) Python Software Foundation, under the PSF licence that
comes with Python; it varies a little between Python versions (3.10: 272 KB, 3.12: 286 KB).

The facts corpus is generated from a table of countries and their capitals, so the code
knows which generated "facts" are true. A few countries are kept out of the training
text on purpose: a model asked about them can only make something up.

What this module leaves out: tokenisers other than characters, and any text that would
need a download.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = [
    "CAPITALS",
    "UNSEEN",
    "FACT_FORMS",
    "Vocab",
    "prose_corpus",
    "facts_corpus",
    "capital_prompt",
    "judge_capital",
    "train_test_text",
    "words",
    "text_stats",
]

# ---------------------------------------------------------------------------
# Prose that ships with Python

# Typographic characters of the documentation, folded to ASCII so the vocabulary stays small.
_ASCII = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "..."})


def _is_prose(paragraph: str) -> bool:
    lines = paragraph.split("\n")
    if re.fullmatch(r"[*=\-]+", lines[-1].strip()):  # a heading's underline
        return False
    if any(line.lstrip().startswith((">>>", "...")) or "::=" in line for line in lines):
        return False  # an interactive session or a grammar rule
    if len(lines) > 1 and any(line.startswith("    ") for line in lines):
        return False  # an indented code block
    text = " ".join(lines)
    letters = sum(c.isalpha() or c == " " for c in text)
    return len(text.split()) >= 6 and text.rstrip().endswith(".") and letters >= 0.85 * len(text)


def prose_corpus() -> str:
    """About 270 KB of English prose from Python's own reference manual, one paragraph a line.

    Returns:
        ASCII text; paragraphs separated by "\\n", in the manual's topic order.
    """
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[name] for name in sorted(topics))
    paragraphs = (textwrap.dedent(p) for p in re.split(r"\n\s*\n", text))
    kept = (re.sub(r"\s+", " ", p).strip() for p in paragraphs if _is_prose(p))
    prose = "\n".join(re.sub(r"^\* ", "", p) for p in kept).translate(_ASCII)
    return prose.encode("ascii", "ignore").decode()


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
