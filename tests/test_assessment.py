"""The multiple-choice questions cannot be answered by their shape.

A test-wise student who never reads a question picks the longest option, or always the same
letter. Neither may pay: in each module, the key is the longest option in at most a third of
the questions and the shortest in at most a third, and no letter is the key of more than 40%
of them. Questions are read from the source notebooks: a markdown cell "**Qn.** ..." with
options "* a) ...", then the answer cell `qn` whose solution holds the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from course import modules, nbgrader_meta, read, source_notebook

MODULES = modules()
_OPTION = re.compile(r"^\s*[*-] ([a-z])\) (.+?)\s*$", re.M)
_KEY = re.compile(r"^Q\d+ = [\"']([a-z])[\"']", re.M)


@dataclass
class Question:
    grade_id: str
    options: dict[str, str]
    key: str


def questions(module: str) -> list[Question]:
    """The module's lettered questions: each answer cell `qn`, its options and key."""
    nb = read(source_notebook(module))
    found = []
    for index, cell in enumerate(nb.cells):
        grade_id = nbgrader_meta(cell).get("grade_id", "")
        if not re.fullmatch(r"q\d+", grade_id):
            continue
        key = _KEY.search(cell.source.split("### BEGIN SOLUTION")[-1])
        text = next(c.source for c in reversed(nb.cells[:index]) if c.cell_type == "markdown")
        options = dict(_OPTION.findall(text))
        if key:  # a question answered by a number is graded against the run, not a letter
            found.append(Question(grade_id, options, key.group(1)))
    return found


def shortcut_shares(qs: list[Question]) -> dict[str, float]:
    """The share of questions a shortcut answers right."""
    n = len(qs)
    longest = sum(q.key == max(q.options, key=lambda k: len(q.options[k])) for q in qs)
    shortest = sum(q.key == min(q.options, key=lambda k: len(q.options[k])) for q in qs)
    letters = {letter: sum(q.key == letter for q in qs) for q in qs for letter in q.options}
    return {
        "always the longest": longest / n,
        "always the shortest": shortest / n,
        **{f"always {letter}": count / n for letter, count in sorted(letters.items())},
    }


@pytest.mark.parametrize("module", MODULES)
def test_every_question_has_its_options_and_a_key_among_them(module):
    qs = questions(module)
    assert len(qs) >= 4, f"{module}: {len(qs)} lettered questions found"
    for q in qs:
        assert sorted(q.options) == list("abcd"[: len(q.options)]), (q.grade_id, q.options)
        assert len(q.options) >= 3 and q.key in q.options, (q.grade_id, q.key)


@pytest.mark.parametrize("module", MODULES)
def test_no_shortcut_answers_the_questions(module):
    shares = shortcut_shares(questions(module))
    limits = {"always the longest": 1 / 3, "always the shortest": 1 / 3}
    over = {
        rule: round(share, 2)
        for rule, share in shares.items()
        if share > limits.get(rule, 0.4) + 1e-9
    }
    assert not over, f"{module}: a student who never reads the questions scores {over}"


def test_the_shortcut_rules_catch_a_test_wise_student():
    """The rules above fail on the questions as module 03 had them (the key the longest
    option, and 'b', in most)."""
    long = "the option that says the most, with every qualification"
    short = "a brief one"
    qs = [
        Question(f"q{i}", {"a": short, "b": long, "c": short + "!", "d": short + "?"}, "b")
        for i in range(1, 5)
    ] + [Question("q5", {"a": long, "b": short, "c": short, "d": short}, "a")]
    shares = shortcut_shares(qs)
    assert shares["always the longest"] == 1.0 and shares["always b"] == 0.8
