"""Search ranking above the store: vector similarity, nudged by shared rare words.

Embeddings of short facts blur names and rare words ("Caroline", "LGBTQ", "pottery"); a
small bonus for the query's content words present in a memory brings those facts up.
The store returns a wider pool by vector, and this module reorders it, so every backend
ranks the same way.
"""

from __future__ import annotations

import math
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


def _matches(query_word: str, words: set[str]) -> bool:
    """Exact, or a shared 5-letter prefix for inflections ("painting" ~ "painted")."""
    if query_word in words:
        return True
    return len(query_word) >= 5 and any(w.startswith(query_word[:5]) for w in words)


def rerank(
    query: str, rows: list[tuple[MemoryRecord, float | None]], weight: float, limit: int
) -> list[tuple[MemoryRecord, float]]:
    """Order by cosine + weight * (share of the query's words found, weighted by rarity).

    Rarity is measured in the pool itself: a word in most candidates (the user's own name)
    says little, a word in few ("LGBTQ", "pottery") says a lot. The reported score stays
    the cosine similarity, so thresholds keep their meaning.
    """
    query_words = content_words(query)
    docs = [content_words(r.memory) for r, _ in rows]
    idf = {q: math.log(1 + len(docs) / (1 + sum(_matches(q, d) for d in docs)))
           for q in query_words}  # fmt: skip
    total = sum(idf.values()) or 1.0
    scored = []
    for (record, cosine), words in zip(rows, docs):
        lexical = sum(w for q, w in idf.items() if _matches(q, words)) / total
        scored.append((record, cosine or 0.0, (cosine or 0.0) + weight * lexical))
    scored.sort(key=lambda t: -t[2])
    return [(r, s) for r, s, _ in scored[:limit]]
