"""Offline reconciliation: attribute slots first, embedding similarity as the fallback.

For each new fact and its nearest stored memories (same scope), decide:
  NONE    the fact is already known (same text, the same value of the same attribute,
          near-identical meaning, or less detail)
  DELETE  the fact negates or ends a stored one ("no longer vegetarian", "quit smoking",
          "the knee has healed"); the old one is superseded and linked to the new
  UPDATE  the same attribute of the same holder with a new value ("drives to work" ->
          "cycles to work now", "sub-4" -> "sub-3:45"), or more detail
  ADD     anything else, in particular the same attribute of someone else, or another
          attribute of the same person

Both facts are first read into attribute slots (engram.extraction.attributes); only when
the slots say nothing about the pair do the older word-overlap rules below decide.
"""

from __future__ import annotations

import re
from functools import lru_cache

from engram.extraction.attributes import Attribute, Reading, read
from engram.extraction.base import Candidate, Decision, ExtractionContext, Fact
from engram.extraction.chinese_attributes import read_chinese
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
# Predicates that hold one value at a time: a new object replaces the old one. (Most of what
# these caught is now read as attribute slots; "is" and "wants" merged unrelated chat facts.)
_SINGLE_VALUED = frozenset({"lives", "live", "works", "work", "weighs", "named", "called"})


# Words that mark a change without being part of the fact ("Max now wants ...").
_HEDGES = frozenset({"now", "actually", "still", "also", "really", "currently", "just", "instead"})


# Date anchors the extractors append, "(7 May 2023)" or "（2026年11月30日）": when a thing
# happened, not its value.
_DATE_ANCHOR = re.compile(r"\s*[(（][^)）]*\d{4}[^)）]*[)）]")


def tokens(text: str) -> list[str]:
    text = _DATE_ANCHOR.sub("", text)
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
    return any(any(ch.isnumeric() for ch in w) for w in words)  # 3, ¾ and 三 alike


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(1, min(len(a), len(b)))


# A restatement found by attribute must still be close in meaning.
SAME_ATTRIBUTE_SCORE = 0.5


def classify(fact: str, stored: str, score: float, subject: str | None = None) -> Event:
    new, old = tokens(fact), tokens(stored)
    if new == old:
        return Event.NONE
    by_attribute = _by_attribute(_read(fact, subject), _read(stored, subject), score, new, old)
    if by_attribute is not None:
        return by_attribute
    # The subject's name is in nearly every fact: it is no evidence two facts share a topic.
    name = set(tokens(subject or "the user")) | {"user", "the"}
    new, old = [w for w in new if w not in name], [w for w in old if w not in name]
    if score >= DUPLICATE_SCORE:
        return Event.NONE
    new_content, old_content = _content(new), _content(old)
    if min(len(new_content), len(old_content)) < MIN_CONTENT_WORDS:
        return Event.ADD  # too little said to claim one fact changes another
    flipped = _negated(new) != _negated(old)
    shared = len(new_content & old_content)  # at least two words besides the name
    overlap = _overlap(new_content, old_content)
    if flipped and score >= NEGATION_SCORE and shared >= 2 and overlap >= 0.6:
        return Event.DELETE
    if score >= VALUE_CHANGE_SCORE and _is_value_change(new, old):
        return Event.UPDATE
    if score >= SUBSUME_SCORE and old_content < new_content:
        return Event.UPDATE
    if score >= SUBSUME_SCORE and new_content <= old_content:
        return Event.NONE
    return Event.ADD


_HAN = re.compile(r"[\u4e00-\u9fff]")


@lru_cache(maxsize=1024)
def _read(text: str, subject: str | None) -> Reading:
    """Attribute slots by the fact's language: Chinese has its own reader, same slots."""
    return read_chinese(text, subject) if _HAN.search(text) else read(text, subject)


def _is_value_change(new: list[str], old: list[str]) -> bool:
    prefix = _shared_prefix(new, old)
    if prefix < 2:
        return False
    added, removed = set(new) - set(old), set(old) - set(new)
    if not added or not removed:
        return False
    if _has_digit(added) and _has_digit(removed):
        return True
    return prefix >= 2 and new[0] in _SINGLE_VALUED and len(added) <= 3 and len(removed) <= 3


