"""Every fact an LLM returns is checked against the messages before it is stored.

A small model once answered "I want to run a marathon in under 4 hours" with the prompt's own
placeholders, and `<fact>` and `text_id` were stored as memories (issue 14). A fact is kept
only when it is grounded in what was said, and never when it is a fragment of the prompt:

1. a prompt fragment is dropped: a placeholder (`<fact>`, `{...}`) or an identifier
   (`text_id`) that the messages do not contain, or a phrase of the prompt's own text;
2. a fact is grounded by words when enough of its content words (stemmed; Chinese segmented
   with jieba, and glossed into English so an English fact about a Chinese message counts)
   were said. Words the model adds legitimately do not count either way: the subject's
   name, dates and numbers, and the verbs of a third-person rewrite ("likes", "wants");
3. otherwise it is grounded by meaning when its embedding is close to one of the messages'.

The thresholds were chosen on tests/quality_cases/grounding.py (grounded, paraphrased,
made-up and prompt-fragment facts, English and Chinese); see its docstring for the figures.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engram.embeddings import Embedder
from engram.extraction import chinese
from engram.extraction.base import ExtractionContext, Fact
from engram.lexical import terms

# share of a fact's content words that must have been said (measured: see module docstring)
WORD_SHARE = 0.5
# cosine between a fact and its closest message that grounds it when the words do not
MEANING_SIMILARITY = 0.5

_PLACEHOLDER = re.compile(r"<[^<>\n]{1,40}>|\{[^{}\n]{0,40}\}|\[[A-Z_ ]{2,40}\]")
_IDENTIFIER = re.compile(r"\b(?:[A-Za-z]+(?:_[A-Za-z0-9]+)+|[a-z]+[A-Z][A-Za-z]*)\b")
_DIGITS = re.compile(r"\d+")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SCRIPT_EDGE = re.compile(rf"(?<=[{_CJK}])(?=[^\W{_CJK}])|(?<=[^\W{_CJK}])(?=[{_CJK}])")
_SUFFIXES = ("ing", "ied", "ies", "ed", "es", "s", "ly")
_MIN_STEM = 3
# words a third-person rewrite adds to what was said ("I love tea" -> "Max loves tea"), and
# words of dates an LLM resolves ("next Sunday" -> "Sunday, 2025-03-16")
_REWRITE_WORDS = frozenset(
    """
user users person their theirs themselves himself herself he she they his her him
like likes liked love loves loved enjoy enjoys enjoyed prefer prefers preferred want wants
wanted plan plans planned planning intend intends need needs has have had get gets got
go goes went going make makes made say says said mention mentions mentioned state states
stated currently recently usually often sometimes always never also now today tomorrow
yesterday week weeks month months year years day days
monday tuesday wednesday thursday friday saturday sunday january february march april may
june july august september october november december
用户 喜欢 爱 想 想要 要 打算 计划 需要 有 今天 明天 昨天 每天 每周
""".split()
)


@dataclass(frozen=True)
class Verdict:
    kept: list[Fact]
    ungrounded: list[str]  # facts dropped, as the model wrote them


class Extracted(list[Fact]):
    """An extractor's facts, with how many the grounding check dropped."""

    ungrounded: int = 0


def with_ungrounded(result: dict[str, Any], extracted: Sequence[Fact]) -> dict[str, Any]:
    """An add's result, with `ungrounded` (facts dropped as not said) when there were any."""
    dropped = getattr(extracted, "ungrounded", 0)
    return result | {"ungrounded": dropped} if dropped else result


