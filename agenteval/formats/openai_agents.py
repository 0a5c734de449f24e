"""OpenAI Agents SDK trace and span exports (design/trace-formats.md §4.4, §10).

The SDK exports ``Trace.export()`` / ``Span.export()`` objects (``object: "trace"`` / ``"trace.span"``) as
the ingest body ``{"data": [...]}``, a plain list, or JSON Lines from a custom processor. Spans come in end
order (children before parents); parents are restored from ``parent_id`` and steps ordered by start time.

What is particular to this format and handled here, before the shared rules of ``spans_to_trace``:

* function spans carry no tool call id: one whose arguments equal those of a pending call of the
  previous generation in its agent scope takes that call's id; the rest bind by name, then order (D2);
* a tool error is ``error: {"message": "Error running tool (non-fatal)", "data": {"tool_name", "error"}}``
  (the detail may be redacted; it is still an error); successful outputs are Python ``str(dict)``;
* ``response`` spans (Responses API) hold only a response id and usage, so those LLM steps are typed by
  structure (S6, ``content_inferred``); handoffs are EXECs named ``transfer_to_<agent>``;
* task and turn ``custom`` spans are containers whose usage is a roll-up (never counted); guardrail
  spans and everything run inside them are not agent steps.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from agenteval.errors import TraceError
from agenteval.formats.base import Document, FormatReader
from agenteval.formats.otel import parse_message
from agenteval.formats.otlp import as_dict, count
from agenteval.formats.spans import (
    Msg,
    RawSpan,
    decode_args,
    decode_json,
    map_target,
    ns_from_iso,
    settle,
    spans_to_trace,
)
from agenteval.mapping import SpanMapping
from agenteval.models import ErrorInfo, Tool, Trace, Usage

__all__ = ["READER", "detect", "handoff_tool_name", "parse", "parse_error", "parse_output"]

_OBJECTS = ("trace", "trace.span")
_AUX_TYPES = {"guardrail", "transcription", "speech", "speech_group", "mcp_tools"}
_KNOWN_TYPES = {*_AUX_TYPES, "generation", "response", "function", "handoff", "agent", "custom"}
_EXC_PREFIX = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Timeout|Exceeded))\s*:\s*")
_TIMEOUT = re.compile(r"time[ _-]?out|timed out|deadline", re.IGNORECASE)
_TOOL_FAILED = "An error occurred while running the tool"
_DETECT_HEAD = 50


def _items(document: Document) -> list[Any]:
    """The exported objects: ingest envelopes (``{"data": [...]}``) are opened, anything else kept."""
    items: list[Any] = []
    for item in document.items():
        data = item.get("data") if isinstance(item, dict) and "object" not in item else None
        items.extend(data if isinstance(data, list) else [item])
    return items


def _is_span(item: Any) -> bool:
    return isinstance(item, dict) and (
        item.get("object") == "trace.span" or ("object" not in item and isinstance(item.get("span_data"), dict)
                                               and "trace_id" in item)
    )


def detect(document: Document) -> bool:
    """Exported trace/span objects: every record is a trace or a span, and at least one is a span."""
    head = _items(document)[:_DETECT_HEAD]
    return (
        any(_is_span(i) for i in head)
        and all(_is_span(i) or (isinstance(i, dict) and i.get("object") in _OBJECTS) for i in head)
    )


def handoff_tool_name(agent: str) -> str:
    """The tool name the SDK gives a handoff to ``agent`` by default (``Handoff.default_tool_name``)."""
    return "transfer_to_" + re.sub(r"[^a-zA-Z0-9]", "_", agent).lower()


def parse_output(value: Any) -> Any:
    """A function span's output: parsed JSON, else a Python literal (``str(dict)``), else as given."""
    decoded = decode_json(value)
    if decoded is not value or not isinstance(value, str) or value.strip()[:1] not in ("{", "["):
        return decoded
    try:
        # literal_eval only builds literals (no names, calls or attribute access), so this is safe.
        return ast.literal_eval(value.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return value


def parse_error(raw: Any, where: str) -> ErrorInfo | None:
    """A span's ``error`` (``{"message", "data"}``) as ErrorInfo; the detail in ``data.error`` wins.

    The type is the exception name leading the detail (``"TimeoutError: ..."``, as the JS SDK writes it),
    else ``TimeoutError`` when the text says it timed out (the Python SDK keeps only ``str(exc)``).

    Raises:
        TraceError: ``error`` is neither an object, a string nor null.
    """
    if raw is None or raw == {}:
        return None
    if isinstance(raw, str):
        message, data = raw, None
    elif isinstance(raw, dict):
        message, data = raw.get("message"), raw.get("data")
    else:
        raise TraceError(f"{where}: error: expected an object, got {type(raw).__name__}")
    detail = data.get("error") if isinstance(data, dict) else None
    text = str(detail if detail not in (None, "") else message if message not in (None, "") else "error")
    match = _EXC_PREFIX.match(text)
    if match:
        return ErrorInfo(type=match.group(1), message=text[match.end():].strip() or text)
    return ErrorInfo(type="TimeoutError" if _TIMEOUT.search(text) else None, message=text)


def _messages(value: Any, where: str, default_role: str) -> list[Msg]:
    value = decode_json(value)
    if isinstance(value, str):
        return [Msg(role=default_role, text=value)]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise TraceError(f"{where}: expected a list of messages, got {type(value).__name__}")
    return [m for raw in value for m in parse_message(raw, default_role)]


def _usage(value: Any, where: str) -> Usage | None:
    usage = as_dict(value, where)
    if not usage:
        return None
    inp = count(usage.get("input_tokens", usage.get("prompt_tokens")), f"{where}.input_tokens")
    out = count(usage.get("output_tokens", usage.get("completion_tokens")), f"{where}.output_tokens")
    details = usage.get("input_tokens_details") or as_dict(usage.get("details"), f"{where}.details")
    cached = count(details.get("cached_tokens"), f"{where}: cached_tokens") if isinstance(details, dict) else None
    if inp is None and out is None:
        return None
    return Usage(input_tokens=inp or 0, output_tokens=out or 0, cached_input_tokens=cached or 0)


def _span_id(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TraceError(f"{where}: expected a string id, got {type(value).__name__}")
    return value


def _raw_span(item: dict[str, Any], seq: int, mapping: SpanMapping | None = None) -> RawSpan:
    span_id = _span_id(item.get("id"), f"span #{seq}: id")
    if span_id is None:
        raise TraceError(f"span #{seq}: missing id")
    where = f"span {span_id}"
    data = as_dict(item.get("span_data"), f"{where}: span_data")
    kind_raw = data.get("type")
    if not isinstance(kind_raw, str):
        raise TraceError(f"{where}: span_data.type: expected a string, got {type(kind_raw).__name__}")
    error = parse_error(item.get("error"), where)
    span = RawSpan(
        id=span_id, parent=_span_id(item.get("parent_id"), f"{where}: parent_id"), kind_raw=kind_raw,
        start_ns=ns_from_iso(item.get("started_at"), f"{where}: started_at"),
        end_ns=ns_from_iso(item.get("ended_at"), f"{where}: ended_at"), seq=seq,
        status="error" if error else "ok", error=error,
        attributes={"error": item["error"]} if item.get("error") else {},
    )
    name = data.get("name")
    span.name = str(name) if name is not None else kind_raw
    custom = data.get("data")
    target = map_target(mapping, span.name, data)
    # A custom span the SDK did not open itself (task, turn) is the user's own: no convention covers it.
    fallback = kind_raw not in _KNOWN_TYPES or (
        kind_raw == "custom" and not (isinstance(custom, dict) and custom.get("sdk_span_type")))
    if target is not None:
        span.kind = "chain" if target == "ignore" else "tool"
        if span.kind == "tool":  # its input and output, wherever the span keeps them
            inner = custom if isinstance(custom, dict) else {}
            value = data.get("input", inner.get("input"))
            span.tool_name = span.name
            span.tool_args, span.tool_args_raw = decode_args(value) if value is not None else (None, None)
            span.tool_result = parse_output(data.get("output", inner.get("output")))
    elif kind_raw == "generation":
        span.kind = "llm"
        model = data.get("model")
        span.model = str(model) if model else None
        span.usage = _usage(data.get("usage"), f"{where}: usage")
        inp, out = data.get("input"), data.get("output")
        span.inp = _messages(inp, f"{where}: input", "user") if inp is not None else []
        outs = _messages(out, f"{where}: output", "assistant") if out is not None else []
        span.out = next((m for m in outs if m.role == "assistant"), outs[0] if outs else None)
        span.content_missing = inp is None and out is None
        # trace_include_sensitive_data=False exports input and output as null.
        span.unrecorded = {k for k, v in (("input", inp), ("output", out)) if v is None}
        if data.get("model_config"):
            span.attributes["model_config"] = data["model_config"]
    elif kind_raw == "response":
        span.kind, span.content_missing = "llm", True
        span.unrecorded = {"input", "output", "arguments"}  # Responses API spans hold an id and usage only
        span.usage = _usage(data.get("usage"), f"{where}: usage")
        span.attributes["response_id"] = data.get("response_id")
    elif kind_raw == "function":
        span.kind, span.tool_name = "tool", str(name) if name is not None else None
        if data.get("input") is not None:
            span.tool_args, span.tool_args_raw = decode_args(data["input"])
        else:
            # trace_include_sensitive_data=False leaves both null. The SDK also writes a falsy output as
            # null, so a null output with recorded input is an empty result, not an unrecorded one.
            span.unrecorded = {"arguments"} | ({"output"} if data.get("output") is None else set())
        span.tool_result = parse_output(data.get("output"))
        output = data.get("output")
        if error is None and isinstance(output, str) and output.startswith(_TOOL_FAILED):
            span.status, span.error = "error", ErrorInfo(message=output)  # gotcha 7: a handled error
        if data.get("mcp_data"):
            span.attributes["mcp_data"] = data["mcp_data"]
    elif kind_raw == "handoff":
        to_agent = data.get("to_agent")
        span.kind = "tool"
        span.name = span.tool_name = handoff_tool_name(str(to_agent)) if to_agent else "transfer"
        span.tool_type = "handoff"
        span.tool_result = {"assistant": to_agent} if to_agent else None
        span.attributes.update(from_agent=data.get("from_agent"), to_agent=to_agent)
    elif kind_raw == "agent":
        span.kind, span.agent_name = "agent", span.name
    elif kind_raw == "custom":
        span.kind = "chain"  # task, turn or a user's own grouping span: a container
        if isinstance(custom, dict) and custom.get("sdk_span_type"):
            span.kind_raw = str(custom["sdk_span_type"])
    elif kind_raw == "guardrail":
        span.name = f"{span.name} (triggered)" if data.get("triggered") else span.name
    elif fallback:
        span.kind = "chain"  # an unknown type: reported as not mapped unless it holds steps
    # transcription, speech and mcp_tools stay auxiliary
    return settle(span, target, fallback)


def _catalog(items: list[dict[str, Any]]) -> list[Tool]:
    """Tool names listed on agent spans, plus the handoff tools the model could call."""
    found: dict[str, Tool] = {}
    for item in items:
        data = item.get("span_data")
        if not isinstance(data, dict) or data.get("type") != "agent":
            continue
        tools = data.get("tools") if isinstance(data.get("tools"), list) else []
        handoffs = data.get("handoffs") if isinstance(data.get("handoffs"), list) else []
        names = [t.get("name") if isinstance(t, dict) else t for t in tools]
        names += [handoff_tool_name(h) for h in handoffs if isinstance(h, str)]
        for name in names:
            if isinstance(name, str) and name:
                found.setdefault(name, Tool(name=name))
    return list(found.values())


def _without_guardrail_runs(spans: list[RawSpan]) -> list[RawSpan]:
    """Drop what ran inside guardrail spans (a guardrail agent's own calls are not agent steps)."""
    by_id = {s.id: s for s in spans}

    def inside(span: RawSpan) -> bool:
        seen, cur = set(), span.parent
        while cur in by_id and cur not in seen:
            if by_id[cur].kind_raw == "guardrail":
                return True
            seen.add(cur)
            cur = by_id[cur].parent
        return False

    return [s for s in spans if not inside(s)]


def _assign_call_ids(spans: list[RawSpan]) -> None:
    """Give a function span the id of the pending tool call of its scope with the same name and arguments."""
    by_id = {s.id: s for s in spans}

    def scope(span: RawSpan) -> str | None:
        seen, cur = set(), span.parent
        while cur in by_id and cur not in seen:
            if by_id[cur].kind == "agent":
                return cur
            seen.add(cur)
            cur = by_id[cur].parent
        return None

    timed = all(s.start_ns is not None for s in spans)
    pending: dict[str | None, list[Any]] = {}
    for span in sorted(spans, key=lambda s: (s.start_ns if timed else 0, s.seq)):
        if span.kind == "llm":
            pending[scope(span)] = [c for c in (span.out.tool_calls if span.out else []) if c.id]
        elif span.kind == "tool" and span.tool_call_id is None and span.tool_args is not None:
            calls = pending.get(scope(span), [])
            match = next((c for c in calls if c.name == span.tool_name and c.args == span.tool_args), None)
            if match is not None:
                calls.remove(match)
                span.tool_call_id, span.attributes["tool_call_id_from"] = match.id, "arguments"


def _trace(trace_id: str, record: dict[str, Any], items: list[tuple[int, dict[str, Any]]],
           mapping: SpanMapping | None = None) -> Trace | None:
    spans = _without_guardrail_runs([_raw_span(item, seq, mapping) for seq, item in items])
    if not any(s.kind in ("llm", "tool") for s in spans):
        return None
    _assign_call_ids(spans)
    trace = spans_to_trace(spans, trace_id=trace_id, format_name="openai-agents",
                           tools=_catalog([item for _, item in items]))
    extra = {k: record[k] for k in ("workflow_name", "group_id", "metadata") if record.get(k) is not None}
    errors = [{"span_id": s.id, "kind": s.kind_raw, "message": s.error.message}
              for s in spans if s.error is not None and s.kind not in ("llm", "tool")]
    if errors:
        extra["span_errors"] = errors  # e.g. "Max turns exceeded" on an agent span: no step carries it
    return trace.model_copy(update={"metadata": {**trace.metadata, **extra}})


def parse(document: Document, source: str, mapping: SpanMapping | None = None) -> list[Trace]:
    """Read every trace in an Agents SDK export (spans grouped by ``trace_id``, in order of appearance);
    ``mapping`` gives spans the user mapped a step type.

    Raises:
        TraceError: a record is not an object, or a span field has the wrong type (names the span and
            field); the error's source is ``source``.
    """
    records: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    try:
        for seq, item in enumerate(_items(document)):
            if not isinstance(item, dict):
                raise TraceError(f"record #{seq}: expected an object, got {type(item).__name__}")
            if item.get("object") == "trace":
                trace_id = _span_id(item.get("id"), f"trace record #{seq}: id")
                if trace_id is not None:
                    records.setdefault(trace_id, item)
                    groups.setdefault(trace_id, [])
                continue
            if not _is_span(item):
                continue  # other objects a processor may write (e.g. its own log lines)
            trace_id = _span_id(item.get("trace_id"), f"span #{seq}: trace_id")
            if trace_id is None:
                raise TraceError(f"span #{seq}: missing trace_id")
            groups.setdefault(trace_id, []).append((seq, item))
        traces = [_trace(tid, records.get(tid, {}), items, mapping) for tid, items in groups.items()]
    except TraceError as exc:
        raise TraceError(" ".join(exc.message.splitlines()), source=source) from None
    return [t for t in traces if t is not None]


READER = FormatReader(
    name="openai-agents",
    description="OpenAI Agents SDK trace/span exports ({\"data\": [...]}, a list, or JSON Lines)",
    detect=detect,
    parse=parse,
    mappable=True,
)
