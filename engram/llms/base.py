"""The one thing Engram needs from a chat model: a JSON reply validated against a schema."""

from __future__ import annotations

from typing import Protocol, TypeVar

from pydantic import BaseModel

from engram.errors import BackendError

T = TypeVar("T", bound=BaseModel)


class LLMError(BackendError):
    """The LLM endpoint failed or never produced a valid reply; nothing was half-returned."""


class LLM(Protocol):
    def complete_json(
        self, system: str, user: str, schema: type[T], *, max_tokens: int | None = None
    ) -> T:
        """Send one system + user turn; return the reply parsed and validated as `schema`.

        `max_tokens` bounds the reply (the config's ceiling applies too); the call ends by
        the current add's deadline (`engram.deadline`). Raises LLMError when the endpoint
        is unreachable, too slow, or the reply stays invalid.
        """
        ...
