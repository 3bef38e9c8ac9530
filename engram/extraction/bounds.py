"""Bounds on extraction: how much one add may ask to extract, in what pieces, and in turn.

A 992,000-character line once ran 64 s inside spaCy holding the one parser lock: another
project's small add waited 35 s behind it, memory grew to about 4 GB, and a longer line hit
spaCy's E088 (issue 14). Now:
- an add with infer=True extracts from at most MAX_INFER_CHARS characters in all; beyond
  that it is an InvalidInputError naming the message that passes the limit (`check_size`);
- text reaches the parser in pieces of at most PIECE_CHARS characters, cut at sentence ends
  where there are any (`pieces`): parse memory stays small, E088 cannot happen, and the
  parser's lock is released between pieces;
- that lock is a `FairLock`, first come first served, so a waiting add (another project's
  small one) gets the parser after the current piece, not after the whole big add;
- the add's deadline (engram.deadline) is checked before each piece.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from engram import deadline
from engram.errors import InvalidInputError

MAX_INFER_CHARS = 100_000  # ~7 s of offline parsing on one core; far more than a chat turn
PIECE_CHARS = 2_000  # ~0.1 s of parsing: the longest another add waits for the parser
_SENTENCE_END = re.compile(r"(?<=[.!?;。！？；])\s+|(?<=[。！？；])")
_SPACE = re.compile(r"\s+")


def check_size(messages: Sequence[Any]) -> None:
    """Refuse an infer=True add whose messages hold more than MAX_INFER_CHARS in all."""
    total = 0
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else message.content
        total += len(content or "")
        if total > MAX_INFER_CHARS:
            raise InvalidInputError(
                f"messages hold more than {MAX_INFER_CHARS} characters in all, past the "
                f"limit for infer=true (extraction); split the conversation into several "
                f"adds, or store it as given with infer=false",
                field=f"messages[{i}].content",
            )


def lines(content: str) -> Iterator[str]:
    """The lines of `content` to parse, each at most PIECE_CHARS long; checks the add's
    deadline before each one."""
    for line in content.splitlines():
        for piece in pieces(line, PIECE_CHARS):
            deadline.check("extraction")
            yield piece


def pieces(text: str, limit: int = PIECE_CHARS) -> Iterator[str]:
    """`text` cut into pieces of at most `limit` characters: whole sentences packed together
    where they fit, a long sentence cut between words, a long word cut anywhere."""
    if len(text) <= limit:
        yield text
        return
    sentences = (_pack(_words(s, limit), limit) for s in _SENTENCE_END.split(text))
    yield from _pack((part for parts in sentences for part in parts), limit)


def _words(sentence: str, limit: int) -> Iterator[str]:
    for word in _SPACE.split(sentence):
        while len(word) > limit:  # a "word" longer than a piece: no better place to cut
            yield word[:limit]
            word = word[limit:]
        if word:
            yield word


def _pack(parts: Iterable[str], limit: int) -> Iterator[str]:
    """Consecutive parts joined by spaces, as many as fit in `limit`."""
    packed = ""
    for part in parts:
        if packed and len(packed) + 1 + len(part) > limit:
            yield packed
            packed = ""
        packed = f"{packed} {part}" if packed else part
    if packed:
        yield packed


class FairLock:
    """A lock granted in the order it was asked for (threading.Lock lets the releasing
    thread take it straight back, so one big add could keep it piece after piece)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()
        self._held = False
        self.turns = 0  # how many times it was granted: progress, for tests and benches

    def acquire(self) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                self.turns += 1
                return True
            baton = threading.Lock()
            baton.acquire()
            self._waiting.append(baton)
        baton.acquire()  # released by the holder, who hands the lock over still held
        return True

    def release(self) -> None:
        with self._mutex:
            if not self._held:
                raise RuntimeError("release of an unheld FairLock")
            if self._waiting:
                self.turns += 1
                self._waiting.popleft().release()
            else:
                self._held = False

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
