"""The model client behind the LLM judge: any OpenAI-compatible endpoint, through the official client.

This is the only module that imports ``openai``. It adds what a judge needs on top of the client:
tiers tried in order (e.g. gpt-4o, then gpt-4o-mini, then a local llama-server), one bound on
concurrent requests, structured replies validated against a pydantic model, and a graceful way down
for servers without structured outputs (``json_schema`` -> ``json_object`` -> plain text parsed
tolerantly). Retries on 429/5xx/timeouts/connection errors are the ``openai`` client's own: they back
off exponentially with jitter and honour ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Literal, NamedTuple, TypeVar
from urllib.parse import urlsplit

import openai
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agenteval.errors import ConfigError, JudgeError
from agenteval.models import Usage

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
ResponseMode = Literal["json_schema", "json_object", "text"]
MODES: tuple[ResponseMode, ...] = ("json_schema", "json_object", "text")


class Tier(BaseModel):
    """One judge model endpoint. Tiers are tried in order until one answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="Model name, e.g. gpt-4o-mini.")
    base_url: str | None = Field(None, description="OpenAI-compatible base URL; None for OpenAI itself.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key.")
    timeout_s: float = Field(60.0, gt=0, description="Timeout of one HTTP request, in seconds.")
    max_retries: int = Field(2, ge=0, description="Retries on 429, 5xx, timeouts and connection errors.")
    llama_slots: int | None = Field(
        None, ge=1, description="llama-server slots (-np): requests carry id_slot = slot key mod this, and cache_prompt."
    )

    @property
    def label(self) -> str:
        """``model@host``, for messages."""
        host = urlsplit(self.base_url).netloc if self.base_url else "api.openai.com"
        return f"{self.model}@{host}"


class JsonReply(NamedTuple):
    """A validated structured reply and what it cost."""

    value: BaseModel
    usage: Usage
    model: str
    latency_s: float


class _TierFailed(Exception):
    """A tier could not produce a valid reply; the message is a short reason."""


class CallNotStarted(JudgeError):
    """``complete_json`` sent no request because its ``proceed`` check said no (e.g. a cost ceiling)."""


