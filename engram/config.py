"""Configuration: explicit arguments win, then ENGRAM_* environment variables, then defaults."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field

from engram.errors import InvalidInputError


def engram_home() -> Path:
    return Path(os.environ.get("ENGRAM_HOME") or Path.home() / ".engram")


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def env_count(name: str) -> int | None:
    """A whole number of at least 1 from the environment variable `name` (threads, say);
    None when it is unset or blank, a typed error naming it when it is anything else."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidInputError(f"{name} must be a whole number of at least 1, got {raw!r}",
                                field=name)  # fmt: skip
    return value


def _env_float(name: str, default: float) -> float:
    value = _env(name)
    return float(value) if value else default


class EmbedderConfig(BaseModel):
    provider: str = Field(default_factory=lambda: _env("ENGRAM_EMBEDDER") or "local")
    model: str | None = Field(default_factory=lambda: _env("ENGRAM_EMBEDDING_MODEL"))
    base_url: str | None = Field(default_factory=lambda: _env("ENGRAM_EMBEDDING_BASE_URL"))
    api_key: str | None = Field(default_factory=lambda: _env("ENGRAM_EMBEDDING_API_KEY"))
    dims: int | None = None  # None: the model's own size (or ENGRAM_EMBEDDING_DIMS)


class LLMConfig(BaseModel):
    """Any OpenAI-compatible chat endpoint. No model configured means the offline extractor."""

    base_url: str | None = Field(default_factory=lambda: _env("ENGRAM_LLM_BASE_URL"))
    api_key: str | None = Field(default_factory=lambda: _env("ENGRAM_LLM_API_KEY"))
    model: str | None = Field(default_factory=lambda: _env("ENGRAM_LLM_MODEL"))
    timeout: float = 60.0  # one request's limit; the add's own budget bounds them all
    # retries of failures the server certainly did not process (connection refused, 429/503)
    # and corrections of a reply that is JSON but breaks the schema; never a timed-out call
    max_retries: int = 2
    # ceiling of a request's output tokens; each call asks for what its task needs below it
    max_tokens: int = Field(default_factory=lambda: int(_env("ENGRAM_LLM_MAX_TOKENS") or 4096))

    @property
    def enabled(self) -> bool:
        return bool(self.model)


class MemoryConfig(BaseModel):
    # "sqlite:///path/to/file.db" or a bare path; default $ENGRAM_HOME/engram.db
    database: str = Field(default_factory=lambda: _env("ENGRAM_DATABASE") or "")
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    # how many stored memories each new fact is compared with during reconciliation
    reconcile_candidates: int = 5
    # weight of the conversation's vector blended into each extracted fact's stored vector
    context_weight: float = 0.6
    # seconds one add may take in all (every LLM call and the parsing), and a queued add's
    # (the server's durable queue has no caller waiting, so it gets longer)
    add_timeout: float = Field(default_factory=lambda: _env_float("ENGRAM_ADD_TIMEOUT", 120.0))
    queued_add_timeout: float = Field(
        default_factory=lambda: _env_float("ENGRAM_QUEUED_ADD_TIMEOUT", 600.0)
    )

    @property
    def is_postgres(self) -> bool:
        return self.database.startswith(("postgresql://", "postgres://"))

    def database_path(self) -> Path:
        """The SQLite file; with PostgreSQL, where the server keeps its own small files."""
        if not self.database or self.is_postgres:
            return engram_home() / "engram.db"
        return Path(self.database.removeprefix("sqlite:///").removeprefix("sqlite://"))
