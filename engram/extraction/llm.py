"""LLM implementations of the two steps of `add`: extract facts, reconcile them.

Both make exactly one `complete_json` call (none when there is nothing to ask) and treat
the reply as untrusted: unknown categories are dropped, and a memory the model names by
an alias it was not shown is never touched (that decision becomes an ADD).
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

from pydantic import BaseModel, Field, field_validator

from engram.embeddings import Embedder
from engram.extraction import prompts
from engram.extraction.base import Candidate, Decision, ExtractionContext, Fact
from engram.extraction.grounding import Extracted, GroundingCheck, is_prompt_fragment
from engram.llms.base import LLM
from engram.models import Event

log = logging.getLogger(__name__)


# --- reply schemas: lenient on shape, strict on meaning (checked after parsing) ----------
class _FactOut(BaseModel):
    text: str
    categories: list[str] | None = None


class _Extraction(BaseModel):
    facts: list[_FactOut] = Field(default_factory=list)

    @field_validator("facts", mode="before")
    @classmethod
    def _plain_strings(cls, value: Any) -> Any:
        # small local models often answer Mem0's older shape: {"facts": ["...", ...]}
        if isinstance(value, list):
            return [{"text": v} if isinstance(v, str) else v for v in value]
        return value


class _DecisionOut(BaseModel):
    fact: int
    event: str
    target: str | int | None = None
    text: str | None = None


class _Reconciliation(BaseModel):
    decisions: list[_DecisionOut] = Field(default_factory=list)


# --- output bounds ------------------------------------------------------------------------
# A reply restates what it is given (facts re-word the conversation; decisions re-word the
# facts): twice the input's tokens, plus room for the JSON around each item, is plenty for an
# honest answer and cuts a rambling model off early. config.max_tokens caps it.
_REPLY_BASE_TOKENS = 512
_TOKENS_PER_ITEM = 40


def reply_tokens(text: str, items: int = 0) -> int:
    """Output tokens a reply restating `text` (in `items` JSON objects) needs."""
    return _REPLY_BASE_TOKENS + 2 * estimate_tokens(text) + _TOKENS_PER_ITEM * items


def estimate_tokens(text: str) -> int:
    """About 4 characters a token for Latin script; about one a character for CJK and the
    rest (a tokenizer-free over-estimate, which is the safe side for a limit)."""
    ascii_chars = sum(1 for c in text if c.isascii())
    return ascii_chars // 4 + (len(text) - ascii_chars) + 1


# --- extraction ---------------------------------------------------------------------------
class LLMExtractor:
    """Extractor: conversation -> atomic third-person facts, tagged with known categories.

    The reply is untrusted: a fact not grounded in the messages, or echoing the prompt, is
    dropped and counted (`Extracted.ungrounded`; engram.extraction.grounding)."""

    def __init__(self, llm: LLM, embedder: Embedder | None = None) -> None:
        self.llm = llm
        self._grounding = GroundingCheck(embedder)

    def extract(self, messages: list[dict[str, str]], ctx: ExtractionContext) -> Extracted:
        if not any((m.get("content") or "").strip() for m in messages):
            return Extracted()
        said = "\n".join(m.get("content") or "" for m in messages)
        system = prompts.extraction_system_prompt(ctx)
        reply = self.llm.complete_json(
            system,
            prompts.extraction_user_prompt(messages, ctx),
            _Extraction,
            max_tokens=reply_tokens(said),
        )
        facts = _facts_from(reply, ctx.categories)
        instructions = system + "\n" + prompts.extraction_user_prompt([], ctx)
        verdict = self._grounding.check(facts, messages, ctx, instructions)
        if verdict.ungrounded:
            log.warning("dropped %d fact(s) not grounded in the messages: %r",
                        len(verdict.ungrounded), verdict.ungrounded[:5])  # fmt: skip
        kept = Extracted(verdict.kept)
        kept.ungrounded = len(verdict.ungrounded)
        return kept


def _facts_from(reply: _Extraction, categories: dict[str, str]) -> list[Fact]:
    known = {name.lower(): name for name in categories}
    facts: list[Fact] = []
    seen: set[str] = set()
    for item in reply.facts:
        text = " ".join(_printable(item.text).split())
        if not text or text.lower() in seen:
            continue
        seen.add(text.lower())
        facts.append(Fact(text, _known_categories(item.categories, known)))
    return facts


def _printable(text: str) -> str:
    """The reply's text without control characters or lone surrogates: the messages were
    checked at the boundary, a model's reply was not (PostgreSQL refuses NUL in text)."""
    return "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in text)


