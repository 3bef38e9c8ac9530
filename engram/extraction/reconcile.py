"""Offline reconciliation: embedding similarity plus subject/attribute matching.

For each new fact and its nearest stored memories (same scope), decide:
  NONE    the fact is already known (same text, near-identical meaning, or less detail)
  DELETE  the fact negates a stored one ("no longer vegetarian"); the old one is superseded
  UPDATE  same subject and attribute with a new value ("sub-4" -> "sub-3:45"), or more detail
  ADD     anything else
"""

from __future__ import annotations

import re

from engram.extraction.base import Candidate, Decision, ExtractionContext, Fact
from engram.models import Event

# Facts with fewer content words than this are never taken to update or negate another.
MIN_CONTENT_WORDS = 2
# Cosine similarity above which two facts say the same thing.
DUPLICATE_SCORE = 0.92
# A negation of a stored fact must still be about the same thing.
NEGATION_SCORE = 0.6
# Same subject and predicate, a new value.
VALUE_CHANGE_SCORE = 0.55
# One fact's words contain the other's: the richer one wins.
SUBSUME_SCORE = 0.75

_TOKEN = re.compile(r"[a-z0-9]+(?:[:'.\-][a-z0-9]+)*|[\u3400-\u9fff]")  # Han: one character a word
_NEGATIONS = frozenset(
    {"not", "no", "never", "don't", "doesn't", "isn't", "aren't", "wasn't", "won't", "can't",
     "cannot", "didn't", "hasn't", "haven't", "longer", "anymore", "stopped", "quit", "n't"}
)  # fmt: skip
_STOPWORDS = frozenset({"a", "an", "the", "to", "of", "in", "on", "at", "and", "or", "for"})
# Predicates that hold one value at a time: a new object replaces the old one.
_SINGLE_VALUED = frozenset(
    {"lives", "live", "works", "work", "is", "weighs", "moved", "named", "called", "age",
     "wants", "plans", "aims", "targets", "goal", "uses", "drives", "studies", "owns"}
)  # fmt: skip


# Words that mark a change without being part of the fact ("Max now wants ...").
_HEDGES = frozenset({"now", "actually", "still", "also", "really", "currently", "just", "instead"})


def tokens(text: str) -> list[str]:
    words = _TOKEN.findall(text.lower().replace("\u2019", "'"))
    return [w for w in words if w not in _HEDGES]


def _content(words: list[str]) -> set[str]:
    return {w for w in words if w not in _STOPWORDS and w not in _NEGATIONS}


def _negated(words: list[str]) -> bool:
    return any(w in _NEGATIONS or w.endswith("n't") for w in words)


def _shared_prefix(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _has_digit(words: set[str]) -> bool:
    return any(any(ch.isdigit() for ch in w) for w in words)


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(1, min(len(a), len(b)))


def classify(fact: str, stored: str, score: float) -> Event:
    new, old = tokens(fact), tokens(stored)
    if new == old or score >= DUPLICATE_SCORE:
        return Event.NONE
    new_content, old_content = _content(new), _content(old)
    if min(len(new_content), len(old_content)) < MIN_CONTENT_WORDS:
        return Event.ADD  # too little said to claim one fact changes another
    flipped = _negated(new) != _negated(old)
    if flipped and score >= NEGATION_SCORE and _overlap(new_content, old_content) >= 0.5:
        return Event.DELETE
    if score >= VALUE_CHANGE_SCORE and _is_value_change(new, old):
        return Event.UPDATE
    if score >= SUBSUME_SCORE and old_content < new_content:
        return Event.UPDATE
    if score >= SUBSUME_SCORE and new_content <= old_content:
        return Event.NONE
    return Event.ADD


def _is_value_change(new: list[str], old: list[str]) -> bool:
    prefix = _shared_prefix(new, old)
    if prefix < 2:
        return False
    added, removed = set(new) - set(old), set(old) - set(new)
    if not added or not removed:
        return False
    if _has_digit(added) and _has_digit(removed):
        return True
    return prefix >= 3 and new[1] in _SINGLE_VALUED and len(added) <= 3 and len(removed) <= 3


class OfflineReconciler:
    def decide(
        self, facts: list[Fact], candidates: list[list[Candidate]], ctx: ExtractionContext
    ) -> list[Decision]:
        decisions: list[Decision] = []
        claimed: set[str] = set()  # one stored memory is changed by at most one fact
        for index, (fact, near) in enumerate(zip(facts, candidates)):
            decisions.append(self._decide_one(index, fact, near, claimed))
        return decisions

    def _decide_one(
        self, index: int, fact: Fact, near: list[Candidate], claimed: set[str]
    ) -> Decision:
        for candidate in near:
            event = classify(fact.text, candidate.text, candidate.score)
            if event == Event.ADD:
                continue
            if event != Event.NONE and candidate.id in claimed:
                continue
            if event != Event.NONE:
                claimed.add(candidate.id)
            return Decision(event, fact.text, candidate.id, index)
        return Decision(Event.ADD, fact.text, None, index)
