"""Property-based: whatever text an add carries (any Unicode, lone surrogates, control
characters, emoji, mixed scripts, words thousands of characters long), the boundary and the
extractors give a result or a typed EngramError, never anything else (issue 14).

Lone surrogates and NUL are refused at the boundary (InvalidInputError naming the message),
so the extractors are fed what the boundary accepts; the grounding check and the piece
cutter take anything. Bounded (15 to 40 examples each, no deadline): about a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engram import schemas as s
from engram.errors import EngramError, InvalidInputError
from engram.extraction import bounds
from engram.extraction.base import ExtractionContext, Fact
from engram.extraction.grounding import GroundingCheck
from engram.extraction.local import LocalExtractor
from engram.memory import Memory

SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
# database=None: no .hypothesis/ directory in the checkout (the suite may run read-only)
FUZZ = settings(max_examples=40, deadline=None, database=None, suppress_health_check=SLOW_OK)

SCRIPTS = st.sampled_from([
    "I ran 10 km today and my knee hurts. ", "我今天跑了十公里，膝盖有点疼。", "أركض كل يوم ",
    "Я бегаю по утрам. ", "🏃‍♀️🔥💯 ", "e\u0301\u0301\u0301 ", "\t\r\n\x0b\x0c\x1b[31m",
    "\u200b\u200d\ufeff\u2028\u2029", "ﬁnal Ｆｕｌｌｗｉｄｔｈ ", "<fact> {subject} text_id ",
])  # fmt: skip
any_unicode = st.text(st.characters(exclude_categories=()), max_size=200)  # surrogates too
long_word = st.builds(lambda c, n: c * n, st.characters(exclude_categories=("Cs",)),
                      st.integers(2_000, 12_000))  # fmt: skip
texts = any_unicode | long_word | st.lists(SCRIPTS | any_unicode | long_word, max_size=6).map(
    "".join
)


def ctx() -> ExtractionContext:
    return ExtractionContext("Max", None, None, {}, date(2025, 3, 14))


@pytest.fixture(scope="module")
def extractor(embedder) -> LocalExtractor:
    return LocalExtractor(embedder)


@pytest.fixture(scope="module")
def memory(embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Memory]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "m.db"
    with Memory({"database": str(path)}, embedder=embedder) as m:
        yield m


def boundary(text: str) -> list[dict[str, str]] | None:
    """The add's messages as the boundary passes them on, or None when it refuses them."""
    try:
        req = s.parse_request(s.AddRequest, messages=text, user_id="max")
    except InvalidInputError as exc:
        assert exc.field and exc.field.startswith("messages"), exc.field
        valid = not any(0xD800 <= ord(c) <= 0xDFFF or c == "\x00" for c in text)
        assert not valid or not text.strip() or len(text) > s.MAX_MESSAGE_CHARS, exc
        return None
    return [m.model_dump(exclude_none=True) for m in req.messages]


@FUZZ
@given(text=texts)
def test_the_offline_extractor_gives_facts_or_a_typed_error(extractor, text: str) -> None:
    messages = boundary(text)
    if messages is None:
        return
    try:
        facts = extractor.extract(messages, ctx())
    except EngramError:
        return
    assert all(isinstance(f, Fact) and f.text.strip() for f in facts)
    assert not any(0xD800 <= ord(c) <= 0xDFFF for f in facts for c in f.text)


@settings(max_examples=15, deadline=None, database=None, suppress_health_check=SLOW_OK)
@given(text=texts)
def test_an_add_of_any_text_stores_it_or_fails_typed(memory: Memory, text: str) -> None:
    try:
        result = memory.add(text, user_id="max")
    except EngramError as exc:
        assert exc.field is None or exc.field.startswith("messages")
        return
    for event in result["results"]:
        assert memory.get(event["id"])["memory"] == event["memory"]


@FUZZ
@given(fact=texts, said=texts)
def test_the_grounding_check_takes_any_text(embedder, fact: str, said: str) -> None:
    verdict = GroundingCheck(embedder).check([Fact(fact)], [{"content": said}], ctx(), "x")
    assert len(verdict.kept) + len(verdict.ungrounded) == 1


@FUZZ
@given(text=texts, limit=st.integers(1, 3_000))
def test_pieces_stay_within_the_limit_and_keep_every_character(text: str, limit: int) -> None:
    parts = list(bounds.pieces(text, limit))
    assert all(len(p) <= limit for p in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())