class LLMClient:
    """Structured chat completions over one or more tiers, with bounded concurrency.

    One ``openai.AsyncOpenAI`` per tier is created on first use and reused, so HTTP connections are
    kept alive; call ``aclose()`` when done. The client belongs to the event loop it is first used in.

    Args:
        tiers: Endpoints to try in order.
        concurrency: The most requests in flight at once, over all tiers.

    Raises:
        ConfigError: No tier, or a concurrency below 1.
    """

    def __init__(self, tiers: Sequence[Tier], *, concurrency: int = 8) -> None:
        if not tiers:
            raise ConfigError("no judge model configured")
        if concurrency < 1:
            raise ConfigError(f"judge concurrency must be at least 1, got {concurrency}")
        self.tiers: tuple[Tier, ...] = tuple(tiers)
        self.concurrency = concurrency
        self._clients: dict[int, openai.AsyncOpenAI] = {}
        self._modes: dict[int, int] = {}
        self._confirmed: set[int] = set()
        self._semaphore: asyncio.Semaphore | None = None

    def mode(self, tier: int = 0) -> ResponseMode:
        """The response format tier ``tier`` is asked for next (the last one that worked)."""
        return MODES[self._modes.get(tier, 0)]

    async def complete_json(
        self,
        messages: list[dict[str, Any]],
        schema_model: type[T],
        *,
        validate: Callable[[T], None] | None = None,
        first_tier: int = 0,
        proceed: Callable[[], bool] | None = None,
        slot: int | None = None,
    ) -> JsonReply:
        """Ask for a reply matching ``schema_model``, at temperature 0.

        Tiers are tried in order, starting at ``first_tier`` and wrapping around. Within a tier, an
        invalid reply (not JSON, failing the schema or ``validate``) is retried once.

        Args:
            messages: Chat messages.
            schema_model: The pydantic model the reply must validate against.
            validate: Extra check on the parsed reply; raises ``ValueError`` when it is invalid.
            first_tier: Index of the tier to try first (multi-judge spreads samples over tiers).
            proceed: Asked once a request slot is free, just before each request is sent; False
                sends nothing more. Asking here, not before queueing for a slot, is what lets a cost
                ceiling stop the calls that were already waiting.
            slot: A key of the prompt's static prefix (e.g. the step type's index). On a tier with
                ``llama_slots``, the request is pinned to llama-server slot ``slot % llama_slots``,
                so prompts sharing a prefix meet the slot that has it cached.

        Returns:
            The parsed reply, the tokens used by the tier that answered, its model and the seconds
            spent waiting on HTTP.

        Raises:
            CallNotStarted: ``proceed`` returned False.
            JudgeError: Every tier failed; the one-line message lists each tier and why.
        """
        order = [(first_tier + k) % len(self.tiers) for k in range(len(self.tiers))]
        failures = []
        for index in order:
            try:
                return await self._complete_on(index, messages, schema_model, validate, proceed, slot)
            except _TierFailed as failed:
                log.info("judge tier %s failed: %s", self.tiers[index].label, failed)
                failures.append(f"{self.tiers[index].label} ({failed})")
        raise JudgeError(f"judge model failed on {len(failures)} tier(s): " + "; ".join(failures))

    async def aclose(self) -> None:
        """Close the HTTP clients. The client can be used again (in a new event loop) afterwards."""
        clients, self._clients = list(self._clients.values()), {}
        self._semaphore = None
        for client in clients:
            await client.close()

    # -- internals ---------------------------------------------------------------------------------

    def _client(self, index: int) -> openai.AsyncOpenAI:
        if index not in self._clients:
            tier = self.tiers[index]
            key = os.environ.get(tier.api_key_env)
            if not key and tier.base_url is None:
                raise _TierFailed(f"{tier.api_key_env} is not set")
            self._clients[index] = openai.AsyncOpenAI(
                base_url=tier.base_url,
                api_key=key or "not-needed",  # local servers (llama-server, vLLM, Ollama) need none
                timeout=tier.timeout_s,
                max_retries=tier.max_retries,
            )
        return self._clients[index]

    async def _complete_on(
        self,
        index: int,
        messages: list[dict[str, Any]],
        schema_model: type[T],
        validate: Callable[[T], None] | None,
        proceed: Callable[[], bool] | None = None,
        slot: int | None = None,
    ) -> JsonReply:
        tier = self.tiers[index]
        # llama-server's own fields (what the openai client's extra_body would add): the slot that
        # holds this prefix, and keep the prompt cached there. Other servers never see them.
        pinned = (
            {"id_slot": slot % tier.llama_slots, "cache_prompt": True}
            if tier.llama_slots is not None and slot is not None
            else {}
        )
        client = self._client(index)
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        mode_index = self._modes.get(index, 0)
        usage, latency, invalid = Usage(), 0.0, 0
        while True:
            mode = MODES[mode_index]
            try:
                async with self._semaphore:
                    if proceed is not None and not proceed():
                        raise CallNotStarted("no request sent: stopped by the caller")
                    started = time.perf_counter()
                    try:
                        # The client's raw-body request (same retries, errors and parsing as
                        # chat.completions.create) skips create()'s per-call transform of typed params,
                        # a third of the client's CPU per request, for a body that needs none.
                        response = await client.post(
                            "/chat/completions",
                            body={"model": tier.model, "messages": messages, "temperature": 0,
                                  **_format_kwargs(mode, schema_model), **pinned},
                            cast_to=ChatCompletion,
                        )
                    finally:
                        latency += time.perf_counter() - started
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                # Servers without structured outputs answer 400/422; step down to a simpler format.
                # Once a format has worked on this tier, only an error naming it justifies that.
                if mode_index + 1 < len(MODES) and (index not in self._confirmed or _names_format(exc)):
                    log.info("%s rejected response_format %s; trying %s", tier.label, mode, MODES[mode_index + 1])
                    mode_index += 1
                    continue
                raise _TierFailed(_status_reason(exc)) from exc
            except openai.APITimeoutError as exc:
                raise _TierFailed(f"timed out after {tier.timeout_s:g}s, {tier.max_retries} retries") from exc
            except openai.APIConnectionError as exc:
                raise _TierFailed(f"connection failed: {_root_cause(exc)}") from exc
            except openai.APIStatusError as exc:
                raise _TierFailed(_status_reason(exc)) from exc
            except (openai.OpenAIError, ValueError) as exc:
                # A 200 whose body is not a chat completion (malformed JSON): an invalid reply.
                problem = f"unreadable response body ({type(exc).__name__})"
            else:
                usage = usage + _usage(response)
                try:
                    value = schema_model.model_validate(extract_json_object(_content(response)))
                    if validate is not None:
                        validate(value)
                except ValueError as exc:  # pydantic's ValidationError is a ValueError
                    problem = _describe(exc)
                else:
                    self._modes[index] = mode_index
                    self._confirmed.add(index)
                    return JsonReply(value, usage, tier.model, latency)
            invalid += 1
            log.info("%s gave an invalid reply (%s)", tier.label, problem)
            if invalid >= 2:
                raise _TierFailed(f"invalid reply twice: {problem}")


