"""Search ranking above the store: vector similarity, nudged by shared words.

Embeddings of short facts blur names and rare words ("Caroline", "LGBTQ", "pottery"); a
small bonus for the query's content words present in a memory brings those facts up.
The store returns a wider pool by vector, and this module reorders it, so every backend
ranks the same way.
"""

from __future__ import annotations

import re

from engram.models import MemoryRecord

_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    """
a an the and or but if of to in on at by for with from about as into over after before
is am are was were be been being do does did have has had having will would shall should
can could may might must i me my mine we us our you your he him his she her it its they
them their what which who whom whose when where why how that this these those there here
not no yes so than then too very just also any some all each more most other such own
same again ever
""".split()
)


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS}


def lexical_overlap(query_words: set[str], text: str) -> float:
    """Share of the query's content words found in the text (prefix match for inflections)."""
    if not query_words:
        return 0.0
    words = content_words(text)
    hits = sum(1 for q in query_words if q in words or any(w.startswith(q[:5]) for w in words
                                                               if len(q) >= 5))  # fmt: skip
    return hits / len(query_words)


def rerank(
    query: str, rows: list[tuple[MemoryRecord, float | None]], weight: float, limit: int
) -> list[tuple[MemoryRecord, float]]:
    """Order by cosine + weight * overlap; the reported score stays the cosine similarity,
    so thresholds keep their meaning."""
    query_words = content_words(query)
    scored = [(r, s or 0.0, (s or 0.0) + weight * lexical_overlap(query_words, r.memory))
              for r, s in rows]  # fmt: skip
    scored.sort(key=lambda t: -t[2])
    return [(r, s) for r, s, _ in scored[:limit]]
