"""`Memory`: the pipeline. Embedded in-process, behind the REST server, and (through the
server) behind the client; all three speak the same Mem0-shaped calls and results.

    m = Memory()                                   # SQLite in $ENGRAM_HOME, offline models
    m.add("My right knee hurts on downhills", user_id="max")
    m.search("injury concerns", user_id="max", limit=5)
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Unpack

import numpy as np

from engram import deadline, provenance, timeframe, timeline
from engram import filters as F
from engram.config import MemoryConfig
from engram.embeddings import Embedder, make_embedder
from engram.embeddings.batching import BatchingEmbedder
from engram.embeddings.cache import CachedEmbedder
from engram.embeddings.guard import check_model
from engram.errors import InvalidInputError, MemoryNotFoundError
from engram.extraction.base import (
    Candidate,
    Decision,
    ExtractionContext,
    Extractor,
    Fact,
    Reconciler,
)
from engram.extraction.categories import (
    DEFAULT_CATEGORIES,
    CategoryTagger,
    categories_as_list,
    normalize_categories,
)
from engram.extraction.grounding import with_ungrounded
from engram.lexical import terms
from engram.llms import make_llm
from engram.models import (
    ENTITY_KINDS,
    Event,
    HistoryEntry,
    Hit,
    MemoryRecord,
    State,
    iso,
    text_hash,
    utcnow,
)
from engram.options import project_fields
from engram.profiles import Profiles
from engram.ranking import DEFAULT_THRESHOLD, Scored, rank
from engram.schemas import (
    UNSET,
    AddArgs,
    AddRequest,
    BatchUpdateRequest,
    DeleteAllRequest,
    EntitiesRequest,
    FeedbackRequest,
    ListArgs,
    ListRequest,
    ProjectUpdateRequest,
    ReadRequest,
    ScopeArgs,
    Scoped,
    SearchArgs,
    SearchRequest,
    UpdateRequest,
    check_batch,
    check_id,
    parse_request,
)
from engram.stores import make_store
from engram.stores.base import Query, Store, WriteBatch

# search fetches a wider pool by vector, then reranks it (engram.ranking)
SEARCH_POOL_FACTOR = 10
SEARCH_POOL_MIN = 100
# full-text candidates: one list per query word (at most MAX_QUERY_TERMS words), each of
# pool / words memories but at least KEYWORD_LIST_MIN
KEYWORD_LIST_PER_TERM = True
MAX_QUERY_TERMS = 12
KEYWORD_LIST_MIN = 20
NEIGHBOUR_WINDOW = 2  # messages either side blended into a raw message's vector
SCORE_DIGITS = 6  # a result's score is shown rounded to these; the threshold compares that
# a query naming a time ("in May 2023") also takes the nearest memories said then
TIME_CANDIDATES = True
# (KEYWORD_LIST_PER_TERM and TIME_CANDIDATES are switches bench/locomo.py turns off to
# measure the variants it reports side by side)


@dataclass
class Engine:
    """What every project's `Memory` shares: storage and models."""

    store: Store
    embedder: Embedder
    extractor: Extractor
    reconciler: Reconciler
    tagger: CategoryTagger
    llm: Any = None  # the configured chat model, if any (profiles are written by it)


def build_engine(config: MemoryConfig, store: Store | None, embedder: Embedder | None) -> Engine:
    embedder = CachedEmbedder(BatchingEmbedder(embedder or make_embedder(
        config.embedder.provider,
        model=config.embedder.model,
        base_url=config.embedder.base_url,
        api_key=config.embedder.api_key,
        dims=config.embedder.dims,
    )))
    store = store or make_store(config)
    llm = make_llm(config.llm)
    if llm is not None:
        from engram.extraction.llm import LLMExtractor, LLMReconciler

        extractor: Extractor = LLMExtractor(llm, embedder)
        reconciler: Reconciler = LLMReconciler(llm)
    else:
        from engram.extraction.local import LocalExtractor
        from engram.extraction.reconcile import OfflineReconciler

        extractor, reconciler = LocalExtractor(embedder), OfflineReconciler()
    return Engine(store, embedder, extractor, reconciler, CategoryTagger(embedder), llm)


