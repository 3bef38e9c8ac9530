"""The retrieve -> use -> store loop of a memory-backed assistant (Ray, the running coach).

    from engram import Memory
    from engram.chat import chat

    memory = Memory()
    chat("I want to run a marathon in under 4 hours", memory=memory, user_id="max")
    chat("What should I focus on today?", memory=memory, user_id="max")  # recalls the goal

`memory` is an `engram.Memory` or an `engram.MemoryClient` (same method names). `llm` is
any OpenAI-compatible client (`openai.OpenAI(...)`); None uses `OfflineResponder`, which
needs no key and shows the prompt it would have sent. A failing memory backend never breaks
a reply: the turn goes on with "no memories", as the tutorial's checklist asks.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

log = logging.getLogger("engram.chat")

DEFAULT_PERSONA = "You're Ray, a running coach."
DEFAULT_MODEL = "gpt-4o-mini"


class ConversationBuffer:
    """Short-term memory: the last few messages, kept in the app process (gone on restart)."""

    def __init__(self, max_messages: int = 10) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.max_messages = max_messages
        self._messages: deque[dict[str, str]] = deque(maxlen=max_messages)

    def append(self, role: str, content: str) -> None:
        self._messages.append({"role": role, "content": content})

    def extend(self, messages: Iterable[dict[str, str]]) -> None:
        for m in messages:
            self.append(m["role"], m["content"])

    @property
    def messages(self) -> list[dict[str, str]]:
        return list(self._messages)

    def clear(self) -> None:
        self._messages.clear()

    def __len__(self) -> int:
        return len(self._messages)


@dataclass
class Turn:
    """Everything one `chat` call did, for apps and the demo that want to show it."""

    user_input: str
    reply: str = ""
    memories: list[dict[str, Any]] = field(default_factory=list)  # about the user
    persona: list[dict[str, Any]] = field(default_factory=list)  # the agent's own memories
    messages: list[dict[str, str]] = field(default_factory=list)  # the prompt sent to the LLM
    stored: list[dict[str, Any]] = field(default_factory=list)  # add() events
    warnings: list[str] = field(default_factory=list)


class OfflineResponder:
    """Stands in for an LLM when none is configured: plainly shows what it would send."""

    def reply(self, messages: list[dict[str, str]]) -> str:
        system = messages[0]["content"] if messages else ""
        question = messages[-1]["content"] if messages else ""
        remembered = [ln[2:] for ln in system.splitlines() if ln.startswith("- ")]
        lead = (
            "(offline responder: no LLM configured) I would answer "
            f"{question!r} with {len(remembered)} remembered fact(s) in the system prompt"
        )
        return lead + ("." if not remembered else ":\n" + "\n".join(f"  * {m}" for m in remembered))


def llm_from_env() -> Any | None:
    """An `openai.OpenAI` client when ENGRAM_LLM_MODEL is set, else None (offline responder)."""
    if not os.environ.get("ENGRAM_LLM_MODEL"):
        return None
    import openai  # slow import; only when an LLM is configured

    return openai.OpenAI(
        base_url=os.environ.get("ENGRAM_LLM_BASE_URL") or None,
        api_key=os.environ.get("ENGRAM_LLM_API_KEY") or "not-needed",
    )


class TurnOptions(TypedDict, total=False):
    """`chat`'s options, as `chat_turn` declares them (with their defaults)."""

    agent_id: str | None
    llm: Any | None
    buffer: ConversationBuffer | None
    persona: str
    limit: int
    model: str | None


def chat(user_input: str, *, memory: Any, user_id: str, **options: Unpack[TurnOptions]) -> str:
    """One turn of the loop; returns the assistant's reply."""
    return chat_turn(user_input, memory=memory, user_id=user_id, **options).reply


def chat_turn(
    user_input: str,
    *,
    memory: Any,
    user_id: str,
    agent_id: str | None = None,
    llm: Any | None = None,
    buffer: ConversationBuffer | None = None,
    persona: str = DEFAULT_PERSONA,
    limit: int = 5,
    model: str | None = None,
) -> Turn:
    """Like `chat`, but returns what was retrieved, sent and stored."""
    turn = Turn(user_input)
    # 1. retrieve: facts about the user (shared by every agent) and the agent's own persona
    turn.memories = _search(turn, memory, user_input, limit, user_id=user_id)
    if agent_id:
        found = _search(turn, memory, user_input, limit, agent_id=agent_id)
        turn.persona = [m for m in found if not m.get("user_id")]  # persona, not user facts
    # 2. use: memories go into the system prompt, recent turns come from the buffer
    history = buffer.messages if buffer else []
    turn.messages = [
        {"role": "system", "content": system_prompt(persona, turn.memories, turn.persona)},
        *history,
        {"role": "user", "content": user_input},
    ]
    turn.reply = _complete(llm, turn.messages, model)
    exchange = [{"role": "user", "content": user_input},
                {"role": "assistant", "content": turn.reply}]  # fmt: skip
    if buffer is not None:
        buffer.extend(exchange)
    # 3. store: the memory layer extracts the facts worth keeping (or none, for filler).
    # Scoped to the user alone: facts about Max are shared by every agent, and a new fact
    # is reconciled against everything known about him, whichever agent heard it first.
    try:
        turn.stored = _results(memory.add(exchange, user_id=user_id))
    except Exception as exc:  # a memory outage must not cost the user their reply
        _warn(turn, "add", exc)
    return turn


def system_prompt(
    persona: str, memories: list[dict[str, Any]], agent_memories: list[dict[str, Any]]
) -> str:
    lines = [persona]
    if agent_memories:
        lines += ["Your style:", *(f"- {m['memory']}" for m in agent_memories)]
    lines.append("About the user:" if memories else "About the user: no memories yet.")
    lines += [f"- {m['memory']}" for m in memories]
    return "\n".join(lines)


def _search(turn: Turn, memory: Any, query: str, limit: int, **scope: str) -> list[dict]:
    # The tutorial's step one: the few nearest memories go into the prompt whatever their
    # score, since a vague turn ("What should I focus on today?") scores low against the
    # facts it needs; the LLM judges what applies.
    try:
        return _results(memory.search(query, limit=limit, threshold=0.0, **scope))
    except Exception as exc:  # go on with no memories rather than fail the turn
        _warn(turn, "search", exc)
        return []


def _warn(turn: Turn, action: str, exc: Exception) -> None:
    message = f"memory {action} failed, going on without it: {type(exc).__name__}: {exc}"
    log.warning(message)
    turn.warnings.append(message)


def _results(response: Any) -> list[dict[str, Any]]:
    """Mem0 returns {"results": [...]} (v2) or a bare list (v1); accept both."""
    if isinstance(response, dict):
        return list(response.get("results") or [])
    return list(response or [])


def _complete(llm: Any | None, messages: list[dict[str, str]], model: str | None) -> str:
    if llm is None:
        return OfflineResponder().reply(messages)
    model = model or os.environ.get("ENGRAM_LLM_MODEL") or DEFAULT_MODEL
    response = llm.chat.completions.create(model=model, messages=messages)
    return response.choices[0].message.content or ""
