"""Offline use of `custom_instructions`: keep a fact when it is closer to what the
instructions say to extract than to what they say to exclude.

Instructions are free text; we read the two lists users write in practice:

    Extract from running coach conversations:      Extract: goals, constraints, preferences
    - Training goals and race targets              Exclude: greetings, filler, casual chat
    Exclude:
    - Greetings and filler
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import numpy as np

from engram.embeddings import Embedder

_HEADER = re.compile(
    r"^\s*(?P<kind>extract|include|keep|remember|store|exclude|ignore|skip|drop|don'?t store|"
    r"do not store|avoid)\b[^:]*:(?P<rest>.*)$",
    re.IGNORECASE,
)
_EXCLUDE_WORDS = ("exclude", "ignore", "skip", "drop", "don't", "dont", "do not", "avoid")
# An exclude item must beat the best include item by this much to drop a fact: dropping
# loses information for good, keeping a marginal fact costs little.
EXCLUDE_MARGIN = 0.1
# With no include list, a fact is dropped only when it clearly matches an exclude item.
EXCLUDE_ONLY_THRESHOLD = 0.45


@dataclass(frozen=True)
class InstructionLists:
    include: tuple[str, ...]
    exclude: tuple[str, ...]


def parse_instructions(text: str | None) -> InstructionLists:
    include: list[str] = []
    exclude: list[str] = []
    target: list[str] | None = None
    for line in (text or "").splitlines():
        header = _HEADER.match(line)
        if header:
            kind = header["kind"].lower()
            target = exclude if kind.startswith(_EXCLUDE_WORDS) else include
            target.extend(_split_items(header["rest"]))
            continue
        item = line.strip().lstrip("-*•").strip()
        if item and target is not None:
            target.append(item)
    return InstructionLists(tuple(include), tuple(exclude))


def _split_items(rest: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,;]", rest) if part.strip()]


# An exclude item about chit-chat ("Casual chatter", "small talk") names a kind of talk, not
# its topics; these are the topics it usually has, so a fact can be compared with them.
_CHATTER_ITEM = re.compile(r"chat|small talk|banter|off[- ]topic|filler|gossip", re.IGNORECASE)
CHATTER_TOPICS = (
    "the weather today",
    "a movie or TV show they watched",
    "a dream they had",
    "a match on TV or the news",
    "someone else's car, house or belongings",
    "a joke or a funny story",
)


def exclude_items(lists: InstructionLists) -> list[str]:
    items = list(lists.exclude)
    if any(_CHATTER_ITEM.search(item) for item in items):
        items.extend(CHATTER_TOPICS)
    return items


class InstructionFilter:
    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._cache: dict[str, tuple[InstructionLists, np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    def _compiled(self, text: str) -> tuple[InstructionLists, np.ndarray, np.ndarray]:
        with self._lock:
            if text not in self._cache:
                lists = parse_instructions(text)
                self._cache[text] = (
                    lists,
                    self._embedder.embed(list(lists.include)),
                    self._embedder.embed(exclude_items(lists)),
                )
            return self._cache[text]

    def keep(
        self, fact_vectors: np.ndarray, instructions: str | None, profile: list[bool] | None = None
    ) -> list[bool]:
        """One verdict per fact vector. `profile[i]` marks a fact that states an attribute of
        the user (diet, gear, schedule, an injury...): it belongs to any personal app's domain
        and is kept whatever the lists say, since dropping loses it for good."""
        if not instructions or len(fact_vectors) == 0:
            return [True] * len(fact_vectors)
        verdicts = self._verdicts(fact_vectors, instructions)
        return [v or bool(profile and profile[i]) for i, v in enumerate(verdicts)]

    def _verdicts(self, fact_vectors: np.ndarray, instructions: str) -> list[bool]:
        lists, include, exclude = self._compiled(instructions)
        if not lists.exclude:
            return [True] * len(fact_vectors)
        best_exclude = (fact_vectors @ exclude.T).max(axis=1)
        if not lists.include:
            return [bool(e < EXCLUDE_ONLY_THRESHOLD) for e in best_exclude]
        best_include = (fact_vectors @ include.T).max(axis=1)
        return [bool(e <= i + EXCLUDE_MARGIN) for e, i in zip(best_exclude, best_include)]
