"""Mask secrets (API keys, tokens, passwords, private keys) in trace data before it is judged or stored.

Traces carry whatever the agent saw: HTTP headers, tool arguments, environment dumps. Nothing that
looks like a credential should reach a judge endpoint, a database or a report, so every string is
masked by pattern and every value under a credential-like key is masked outright.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from agenteval.errors import ConfigError
from agenteval.models import Step, Trace

MASK = "[MASKED]"

# Known credential shapes. Each alternative is anchored so it does not bite into longer words.
_TOKEN_PATTERNS = (
    # PEM private key blocks, any key type.
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----",
    # Anthropic (sk-ant-...) and OpenAI (sk-..., sk-proj-..., sk-svcacct-...) keys.
    r"(?<![A-Za-z0-9_-])sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
    # AWS access key ids.
    r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
    # GitHub personal, OAuth, app and refresh tokens; fine-grained PATs.
    r"\bgh[pousr]_[A-Za-z0-9]{30,}\b",
    r"\bgithub_pat_[A-Za-z0-9_]{20,}",
    # Slack tokens.
    r"\bxox[baprs]-[A-Za-z0-9-]{10,}",
    # Google API keys.
    r"\bAIza[0-9A-Za-z_-]{35}",
    # Stripe secret and restricted keys.
    r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{10,}",
    # JSON Web Tokens: base64url header and payload (both JSON objects, so "eyJ"), then a signature.
    r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
)
_TOKENS = re.compile("|".join(f"(?:{p})" for p in _TOKEN_PATTERNS))
# "Bearer <token>" keeps the scheme word so the text still reads as an auth header.
_BEARER = re.compile(r"\b(Bearer\s+)([A-Za-z0-9._~+/-]{8,}=*)", re.IGNORECASE)
# The scheme prefix kept when a whole Authorization-like value is masked.
_AUTH_SCHEME = re.compile(r"^(Bearer|Basic|Token|Digest|Bot)\s+", re.IGNORECASE)
# Words of a key: "x-api-key" -> x, api, key; "accessToken" -> access, token.
_KEY_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")

_SECRET_LAST_WORDS = frozenset(
    {"password", "passwd", "pwd", "secret", "token", "authorization", "apikey", "passphrase"}
)
_SECRET_LAST_PAIRS = frozenset(
    {("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"), ("signing", "key")}
)


def is_secret_key(key: str) -> bool:
    """Whether a dict key names a credential (password, token, api_key, Authorization, ...).

    The key is split into words and judged by its last word or two, so ``access_token`` and
    ``x-api-key`` count while ``max_tokens`` and ``token_count`` do not.
    """
    words = [w.lower() for w in _KEY_WORDS.findall(key)]
    if not words:
        return False
    return words[-1] in _SECRET_LAST_WORDS or tuple(words[-2:]) in _SECRET_LAST_PAIRS


class SecretMasker:
    """Masks secrets in nested data; build once (patterns compile here) and call many times.

    Args:
        extra_patterns: Additional regular expressions whose matches are masked.

    Raises:
        ConfigError: an extra pattern is not a valid regular expression.
    """

    def __init__(self, extra_patterns: Iterable[str] = ()) -> None:
        self._extra: list[re.Pattern[str]] = []
        if isinstance(extra_patterns, str):
            extra_patterns = [extra_patterns]
        for pattern in extra_patterns:
            try:
                self._extra.append(re.compile(pattern))
            except re.error as exc:
                raise ConfigError(f"invalid secret pattern {pattern!r}: {exc}") from None

    def __call__(self, value: Any) -> Any:
        """A masked copy of ``value``: strings masked, dicts/lists/tuples copied recursively."""
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, dict):
            return {k: self._mask_item(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self(v) for v in value)
        return value

    def mask_text(self, text: str) -> str:
        """Mask every secret-shaped substring of one string."""
        text = _BEARER.sub(_mask_bearer, text)
        text = _TOKENS.sub(MASK, text)
        for pattern in self._extra:
            text = pattern.sub(MASK, text)
        return text

    def _mask_item(self, key: Any, value: Any) -> Any:
        if not (isinstance(key, str) and is_secret_key(key)):
            return self(value)
        if value is None or isinstance(value, bool) or value == "":
            return value
        if isinstance(value, str):
            scheme = _AUTH_SCHEME.match(value)
            return f"{scheme.group(1)} {MASK}" if scheme else MASK
        return MASK


def _mask_bearer(match: re.Match[str]) -> str:
    token = match.group(2)
    # "Bearer authentication" is prose, not a credential.
    if token.isalpha() and token.islower():
        return match.group(0)
    return f"{match.group(1)}{MASK}"


def mask_secrets(value: Any, extra_patterns: Iterable[str] = ()) -> Any:
    """A copy of ``value`` with secrets masked; the input is never modified.

    Strings are scanned for known credential shapes (OpenAI, Anthropic, AWS, GitHub, Slack, Google,
    Stripe keys, JWTs, ``Bearer`` tokens, PEM private keys) and the ``extra_patterns``; each match
    becomes ``[MASKED]`` (``Bearer [MASKED]`` for bearer tokens). In dicts, the whole value under a
    credential-like key (password, secret, token, api_key, authorization, access_key, private_key,
    ...) is masked.

    Raises:
        ConfigError: an extra pattern is not a valid regular expression.
    """
    return SecretMasker(extra_patterns)(value)


def mask_trace(trace: Trace, extra_patterns: Iterable[str] = ()) -> Trace:
    """A copy of ``trace`` with secrets masked in the task, expected outcome, metadata and every step's
    input, output, arguments, error message and metadata. The original trace is unchanged.

    Raises:
        ConfigError: an extra pattern is not a valid regular expression.
    """
    mask = SecretMasker(extra_patterns)
    return trace.model_copy(
        update={
            "task": mask.mask_text(trace.task),
            "expected_outcome": None if trace.expected_outcome is None else mask.mask_text(trace.expected_outcome),
            "metadata": mask(trace.metadata),
            "steps": [_mask_step(step, mask) for step in trace.steps],
        }
    )


def _mask_step(step: Step, mask: SecretMasker) -> Step:
    update: dict[str, Any] = {
        "input": mask(step.input),
        "output": mask(step.output),
        "arguments": mask(step.arguments),
        "metadata": mask(step.metadata),
    }
    if step.error is not None:
        update["error"] = step.error.model_copy(update={"message": mask.mask_text(step.error.message)})
    return step.model_copy(update=update)
