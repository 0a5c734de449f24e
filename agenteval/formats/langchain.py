"""Decoding shared by the LangSmith and Langfuse readers: LangChain and OpenAI messages, Python-repr tool
inputs, error texts and token counts (design/trace-formats.md §4.3, §4.5, §6 gotchas 4 and 7).

Messages come LangChain-serialised (``{"lc": 1, "type": "constructor", "id": [..., "AIMessage"],
"kwargs": {...}}``), as plain dicts with ``type: human|ai|tool|system``, as OpenAI chat dicts with
``role``, or as ``(role, text)`` pairs. Content that does not fit becomes text, never an error.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from typing import Any

from agenteval.errors import TraceError
from agenteval.formats.otel import json_text
from agenteval.formats.otlp import count
from agenteval.formats.spans import Msg, ToolCall, decode_args
from agenteval.models import ErrorInfo, Usage

__all__ = [
    "error_info",
    "fields_of",
    "ident",
    "message",
    "messages",
    "output_message",
    "parse_tool_input",
    "python_value",
    "usage_from",
]

_ROLES = {
    "human": "user", "user": "user", "ai": "assistant", "assistant": "assistant", "system": "system",
    "developer": "system", "tool": "tool", "function": "tool",
}
_CLASSES = {"HumanMessage": "user", "AIMessage": "assistant", "SystemMessage": "system", "ToolMessage": "tool",
            "FunctionMessage": "tool"}
_MAX_LITERAL = 200_000
_TRACEBACK = "Traceback (most recent call last)"
_REPR = re.compile(r"([A-Za-z_][\w.]*)\((.*)\)", re.DOTALL)
_PREFIXED = re.compile(r"([A-Za-z_][\w.]*(?:Error|Exception|Timeout|Exit|Interrupt)):\s*(.*)", re.DOTALL)
_IN_KEYS = ("input_tokens", "prompt_tokens", "input", "promptTokens")
_OUT_KEYS = ("output_tokens", "completion_tokens", "output", "completionTokens")
_CACHED = (("input_token_details", "cache_read"), ("prompt_tokens_details", "cached_tokens"),
           ("prompt_token_details", "cache_read"), ("cache_read_input_tokens",), ("input_cached_tokens",),
           ("input_cache_read",))


def ident(value: Any) -> str | None:
    """An id as a string (numbers too); None when missing, empty or not a scalar."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value).strip() or None


def python_value(text: str) -> Any:
    """A string holding a JSON or Python-literal object or list, parsed; any other string unchanged.

    LangChain records tool inputs as ``str(dict)`` (single quotes, ``True``/``None``). Parsing uses
    ``ast.literal_eval`` (no code runs), and the result is made plain JSON (tuples and sets become lists).
    """
    stripped = text.strip()
    if stripped[:1] not in ("{", "[", "(") or len(stripped) > _MAX_LITERAL:
        return text
    parsed, _ = decode_args(stripped)
    if parsed is not stripped:
        return parsed
    try:
        value = ast.literal_eval(stripped)
        return json.loads(json.dumps(value, default=lambda v: sorted(v, key=repr) if isinstance(v, (set, frozenset))
                                     else str(v)))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text


def parse_tool_input(value: Any) -> tuple[Any, str | None, str | None]:
    """Tool arguments as (parsed, raw string or None, call id or None).

    A string is parsed as JSON or a Python literal; a LangChain ``ToolCall`` (``type: tool_call``) gives
    its ``args`` and ``id``.
    """
    raw = value if isinstance(value, str) else None
    parsed = python_value(value) if isinstance(value, str) else value
    if isinstance(parsed, dict) and parsed.get("type") == "tool_call" and "args" in parsed:
        return parsed["args"], raw, ident(parsed.get("id"))
    return parsed, raw, None


def _literal_args(text: str) -> str:
    if not text.strip():
        return ""
    try:
        args = ast.literal_eval(f"({text},)") if len(text) <= _MAX_LITERAL else None
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        args = None
    if isinstance(args, tuple) and len(args) == 1:
        return str(args[0])
    return text if args is None else "; ".join(str(a) for a in args)


def error_info(text: Any) -> ErrorInfo:
    """An error from its text: ``repr(exc)`` (+ traceback), ``Type: message``, or ``Error: ...`` tool text."""
    text = text if isinstance(text, str) else json_text(text)
    head = text.split(_TRACEBACK, 1)[0].strip()
    if not head:  # only a traceback: its last line names the error
        head = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")
    first = head.splitlines()[0].strip() if head else ""
    body = first[len("Error:"):].strip() if first.startswith("Error:") else first
    match = _REPR.fullmatch(body)
    if match:
        return ErrorInfo(type=match.group(1), message=_literal_args(match.group(2)))
    match = _PREFIXED.fullmatch(body)
    if match:
        return ErrorInfo(type=match.group(1), message=match.group(2).strip())
    return ErrorInfo(message=first)


def _content(content: Any) -> tuple[str, str]:
    """(visible text, reasoning) of a message ``content``: a string or a list of parts."""
    if content is None:
        return "", ""
    if isinstance(content, str):
        return content, ""
    if not isinstance(content, list):
        return json_text(content), ""
    texts, reasoning = [], []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type") in ("thinking", "reasoning"):
            value = part.get("thinking", part.get("reasoning", part.get("text")))
            reasoning.append(value if isinstance(value, str) else json_text(value))
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
    return "\n".join(t for t in texts if t), "\n".join(r for r in reasoning if r)


