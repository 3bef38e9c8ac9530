"""An LLM over any OpenAI-compatible chat endpoint: OpenAI, Ollama, vLLM, llama.cpp server.

Retry policy (one budget of 1 + config.max_retries calls per `complete_json`):
- a transport error, timeout, 429 or 5xx is retried after a short exponential backoff;
- a reply that is not valid JSON for the schema is retried with a follow-up turn quoting
  the validation error, so the model can correct itself;
- a 400 while sending optional parameters (response_format, temperature) is retried once
  without them and remembered, since many local servers reject them; this is free.
Any other 4xx (bad key, unknown model) fails at once. Worst-case wall time is about
(1 + max_retries) * timeout plus the backoffs.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any
from urllib.parse import urlsplit

import openai
from pydantic import ValidationError

from engram.config import LLMConfig
from engram.errors import InvalidInputError
from engram.llms.base import LLMError, T

log = logging.getLogger(__name__)

_OPTIONAL_PARAMS: dict[str, Any] = {"response_format": {"type": "json_object"}, "temperature": 0}
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```$", re.DOTALL)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)  # reasoning models served by Ollama/vLLM
_MAX_ERROR_CHARS = 1500


class _InvalidReply(ValueError):
    """The model answered, but not with valid JSON for the schema."""


class _RetryableTransportError(Exception):
    pass


class OpenAICompatibleLLM:
    def __init__(self, config: LLMConfig, *, backoff: float = 0.5) -> None:
        if not config.model:
            raise InvalidInputError("an LLM needs a model name", field="llm.model")
        self.model = config.model
        self.max_retries = max(0, config.max_retries)
        self.backoff = backoff
        # the SDK's own retries are off: one retry policy, here, that also covers bad JSON
        self._client = openai.OpenAI(
            base_url=_normalize_base_url(config.base_url),
            api_key=config.api_key or "not-needed",  # local servers ignore it; the SDK needs one
            timeout=config.timeout,
            max_retries=0,
        )
        self.endpoint = str(self._client.base_url).rstrip("/")
        self._send_optional = True  # flipped off for good once the server rejects them

    def complete_json(self, system: str, user: str, schema: type[T]) -> T:
        if "json" not in (system + user).lower():  # OpenAI's JSON mode insists on the word
            system += "\n\nReply with a single JSON object."
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        attempts = 1 + self.max_retries
        failure: Exception | None = None
        for attempt in range(attempts):
            if attempt and isinstance(failure, _RetryableTransportError):
                time.sleep(min(self.backoff * 2 ** (attempt - 1), 8.0))
            try:
                content = self._chat(messages)
            except _RetryableTransportError as exc:
                failure = exc
                log.warning(
                    "LLM call to %s failed (attempt %d/%d): %s",
                    self.endpoint,
                    attempt + 1,
                    attempts,
                    exc,
                )
                continue
            try:
                return _parse(content, schema)
            except _InvalidReply as exc:
                failure = exc
                log.warning(
                    "LLM reply invalid for %s (attempt %d/%d): %s",
                    schema.__name__,
                    attempt + 1,
                    attempts,
                    exc,
                )
                messages = messages[:2] + _correction_turns(content, exc)
        raise self._final_error(failure, attempts, schema)

    def _chat(self, messages: list[dict[str, str]]) -> str:
        """One completion; transient failures become _RetryableTransportError."""
        try:
            return self._create(messages)
        except openai.BadRequestError as exc:
            if not self._send_optional:
                raise self._status_error(exc) from exc
            log.info(
                "%s rejected response_format/temperature (%s); retrying without them",
                self.endpoint,
                _api_message(exc),
            )
            self._send_optional = False
            return self._chat(messages)
        except openai.APITimeoutError as exc:
            raise _RetryableTransportError(f"timed out after {self._client.timeout}s") from exc
        except openai.APIConnectionError as exc:
            raise _RetryableTransportError(f"connection failed: {exc}") from exc
        except openai.APIStatusError as exc:
            if exc.status_code == 429 or exc.status_code >= 500:
                raise _RetryableTransportError(
                    f"HTTP {exc.status_code}: {_api_message(exc)}"
                ) from exc
            raise self._status_error(exc) from exc
        except openai.OpenAIError as exc:  # e.g. an unparseable response body
            raise LLMError(f"LLM endpoint {self.endpoint} failed: {exc}") from exc

    def _create(self, messages: list[dict[str, str]]) -> str:
        extra = _OPTIONAL_PARAMS if self._send_optional else {}
        response = self._client.chat.completions.create(
            model=self.model,
            messages=messages,
            **extra,  # type: ignore[arg-type]
        )
        choices = getattr(response, "choices", None)  # a str when the body was not JSON
        if choices is None:
            raise LLMError(
                f"{self.endpoint} did not answer in the OpenAI chat-completions format "
                "(is base_url the server's OpenAI-compatible API, usually ending in /v1?)"
            )
        if not choices:
            return ""
        return choices[0].message.content or ""

    def _status_error(self, exc: openai.APIStatusError) -> LLMError:
        hint = {401: " (check the API key)", 404: f" (is model {self.model!r} available?)"}
        return LLMError(
            f"LLM endpoint {self.endpoint} returned HTTP {exc.status_code}: "
            f"{_api_message(exc)}{hint.get(exc.status_code, '')}"
        )

    def _final_error(self, failure: Exception | None, attempts: int, schema: type) -> LLMError:
        if isinstance(failure, _InvalidReply):
            return LLMError(
                f"LLM {self.model!r} at {self.endpoint} gave no valid JSON for "
                f"{schema.__name__} after {attempts} attempts; last error: {failure}"
            )
        return LLMError(f"LLM endpoint {self.endpoint} failed after {attempts} attempts: {failure}")


def _normalize_base_url(base_url: str | None) -> str | None:
    """A bare host ("http://localhost:11434") means its OpenAI-compatible /v1 API."""
    if base_url and urlsplit(base_url).path.strip("/") == "":
        return base_url.rstrip("/") + "/v1"
    return base_url


def _parse(content: str, schema: type[T]) -> T:
    text = _extract_json_text(content)
    if not text:
        raise _InvalidReply("the reply was empty")
    try:
        return schema.model_validate_json(text)
    except ValidationError as exc:
        raise _InvalidReply(_describe(exc)) from exc


def _extract_json_text(content: str) -> str:
    """Strip what chat models wrap around JSON: think blocks, ``` fences, a sentence or two."""
    text = _THINK.sub("", content).strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    if text and not text.startswith(("{", "[")):
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            text = text[start : end + 1]
    return text


def _describe(exc: ValidationError) -> str:
    """A short error the model can act on (pydantic's default text carries doc URLs)."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "reply"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)[:_MAX_ERROR_CHARS]


def _correction_turns(content: str, exc: _InvalidReply) -> list[dict[str, str]]:
    return [
        {"role": "assistant", "content": content[:_MAX_ERROR_CHARS]},
        {
            "role": "user",
            "content": f"That reply was not valid: {exc}. Reply again with only the "
            "corrected JSON object, no other text.",
        },
    ]


def _api_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:_MAX_ERROR_CHARS]
        return json.dumps(body)[:_MAX_ERROR_CHARS]
    return str(exc.message)[:_MAX_ERROR_CHARS]
