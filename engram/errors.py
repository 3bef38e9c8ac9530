"""One exception hierarchy, so callers can catch at the level they care about.

EngramError
├── InvalidInputError (also ValueError)   bad argument: names the offending field
│   ├── MissingScopeError                  a read/write without user_id/agent_id/run_id/app_id
│   └── FilterError                        an unknown field or operator in a filter
├── MemoryNotFoundError (also KeyError)   unknown memory id
└── BackendError                           a model or storage backend failed
"""

from __future__ import annotations


class EngramError(Exception):
    """Base class of every error Engram raises on purpose."""


class InvalidInputError(EngramError, ValueError):
    """An argument was rejected; `field` names it so an API can point at it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MissingScopeError(InvalidInputError):
    def __init__(self, action: str) -> None:
        super().__init__(
            f"{action} needs a scope: pass at least one of user_id, agent_id, run_id, app_id "
            "(as an argument or inside filters)",
            field="filters",
        )


class FilterError(InvalidInputError):
    pass


class MemoryNotFoundError(EngramError, KeyError):
    def __init__(self, memory_id: str) -> None:
        super().__init__(f"memory {memory_id!r} not found")
        self.memory_id = memory_id
        self.field = "memory_id"

    def __str__(self) -> str:  # KeyError would print the repr of the args
        return self.args[0]


class BackendError(EngramError, RuntimeError):
    """A storage, embedding or LLM backend failed; nothing was half-written."""
