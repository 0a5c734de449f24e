"""Make a trace safe to judge, store and export: secrets masked, values bounded.

Traces carry whatever the agent saw: HTTP headers, tool arguments, environment dumps, connection
strings. Nothing that looks like a credential may reach a judge endpoint, the database or an export,
so every string of every field is scanned (gitleaks' rule set plus agenteval's own rules, see
:mod:`agenteval.secret_rules`), every value under a credential-named key is masked outright, and
integers that are card numbers are masked too.

The same single pass bounds what the rest of the pipeline must handle, so no later step (prompts,
rules, JSON storage) meets a value it cannot serialise:

- values nested deeper than :data:`MAX_DEPTH` levels are cut there and replaced by :data:`CUT`;
- integers too large to print (Python refuses past 4,300 digits) become a short marker;
- lone surrogates (invalid UTF-8, e.g. from a ``"\\ud800"`` escape) become U+FFFD.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from agenteval.models import Step, Tool, Trace
from agenteval.secret_rules import MIN_TEXT, Finding, SecretScanner, card_number, is_secret_key

__all__ = ["CUT", "MASK", "MAX_DEPTH", "SecretMasker", "is_secret_key", "mask_secrets", "mask_trace"]

MASK = "[MASKED]"
#: Nesting levels kept inside one field (a step's input, output, arguments or metadata).
MAX_DEPTH = 64
#: What replaces a value nested deeper than :data:`MAX_DEPTH`.
CUT = f"[cut: nested deeper than {MAX_DEPTH} levels]"
#: Integers wider than this many bits (about 300 digits) are replaced by a marker.
MAX_INT_BITS = 1000

#: The kind counted when a value is masked because of its key.
KEY_KIND = "credential-named-key"
# The scheme prefix kept when a whole Authorization-like value is masked.
_AUTH_SCHEME = re.compile(r"^(Bearer|Basic|Token|Digest|Bot)\s+", re.IGNORECASE)
_SURROGATE = re.compile("[\ud800-\udfff]")
# JSON Schema keywords whose members are names (property names, definition names), not keywords.
_NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
# Keywords of a property's schema that hold literal values of that property.
_LITERALS = frozenset({"default", "const", "enum", "examples", "example"})


def clean_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD, so it can be written as UTF-8."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


class SecretMasker:
    """Masks secrets in nested data and bounds it; build once (rules compile here), call many times.

    Args:
        extra_patterns: Additional regular expressions whose matches are masked.

    Raises:
        ConfigError: an extra pattern is not a valid regular expression.
    """

    def __init__(self, extra_patterns: Iterable[str] = ()) -> None:
        self._scanner = SecretScanner(extra_patterns)
        self._has_extra = self._scanner.has_extra

    def __call__(self, value: Any, tally: Counter | None = None) -> Any:
        """A masked, bounded copy of ``value``: strings masked, dicts/lists/tuples copied.

        Args:
            value: any JSON-like value.
            tally: if given, counts each masked value by the kind of secret that masked it.
        """
        return self._value(value, 0, tally)

    def mask_text(self, text: str, tally: Counter | None = None) -> str:
        """Mask every secret-shaped substring of one string (and replace lone surrogates)."""
        text = clean_text(text)
        if len(text) < MIN_TEXT and not self._has_extra:
            return text
        found = self._scanner.find(text)
        if not found:
            return text
        return _masked(text, found, tally)

    def schema(self, value: Any, tally: Counter | None = None) -> Any:
        """A masked, bounded copy of a tool's JSON Schema.

        Property names are names, not credential keys: ``{"password": {"type": "string"}}`` keeps its
        schema, while literal values of such a property (``default``, ``enum``, ``examples``, ...) are
        masked. Every string (descriptions included) is scanned as usual.
        """
        return self._schema(value, 0, tally, secret_property=False)

    # ----------------------------------------------------------------------------------- walking

    def _value(self, value: Any, depth: int, tally: Counter | None) -> Any:
        if isinstance(value, str):
            return self.mask_text(value, tally)
        if value is None or isinstance(value, (bool, float)):
            return value
        if isinstance(value, int):
            return self._int(value, tally)
        if isinstance(value, dict):
            if depth >= MAX_DEPTH:
                return CUT
            return {self._key(k, tally): self._item(k, v, depth + 1, tally) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            if depth >= MAX_DEPTH:
                return CUT
            items = [self._value(v, depth + 1, tally) for v in value]
            return tuple(items) if isinstance(value, tuple) else items
        return value

    def _key(self, key: Any, tally: Counter | None) -> Any:
        return self.mask_text(key, tally) if isinstance(key, str) else key

    def _item(self, key: Any, value: Any, depth: int, tally: Counter | None) -> Any:
        if not (isinstance(key, str) and is_secret_key(key)):
            return self._value(value, depth, tally)
        if value is None or isinstance(value, bool) or value == "":
            return value
        if tally is not None:
            tally[KEY_KIND] += 1
        if isinstance(value, str):
            scheme = _AUTH_SCHEME.match(value)
            return f"{scheme.group(1)} {MASK}" if scheme else MASK
        return MASK

    def _int(self, value: int, tally: Counter | None) -> Any:
        if value.bit_length() > MAX_INT_BITS:
            return f"[cut: integer of {value.bit_length()} bits]"
        if 10**12 <= abs(value) < 10**19 and card_number(str(abs(value))):
            if tally is not None:
                tally["card-number"] += 1
            return MASK
        return value

    def _schema(self, value: Any, depth: int, tally: Counter | None, secret_property: bool) -> Any:
        if not isinstance(value, dict):
            if isinstance(value, list) and depth < MAX_DEPTH:
                return [self._schema(v, depth + 1, tally, False) for v in value]
            return self._value(value, depth, tally)
        if depth >= MAX_DEPTH:
            return CUT
        copy: dict[Any, Any] = {}
        for key, item in value.items():
            if key in _NAMED_SCHEMAS and isinstance(item, dict) and depth + 1 < MAX_DEPTH:
                copy[key] = {
                    self._key(name, tally): self._schema(sub, depth + 2, tally, isinstance(name, str) and is_secret_key(name))
                    for name, sub in item.items()
                }
            elif secret_property and key in _LITERALS:
                if tally is not None:
                    tally[KEY_KIND] += 1
                copy[key] = [MASK] * len(item) if isinstance(item, list) else MASK
            else:
                copy[self._key(key, tally)] = self._schema(item, depth + 1, tally, False)
        return copy


def _masked(text: str, found: list[Finding], tally: Counter | None) -> str:
    """``text`` with each secret replaced by :data:`MASK`; overlapping findings merge into one mask,
    counted once under the kind of the finding that starts it."""
    out: list[str] = []
    position = 0
    for finding in sorted(found, key=lambda f: (f.start, -f.end)):
        if finding.start < position:  # overlaps the span just masked: extend it
            position = max(position, finding.end)
            continue
        out.append(text[position : finding.start])
        out.append(MASK)
        position = finding.end
        if tally is not None:
            tally[finding.kind] += 1
    out.append(text[position:])
    return "".join(out)


def mask_secrets(value: Any, extra_patterns: Iterable[str] = ()) -> Any:
    """A copy of ``value`` with secrets masked; the input is never modified.

    Strings are scanned with gitleaks' rules and agenteval's own (cloud keys, tokens, JWTs, bearer
    tokens, PEM private keys, passwords in URLs, credential assignments, Luhn-valid card numbers)
    plus ``extra_patterns``; each secret becomes ``[MASKED]`` (``Bearer [MASKED]`` keeps the scheme).
    In dicts, the whole value under a credential-like key (password, secret, token, api_key,
    authorization, access_key, private_key, ...) is masked.

    Raises:
        ConfigError: an extra pattern is not a valid regular expression.
    """
    return SecretMasker(extra_patterns)(value)


def mask_trace(
    trace: Trace, extra_patterns: Iterable[str] = (), *, masker: SecretMasker | None = None, tally: Counter | None = None
) -> Trace:
    """A copy of ``trace`` that is safe to judge, store and export; the original is unchanged.

    Secrets are masked in every field that carries content: the task, expected outcome and metadata,
    each tool's description and parameter schema, and each step's input, output, arguments, error
    and metadata. Those values are also bounded (:data:`MAX_DEPTH`, huge integers, lone
    surrogates), and ids and names are cleaned of lone surrogates.

    Args:
        trace: the trace as read.
        extra_patterns: additional regular expressions to mask.
        masker: a masker built once and reused (``extra_patterns`` is then ignored).
        tally: if given, counts masked values by kind.

    Raises:
        ConfigError: an extra pattern is not a valid regular expression.
    """
    mask = masker or SecretMasker(extra_patterns)
    return trace.model_copy(
        update={
            "id": clean_text(trace.id),
            "task": mask.mask_text(trace.task, tally),
            "expected_outcome": None if trace.expected_outcome is None else mask.mask_text(trace.expected_outcome, tally),
            "tools": [_mask_tool(tool, mask, tally) for tool in trace.tools],
            "metadata": mask(trace.metadata, tally),
            "steps": [_mask_step(step, mask, tally) for step in trace.steps],
        }
    )


def _mask_tool(tool: Tool, mask: SecretMasker, tally: Counter | None) -> Tool:
    return tool.model_copy(
        update={
            "name": clean_text(tool.name),
            "description": mask.mask_text(tool.description, tally),
            "parameters": None if tool.parameters is None else mask.schema(tool.parameters, tally),
        }
    )


def _name(value: str | None) -> str | None:
    return None if value is None else clean_text(value)


def _mask_step(step: Step, mask: SecretMasker, tally: Counter | None) -> Step:
    update: dict[str, Any] = {
        "id": clean_text(step.id),
        "parents": [clean_text(p) for p in step.parents],
        "agent": _name(step.agent),
        "tool": _name(step.tool),
        "tool_call_id": _name(step.tool_call_id),
        "model": _name(step.model),
        "input": mask(step.input, tally),
        "output": mask(step.output, tally),
        "arguments": mask(step.arguments, tally),
        "metadata": mask(step.metadata, tally),
    }
    if step.error is not None:
        update["error"] = step.error.model_copy(
            update={"type": _name(step.error.type), "message": mask.mask_text(step.error.message, tally)}
        )
    return step.model_copy(update=update)