class Memory:
    def __init__(
        self,
        config: MemoryConfig | dict[str, Any] | None = None,
        *,
        project: str = "default",
        store: Store | None = None,
        embedder: Embedder | None = None,
        clock: Callable[[], datetime] = utcnow,
        _engine: Engine | None = None,
    ) -> None:
        self.config = MemoryConfig.model_validate(config or {})
        self.project_id = check_id(project, "project")
        self._engine = _engine or build_engine(self.config, store, embedder)
        self._clock = clock
        self.project = ProjectSettings(self)
        self.profiles = Profiles(self)  # user profiles and summaries (engram.profiles)
        self._projects: dict[str, Memory] = {}
        self._lock = threading.Lock()
        self._model_on_record = False  # see _check_embedder

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Memory:
        return cls(config)

    def for_project(self, name: str) -> Memory:
        """The same store and models, scoped to another project's memories and settings."""
        if name == self.project_id:
            return self
        with self._lock:
            if name not in self._projects:
                self._projects[name] = Memory(
                    self.config, project=name, clock=self._clock, _engine=self._engine
                )
            return self._projects[name]

    @property
    def store(self) -> Store:
        return self._engine.store

    @property
    def embedder(self) -> Embedder:
        return self._engine.embedder

    def close(self) -> None:
        self._engine.store.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ add

    def add(
        self,
        messages: str | list[dict[str, Any]],
        *,
        metadata: dict[str, Any] | None = None,
        infer: bool = True,
        expiration_date: str | datetime | None = None,
        timestamp: int | float | str | datetime | None = None,
        **scope: Unpack[AddArgs],
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Remember what was said: facts are extracted (infer=False: each message as given)
        and reconciled with the scope's stored memories. `scope`: the scope ids and the
        hosted add options (`schemas.AddArgs`)."""
        req = parse_request(
            AddRequest, messages=messages, metadata=metadata, infer=infer,
            expiration_date=expiration_date, timestamp=timestamp, **scope)  # fmt: skip
        if req.async_mode:
            raise InvalidInputError(
                "async_mode: Memory.add runs in the calling process; queued adds are the "
                "server's (POST /v3/memories/add/)", field="async_mode")
        return req.shaped(self._add(req))

    @deadline.within(lambda self: self.config.add_timeout)  # one budget for the whole add
    def _add(self, req: AddRequest) -> dict[str, Any]:
        """`add` with its arguments already checked (the server's parsed body)."""
        scope, turns = req.scope(), [m.model_dump(exclude_none=True) for m in req.messages]
        said_at = req.timestamp
        new = _NewMemoryFields(scope, req.metadata or {}, req.expiration_date, iso(said_at),
                               immutable=req.immutable,
                               said=[{"role": t["role"], "content": t["content"]}
                                     for t in turns])  # fmt: skip
        messages_said = provenance.message_sources(turns, new.said_at or self._now())
        self._check_embedder(claim=True)
        ctx = self._context(scope, said_at, req)
        if not req.infer:  # store each message as given, still tagged with categories
            kept = [s for s, t in zip(messages_said, turns) if t["content"].strip()]
            facts = [Fact(s["text"].strip()) for s in kept]
            new.sources = [provenance.with_context([s], messages_said) for s in kept]
            adds = [Decision(Event.ADD, f.text, None, i) for i, f in enumerate(facts)]
            vectors = self._with_neighbours(self._embed_facts(facts))
            return self._apply(facts, adds, vectors, new, ctx.categories)
        extracted = self._engine.extractor.extract(turns, ctx)
        facts = _dedupe(extracted)
        if not facts:
            return with_ungrounded({"results": []}, extracted)
        new.sources = [provenance.with_context(provenance.attribute(f.text, messages_said),
                                               messages_said) for f in facts]  # fmt: skip
        pure = self._embed_facts(facts)
        stored = self._with_context(pure, turns, new.sources)
        near = _reconcile_scope(scope)
        candidates = [self._candidates(near, v) for v in stored]
        candidates = _alias(self._rescore(pure, candidates))
        decisions = self._engine.reconciler.decide(facts, candidates, ctx)
        return with_ungrounded(self._apply(facts, decisions, stored, new, ctx.categories),
                               extracted)  # fmt: skip

    def _embed_facts(self, facts: list[Fact]) -> np.ndarray:
        """The facts' vectors. The texts the category tagger reads instead (a Chinese fact's
        English words) go into the same model call, where it finds them in the embedding
        cache: one model call per add."""
        texts = [f.text for f in facts]
        tagged = [f.tag_text for f in facts if f.categories is None and f.tag_text]
        return self._engine.embedder.embed([*texts, *tagged])[: len(texts)]

    def _check_embedder(self, *, claim: bool) -> None:
        """Once the project's model is on record as this one, searches and writes skip the
        settings read (reset() forgets it)."""
        if not self._model_on_record:
            self._model_on_record = check_model(
                self._engine.store, self.project_id, self._engine.embedder.model_id, claim=claim
            )

    def _with_context(
        self, vectors: np.ndarray, turns: list[dict[str, str]], sources: list[list[dict[str, Any]]]
    ) -> np.ndarray:
        """Blend each fact's vector with what was said around the message it came from (every
        role), so a search finds a fact by what was around it too ("Caroline's reason for
        running" -> "it clears her head"), as a raw message is (`_with_neighbours`). LoCoMo
        dev, extract mode, conversation 1: evidence recall@10 0.727 blending the whole call's
        user messages instead, 0.757 with this."""
        weight = self.config.context_weight
        if not weight:
            return vectors
        said = self._engine.embedder.embed([t["content"] for t in turns])
        around = np.stack([_around(said, [s["index"] for s in own if not s.get("context")])
                           for own in sources])  # fmt: skip
        blended = vectors + weight * around
        return blended / np.linalg.norm(blended, axis=1, keepdims=True)

    def _with_neighbours(self, vectors: np.ndarray) -> np.ndarray:
        """Messages stored as given (infer=False) in one call are a conversation: each one's
        vector blends the mean of its neighbours (two either side), so a reply ("A sunrise,
        last year") is found by what it answers. LoCoMo dev, raw turns: evidence recall@10
        0.50 -> 0.54 by vector alone."""
        weight = self.config.context_weight
        if not weight or len(vectors) < 2:
            return vectors
        around = np.stack([_around(vectors, [i]) for i in range(len(vectors))])
        blended = vectors + weight * around
        return blended / np.linalg.norm(blended, axis=1, keepdims=True)

    def _rescore(
        self, facts: np.ndarray, candidates: list[list[Candidate]]
    ) -> list[list[Candidate]]:
        """Candidates are found with blended vectors, but judged fact against fact: the
        reconciler's thresholds are about what the two facts say, not where they were said."""
        texts = sorted({c.text for near in candidates for c in near})
        if not texts:
            return candidates
        by_text = dict(zip(texts, self._engine.embedder.embed(texts)))
        return [
            sorted((replace(c, score=float(fact @ by_text[c.text])) for c in near),
                   key=lambda c: -c.score)
            for fact, near in zip(facts, candidates)
        ]  # fmt: skip

    def _context(
        self, scope: dict[str, str], said_at: datetime | None, req: AddRequest | None = None
    ) -> ExtractionContext:
        settings = self.project.get()
        own = normalize_categories(req.custom_categories) if req is not None else None
        return ExtractionContext(
            subject=_display_name(scope.get("user_id")),
            agent=scope.get("agent_id") if "user_id" not in scope else None,
            custom_instructions=req.instructions(settings["custom_instructions"])
            if req is not None else settings["custom_instructions"],
            categories=own or _settings_categories(settings),
            today=(said_at or self._clock()).date(),  # "yesterday" is relative to when said
        )

    def _candidates(self, scope: dict[str, str], vector: np.ndarray) -> list[Candidate]:
        rows = self._engine.store.query(
            Query(self.project_id, F.scope_filter(**scope), self._now(), vector,
                  limit=self.config.reconcile_candidates)
        )  # fmt: skip
        return [Candidate("", r.id, r.memory, s or 0.0) for r, s in rows]

    def _apply(
        self,
        facts: list[Fact],
        decisions: list[Decision],
        vectors: np.ndarray | None,
        new: _NewMemoryFields,
        categories: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Turn decisions into one write batch, so a failure leaves the store untouched."""
        if vectors is None:
            vectors = self._engine.embedder.embed([f.text for f in facts])
        tags = self._tags(facts, categories or {})
        existing = {r.id: r for r in self._engine.store.get(
            self.project_id, [d.target_id for d in decisions if d.target_id])}  # fmt: skip
        batch, results, now = WriteBatch(), [], new.said_at or self._now()
        for d in decisions:
            target = existing.get(d.target_id or "")
            if d.event in (Event.UPDATE, Event.DELETE) and target is not None and target.immutable:
                target = None  # an immutable memory stands: the new fact is added beside it
            if d.event != Event.ADD and target is None:
                d = Decision(Event.ADD, d.text, None, d.fact_index)  # never touch an unknown id
            vector = vectors[d.fact_index] if d.text == facts[d.fact_index].text else None
            results.extend(self._stage(d, target, vector, tags[d.fact_index], new, now, batch))
        self._engine.store.write(batch)
        return {"results": results}

    def _tags(self, facts: list[Fact], categories: dict[str, str]) -> list[list[str]]:
        untagged = [f.tag_text or f.text for f in facts if f.categories is None]
        auto = iter(self._engine.tagger.tag(untagged, categories))
        return [list(f.categories) if f.categories is not None else next(auto) for f in facts]

    def _stage(
        self,
        d: Decision,
        target: MemoryRecord | None,
        vector: np.ndarray | None,
        tags: list[str],
        new: _NewMemoryFields,
        now: str,
        batch: WriteBatch,
    ) -> list[dict[str, Any]]:
        if d.event == Event.NONE and target is not None:
            return [{"id": target.id, "memory": target.memory, "event": "NONE"}]
        if vector is None:  # the reconciler rewrote the fact's text
            vector = self._engine.embedder.embed([d.text])[0]
        if d.event == Event.UPDATE and target is not None:
            old = target.memory
            target.memory, target.hash, target.updated_at = d.text, text_hash(d.text), now
            target.categories = tags or target.categories
            target.metadata = {**target.metadata, **new.metadata}
            target.sources = provenance.merge(target.sources, new.sources_of(d.fact_index))
            batch.upserts.append((target, vector))
            batch.history.append(self._history(target, Event.UPDATE, old, d.text, "extraction",
                                               now, new.said))  # fmt: skip
            return [{"id": target.id, "memory": d.text, "event": "UPDATE", "previous_memory": old}]
        record = new.record(self.project_id, d.text, tags, now)
        record.sources = new.sources_of(d.fact_index)
        batch.upserts.append((record, vector))
        batch.history.append(
            self._history(record, Event.ADD, None, d.text, "extraction", now, new.said))
        added = {"id": record.id, "memory": d.text, "event": "ADD"}
        if d.event != Event.DELETE or target is None:
            return [added]
        target.state, target.replaced_by, target.updated_at = State.SUPERSEDED, record.id, now
        batch.upserts.append((target, None))
        batch.history.append(self._history(target, Event.DELETE, target.memory, d.text,
                                           "contradiction", now, new.said))  # fmt: skip
        return [{"id": target.id, "memory": target.memory, "event": "DELETE",
                 "replaced_by": record.id}, added]  # fmt: skip

    def _history(
        self, r: MemoryRecord, event: Event, old: str | None, new: str | None, actor: str,
        at: str | None = None, said: list[dict[str, Any]] | None = None,
    ) -> HistoryEntry:
        return HistoryEntry(
            str(uuid.uuid4()), r.id, event, old, new, at or self._now(), actor, self.project_id,
            r.user_id, r.agent_id, r.run_id, r.snapshot(said),
        )  # fmt: skip

    # ------------------------------------------------------------------ reads

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        top_k: int | None = None,
        threshold: float | None = None,
        keyword_search: bool | None = None,
        rerank: bool | None = None,
        include_sources: bool = False,
        reference_date: str | datetime | None = None,
        **scope: Unpack[SearchArgs],
    ) -> dict[str, Any]:
        """Hybrid search: the nearest memories by vector and those sharing the query's words
        (full-text index), same scope and filters, each scored in [0, 1] (engram.ranking).

        keyword_search=False: vector candidates only. rerank=False: the two lists' own orders
        fused by reciprocal rank instead of ordering by score. `threshold` (default: the
        project's, else ranking.DEFAULT_THRESHOLD) drops memories scoring below it.
        """
        return self._search(parse_request(
            SearchRequest, query=query, limit=limit, top_k=top_k, threshold=threshold,
            keyword_search=keyword_search, rerank=rerank, include_sources=include_sources,
            reference_date=reference_date, **scope))  # fmt: skip

    def _search(self, req: SearchRequest) -> dict[str, Any]:
        limit, threshold = req.size(), self._threshold(req.threshold)
        today = (req.reference_date or self._clock()).date()
        query, window = req.query.strip(), timeframe.window(req.query, today)
        snapshots: dict[str, MemoryRecord] | None = None  # the memories as they were then
        if req.as_of is not None:  # history snapshots carry no feedback: look it up
            ranked, snapshots = timeline.search(self, query, req, window)
            ranked = self._without_rejected(ranked)
        else:  # the store leaves VERY_NEGATIVE memories out of the candidates
            ranked = self._ranked(query, req.where, limit, req.keyword_search is not False,
                                  req.rerank is not False, window,
                                  {**_modes(req), "rejected": False})  # fmt: skip
        # the threshold applies to the score as shown: a raw 0.6543216 shows as 0.654322, and
        # that shown score given back as the threshold must keep the memory
        kept = [s for s in ranked if _shown_score(s) >= threshold][:limit]
        # only the rows returned are read whole
        records = snapshots if snapshots is not None else self._records([s.hit.id for s in kept])
        now = iso(req.as_of) or self._now()
        # one deleted since it was ranked is left out
        return {"results": [
            project_fields(_result(s, records[s.hit.id], req.include_sources, now), req.fields)
            for s in kept if s.hit.id in records]}  # fmt: skip

    def _records(self, ids: list[str]) -> dict[str, MemoryRecord]:
        return {r.id: r for r in self._engine.store.get(self.project_id, ids)}

    def _without_rejected(self, ranked: list[Scored]) -> list[Scored]:
        rejected = self._engine.store.feedback(self.project_id, [s.hit.id for s in ranked])
        return [s for s in ranked if rejected.get(s.hit.id, ("",))[0] != "VERY_NEGATIVE"]

    def _ranked(
        self,
        query: str,
        where: F.Node | None,
        limit: int,
        keywords: bool,
        rerank: bool,
        window: timeframe.Window | None = None,
        modes: dict[str, bool] | None = None,  # Query flags (read modes)
    ) -> list[Scored]:
        self._check_embedder(claim=False)
        vector = self._engine.embedder.embed([query])[0]
        pool = max(limit * SEARCH_POOL_FACTOR, SEARCH_POOL_MIN)
        now, store, modes = self._now(), self._engine.store, modes or {}
        # one more than the pool tells a scope of exactly `pool` memories from a bigger one
        dense = store.hits(Query(self.project_id, where, now, vector, limit=pool + 1,
                                 **modes))  # fmt: skip
        # A dense list within its pool holds every memory with a vector the filter keeps
        # (the exact scan's, or the index's, which falls back to the scan rather than page
        # short), and every memory written through Memory has one: the keyword lists find no
        # other candidate. Ranked by score they are skipped (0.4-0.8 ms a search over 20-100
        # memories); fused by rank their orders count, and their matches need no cosines.
        covered, dense = len(dense) <= pool, dense[:pool]
        semantic = {h.id: float(s or 0.0) for h, s in dense}
        hits = {h.id: h for h, _ in dense}
        orders = [[h.id for h, _ in dense]]
        words = tuple(dict.fromkeys(terms(query)))[:MAX_QUERY_TERMS]
        if keywords and words and not (covered and rerank):
            near = None if covered else vector
            lists, cosines = self._keyword_lists(words, where, now, pool, modes, near)
            for matched in lists:
                orders.append([h.id for h, _ in matched])
                hits.update((h.id, h) for h, _ in matched if h.id not in hits)
            for memory_id, cosine in cosines.items():
                semantic.setdefault(memory_id, cosine)
            fresh = [i for i in hits if i not in semantic]
            for memory_id, v in store.vectors(self.project_id, fresh).items():
                semantic[memory_id] = float(np.dot(v, vector))
        span = None
        if window is not None and TIME_CANDIDATES:  # the nearest among memories said then
            span = (iso(window[0]) or "", iso(window[1]) or "")
            said_then = F.conjoin(where, F.Condition("created_at", "gte", span[0]),
                                  F.Condition("created_at", "lt", span[1]))  # fmt: skip
            dated = store.hits(Query(self.project_id, said_then, now, vector, limit=pool,
                                     **modes))  # fmt: skip
            orders.append([h.id for h, _ in dated])
            for h, s in dated:
                hits.setdefault(h.id, h)
                semantic.setdefault(h.id, float(s or 0.0))
        return rank(query, semantic, list(hits.values()), rerank=rerank, orders=orders,
                    window=span)  # fmt: skip

    def _keyword_lists(
        self, words: tuple[str, ...], where: F.Node | None, now: str, pool: int,
        modes: dict[str, bool], vector: np.ndarray | None,
    ) -> tuple[list[list[tuple[Hit, float | None]]], dict[str, float]]:  # fmt: skip
        """The memories matching each query word, one list per word: a rare word's few
        matches all come in, however many memories share the common words. (One query for
        all the words ranks by the backend's idf-weighted rank instead: within noise on
        LoCoMo, see the README.) Also the listed memories' cosines to `vector`, if given,
        where the store reads them with the lists."""
        store = self._engine.store
        if not KEYWORD_LIST_PER_TERM:
            return [store.hits(Query(self.project_id, where, now, keywords=words, limit=pool,
                                     **modes))], {}  # fmt: skip
        each = max(KEYWORD_LIST_MIN, pool // len(words))
        return store.keyword_lists(Query(self.project_id, where, now, keywords=words, limit=each,
                                         **modes), vector)  # fmt: skip

    def _threshold(self, threshold: float | None) -> float:
        """The request's, else the project's, else the default (all validated to [0, 1])."""
        if threshold is None:
            threshold = self.project.get().get("threshold")
        return DEFAULT_THRESHOLD if threshold is None else float(threshold)

    def get_all(
        self,
        *,
        page: int = 1,
        page_size: int = 100,
        limit: int | None = None,
        include_sources: bool = False,
        **scope: Unpack[ListArgs],
    ) -> dict[str, Any]:
        return self._get_all(parse_request(
            ListRequest, page=page, page_size=page_size, limit=limit,
            include_sources=include_sources, **scope))  # fmt: skip

    def _get_all(self, req: ListRequest) -> dict[str, Any]:
        page, size = req.page or 1, req.limit or req.page_size or 100
        if req.as_of is not None:
            records, count = timeline.page(self, req, size, (page - 1) * size)
        else:
            q = Query(self.project_id, req.where, self._now(), limit=size,
                      offset=(page - 1) * size, **_modes(req))  # fmt: skip
            records = [r for r, _ in self._engine.store.query(q)]
            count = _total_shown_by(q, len(records))
            if count is None:
                count = self._engine.store.count(q)
        now = iso(req.as_of) or self._now()
        shown = [_shown(r, r.to_dict(), req.include_sources, now) for r in records]
        return {"results": [project_fields(r, req.fields) for r in shown], "count": count}

    def get(self, memory_id: str) -> dict[str, Any]:
        """One memory, with the messages it came from (`sources`)."""
        record = self._active(memory_id)
        return _shown(record, record.to_dict(), True)

    def _active(self, memory_id: str) -> MemoryRecord:
        check_id(memory_id, "memory_id")
        found = self._engine.store.get(self.project_id, [memory_id])
        if not found or not self._visible(found[0]):
            raise MemoryNotFoundError(memory_id)
        return found[0]

    def _visible(self, r: MemoryRecord) -> bool:
        expired = r.expiration_date is not None and r.expiration_date <= self._now()
        return r.state == State.ACTIVE and not expired

    def history(self, memory_id: str) -> list[dict[str, Any]]:
        check_id(memory_id, "memory_id")
        entries = self._engine.store.history(self.project_id, memory_id)
        if not entries:
            raise MemoryNotFoundError(memory_id)
        found = self._engine.store.get(self.project_id, [memory_id])  # gone once deleted
        sources = found[0].sources if found else []
        return [{**e.to_dict(), "sources": provenance.as_of(sources, e.created_at)}
                for e in entries]  # fmt: skip

    # ------------------------------------------------------------------ changes

    def update(
        self, memory_id: str, text: str | None = None, metadata: dict[str, Any] | None = None,
        expiration_date: Any = UNSET, categories: list[str] | None = None,
        timestamp: int | float | str | datetime | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Change a memory's text, metadata, categories, expiry (None clears it) or when it
        was said."""
        given = {"text": text, "metadata": metadata, "categories": categories,
                 "timestamp": timestamp}  # fmt: skip
        given = {k: v for k, v in given.items() if v is not None}
        if expiration_date is not UNSET:
            given["expiration_date"] = expiration_date
        return self._update(memory_id, parse_request(UpdateRequest, **given))

    def _update(self, memory_id: str, req: UpdateRequest) -> dict[str, Any]:
        record = self._active(memory_id)
        if req.text:
            self._check_embedder(claim=True)
        vector = self._engine.embedder.embed([req.text.strip()])[0] if req.text else None
        batch = WriteBatch()
        self._stage_update(record, req, vector, batch)
        self._engine.store.write(batch)
        return {**record.to_dict(), "message": "Memory updated successfully!"}

    def _stage_update(
        self, record: MemoryRecord, req: UpdateRequest, vector: np.ndarray | None,
        batch: WriteBatch,
    ) -> None:  # fmt: skip
        if record.immutable:
            raise InvalidInputError(f"memory {record.id} is immutable: add a new memory instead",
                                    field="memory_id")  # fmt: skip
        old = record.memory
        if req.metadata is not None:
            record.metadata = req.metadata
        if req.sets_expiry:
            record.expiration_date = req.expiration_date
        if req.categories is not None:
            record.categories = req.categories
        if req.timestamp is not None:
            record.created_at = iso(req.timestamp) or record.created_at
        if req.text is not None:
            record.memory, record.hash = req.text.strip(), text_hash(req.text.strip())
        record.updated_at = self._now()
        batch.upserts.append((record, vector))
        batch.history.append(self._history(record, Event.UPDATE, old, record.memory, "user"))

    def feedback(
        self, memory_id: str, feedback: str | None = None, feedback_reason: str | None = None,
        **_ignored: Any,
    ) -> dict[str, Any]:  # fmt: skip
        """Record a person's judgement of a memory (Mem0's feedback call); a VERY_NEGATIVE
        memory is no longer returned by search. feedback=None clears it."""
        return self._feedback(parse_request(
            FeedbackRequest, memory_id=memory_id, feedback=feedback,
            feedback_reason=feedback_reason))

    def _feedback(self, req: FeedbackRequest) -> dict[str, Any]:
        self._active(req.memory_id)
        reason = req.feedback_reason if req.feedback else None
        self._engine.store.set_feedback(self.project_id, req.memory_id, req.feedback, reason)
        return {"id": req.memory_id, "feedback": req.feedback, "feedback_reason": reason,
                "message": "Feedback recorded"}  # fmt: skip

    def delete(self, memory_id: str, delete_linked: bool = False) -> dict[str, Any]:
        """delete_linked: also the older memories this one superseded, transitively (else
        they could be read again with latest_only=false or as_of)."""
        record = self._active(memory_id)
        self._delete([record, *(timeline.superseded_by(self, record) if delete_linked
                                else [])], "user")  # fmt: skip
        return {"message": "Memory deleted successfully!"}

    def _delete(self, records: list[MemoryRecord], actor: str) -> None:
        batch = WriteBatch(deletes=list(records))
        batch.history = [self._history(r, Event.DELETE, r.memory, None, actor) for r in records]
        self._engine.store.write(batch)

    def delete_all(self, **scope: Unpack[ScopeArgs]) -> dict[str, Any]:
        return self._delete_all(parse_request(DeleteAllRequest, **scope))

    def _delete_all(self, req: Scoped) -> dict[str, Any]:
        where, deleted = req.where, 0
        while True:  # in chunks, so a huge scope does not load into memory at once
            q = Query(self.project_id, where, self._now(), limit=500, include_inactive=True)
            records = [r for r, _ in self._engine.store.query(q)]
            if not records:
                break
            self._delete(records, "user")
            deleted += len(records)
        return {"message": "Memories deleted successfully!", "deleted": deleted}

    def batch_update(self, memories: list[dict[str, Any]]) -> dict[str, Any]:
        return self._batch_update(parse_request(BatchUpdateRequest, memories=memories))

    def _batch_update(self, req: BatchUpdateRequest) -> dict[str, Any]:
        """All or nothing: every item is checked first, then one write applies them all."""
        staged = [(self._active(item.memory_id), item) for item in req.memories]
        texts = [item.text.strip() for item in req.memories if item.text is not None]
        if texts:
            self._check_embedder(claim=True)
        vectors = iter(self._engine.embedder.embed(texts)) if texts else iter(())
        batch = WriteBatch()
        for record, item in staged:
            self._stage_update(record, item, next(vectors) if item.text is not None else None,
                               batch)  # fmt: skip
        self._engine.store.write(batch)
        return {"message": f"Successfully updated {len(staged)} memories"}

    def batch_delete(self, memory_ids: list[str]) -> dict[str, Any]:
        return self._batch_delete(check_batch(memory_ids, "memory_ids"))

    def _batch_delete(self, memory_ids: list[str]) -> dict[str, Any]:
        records = [self._active(i) for i in memory_ids]
        self._delete(records, "user")
        return {"message": f"Successfully deleted {len(records)} memories"}

    def entities(self, page: int = 1, page_size: int | None = None) -> dict[str, Any]:
        """Every user, agent, run and app with memories here: {"count", "results"}, a page
        of `page_size` at a time when given."""
        req = parse_request(EntitiesRequest, page=page, page_size=page_size)
        rows = [
            {"type": e.kind, "id": e.id, "name": e.id, "total_memories": e.total_memories,
             "created_at": e.created_at, "updated_at": e.updated_at}
            for e in self._engine.store.entities(self.project_id, self._now())
        ]  # fmt: skip
        start = (req.page - 1) * (req.page_size or 0)
        shown = rows[start:start + req.page_size] if req.page_size else rows
        return {"count": len(rows), "results": shown}

    def stats(self) -> dict[str, Any]:
        """This project's counts: memories readable now, and entities of each kind."""
        entities = self._engine.store.entities(self.project_id, self._now())
        kinds = {f"total_{kind}s": sum(1 for e in entities if e.kind == kind)
                 for kind in ("user", "agent", "app", "run")}  # fmt: skip
        total = self._engine.store.count(Query(self.project_id, None, self._now()))
        return {"total_memories": total, "total_entities": len(entities), **kinds}

    def delete_entity(self, kind: str, entity_id: str) -> dict[str, Any]:
        field = ENTITY_KINDS.get(kind)
        if field is None:
            raise InvalidInputError(
                f"entity type must be one of {', '.join(ENTITY_KINDS)}", field="entity_type"
            )
        deleted = self.delete_all(**{field: check_id(entity_id, field)})["deleted"]
        return {"message": "Entity deleted successfully!", "deleted": deleted}

    def reset(self) -> None:
        """Forget everything in this project: memories, history and settings."""
        self._engine.store.reset(self.project_id)
        self._model_on_record = False

    # ------------------------------------------------------------------ expiry

    def _now(self) -> str:
        return iso(self._clock()) or ""

    def purge_expired(self) -> int:
        """Delete this project's expired memories for good, keeping their history; returns
        how many. Expired memories are already invisible to every read, so this only
        reclaims rows: it runs off the write path (the server runs it periodically)."""
        purged = 0
        while ids := self._engine.store.expired_ids(self.project_id, self._now(), 500):
            self._delete(self._engine.store.get(self.project_id, ids), "expiry")
            purged += len(ids)
        return purged

    def purge_expired_everywhere(self) -> int:
        """`purge_expired` in every project of the store that holds expired memories: the
        store names them, so a project no API key points at is purged too."""
        projects = self._engine.store.expired_projects(self._now())
        return sum(self.for_project(p).purge_expired() for p in projects)


class ProjectSettings:
    """`memory.project.get()` / `.update(...)`: the hosted API's project settings."""

    FIELDS = ("custom_instructions", "custom_categories", "threshold")

    def __init__(self, memory: Memory) -> None:
        self._memory = memory

    def get(self, fields: list[str] | None = None) -> dict[str, Any]:
        stored = self._memory.store.settings(self._memory.project_id)
        out = {
            "project_id": self._memory.project_id,
            "custom_instructions": stored.get("custom_instructions"),
            "custom_categories": stored.get("custom_categories")
            or categories_as_list(DEFAULT_CATEGORIES),
            "threshold": stored.get("threshold"),
        }
        return {k: v for k, v in out.items() if not fields or k in fields}

    def update(
        self,
        custom_instructions: str | None = None,
        custom_categories: list[dict[str, Any]] | None = None,
        threshold: float | None = None,
        **_ignored: Any,
    ) -> dict[str, Any]:
        return self._update(parse_request(
            ProjectUpdateRequest, custom_instructions=custom_instructions,
            custom_categories=custom_categories, threshold=threshold))

    def _update(self, req: ProjectUpdateRequest) -> dict[str, Any]:
        stored = self._memory.store.settings(self._memory.project_id)
        if req.custom_instructions is not None:
            stored["custom_instructions"] = req.custom_instructions.strip() or None
        if req.custom_categories is not None:
            categories = normalize_categories(req.custom_categories)
            stored["custom_categories"] = categories_as_list(categories) or None
        if req.threshold is not None:
            stored["threshold"] = req.threshold
        self._memory.store.save_settings(self._memory.project_id, stored)
        return {"message": "Updated custom instructions", **self.get()}


# ---------------------------------------------------------------------------- helpers


@dataclass
class _NewMemoryFields:
    """What the caller of `add` sets on every memory it creates."""

    scope: dict[str, str]
    metadata: dict[str, Any]
    expiration_date: str | None
    said_at: str | None = None  # `timestamp`: when the messages were said (ISO), else now
    sources: list[list[dict[str, Any]]] = field(default_factory=list)  # per fact: provenance
    immutable: bool = False
    said: list[dict[str, str]] = field(default_factory=list)  # the call's messages (`input`)

    def sources_of(self, fact_index: int) -> list[dict[str, Any]]:
        return list(self.sources[fact_index]) if fact_index < len(self.sources) else []

    def record(self, project: str, text: str, categories: list[str], now: str) -> MemoryRecord:
        return MemoryRecord(
            id=str(uuid.uuid4()), memory=text, project=project, metadata=dict(self.metadata),
            categories=categories, created_at=now, updated_at=now,
            expiration_date=self.expiration_date, hash=text_hash(text), immutable=self.immutable,
            **self.scope,
        )  # fmt: skip


def _around(said: np.ndarray, own: list[int]) -> np.ndarray:
    """The mean of the messages within NEIGHBOUR_WINDOW of a memory's one source message, or
    of its sources when it has several (a fact sharing no word with any one message)."""
    if len(own) != 1:
        return said[own].mean(axis=0) if own else said.mean(axis=0)
    return said[max(0, own[0] - NEIGHBOUR_WINDOW) : own[0] + NEIGHBOUR_WINDOW + 1].mean(axis=0)


def _display_name(user_id: str | None) -> str | None:
    """"max" -> "Max"; ids that are not names ("u_81f3") leave the subject as "The user"."""
    if user_id and re.fullmatch(r"[A-Za-z][A-Za-z'\- ]{0,40}", user_id):
        return " ".join(part.capitalize() for part in user_id.split())
    return None


def _settings_categories(settings: dict[str, Any]) -> dict[str, str]:
    return normalize_categories(settings.get("custom_categories")) or dict(DEFAULT_CATEGORIES)


def _reconcile_scope(scope: dict[str, str]) -> dict[str, str]:
    """Facts about a user are shared by every agent that talks to them, so a new user fact is
    reconciled against all of that user's memories, whichever agent heard them."""
    if "user_id" in scope:
        return {k: v for k, v in scope.items() if k != "agent_id"}
    return scope


def _alias(per_fact: list[list[Candidate]]) -> list[list[Candidate]]:
    """One short alias per stored memory across the whole call, so an LLM never sees ids."""
    aliases: dict[str, str] = {}
    for near in per_fact:
        for c in near:
            aliases.setdefault(c.id, f"m{len(aliases)}")
    return [[replace(c, alias=aliases[c.id]) for c in near] for near in per_fact]


def _total_shown_by(q: Query, found: int) -> int | None:
    """The match count a page of `found` rows proves: a page short of its limit holds the
    last of them (most users' one page), so the count statement is skipped; an empty page
    past the first proves nothing."""
    if found < q.limit and (found > 0 or q.offset == 0):
        return q.offset + found
    return None


def _shown_score(scored: Scored) -> float:
    return round(scored.score, SCORE_DIGITS)


def _result(
    scored: Scored, record: MemoryRecord, include_sources: bool, now: str
) -> dict[str, Any]:
    shown = record.to_dict(_shown_score(scored))
    return {**_shown(record, shown, include_sources, now),
            "score_breakdown": {k: round(v, SCORE_DIGITS) for k, v in
                                scored.breakdown.items()}}  # fmt: skip


def _shown(
    record: MemoryRecord, shown: dict[str, Any], include_sources: bool, now: str = ""
) -> dict[str, Any]:
    """Mem0's result shape, plus the memory's provenance when asked for, and its state
    when it is not current (show_expired, latest_only=false)."""
    if include_sources:
        shown["sources"] = list(record.sources)
    if record.state != State.ACTIVE:
        shown.update(state=str(record.state), replaced_by=record.replaced_by)
    elif now and record.expiration_date is not None and record.expiration_date <= now:
        shown["state"] = "expired"
    return shown


def _modes(req: ReadRequest) -> dict[str, bool]:
    """The read modes a request asks for, as Query flags."""
    return {"expired": req.show_expired, "superseded": req.with_superseded}


def _dedupe(facts: list[Fact]) -> list[Fact]:
    seen: set[str] = set()
    out = []
    for fact in facts:
        key = " ".join(fact.text.lower().split())
        if fact.text.strip() and key not in seen:
            seen.add(key)
            out.append(fact)
    return out