def _call(raw: Any) -> ToolCall | None:
    if not isinstance(raw, dict):
        return None
    function = raw.get("function") if isinstance(raw.get("function"), dict) else raw
    args, args_raw = decode_args(function.get("args", function.get("arguments", function.get("input"))))
    return ToolCall(name=str(function.get("name") or ""), id=ident(raw.get("id")), args=args, args_raw=args_raw)


def _calls(fields: dict[str, Any]) -> list[ToolCall]:
    calls = fields.get("tool_calls")
    extra = fields.get("additional_kwargs") if isinstance(fields.get("additional_kwargs"), dict) else {}
    if not calls:
        calls = extra.get("tool_calls")
    legacy = extra.get("function_call", fields.get("function_call"))
    if not calls and isinstance(legacy, dict):
        calls = [{"function": legacy}]
    return [c for c in map(_call, calls if isinstance(calls, list) else []) if c is not None]


def fields_of(raw: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(class or type name, fields) of a LangChain-serialised or plain message dict."""
    kwargs = raw.get("kwargs")
    if raw.get("lc") == 1 and isinstance(kwargs, dict):
        path = raw.get("id")
        return (str(path[-1]) if isinstance(path, list) and path else ""), kwargs
    return str(raw.get("type") or ""), raw


def message(raw: Any, default_role: str = "user") -> Msg:
    """One message in any of the shapes above, normalised."""
    if isinstance(raw, (list, tuple)) and len(raw) == 2 and isinstance(raw[0], str) and raw[0].lower() in _ROLES:
        return Msg(role=_ROLES[raw[0].lower()], text=_content(raw[1])[0])
    if not isinstance(raw, dict):
        return Msg(role=default_role, text=raw if isinstance(raw, str) else json_text(raw))
    cls, fields = fields_of(raw)
    role = fields.get("role")
    if not isinstance(role, str) or not role:
        base = cls.removesuffix("Chunk")
        role = _CLASSES.get(base) or _ROLES.get(base.lower()) or default_role
    role = _ROLES.get(role.lower(), role)
    text, reasoning = _content(fields.get("content"))
    meta = fields.get("response_metadata") if isinstance(fields.get("response_metadata"), dict) else {}
    finish = meta.get("finish_reason", fields.get("finish_reason"))
    return Msg(role=role, text=text, reasoning=reasoning, tool_calls=_calls(fields),
               tool_call_id=ident(fields.get("tool_call_id")),
               finish_reason=finish if isinstance(finish, str) else None)


def messages(value: Any, where: str) -> list[Msg]:
    """A list of messages.

    Raises:
        TraceError: ``value`` is not a list (the message names ``where``).
    """
    if not isinstance(value, list):
        raise TraceError(f"{where}: expected a list of messages, got {type(value).__name__}")
    return [message(m) for m in value]


def output_message(outputs: dict[str, Any]) -> tuple[Msg | None, dict[str, Any] | None]:
    """The answer of a model call and its raw fields: ``generations[0][0]`` (LangChain), ``choices[0]``
    (OpenAI), or a message under ``output`` / ``message`` / the outputs themselves."""
    generations = outputs.get("generations")
    if isinstance(generations, list) and generations:
        first = generations[0]
        first = (first[0] if first else None) if isinstance(first, list) else first
        if not isinstance(first, dict):
            return None, None
        raw = first.get("message")
        msg = message(raw, "assistant") if raw is not None else Msg("assistant", _content(first.get("text"))[0])
        info = first.get("generation_info") if isinstance(first.get("generation_info"), dict) else {}
        if msg.finish_reason is None and isinstance(info.get("finish_reason"), str):
            msg.finish_reason = info["finish_reason"]
        return msg, fields_of(raw)[1] if isinstance(raw, dict) else {}
    choices = outputs.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        raw = choices[0].get("message", choices[0])
        msg = message(raw, "assistant")
        if msg.finish_reason is None and isinstance(choices[0].get("finish_reason"), str):
            msg.finish_reason = choices[0]["finish_reason"]
        return msg, fields_of(raw)[1] if isinstance(raw, dict) else {}
    for key in ("output", "message"):
        if isinstance(outputs.get(key), dict):
            return message(outputs[key], "assistant"), fields_of(outputs[key])[1]
        if isinstance(outputs.get(key), str):
            return Msg("assistant", outputs[key]), {}
    if "content" in outputs or "tool_calls" in outputs:
        return message(outputs, "assistant"), fields_of(outputs)[1]
    return None, None


def usage_from(candidates: Iterable[Any], where: str) -> Usage | None:
    """Token usage from the first candidate dict with input or output counts (all-zero means unknown).

    Raises:
        TraceError: a count is not a non-negative integer.
    """
    for cand in candidates:
        if not isinstance(cand, dict):
            continue

        def first(keys: tuple[str, ...], cand: dict[str, Any] = cand) -> int | None:
            return next((count(cand[k], f"{where}: {k}") for k in keys if cand.get(k) is not None), None)

        inp, out = first(_IN_KEYS), first(_OUT_KEYS)
        if not inp and not out:
            continue
        cached = None
        for path in _CACHED:
            node: Any = cand
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if node is not None:
                cached = count(node, f"{where}: {'.'.join(path)}")
                break
        return Usage(input_tokens=inp or 0, output_tokens=out or 0, cached_input_tokens=cached or 0)
    return None
