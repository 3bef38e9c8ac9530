"""One exception tree for the library, the server and the client, so one `except` fits all.

EngramError
├── InvalidInputError (also ValueError)   bad argument: `field` names it        400
│   ├── MissingScopeError                  no user_id/agent_id/run_id/app_id
│   ├── FilterError                        an unknown field or operator in a filter
│   └── EmbedderMismatchError              the project's vectors come from another model
├── NotFoundError (also KeyError)         unknown id (an event, ...)             404
│   └── MemoryNotFoundError                unknown memory id
├── AuthenticationError                   missing, wrong or revoked API key     401
│   └── ProjectAccessError                 the key belongs to another project    403
├── RateLimitError                        too many requests; `retry_after` s    429
└── BackendError (also RuntimeError)      store, embedder or LLM failed         503

`HTTP_STATUS` is the one table between these classes and HTTP: the server answers with
it, and `MemoryClient` turns an answer back into the same class (the body names it).
"""

from __future__ import annotations

from typing import Any


class EngramError(Exception):
    """Base class of every error Engram raises on purpose."""

    field: str | None = None  # the offending input, when there is one
    status_code: int | None = None  # set when the error arrived over HTTP
    body: dict[str, Any] | None = None  # the server's JSON error body, likewise

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field

    def __str__(self) -> str:  # KeyError subclasses would print the repr of the args
        return str(self.args[0]) if self.args else ""


class InvalidInputError(EngramError, ValueError):
    """An argument was rejected; `field` names it so an API can point at it."""


class MissingScopeError(InvalidInputError):
    field = "user_id"

    def __init__(self, action: str = "this call") -> None:
        super().__init__(
            f"{action} needs a scope: pass at least one of user_id, agent_id, run_id, app_id "
            "(as an argument or inside filters)"
        )


class FilterError(InvalidInputError):
    pass


class EmbedderMismatchError(InvalidInputError):
    """A project's vectors all come from one embedding model: comparing them with another
    model's is meaningless, so a Memory configured with a different one is refused."""

    field = "embedder"


class NotFoundError(EngramError, KeyError):
    """An id names nothing this caller can see."""


class MemoryNotFoundError(NotFoundError):
    field = "memory_id"
    memory_id = ""

    def __init__(self, memory_id: str = "", *, message: str | None = None) -> None:
        super().__init__(message or f"memory {memory_id!r} not found")
        self.memory_id = memory_id


class AuthenticationError(EngramError):
    """The API key is missing, wrong or revoked."""


class ProjectAccessError(AuthenticationError):
    """The API key is valid but for another org or project."""

    field = "project_id"


class RateLimitError(EngramError):
    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BackendError(EngramError, RuntimeError):
    """A storage, embedding or LLM backend failed; nothing was half-written."""


HTTP_STATUS: dict[type[EngramError], int] = {
    InvalidInputError: 400,
    AuthenticationError: 401,
    ProjectAccessError: 403,
    NotFoundError: 404,
    RateLimitError: 429,
    BackendError: 503,
}


def status_of(exc: EngramError) -> int:
    """The HTTP status of an error: its nearest class in `HTTP_STATUS`."""
    return next((HTTP_STATUS[c] for c in type(exc).__mro__ if c in HTTP_STATUS), 500)


def error_from_http(status: int, body: dict[str, Any]) -> EngramError:
    """The exception an HTTP error answer stands for, as the server raised it.

    The body's `error` names the class; it is trusted only when it is a subclass of what
    the status means, so a foreign server (Mem0's) still maps by status alone.
    """
    by_status = _class_for_status(status)
    named = _named(str(body.get("error")), by_status)
    cls = named if issubclass(named, by_status) else by_status
    exc = cls.__new__(cls)  # bypass the convenience constructors: the text is the server's
    EngramError.__init__(exc, f"HTTP {status}: {body.get('detail')}", field=body.get("field"))
    exc.status_code, exc.body = status, body
    if isinstance(exc, RateLimitError):
        exc.retry_after = body.get("retry_after")
    return exc


def _class_for_status(status: int) -> type[EngramError]:
    if status in (413, 422):
        return InvalidInputError
    if status >= 500:
        return BackendError
    found = [c for c, s in HTTP_STATUS.items() if s == status]
    return found[0] if found else EngramError


def _named(name: str, default: type[EngramError]) -> type[EngramError]:
    """The class called `name` in the tree (EmbeddingError and LLMError live elsewhere)."""
    todo: list[type[EngramError]] = [EngramError]
    while todo:
        cls = todo.pop()
        if cls.__name__ == name:
            return cls
        todo.extend(cls.__subclasses__())
    return default