def _known_categories(chosen: list[str] | None, known: dict[str, str]) -> tuple[str, ...] | None:
    """Names the model invented are dropped; None (not chosen) lets the pipeline assign."""
    if chosen is None or not known:
        return None
    names = (known.get(str(c).strip().lower()) for c in chosen)
    return tuple(dict.fromkeys(n for n in names if n))


# --- reconciliation -----------------------------------------------------------------------
class LLMReconciler:
    """Reconciler: one call deciding ADD / UPDATE / DELETE / NONE for every new fact.

    The model sees stored memories only as aliases (Candidate.alias). Its reply is mapped
    back to ids; a decision that is invalid (unknown alias, missing target for
    UPDATE/DELETE/NONE, unknown event, a target another fact already updated or deleted)
    falls back to ADD of the fact, so nothing is lost and no made-up id is touched.
    A fact the model gave no decision for is ADDed too.
    """

    def __init__(self, llm: LLM) -> None:
        self.llm = llm

    def decide(
        self, facts: list[Fact], candidates: list[list[Candidate]], ctx: ExtractionContext
    ) -> list[Decision]:
        if not facts:
            return []
        aliases = _alias_table(candidates)
        if not aliases:  # nothing stored nearby: no question worth a model call
            return [Decision(Event.ADD, f.text, None, i) for i, f in enumerate(facts)]
        reply = self.llm.complete_json(
            prompts.reconcile_system_prompt(ctx),
            prompts.reconcile_user_prompt(facts, candidates, ctx),
            _Reconciliation,
            max_tokens=reply_tokens(" ".join(f.text for f in facts), items=len(facts)),
        )
        return _decisions_from(reply, facts, aliases)


def _alias_table(candidates: list[list[Candidate]]) -> dict[str, str]:
    """alias -> id over all facts' candidates; one alias must always mean one memory."""
    table: dict[str, str] = {}
    for group in candidates:
        for cand in group:
            if table.setdefault(cand.alias, cand.id) != cand.id:
                raise ValueError(
                    f"alias {cand.alias!r} names two memories; aliases must be "
                    "unique per reconcile call"
                )
    return table


def _decisions_from(
    reply: _Reconciliation, facts: list[Fact], aliases: dict[str, str]
) -> list[Decision]:
    first: dict[int, _DecisionOut] = {}
    for out in reply.decisions:
        if 0 <= out.fact < len(facts):
            first.setdefault(out.fact, out)  # a second decision for one fact is ignored
    decisions: list[Decision] = []
    claimed: set[str] = set()  # ids already updated/deleted in this call
    for i, fact in enumerate(facts):
        decision = _resolve(first.get(i), i, fact, aliases, claimed)
        if decision.event in (Event.UPDATE, Event.DELETE):
            claimed.add(decision.target_id or "")
        decisions.append(decision)
    return decisions


def _resolve(
    out: _DecisionOut | None, index: int, fact: Fact, aliases: dict[str, str], claimed: set[str]
) -> Decision:
    add = Decision(Event.ADD, fact.text, None, index)
    if out is None:
        log.info("reconcile: no decision for fact %d; adding it", index)
        return add
    event = out.event.strip().upper()
    if event == Event.ADD:
        return add
    if event not in (Event.UPDATE, Event.DELETE, Event.NONE):
        log.warning("reconcile: unknown event %r for fact %d; adding it", out.event, index)
        return add
    target_id = aliases.get(str(out.target).strip()) if out.target is not None else None
    if target_id is None:
        log.warning(
            "reconcile: %s for fact %d names no known memory (%r); adding it",
            event,
            index,
            out.target,
        )
        return add
    if event != Event.NONE and target_id in claimed:
        log.warning("reconcile: memory already changed by an earlier fact; adding fact %d", index)
        return add
    if event == Event.UPDATE:
        text = " ".join((out.text or "").split())
        if not text or is_prompt_fragment(text, fact.text, prompts.RECONCILE_RULES):
            text = fact.text  # an echo of the prompt's "<final memory text>" is not a text
        return Decision(Event.UPDATE, text, target_id, index)
    return Decision(Event(event), fact.text, target_id, index)
