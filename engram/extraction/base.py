"""The two narrow steps of `add`: extract facts, then reconcile them with what is stored.

Each step has an LLM implementation and an offline one; the pipeline in `engram.memory`
only sees these protocols.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from engram.models import Event


@dataclass(frozen=True)
class ExtractionContext:
    subject: str | None  # display name of the user the facts are about ("Max"), or None
    agent: str | None  # agent id when storing an agent persona
    custom_instructions: str | None
    categories: dict[str, str]  # name -> description
    today: date = field(default_factory=date.today)


@dataclass(frozen=True)
class Fact:
    text: str
    # None: the pipeline assigns categories by similarity; a list: the extractor chose them.
    categories: tuple[str, ...] | None = None
    # What the pipeline's tagger reads instead of `text` (a Chinese fact's English key words,
    # since category descriptions are usually English); None: the text itself.
    tag_text: str | None = None


class Extractor(Protocol):
    def extract(self, messages: list[dict[str, str]], ctx: ExtractionContext) -> list[Fact]: ...


@dataclass(frozen=True)
class Candidate:
    """A stored memory close to a new fact; `alias` is what an LLM sees instead of the id."""

    alias: str
    id: str
    text: str
    score: float


@dataclass(frozen=True)
class Decision:
    event: Event
    text: str  # the fact's text as it should be stored (ADD/UPDATE), or the new fact (DELETE)
    target_id: str | None = None  # existing memory for UPDATE/DELETE/NONE
    fact_index: int = 0  # which extracted fact this decision is about


class Reconciler(Protocol):
    def decide(
        self, facts: list[Fact], candidates: list[list[Candidate]], ctx: ExtractionContext
    ) -> list[Decision]:
        """candidates[i] are the stored memories nearest to facts[i], best first.

        DELETE means: the fact negates target_id; the pipeline supersedes the old memory and
        adds the new fact, linking old -> new, so nothing is silently lost.
        """
        ...
