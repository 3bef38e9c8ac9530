"""The common-word rule's counts, remembered between searches.

A keyword query skips a term found in more than COMMON_TERM_MIN_MEMORIES memories and in
more than COMMON_TERM_PERCENT of all (engram.stores.sql): BM25 gives it little weight, yet
each of its matches would be ranked. Telling the common words from the others counts each
query word's postings, every search: 2.1 ms of a search on PostgreSQL with one user's
100,000 memories, 0.7 on SQLite.

The counts change only when memories are written or deleted, and each memory written or
deleted is one tick of the change log the database keeps (engram.stores.vector_index). A
memory holds a term at most once, so a term's count, and the number of memories, move by
at most one a tick: a count read at an older tick is within that many of today's. A
verdict that holds across that margin holds now; only the words near the line, and those
not seen yet, are counted again. So the rule's answer is exactly the one counting gives
(as of the tick read before counting), at the cost of reading the log's last tick.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

COMMON_TERM_MIN_MEMORIES = 100
# (a speaker's name, the "s" of "John's": LoCoMo search p95 23.1 -> 15.1 ms at 5%, recall@10
# 0.758 -> 0.757; 10% and 20% in the README)
COMMON_TERM_PERCENT = 5  # whole percent: both engines' integer division truncates alike
COMMON_TERM_SHARE = COMMON_TERM_PERCENT / 100
REMEMBERED_TERMS = 4_096


def most_postings(total: int) -> int:
    """The most memories a telling term may be in, of `total` memories."""
    return max(COMMON_TERM_MIN_MEMORIES, total * COMMON_TERM_PERCENT // 100)


@dataclass(frozen=True)
class _Seen:
    count: int  # at least this many postings (a common term is counted only so far)
    tick: int


class CommonTerms:
    """Term counts as of change-log ticks, and the verdicts they still settle; thread-safe."""

    def __init__(self, size: int = REMEMBERED_TERMS) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._terms: OrderedDict[str, _Seen] = OrderedDict()
        self._total: _Seen | None = None  # the number of memories

    def settled(self, terms: Sequence[str], tick: int) -> dict[str, bool]:
        """term -> whether it is telling, for the `terms` the remembered counts still
        settle at `tick`; the others are to be counted."""
        with self._lock:
            total = self._total
            if total is None or tick < total.tick:  # nothing seen, or another database
                self._terms.clear()
                self._total = None
                return {}
            drift = tick - total.tick
            lowest, highest = most_postings(total.count - drift), most_postings(total.count + drift)
            out = {}
            for term in terms:
                seen = self._terms.get(term)
                if seen is None or seen.tick > tick:
                    continue
                self._terms.move_to_end(term)
                moved = tick - seen.tick
                if seen.count + moved <= lowest:
                    out[term] = True
                elif seen.count - moved > highest:
                    out[term] = False
            return out

    def learn(self, counts: dict[str, int], total: int, tick: int) -> None:
        """Remember `counts` and `total`, counted after the log's last tick read `tick`."""
        with self._lock:
            self._total = _Seen(total, tick)
            for term, count in counts.items():
                self._terms[term] = _Seen(count, tick)
                self._terms.move_to_end(term)
            while len(self._terms) > self._size:
                self._terms.popitem(last=False)
