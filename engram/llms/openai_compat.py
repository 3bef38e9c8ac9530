"""An LLM over any OpenAI-compatible chat endpoint: OpenAI, Ollama, vLLM, llama.cpp server.

Bounds (issue 14: a slow local model held every add for 3 x 60 s, then stored its echo of
the prompt's placeholders):
- every request carries an output-token limit (`max_tokens`, sized by the caller to its
  task, below config.max_tokens); a reply cut at that limit ("finish_reason": "length") is a
  model rambling, and fails at once;
- one deadline bounds the whole call, and the whole add it belongs to (`engram.deadline`):
  each request's timeout is what is left of it, at most config.timeout;
- only a failure the server certainly did not process is retried, after a backoff (or the
  server's Retry-After) that must fit in the deadline: connection refused, a connect
  timeout, HTTP 429 or 503. A request that timed out is NOT re-sent: the server may still
  be generating it, and a second copy would only queue behind the first. 500, 502, 504
  fail at once too;
- a reply with no JSON in it fails at once; a JSON reply that breaks the schema is retried
  with a follow-up turn quoting the validation error (within max_retries and the deadline);
- a 400 while sending optional parameters (response_format, temperature) is retried once
  without them and remembered, since many local servers reject them; a 400 asking for
  `max_completion_tokens` (OpenAI's reasoning models) switches the token parameter. Both
  are free. Any other 4xx (bad key, unknown model) fails at once.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
from typing import Any
from urllib.parse import urlsplit

import openai
from pydantic import ValidationError

from engram import deadline
from engram.config import LLMConfig
from engram.errors import InvalidInputError
from engram.llms.base import LLMError, T

log = logging.getLogger(__name__)

_OPTIONAL_PARAMS: dict[str, Any] = {"response_format": {"type": "json_object"}, "temperature": 0}
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```$", re.DOTALL)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)  # reasoning models served by Ollama/vLLM
_MAX_ERROR_CHARS = 1500
_NOT_PROCESSED = frozenset({429, 503})  # the server says it did not take the request on
_MAX_BACKOFF = 8.0


class _InvalidReply(ValueError):
    """The model answered JSON, but not valid for the schema: worth one correction."""


class _NoJSON(ValueError):
    """The model answered something with no JSON object in it: garbage, not a near miss."""


class _NotProcessed(Exception):
    """The request never reached the model; re-sending it duplicates no work."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OpenAICompatibleLLM:
    def __init__(self, config: LLMConfig, *, backoff: float = 0.5) -> None:
        if not config.model:
            raise InvalidInputError("an LLM needs a model name", field="llm.model")
        self.model = config.model
        self.max_retries = max(0, config.max_retries)
        self.max_tokens = max(1, config.max_tokens)
        self.timeout = config.timeout
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
        self._token_param = "max_tokens"  # or max_completion_tokens, if the server asks

    def complete_json(
        self, system: str, user: str, schema: type[T], *, max_tokens: int | None = None
    ) -> T:
        # outside an add, the call is its own budget; inside one, the add's budget rules
        with deadline.budget(self.timeout):
            return self._complete(system, user, schema, min(max_tokens or self.max_tokens,
                                                            self.max_tokens))  # fmt: skip

    def _complete(self, system: str, user: str, schema: type[T], max_tokens: int) -> T:
        if "json" not in (system + user).lower():  # OpenAI's JSON mode insists on the word
            system += "\n\nReply with a single JSON object."
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        attempts = 0
        while True:
            attempts += 1
            try:
                content, cut = self._chat(messages, max_tokens)
            except _NotProcessed as exc:
                self._wait_to_retry(exc, attempts)
                continue
            try:
                return _parse(content, schema)
            except (_NoJSON, _InvalidReply) as exc:
                self._check_worth_correcting(exc, cut, attempts, max_tokens, schema)
                messages = messages[:2] + _correction_turns(content, exc)

    def _check_worth_correcting(
        self, exc: Exception, cut: bool, attempts: int, max_tokens: int, schema: type
    ) -> None:
        """Raise LLMError unless the reply was a near miss worth a correction turn: not cut
        off at max_tokens (rambling), not free of JSON (garbage), with retries and time left."""
        where = f"LLM {self.model!r} at {self.endpoint}"
        if cut:
            raise LLMError(f"{where} was cut off at {max_tokens} output tokens with no valid "
                           f"reply: it rambled instead of answering ({exc})")  # fmt: skip
        if isinstance(exc, _NoJSON):
            raise LLMError(f"{where} answered no JSON for {schema.__name__}: {exc}")
        log.warning("LLM reply invalid for %s (attempt %d): %s", schema.__name__, attempts, exc)
        if attempts > self.max_retries or not deadline.remaining():
            raise LLMError(f"{where} gave no valid JSON for {schema.__name__} after {attempts} "
                           f"attempts; last error: {exc}")  # fmt: skip

    def _wait_to_retry(self, exc: _NotProcessed, attempts: int) -> None:
        """Sleep before re-sending a request the server did not take, or raise LLMError when
        retries are used up or the wait would not fit in the deadline."""
        wait = exc.retry_after
        if wait is None:
            wait = min(self.backoff * 2 ** (attempts - 1), _MAX_BACKOFF)
        left = deadline.remaining() or 0.0
        log.warning("LLM call to %s failed (attempt %d): %s", self.endpoint, attempts, exc)
        if attempts > self.max_retries:
            raise LLMError(f"LLM endpoint {self.endpoint} failed after {attempts} attempts: {exc}")
        if wait >= left:
            raise LLMError(f"LLM endpoint {self.endpoint} failed ({exc}); a retry in {wait:.1f} s "
                           f"would not fit in the {left:.1f} s left of the add's time budget")
        time.sleep(wait)

    def _request_timeout(self) -> float:
        left = deadline.remaining()
        if left is not None and left <= 0:
            raise LLMError(f"LLM endpoint {self.endpoint}: the add's time budget is spent")
        return self.timeout if left is None else min(self.timeout, left)

    def _chat(self, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, bool]:
        """One completion and whether it was cut at max_tokens; failures the server did not
        process become _NotProcessed."""
        timeout = self._request_timeout()
        try:
            return self._create(messages, max_tokens, timeout)
        except openai.BadRequestError as exc:
            if self._token_param == "max_tokens" and "max_completion_tokens" in str(exc.body):
                self._token_param = "max_completion_tokens"
                return self._chat(messages, max_tokens)
            if not self._send_optional:
                raise self._status_error(exc) from exc
            log.info(
                "%s rejected response_format/temperature (%s); retrying without them",
                self.endpoint,
                _api_message(exc),
            )
            self._send_optional = False
            return self._chat(messages, max_tokens)
        except openai.APITimeoutError as exc:
            if _cause_is(exc, "ConnectTimeout"):
                raise _NotProcessed(f"connect timed out after {timeout:.1f}s") from exc
            raise LLMError(
                f"LLM endpoint {self.endpoint} timed out after {timeout:.1f}s (not re-sent: "
                "the server may still be generating it)"
            ) from exc
        except openai.APIConnectionError as exc:
            if _cause_is(exc, "ConnectError"):
                raise _NotProcessed(f"connection failed: {exc.__cause__}") from exc
            raise LLMError(f"LLM endpoint {self.endpoint} dropped the request: {exc}") from exc
        except openai.APIStatusError as exc:
            if exc.status_code in _NOT_PROCESSED:
                raise _NotProcessed(f"HTTP {exc.status_code}: {_api_message(exc)}",
                                    _retry_after(exc.response)) from exc  # fmt: skip
            raise self._status_error(exc) from exc
        except openai.OpenAIError as exc:  # e.g. an unparseable response body
            raise LLMError(f"LLM endpoint {self.endpoint} failed: {exc}") from exc

    def _create(
        self, messages: list[dict[str, str]], max_tokens: int, timeout: float
    ) -> tuple[str, bool]:
        extra = dict(_OPTIONAL_PARAMS) if self._send_optional else {}
        extra[self._token_param] = max_tokens
        response = self._client.chat.completions.create(
            model=self.model,
            messages=messages,  # type: ignore[arg-type]
            timeout=timeout,
            **extra,
        )
        choices = getattr(response, "choices", None)  # a str when the body was not JSON
        if choices is None:
            raise LLMError(
                f"{self.endpoint} did not answer in the OpenAI chat-completions format "
                "(is base_url the server's OpenAI-compatible API, usually ending in /v1?)"
            )
        if not choices:
            return "", False
        return choices[0].message.content or "", choices[0].finish_reason == "length"

    def _status_error(self, exc: openai.APIStatusError) -> LLMError:
        hint = {401: " (check the API key)", 404: f" (is model {self.model!r} available?)"}
        return LLMError(
            f"LLM endpoint {self.endpoint} returned HTTP {exc.status_code}: "
            f"{_api_message(exc)}{hint.get(exc.status_code, '')}"
        )


def _cause_is(exc: Exception, name: str) -> bool:
    """Whether the HTTP library's error under `exc` is `name` (by name: the SDK has moved
    between httpx packages, and each has its own classes)."""
    return type(exc.__cause__).__name__ == name


def _retry_after(response: Any) -> float | None:
    """Retry-After in seconds (a number or an HTTP date), or None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _normalize_base_url(base_url: str | None) -> str | None:
    """A bare host ("http://localhost:11434") means its OpenAI-compatible /v1 API."""
    if base_url and urlsplit(base_url).path.strip("/") == "":
        return base_url.rstrip("/") + "/v1"
    return base_url


def _parse(content: str, schema: type[T]) -> T:
    text = _extract_json_text(content)
    if not text:
        raise _NoJSON("the reply was empty")
    if not text.startswith(("{", "[")):
        raise _NoJSON(f"the reply was {text[:200]!r}")
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
