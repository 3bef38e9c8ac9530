"""The offline extraction step: split facts, anchor relative dates, apply the instructions."""

from __future__ import annotations

from engram.embeddings import Embedder
from engram.extraction.base import ExtractionContext, Fact
from engram.extraction.dates import anchor_dates
from engram.extraction.instructions import InstructionFilter
from engram.extraction.offline import OfflineExtractor


class LocalExtractor:
    """Implements `Extractor` with no LLM; categories are left to the pipeline's tagger."""

    def __init__(self, embedder: Embedder) -> None:
        self._splitter = OfflineExtractor()
        self._embedder = embedder
        self._filter = InstructionFilter(embedder)

    def extract(self, messages: list[dict[str, str]], ctx: ExtractionContext) -> list[Fact]:
        texts = self._splitter.extract(messages, subject=ctx.subject, agent=ctx.agent)
        texts = [anchor_dates(text, ctx.today) for text in texts]
        if not texts or not ctx.custom_instructions:
            return [Fact(text) for text in texts]
        verdicts = self._filter.keep(self._embedder.embed(texts), ctx.custom_instructions)
        return [Fact(text) for text, keep in zip(texts, verdicts) if keep]