class GroundingCheck:
    def __init__(self, embedder: Embedder | None = None) -> None:
        self._embedder = embedder

    def check(
        self,
        facts: Sequence[Fact],
        messages: Sequence[dict[str, str]],
        ctx: ExtractionContext,
        prompt: str,
    ) -> Verdict:
        """Split `facts` into those grounded in `messages` and those dropped; `prompt` is
        every instruction text the model was shown besides the messages."""
        said = Said.of([m.get("content") or "" for m in messages], ctx)
        kept: list[Fact] = []
        dropped: list[str] = []
        unsure: list[Fact] = []
        for fact in facts:
            if is_placeholder(fact.text, said.text):
                dropped.append(fact.text)
            elif said.word_share(fact.text) >= WORD_SHARE:
                kept.append(fact)  # even when the prompt's example happens to say it too
            elif is_prompt_fragment(fact.text, said.text, prompt):
                dropped.append(fact.text)
            else:
                unsure.append(fact)
        if unsure:
            close = self._close_in_meaning([f.text for f in unsure], said.messages)
            for fact, ok in zip(unsure, close):
                (kept.append(fact) if ok else dropped.append(fact.text))
        order = {id(f): i for i, f in enumerate(facts)}
        return Verdict(sorted(kept, key=lambda f: order[id(f)]), dropped)

    def _close_in_meaning(self, facts: list[str], messages: list[str]) -> list[bool]:
        if self._embedder is None or not messages:
            return [False] * len(facts)
        vectors = self._embedder.embed(facts + messages)
        best = (vectors[: len(facts)] @ vectors[len(facts) :].T).max(axis=1)
        return [bool(s >= MEANING_SIMILARITY) for s in np.atleast_1d(best)]


@dataclass(frozen=True)
class Said:
    """What the messages said, ready to compare facts with."""

    text: str
    messages: list[str]
    stems: frozenset[str]
    prefixes: frozenset[str]  # every prefix (>= _MIN_STEM) of every stem
    neutral: frozenset[str]  # words that neither ground nor count against a fact

    @classmethod
    def of(cls, messages: list[str], ctx: ExtractionContext) -> Said:
        text = "\n".join(messages)
        words = _terms(text) + terms(chinese.gloss(text)) if _has_cjk(text) else terms(text)
        stems = frozenset(_stem(w) for w in words)
        prefixes = frozenset(s[:n] for s in stems for n in range(_MIN_STEM, len(s) + 1))
        names = " ".join(n for n in (ctx.subject, ctx.agent) if n)
        neutral = frozenset(_stem(w) for w in terms(names) + terms(ctx.today.strftime("%A %B")))
        return cls(text, [m for m in messages if m.strip()], stems, prefixes, neutral)

    def word_share(self, fact: str) -> float:
        """The share of the fact's content words that were said (0.0 when it has none)."""
        words = [_stem(w) for w in _terms(fact) if not _DIGITS.fullmatch(w)]
        words = [w for w in words if w not in _REWRITE_WORDS and w not in self.neutral]
        if not words:
            return 0.0
        return sum(self._was_said(w) for w in words) / len(words)

    def _was_said(self, stem: str) -> bool:
        if stem in self.stems or (len(stem) >= _MIN_STEM and stem in self.prefixes):
            return True
        return any(stem[:n] in self.stems for n in range(_MIN_STEM, len(stem)))


def is_prompt_fragment(fact: str, said: str, prompt: str) -> bool:
    """A placeholder, an identifier or a phrase of the prompt that the messages lack."""
    if is_placeholder(fact, said):
        return True
    folded = _fold(fact)
    return len(folded) >= 4 and folded in _fold(prompt) and folded not in _fold(said)


def is_placeholder(fact: str, said: str) -> bool:
    """Whether `fact` holds a template slot (`<fact>`, `{subject}`) or a key (`text_id`) that
    the messages do not."""
    said_folded = _fold(said)
    slots = (m.group() for p in (_PLACEHOLDER, _IDENTIFIER) for m in p.finditer(fact))
    return any(_fold(slot) not in said_folded for slot in slots)


def _terms(text: str) -> list[str]:
    """engram.lexical's terms, with Chinese split from Latin script it touches ("Max的女儿")."""
    return terms(_SCRIPT_EDGE.sub(" ", text))


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            return word[: -len(suffix)]
    return word


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(text.replace('"', " ").replace("'", " ").split()).strip(" .!?;:,")


def _has_cjk(text: str) -> bool:
    return re.search(f"[{_CJK}]", text) is not None
