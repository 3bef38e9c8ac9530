"""The offline extraction step: per message, the language's rules; then the instructions.

Each message goes to the extractor of its language (`engram.extraction.language.detect`):
English to the spaCy rules, Chinese to the jieba rules. A language without rules is stored
as said, sentence by sentence minus filler, rather than bent by another language's rules.
Adding a language is one entry in `_extractors`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from engram.embeddings import Embedder
from engram.extraction import chinese
from engram.extraction.attributes import states_attribute
from engram.extraction.base import ExtractionContext, Fact
from engram.extraction.dates import anchor_dates, without_anchors
from engram.extraction.instructions import InstructionFilter
from engram.extraction.language import CHINESE, ENGLISH, detect
from engram.extraction.offline import OfflineExtractor
from engram.extraction.offline_rules import is_cjk_filler

_SENTENCE_END = re.compile(r"(?<=[。！？!?.;；])\s*|\n")


@dataclass(frozen=True)
class _Said:
    text: str
    language: str


class LocalExtractor:
    """Implements `Extractor` with no LLM."""

    def __init__(self, embedder: Embedder) -> None:
        self._english = OfflineExtractor()
        self._chinese = chinese.ChineseExtractor()
        self._embedder = embedder
        self._filter = InstructionFilter(embedder)
        self._extractors: dict[str, Callable[[dict[str, str], ExtractionContext], list[str]]] = {
            ENGLISH: self._english_facts,
            CHINESE: self._chinese_facts,
        }

    def extract(self, messages: list[dict[str, str]], ctx: ExtractionContext) -> list[Fact]:
        said = _dedupe(
            _Said(text, language)
            for message in messages
            for language in [detect(message.get("content") or "")]
            for text in self._extractors.get(language, _verbatim_facts)(message, ctx)
        )
        if said and ctx.custom_instructions:
            judged = self._embedder.embed([_judged_text(s) for s in said])
            profile = [s.language == ENGLISH and states_attribute(s.text, ctx.subject)
                       for s in said]  # fmt: skip
            verdicts = self._filter.keep(judged, ctx.custom_instructions, profile)
            said = [s for s, keep in zip(said, verdicts) if keep]
        return [Fact(s.text, tag_text=_tag_text(s)) for s in said]

    def _english_facts(self, message: dict[str, str], ctx: ExtractionContext) -> list[str]:
        texts = self._english.memories(message, subject=ctx.subject)
        return [anchor_dates(text, ctx.today) for text in texts]

    def _chinese_facts(self, message: dict[str, str], ctx: ExtractionContext) -> list[str]:
        return self._chinese.extract([message], subject=ctx.subject, today=ctx.today)


def _tag_text(said: _Said) -> str | None:
    """A Chinese fact is tagged by its English key words (the pipeline's one tagger reads
    them), since category descriptions are usually English."""
    return (chinese.gloss(said.text) or None) if said.language == CHINESE else None


def _judged_text(said: _Said) -> str:
    return _tag_text(said) or without_anchors(said.text)


def _verbatim_facts(message: dict[str, str], ctx: ExtractionContext) -> list[str]:
    """A language without rules: its sentences as said, filler dropped; assistant turns
    yield nothing, as everywhere."""
    if message.get("role") == "assistant":
        return []
    parts = (p.strip() for p in _SENTENCE_END.split(message.get("content") or ""))
    return [p for p in parts if p and not is_cjk_filler(p) and not chinese.is_filler(p)]


def _dedupe(items: object) -> list[_Said]:
    seen: set[str] = set()
    out: list[_Said] = []
    for said in items:  # type: ignore[attr-defined]
        key = " ".join(said.text.casefold().split())
        if key and key not in seen:
            seen.add(key)
            out.append(said)
    return out
