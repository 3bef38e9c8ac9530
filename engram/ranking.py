"""Search ranking above the store: one relevance score in [0, 1] from meaning and words.

Candidates come from two lists the store returns with the same scope and filters: the
nearest memories by vector, and the memories sharing any of the query's terms (full-text
index). Every candidate then gets the same score, computed here so both backends rank alike:

    score = SEMANTIC_WEIGHT * semantic + (1 - SEMANTIC_WEIGHT) * keyword
    semantic  cosine similarity of query and memory, clipped to [0, 1]
    keyword   how well the memory covers the query's words, in [0, 1]: the mean of
              `coverage` (the share of the query's words it contains, each weighted by
              its rarity among the candidates) and `bm25` (Okapi BM25 over the candidates,
              saturated as bm25 / (bm25 + BM25_HALF) so one match of a rare word counts
              and repeats add little)

A memory restating the query scores near 1; one sharing neither meaning nor words scores
near 0. `DEFAULT_THRESHOLD` was chosen on LoCoMo's development half (bench/locomo.py).
Embeddings of short facts blur names and rare words ("Caroline", "LGBTQ", "pottery"); the
keyword half brings those facts up, and finds those the vector list never reached.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from engram.lexical import index_text, terms
from engram.models import Hit, MemoryRecord
from engram.provenance import source_terms

SEMANTIC_WEIGHT = 0.6
BM25_HALF = 2.0  # the BM25 value that counts as half a keyword match
BM25_K1, BM25_B = 1.2, 0.75
RRF_K = 60  # reciprocal-rank fusion constant, for the rerank=False order
PREFIX = 5  # query words share a 5-letter prefix with their inflections ("painting" ~ "painted")
# keyword matching also reads a memory's sources: "all" (the messages it came from and the
# "context" one before) or "none" (the memory's text alone)
KEYWORD_SOURCES = "all"
# weight of "said in the time the query names" when it names one ("in May 2023")
TIME_WEIGHT = 0.2
# The default `threshold` of a search: below it a memory is not relevant enough to return.
DEFAULT_THRESHOLD = 0.1


@dataclass
class Scored:
    hit: Hit
    score: float
    breakdown: dict[str, float] = field(default_factory=dict)


def rank(
    query: str,
    semantic: dict[str, float],
    hits: list[Hit],
    *,
    rerank: bool = True,
    orders: list[list[str]] | None = None,
    window: tuple[str, str] | None = None,
) -> list[Scored]:
    """Score every candidate (`semantic`: id -> cosine); best first.

    rerank=True orders by the score; rerank=False keeps the candidate lists' own orders,
    fused by reciprocal rank (`orders`: ids best first, per list). Scores are the same.
    `window`: [start, end) ISO times the query asks about (engram.timeframe); memories said
    then get `time` 1, others 0, weighing TIME_WEIGHT in the score.
    """
    keyword = keyword_scores(query, hits)
    scored = []
    for hit in hits:  # ~100-220 candidates a search: kept to plain float arithmetic
        sem = semantic.get(hit.id, 0.0)
        sem = 1.0 if sem > 1.0 else 0.0 if sem < 0.0 else sem
        kw = keyword[hit.id]
        score = SEMANTIC_WEIGHT * sem + (1 - SEMANTIC_WEIGHT) * kw
        breakdown = {"semantic": sem, "keyword": kw}  # rounded where shown
        if window is not None:
            said_then = float(window[0] <= hit.created_at < window[1])
            score = (1 - TIME_WEIGHT) * score + TIME_WEIGHT * said_then
            breakdown["time"] = said_then
        scored.append(Scored(hit, _clip(score), breakdown))
    if rerank or not orders:
        scored.sort(key=lambda s: (-s.score, s.hit.id))
        return scored
    fused = rrf(orders)
    scored.sort(key=lambda s: (-fused.get(s.hit.id, 0.0), s.hit.id))
    return scored


def rrf(orders: list[list[str]], k: int = RRF_K) -> dict[str, float]:
    fused: Counter[str] = Counter()
    for order in orders:
        for position, key in enumerate(order):
            fused[key] += 1.0 / (k + position + 1)
    return dict(fused)


def keyword_scores(query: str, hits: list[Hit]) -> dict[str, float]:
    """id -> keyword score in [0, 1] (see the module docstring)."""
    wanted = list(dict.fromkeys(terms(query)))
    everything = KEYWORD_SOURCES == "all"
    docs = [_doc(h.words, h.source_words if everything else "") for h in hits]
    if not wanted or not docs:
        return {h.id: 0.0 for h in hits}
    keys = [_key(w) for w in wanted]  # one dict lookup per word and memory (~600 a search)
    matches = [[counts.get(key, 0) for counts in docs] for key in keys]
    lengths = [counts[LENGTH] for counts in docs]
    n = len(docs)
    df = [n - row.count(0) for row in matches]
    rarity = [math.log(1 + n / (1 + d)) for d in df]
    idf = [math.log(1 + (n - d + 0.5) / (d + 0.5)) for d in df]
    average = sum(lengths) / n or 1.0
    total_rarity = sum(rarity) or 1.0
    # each word adds to the memories holding it, in the query's order (the sums of the
    # formula, term by term): most candidates hold none of the words
    covered, bm25 = [0.0] * n, [0.0] * n
    for i, row in enumerate(matches):
        for j, tf in enumerate(row):
            if tf:
                norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[j] / average)
                covered[j] += rarity[i]
                bm25[j] += idf[i] * tf * (BM25_K1 + 1) / (tf + norm)
    return {hit.id: _clip(0.5 * (covered[j] / total_rarity)
                          + 0.5 * bm25[j] / (bm25[j] + BM25_HALF))
            for j, hit in enumerate(hits)}  # fmt: skip


def hit_of(record: MemoryRecord) -> Hit:
    """What ranking reads of a memory (a store keeps these words with its row)."""
    return Hit(record.id, record.created_at, index_text(record.memory),
               source_terms(record.memory, record.sources))  # fmt: skip


# A memory's counts of each term and of each PREFIX-letter stem, and its length in terms
# under LENGTH (no term is empty)
Doc = dict[str, int]
LENGTH = ""


@lru_cache(maxsize=20_000)
def _doc(words: str, source_words: str) -> Doc:
    """A memory's terms (already normalised: engram.lexical.index_text), counted once per
    text: searches meet the same memories again. One dict of str and int, filled key by
    key, which the garbage collector does not track: the cache's 20,000 Counters, each in a
    tuple with its length, were objects every full collection walked, and their growth set
    those off (15-34 ms each on this machine, the p99 of a search)."""
    found = f"{words} {source_words}".split()
    counts: Doc = {LENGTH: len(found)}
    for key in [*found, *("\0" + w[:PREFIX] for w in found if len(w) >= PREFIX and w.isascii())]:
        counts[key] = counts.get(key, 0) + 1
    return counts


def _key(word: str) -> str:
    """What `word` is counted under in a Doc: itself, or (ASCII words of PREFIX letters or
    more) the stem its inflections share ("painting" ~ "painted")."""
    if len(word) < PREFIX or not word.isascii():
        return word
    return "\0" + word[:PREFIX]


def _clip(x: float) -> float:
    return min(1.0, max(0.0, x))
