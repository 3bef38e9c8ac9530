"""LLM backends. Anything speaking the OpenAI chat-completions protocol works."""

from __future__ import annotations

from engram.config import LLMConfig
from engram.llms.base import LLM, LLMError

__all__ = ["LLM", "LLMError", "make_llm"]


def make_llm(config: LLMConfig) -> LLM | None:
    """The configured LLM, or None when no model is set (the offline extractor is used)."""
    if not config.enabled:
        return None
    # imported lazily: the openai SDK is slow to import and unused in offline mode
    from engram.llms.openai_compat import OpenAICompatibleLLM

    return OpenAICompatibleLLM(config)
