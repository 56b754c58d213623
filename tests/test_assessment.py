"""The multiple-choice questions cannot be answered by their shape.

A test-wise student who never reads a question picks the longest option, or always the same
letter. Neither may pay: in each module, the key is the longest option in at most a third of
the questions and the shortest in at most a third, and no letter is the key of more than 40%
of them. Questions are read from the source notebooks: a markdown cell "**Qn.** ..." with
options "* a) ...", then the answer cell `qn` whose solution holds the key.
"""

from __future__ import annotations

import pytest
from course import ROOT, Question, modules, questions, questions_of, read

MODULES = modules()


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
    over = _shortcuts_over_limits(questions(module))
    assert not over, f"{module}: a student who never reads the questions scores {over}"


def _shortcuts_over_limits(qs: list[Question]) -> dict[str, float]:
    limits = {"always the longest": 1 / 3, "always the shortest": 1 / 3}
    return {
        rule: round(share, 2)
        for rule, share in shortcut_shares(qs).items()
        if share > limits.get(rule, 0.4) + 1e-9
    }


def test_the_rules_fail_on_module_03_as_it_was():
    """Module 03's six questions as they stood before they were rebuilt (kept in tests/data):
    the key was the longest option in all six, and 'b' in four."""
    qs = questions_of(read(ROOT / "tests" / "data" / "03-questions-before-issue-22.ipynb"))
    assert len(qs) == 6
    assert _shortcuts_over_limits(qs) == {"always the longest": 1.0, "always b": 0.67}
