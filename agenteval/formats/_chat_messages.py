"""Decoding the parts of OpenAI chat messages, for ``agenteval.formats.openai_chat``.

Roles, the visible text of a message's content, tool calls and their arguments, the error a tool
result reports (there is no error field in chat transcripts, so it is inferred from the text), and
the tool catalog. Nothing here builds steps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agenteval.models import ErrorInfo, Tool

_ERROR_START = re.compile(r"^\s*(?:error\b|traceback\b|exception\b)", re.IGNORECASE)
_ERROR_TYPE = re.compile(r"^\s*(?i:error:\s*)?([A-Za-z_][\w.]*(?:Error|Exception|Timeout))\b")
ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "tool": "tool",
    "function": "tool",
}


def content_text(content: Any) -> str:
    """The visible text of a message's content (a string, null, or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, dict):  # Responses-style {"text": {"value": ...}}
                    text = text.get("value")
                if isinstance(text, str):
                    parts.append(text)
                elif isinstance(part.get("refusal"), str):
                    parts.append(part["refusal"])
        return "\n".join(parts)
    return json.dumps(content, default=str)


def parse_arguments(raw: Any) -> Any:
    """Tool arguments as parsed JSON when they are a JSON string; anything else as given."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def tool_error(content: Any) -> ErrorInfo | None:
    """The error a tool result reports, by the heuristics of §4.6; None when it looks fine."""
    text = content_text(content) if not isinstance(content, dict) else ""
    payload: Any = content if isinstance(content, dict) else None
    if payload is None and text.lstrip().startswith("{"):
        try:
            payload = json.loads(text)
        except json.JSONDecodeError:
            payload = None
    if isinstance(payload, dict) and payload.get("error"):
        error = payload["error"]
        if isinstance(error, dict):
            return ErrorInfo(type=error.get("type"), message=str(error.get("message", error)))
        return ErrorInfo(message=str(error))
    if _ERROR_START.match(text) or text.lstrip().startswith("ERROR:"):
        match = _ERROR_TYPE.match(text)
        return ErrorInfo(type=match.group(1) if match else None, message=text.strip()[:2000])
    return None


@dataclass
class ToolCall:
    """One tool call of an assistant message."""

    id: str | None
    name: str | None
    raw_arguments: Any
    arguments: Any


def tool_calls(message: Mapping[str, Any]) -> list[ToolCall]:
    """The tool calls of an assistant message (``tool_calls``, else the legacy ``function_call``)."""
    calls = []
    for call in message.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        function = call.get("function") if isinstance(call.get("function"), dict) else call
        raw = function.get("arguments", function.get("input"))
        calls.append(ToolCall(call.get("id"), function.get("name"), raw, parse_arguments(raw)))
    legacy = message.get("function_call")
    if isinstance(legacy, dict) and not calls:
        raw = legacy.get("arguments")
        calls.append(ToolCall(None, legacy.get("name"), raw, parse_arguments(raw)))
    return calls


def is_parts(content: Any) -> bool:
    """True when content is a list of typed parts (``[{"type": "text", ...}]``)."""
    return isinstance(content, list) and all(isinstance(p, dict) and "type" in p for p in content)


def tool_catalog(tools: Iterable[Any] | None) -> list[Tool]:
    """Tools from OpenAI ``{"type": "function", "function": {...}}`` specs (or Tools); others are skipped."""
    catalog = []
    for spec in tools or []:
        if isinstance(spec, Tool):
            catalog.append(spec)
            continue
        if not isinstance(spec, dict):
            continue
        function = spec.get("function") if isinstance(spec.get("function"), dict) else spec
        if not function.get("name"):
            continue
        catalog.append(
            Tool(
                name=function["name"],
                description=function.get("description") or "",
                parameters=function.get("parameters") or function.get("input_schema"),
            )
        )
    return catalog