def _by_attribute(
    new: Reading, old: Reading, score: float, new_words: list[str], old_words: list[str]
) -> Event | None:
    """The verdict the attribute slots give, or None when they say nothing about the pair."""
    if new.holder != old.holder:
        return Event.ADD  # "Max's sister lives in Berlin" never changes where Max lives
    if new.ends and _all_found(new.ends, old.stems):
        if old.negated:  # "quit smoking" then "doesn't smoke anymore": a restatement
            return Event.NONE if score >= SAME_ATTRIBUTE_SCORE else Event.ADD
        return Event.DELETE  # "Max quit smoking" ends "Max smokes a pack a day"
    shared = sorted(set(new.attributes) & set(old.attributes))
    if not shared and new.attributes and old.attributes:
        return Event.ADD  # two known attributes, not the same one
    if not shared and (new.attributes or old.attributes):
        # Only one side names an attribute: they may still say the same thing in other words.
        return Event.NONE if score >= DUPLICATE_SCORE else Event.ADD
    if not shared:
        return None
    verdicts = [_compare(new.attributes[s], old.attributes[s], new.change) for s in shared]
    if "change" in verdicts:
        changed = [new.attributes[s] for s, v in zip(shared, verdicts) if v == "change"]
        return Event.DELETE if any(a.polarity < 0 for a in changed) else Event.UPDATE
    if all(v == "same" for v in verdicts) and score >= SAME_ATTRIBUTE_SCORE:
        richer = _content(old_words) < _content(new_words)
        return Event.UPDATE if richer else Event.NONE
    return Event.ADD


def _all_found(wanted: frozenset[str], stems: frozenset[str]) -> bool:
    """Each wanted stem is among `stems`, allowing a crude stem's last letters ("gam"/"game")."""
    return all(
        any(w == s or (min(len(w), len(s)) >= 3 and abs(len(w) - len(s)) <= 1
                       and (w.startswith(s) or s.startswith(w))) for s in stems)
        for w in wanted
    )  # fmt: skip


def _compare(new: Attribute, old: Attribute, announced: bool) -> str:
    """ "change", "same" or "different" for one slot both facts fill."""
    if new.slot == "diet":
        return _compare_diet(new.values, old.values)
    if new.polarity != old.polarity:
        return "change"
    if not new.values or not old.values:
        if new.values == old.values:
            return "different"  # nothing to compare: no evidence either way
        return "change" if announced and new.single else "different"  # "quit the job"
    if new.values <= old.values and not (announced and new.values != old.values):
        return "same"
    if new.single or announced:
        return "change"
    return "different"


def _compare_diet(new: frozenset[str], old: frozenset[str]) -> str:
    stance_new = {v for v in new if not v.startswith("label:")}
    stance_old = {v for v in old if not v.startswith("label:")}
    flipped = {v[:-1] + ("-" if v.endswith("+") else "+") for v in stance_new}
    if flipped & stance_old:
        return "change"  # "vegan" then "eats fish again"
    labels_new, labels_old = new - stance_new, old - stance_old
    if labels_new and labels_old and labels_new != labels_old:
        return "change"  # "keto" then "paleo"
    return "same" if stance_new <= stance_old else "different"


class OfflineReconciler:
    def decide(
        self, facts: list[Fact], candidates: list[list[Candidate]], ctx: ExtractionContext
    ) -> list[Decision]:
        decisions: list[Decision] = []
        claimed: set[str] = set()  # one stored memory is changed by at most one fact
        for index, (fact, near) in enumerate(zip(facts, candidates)):
            decisions.append(self._decide_one(index, fact, near, claimed, ctx.subject))
        return decisions

    def _decide_one(
        self, index: int, fact: Fact, near: list[Candidate], claimed: set[str],
        subject: str | None,
    ) -> Decision:
        for candidate in near:
            event = classify(fact.text, candidate.text, candidate.score, subject)
            if event == Event.ADD:
                continue
            if event != Event.NONE and candidate.id in claimed:
                continue
            if event != Event.NONE:
                claimed.add(candidate.id)
                merged = _replace_parts(fact.text, candidate, subject)
                if merged is not None:
                    return Decision(Event.UPDATE, merged, candidate.id, index)
            return Decision(event, fact.text, candidate.id, index)
        return Decision(Event.ADD, fact.text, None, index)


# A memory of several sentences holds one turn's facts (engram.extraction.offline joins them).
_PARTS = re.compile(r"(?<=[^\s.])\. (?=[A-Z])")


def _replace_parts(fact: str, stored: Candidate, subject: str | None) -> str | None:
    """A change to one of a stored memory's sentences rewrites that sentence only, so the
    memory's other facts stay: "Max is 34. Max lives in Lyon" + "Max moved to Paris" ->
    "Max is 34. Max moved to Paris". None when the stored memory is one sentence, or when no
    sentence of it is what the fact changes (the fact then replaces the whole memory)."""
    old_parts, new_parts = _PARTS.split(stored.text), _PARTS.split(fact)
    if len(old_parts) < 2:
        return None
    used: set[int] = set()
    out = []
    for old in old_parts:
        changed = next((i for i, new in enumerate(new_parts) if i not in used and classify(
            new, old, stored.score, subject) in {Event.UPDATE, Event.DELETE}), None)  # fmt: skip
        if changed is not None:
            used.add(changed)
        out.append(old if changed is None else new_parts[changed])
    if not used:
        return None
    return ". ".join([*out, *(new for i, new in enumerate(new_parts) if i not in used)])