@lru_cache(maxsize=32)
def _strict_schema(schema_model: type[BaseModel]) -> tuple[str, bool]:
    """The JSON schema of ``schema_model`` made strict (as JSON text, to keep the cache immutable)."""
    try:
        from openai.lib._pydantic import to_strict_json_schema
    except ImportError:  # pragma: no cover - private helper moved; send the plain schema, not strict
        return json.dumps(schema_model.model_json_schema()), False
    return json.dumps(to_strict_json_schema(schema_model)), True


def _format_kwargs(mode: ResponseMode, schema_model: type[BaseModel]) -> dict[str, Any]:
    if mode == "json_schema":
        schema, strict = _strict_schema(schema_model)
        spec = {"name": schema_model.__name__, "schema": json.loads(schema), "strict": strict}
        return {"response_format": {"type": "json_schema", "json_schema": spec}}
    if mode == "json_object":
        return {"response_format": {"type": "json_object"}}
    return {}


_FORMAT_WORDS = re.compile(r"response_format|json_schema|json_object|structured|schema|grammar", re.IGNORECASE)


def _names_format(exc: openai.APIStatusError) -> bool:
    return bool(_FORMAT_WORDS.search(f"{exc.message} {exc.body}"))


def _status_reason(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    message = body.get("message") if isinstance(body, dict) else None
    return f"HTTP {exc.status_code}: {_one_line(message or exc.message)}"


def _content(response: Any) -> str:
    if isinstance(response, str):
        raise ValueError("reply is not a chat completion")
    choices = getattr(response, "choices", None)
    if not choices:
        raise ValueError("reply has no choices")
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if not content:
        refusal = getattr(message, "refusal", None)
        raise ValueError(f"model refused: {_one_line(refusal)}" if refusal else "reply has no content")
    return str(content)


def _usage(response: Any) -> Usage:
    usage = getattr(response, "usage", None)
    if usage is None:
        return Usage()  # some local servers omit usage

    def count(value: Any) -> int:
        return max(0, int(value or 0))

    details = getattr(usage, "prompt_tokens_details", None)
    return Usage(
        input_tokens=count(getattr(usage, "prompt_tokens", 0)),
        output_tokens=count(getattr(usage, "completion_tokens", 0)),
        cached_input_tokens=count(getattr(details, "cached_tokens", 0)),
    )


_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)


def extract_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in a model's text: inside code fences, after reasoning tags, or bare.

    Raises:
        ValueError: No JSON object in the text.
    """
    text = _THINK.sub("", text)
    decoder = json.JSONDecoder()
    for candidate in [*(m.group(1) for m in _FENCE.finditer(text)), text]:
        start = candidate.find("{")
        tries = 0
        while start != -1 and tries < 50:  # bounded: prose full of braces must not go quadratic
            try:
                value, _ = decoder.raw_decode(candidate, start)
            except ValueError:
                value = None
            if isinstance(value, dict):
                return value
            start = candidate.find("{", start + 1)
            tries += 1
    raise ValueError("reply holds no JSON object")


def _describe(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc']) or 'reply'}: {e['msg']}" for e in exc.errors()[:3]]
        return _one_line("; ".join(parts))
    return _one_line(str(exc))


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return _one_line(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def _one_line(text: object, limit: int = 160) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
