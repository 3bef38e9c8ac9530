"""One time budget per `add`, shared by every step that may be slow (LLM calls, parsing).

`add` opens a budget with `budget(seconds)`; code below it asks `remaining()` or calls
`check(what)`. A budget opened inside another keeps the outer one: the server's queue opens
its longer budget around `Memory.add`, whose own default must not shorten it. Context
variables carry the budget per thread (and per asyncio task), so concurrent adds each have
their own.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from engram.errors import BackendError

F = TypeVar("F", bound=Callable[..., Any])
_deadline: ContextVar[float | None] = ContextVar("engram_add_deadline", default=None)


class DeadlineExceeded(BackendError):
    """The add's time budget ran out; nothing was stored."""


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    """Run the block under a deadline `seconds` from now, unless one is already running."""
    if _deadline.get() is not None:
        yield
        return
    token = _deadline.set(time.monotonic() + max(0.0, seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left in the current budget (never negative), or None outside any budget."""
    deadline = _deadline.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def check(what: str) -> None:
    """Raise DeadlineExceeded when the current budget is spent."""
    left = remaining()
    if left is not None and left <= 0:
        raise DeadlineExceeded(f"{what} ran past the add's time budget; nothing was stored")


def within(seconds_of: Callable[[Any], float]) -> Callable[[F], F]:
    """Decorate a method so each call runs under `budget(seconds_of(self))`."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def bounded(self: Any, *args: Any, **kwargs: Any) -> Any:
            with budget(seconds_of(self)):
                return method(self, *args, **kwargs)

        return bounded  # type: ignore[return-value]

    return decorate
