"""Engram: a self-hosted long-term memory layer for LLM applications.

    from engram import Memory            # embedded: SQLite + offline models, zero set-up
    from engram import MemoryClient      # a client of an Engram server (Mem0-compatible API)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engram.errors import (
    AuthenticationError,
    BackendError,
    EngramError,
    FilterError,
    InvalidInputError,
    MemoryNotFoundError,
    MissingScopeError,
    NotFoundError,
    ProjectAccessError,
    RateLimitError,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncMemoryClient",
    "AuthenticationError",
    "BackendError",
    "EngramError",
    "FilterError",
    "InvalidInputError",
    "Memory",
    "MemoryClient",
    "MemoryNotFoundError",
    "MissingScopeError",
    "NotFoundError",
    "ProjectAccessError",
    "RateLimitError",
]

if TYPE_CHECKING:
    from engram.client import AsyncMemoryClient, MemoryClient
    from engram.memory import Memory

_LAZY = {"Memory": "engram.memory", "MemoryClient": "engram.client",
         "AsyncMemoryClient": "engram.client"}  # fmt: skip


def __getattr__(name: str) -> Any:
    # Lazy, so `import engram` for the client alone does not load numpy and the models.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engram' has no attribute {name!r}")
