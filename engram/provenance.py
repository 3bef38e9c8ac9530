"""Provenance: which messages a memory came from.

Every memory keeps `sources`, one entry per message: its position in the add call
(`index`), `role`, the client's `message_id` when given, `text` and its md5 `hash`, and
`said_at` (the add's `timestamp`, else the time of the add). A message stored as given
(infer=False) is its memory's one source; an extracted fact's sources are the call's
messages it shares the most words with (all of the call's user messages when it shares
none), and an UPDATE appends the new fact's sources to the old ones. `history` shows, on each
entry, the sources the memory had as of that event (`as_of`).

A source may also be marked `"context": true`: the message just before one the memory came
from, i.e. what it answered ("A sunrise, last year" answers "What did you paint?"). Search
reads context words as the memory's own (engram.ranking); they are not where it came from.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from engram.lexical import index_text, terms
from engram.models import text_hash

# Messages the extractor reads facts from (assistant turns give none).
FACT_ROLES = frozenset({"user", "system"})


def message_sources(turns: list[dict[str, str]], said_at: str) -> list[dict[str, Any]]:
    """One source per message of an add call, in order."""
    return [_source(i, t, said_at) for i, t in enumerate(turns)]


def _source(index: int, turn: dict[str, str], said_at: str) -> dict[str, Any]:
    text = turn["content"]
    source: dict[str, Any] = {"index": index, "role": turn["role"]}
    if turn.get("message_id") is not None:
        source["message_id"] = turn["message_id"]
    source.update(text=text, hash=text_hash(text),
                  said_at=said_at)  # fmt: skip
    return source


def with_context(sources: list[dict[str, Any]], said: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`sources` plus, for each, the message before it in the call (`said`), as context."""
    own = {s["index"] for s in sources}
    before = [said[s["index"] - 1] for s in sources
              if s["index"] > 0 and s["index"] - 1 not in own]  # fmt: skip
    context = [{**s, "context": True} for s in {id(s): s for s in before}.values()]
    return [*sources, *context]


def source_terms(memory: str, sources: list[dict[str, Any]]) -> str:
    """The terms search reads as a memory's own besides its text, space-separated
    (engram.lexical.index_text): those of the messages it came from (an extracted fact drops
    words its message had) and of those they answered (context), less a message that is the
    memory's text itself (a message stored as given)."""
    return index_text(" ".join(text for s in sources
                               if (text := s.get("text", "")).strip() != memory))  # fmt: skip


def attribute(fact: str, sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages an extracted fact most likely came from: those sharing the most of its
    words (a fact is a rewrite of one clause, so its rarer words come from that message)."""
    readable = [s for s in sources if s["role"] in FACT_ROLES] or sources
    if len(readable) == 1:
        return readable
    wanted = set(terms(fact))
    overlap = [len(wanted & _term_set(s["text"])) for s in readable]
    best = max(overlap, default=0)
    if best == 0:
        return readable
    return [s for s, n in zip(readable, overlap) if n == best]


@lru_cache(maxsize=64)
def _term_set(text: str) -> frozenset[str]:
    """A message's terms, read once per add rather than once per fact (a 10,000-character
    message with 159 facts spent 8 s re-reading them)."""
    return frozenset(terms(text))


def as_of(sources: list[dict[str, Any]], at: str) -> list[dict[str, Any]]:
    """The sources said at or before `at` (an event's time): what the memory came from then.
    A source is dated when its add began, before the event it led to, so it counts."""
    when = datetime.fromisoformat(at)
    return [
        s for s in sources if "said_at" not in s or datetime.fromisoformat(s["said_at"]) <= when
    ]


def merge(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Old sources then new ones, each message once."""
    seen = {_key(s) for s in old}
    return [*old, *(s for s in new if _key(s) not in seen)]


def _key(source: dict[str, Any]) -> tuple[Any, ...]:
    return source.get("message_id"), source.get("hash"), source.get("said_at")
