"""Keyword terms (engram.lexical.terms) of an English text are the same whether or not the
text also holds Chinese: ASCII text takes a shorter path, which must split, lower-case and
drop exactly what the general path does."""

from __future__ import annotations

import pytest

from engram.lexical import MAX_TERM_LENGTH, index_text, terms

TEXTS = [
    "I moved to Lisbon in May 2023 and I'm training for the Boston Marathon.",
    "snake_case_words, e-mail addresses (ray@example.com) and URLs https://x.io/a?b=1",
    "THE Knee HURTS after 10km -- ice it twice a day!!",
    "a" * (MAX_TERM_LENGTH + 1) + " short " + "b" * MAX_TERM_LENGTH,
    "   ",
    "",
    "It's what they'd have done: the end.",
]


@pytest.mark.parametrize("text", TEXTS)
def test_english_terms_are_the_same_beside_chinese(text: str) -> None:
    # "跑步" (running) forces the general path; it adds its own term and changes no other
    assert terms(text + " 跑步") == [*terms(text), "跑步"]


def test_terms_drop_stopwords_and_overlong_words_and_keep_repeats() -> None:
    assert terms("The knee, the KNEE and the 10km run") == ["knee", "knee", "10km", "run"]
    assert terms("x" * (MAX_TERM_LENGTH + 1)) == []
    assert index_text("snake_case") == "snake case"
