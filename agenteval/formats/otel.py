"""OpenTelemetry GenAI semantic conventions over OTLP/JSON (design/trace-formats.md §4.1).

Reads message content from every place the conventions have put it: ``gen_ai.input.messages`` /
``gen_ai.output.messages`` attributes (JSON strings or structured values), span events (``gen_ai.content.*``
of semconv <= 1.27, per-message ``gen_ai.*.message`` / ``gen_ai.choice`` events, and log records joined
with ``join_logs``), and the flattened ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` attributes of
OpenLLMetry. Spans without content are typed by structure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from agenteval.errors import TraceError
from agenteval.formats.base import Document, FormatReader, collect_traces
from agenteval.formats.otlp import SpanRecord, by_trace, count, is_otlp, iter_records, raw_spans, unflatten
from agenteval.formats.otlp_logs import join_logs
from agenteval.formats.spans import (
    Msg,
    RawSpan,
    ToolCall,
    decode_args,
    decode_json,
    map_target,
    mapped_kind,
    settle,
    spans_to_trace,
)
from agenteval.mapping import SpanMapping
from agenteval.models import Tool, Trace, Usage

__all__ = ["READER", "detect", "join_logs", "json_text", "parse", "parse_message", "parse_spans", "tool_catalog"]

_LLM_OPS = {"chat", "text_completion", "generate_content", "completion"}
_KIND_BY_OP = {"execute_tool": "tool", "invoke_agent": "agent", "invoke_workflow": "chain"}
_TRACELOOP_KINDS = {"agent": "agent", "tool": "tool", "workflow": "chain", "task": "chain"}
_MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_CONTENT_KEYS = (
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.tool.definitions",
    "gen_ai.prompt", "gen_ai.completion", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
    "traceloop.entity.input", "traceloop.entity.output",
)


#: Span attributes that mark another convention's spans, read by its own reader.
OTHER_CONVENTIONS = ("openinference.span.kind", "langfuse.observation.type")


def _other_convention(span: dict[str, Any], keys: tuple[str, ...] = OTHER_CONVENTIONS) -> bool:
    attrs = span.get("attributes")
    if isinstance(attrs, list):
        return any(isinstance(a, dict) and a.get("key") in keys for a in attrs)
    return isinstance(attrs, dict) and any(k in attrs for k in keys)


def has_openinference_spans(document: Document) -> bool:
    """Whether any span of an OTLP document carries ``openinference.span.kind``."""
    return any(_other_convention(span, ("openinference.span.kind",)) for span in raw_spans(document))


def detect(document: Document) -> bool:
    """OTLP/JSON traces (``resourceSpans``) whose spans follow neither OpenInference nor Langfuse."""
    return is_otlp(document) and not any(_other_convention(span) for span in raw_spans(document))


def _text(content: Any) -> str:
    """Visible text of a message ``content``: a string, or the text parts of a list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = (_text(p.get("text", p.get("content"))) if isinstance(p, dict) else _text(p) for p in content)
        return "\n".join(t for t in texts if t)
    return json_text(content)


def json_text(value: Any) -> str:
    """A tool result or other structured value as text: strings as they are, the rest as compact JSON."""
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _id(value: Any) -> str | None:
    # The upstream docs example has a leading space in a call id (gotcha 4).
    return (str(value).strip() or None) if value is not None else None


def _tool_call(raw: Any) -> ToolCall | None:
    if not isinstance(raw, dict):
        return None
    function = raw.get("function") if isinstance(raw.get("function"), dict) else raw
    args, args_raw = decode_args(function.get("arguments", function.get("args")))
    return ToolCall(name=str(function.get("name") or ""), id=_id(raw.get("id")), args=args, args_raw=args_raw)


def parse_message(raw: Any, default_role: str = "user") -> list[Msg]:
    """One message in the GenAI ``parts`` schema or the OpenAI chat shape, as normalised messages.

    A message answering several tool calls becomes one tool message per call.
    """
    if not isinstance(raw, dict):
        return [Msg(role=default_role, text=_text(raw))]
    role = str(raw.get("role") or default_role)
    texts, reasoning, calls, answers = [], [], [], []
    parts = decode_json(raw.get("parts"))
    if isinstance(parts, list):
        for part in (p for p in parts if isinstance(p, dict)):
            kind = part.get("type")
            if kind == "text":
                texts.append(_text(part.get("content")))
            elif kind == "reasoning":
                reasoning.append(_text(part.get("content")))
            elif kind == "tool_call":
                calls.append(_tool_call(part))
            elif kind == "tool_call_response":
                answers.append((_id(part.get("id")), part.get("response", part.get("result"))))
    else:
        texts.append(_text(raw.get("content")))
        tool_calls = decode_json(raw.get("tool_calls"))
        calls.extend(_tool_call(c) for c in (tool_calls if isinstance(tool_calls, list) else []))
        if role == "tool":
            answers.append((_id(raw.get("tool_call_id", raw.get("id"))), raw.get("content")))
    if answers:
        return [Msg(role="tool", text=json_text(answer), tool_call_id=call_id) for call_id, answer in answers]
    finish = raw.get("finish_reason")
    return [Msg(role=role, text="\n".join(t for t in texts if t), reasoning="\n".join(r for r in reasoning if r),
                tool_calls=[c for c in calls if c is not None], tool_call_id=_id(raw.get("tool_call_id")),
                finish_reason=finish if isinstance(finish, str) else None)]


def _messages(value: Any, where: str, default_role: str) -> list[Msg]:
    value = decode_json(value)
    if isinstance(value, dict):
        value = value.get("messages", [value])
    if not isinstance(value, list):
        raise TraceError(f"{where}: expected a list of messages, got {type(value).__name__}")
    return [m for raw in value for m in parse_message(raw, default_role)]


def _event_body(attrs: dict[str, Any]) -> dict[str, Any]:
    body = decode_json(attrs.get("gen_ai.event.body", attrs.get("gen_ai.event.content")))
    return {**attrs, **body} if isinstance(body, dict) else attrs


def _from_events(rec: SpanRecord) -> tuple[list[Msg] | None, Msg | None]:
    """Content from span events: semconv <= 1.27 ``gen_ai.content.*``, per-message events, or details."""
    inp: list[Msg] | None = None
    out: Msg | None = None
    for event in rec.events:
        attrs, where = event.attributes, f"{rec.where}: event {event.name}"
        if event.name == "gen_ai.content.prompt" and "gen_ai.prompt" in attrs:
            inp = _messages(attrs["gen_ai.prompt"], f"{where}: gen_ai.prompt", "user")
        elif event.name == "gen_ai.content.completion" and "gen_ai.completion" in attrs:
            out = next(iter(_messages(attrs["gen_ai.completion"], f"{where}: gen_ai.completion", "assistant")), out)
        elif event.name == "gen_ai.client.inference.operation.details":
            if "gen_ai.input.messages" in attrs:
                inp = _messages(attrs["gen_ai.input.messages"], f"{where}: gen_ai.input.messages", "user")
            if "gen_ai.output.messages" in attrs:
                out = next(iter(_messages(attrs["gen_ai.output.messages"], where, "assistant")), out)
        elif event.name in _MESSAGE_EVENTS:
            body = _event_body(attrs)
            raw = {"role": _MESSAGE_EVENTS[event.name], "content": body.get("content"),
                   "tool_calls": body.get("tool_calls"), "tool_call_id": body.get("id")}
            inp = (inp or []) + parse_message(raw)
        elif event.name == "gen_ai.choice" and out is None:
            body = _event_body(attrs)
            message = decode_json(body.get("message"))
            message = message if isinstance(message, dict) else {"content": message}
            out = parse_message({"role": "assistant", **message, "finish_reason": body.get("finish_reason")})[0]
    return inp, out


def _llm_content(rec: SpanRecord) -> tuple[list[Msg] | None, Msg | None]:
    attrs, where = rec.attributes, rec.where
    inp: list[Msg] | None = None
    out: Msg | None = None
    if "gen_ai.input.messages" in attrs:
        inp = _messages(attrs["gen_ai.input.messages"], f"{where}: gen_ai.input.messages", "user")
        system = attrs.get("gen_ai.system_instructions")
        if system is not None:
            inp = [Msg(role="system", text=_text(decode_json(system)))] + inp
    if "gen_ai.output.messages" in attrs:
        out = next(iter(_messages(attrs["gen_ai.output.messages"], f"{where}: gen_ai.output.messages", "assistant")),
                   None)
    ev_inp, ev_out = _from_events(rec)
    inp, out = inp if inp is not None else ev_inp, out if out is not None else ev_out
    legacy = unflatten({k: v for k, v in attrs.items() if k.startswith(("gen_ai.prompt", "gen_ai.completion"))})
    legacy = legacy.get("gen_ai", {}) if isinstance(legacy, dict) else {}
    for key, default in (("prompt", "user"), ("completion", "assistant")):
        value = legacy.get(key)
        if isinstance(value, dict) and "" in value:  # "gen_ai.prompt" as one JSON attribute
            value = value[""]
        if value is None or (key == "prompt" and inp is not None) or (key == "completion" and out is not None):
            continue
        found = _messages(value, f"{where}: gen_ai.{key}", default)
        if key == "prompt":
            inp = found
        else:
            out = found[0] if found else None
    return inp, out


def _usage(attrs: dict[str, Any], where: str) -> Usage | None:
    def first(*keys: str) -> int | None:
        return next((count(attrs[k], f"{where}: {k}") for k in keys if attrs.get(k) is not None), None)

    inp = first("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    out = first("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
    cached = first("gen_ai.usage.cache_read.input_tokens")
    if inp is None and out is None:
        return None
    return Usage(input_tokens=inp or 0, output_tokens=out or 0, cached_input_tokens=cached or 0)


def tool_catalog(value: Any) -> list[Tool]:
    """Tool definitions (OpenAI ``{"type": "function", "function": {...}}`` or flat ``{name, ...}``) as Tools;
    entries without a name are skipped."""
    value = decode_json(value)
    found = []
    for item in value if isinstance(value, list) else []:
        spec = item.get("function", item) if isinstance(item, dict) else None
        if isinstance(spec, dict) and isinstance(spec.get("name"), str):
            params = decode_json(spec.get("parameters"))
            found.append(Tool(name=spec["name"], description=str(spec.get("description") or ""),
                              parameters=params if isinstance(params, dict) else None))
    return found


def _operation(rec: SpanRecord) -> str:
    op = rec.attributes.get("gen_ai.operation.name")
    if isinstance(op, str) and op:
        return op
    first_word = rec.name.split(" ", 1)[0]
    if any(k.startswith("gen_ai.") for k in rec.attributes) and (first_word in _LLM_OPS or first_word in _KIND_BY_OP):
        return first_word
    return ""


def _kind(rec: SpanRecord, op: str) -> tuple[str, bool]:
    """The span's kind, and whether that is only the fallback guess (no convention covers the span)."""
    attrs = rec.attributes
    if op in _LLM_OPS:
        return "llm", False
    if op in _KIND_BY_OP:
        return _KIND_BY_OP[op], False
    if op:
        return "aux", False
    traceloop = attrs.get("traceloop.span.kind")
    if isinstance(traceloop, str) and traceloop in _TRACELOOP_KINDS:
        return _TRACELOOP_KINDS[traceloop], False
    if attrs.get("llm.request.type") in ("chat", "completion") or any(
        k.startswith(("gen_ai.prompt.", "gen_ai.completion.")) for k in attrs
    ):
        return "llm", False
    return ("tool", False) if "gen_ai.tool.name" in attrs else ("chain", True)


def _raw_span(rec: SpanRecord, kinds: dict[str, str], target: str | None, fallback: bool) -> RawSpan:
    attrs, where = rec.attributes, rec.where
    op = _operation(rec)
    kind = kinds[rec.span_id]
    error = rec.error_info()
    span = RawSpan(
        id=rec.span_id, kind=kind, parent=rec.parent_id, name=rec.name, kind_raw=op or attrs.get("traceloop.span.kind"),
        start_ns=rec.start_ns, end_ns=rec.end_ns, seq=rec.seq, status="error" if error else "ok", error=error,
        attributes={k: v for k, v in attrs.items() if not k.startswith(_CONTENT_KEYS)},
    )
    if op == "retrieval" and target is None:  # S2: a retrieval directly under an agent is one of its actions
        parent_kind = kinds.get(rec.parent_id or "")
        span.kind, span.tool_type = ("tool", "retrieval") if parent_kind == "agent" else ("aux", None)
        span.tool_name = str(attrs.get("gen_ai.data_source.id") or "retrieval")
    if span.kind == "llm":
        model = attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model")
        span.model = str(model) if model else None
        span.usage = _usage(attrs, where)
        inp, out = _llm_content(rec)
        span.inp, span.out = inp or [], out
        span.content_missing = inp is None and out is None
        span.unrecorded = {k for k, v in (("input", inp), ("output", out)) if v is None}
        if _events_without_content(rec):
            span.unrecorded |= {"input", "output", "arguments"}
    elif span.kind == "tool" and (op != "retrieval" or target is not None):
        name = attrs.get("gen_ai.tool.name") or attrs.get("traceloop.entity.name")
        span.tool_name = str(name) if name else rec.name.removeprefix("execute_tool ").strip() or None
        span.tool_call_id = _id(attrs.get("gen_ai.tool.call.id"))
        span.tool_type = str(attrs["gen_ai.tool.type"]) if attrs.get("gen_ai.tool.type") else None
        args = attrs.get("gen_ai.tool.call.arguments")
        if args is None and "traceloop.entity.input" in attrs:
            legacy = decode_json(attrs["traceloop.entity.input"])
            args = legacy.get("kwargs", legacy) if isinstance(legacy, dict) else legacy
        span.tool_args, span.tool_args_raw = decode_args(args) if args is not None else (None, None)
        result = attrs.get("gen_ai.tool.call.result", attrs.get("traceloop.entity.output"))
        span.tool_result = decode_json(result)
        # Opt-in attributes (content capture): absent means not recorded, not "called without arguments".
        span.unrecorded = {k for k, v in (("arguments", args), ("output", result)) if v is None}
    elif span.kind == "agent":
        agent = attrs.get("gen_ai.agent.name") or attrs.get("traceloop.entity.name")
        span.agent_name = str(agent) if agent else rec.name.removeprefix("invoke_agent ").strip() or None
    return settle(span, target, fallback)


def _events_without_content(rec: SpanRecord) -> bool:
    """Message events (semconv <= 1.30, or log records joined to the span) that carry no content at all:
    capture was off. With capture on, the instrumentation writes every message's content and every tool
    call's arguments, so an answer missing then is an empty answer, not an unrecorded one."""
    bodies = [_event_body(e.attributes) for e in rec.events if e.name in _MESSAGE_EVENTS or e.name == "gen_ai.choice"]
    if not bodies:
        return False

    def recorded(body: dict[str, Any]) -> bool:
        message = decode_json(body.get("message"))
        message = message if isinstance(message, dict) else {}
        calls = decode_json(body.get("tool_calls", message.get("tool_calls")))
        has_args = any(isinstance(c, dict) and isinstance(c.get("function"), dict) and "arguments" in c["function"]
                       for c in (calls if isinstance(calls, list) else []))
        return body.get("content") is not None or message.get("content") is not None or has_args

    return not any(recorded(body) for body in bodies)


def _trace(trace_id: str, recs: list[SpanRecord], mapping: SpanMapping | None = None) -> Trace | None:
    ops = {r.span_id: _operation(r) for r in recs}
    targets = {r.span_id: map_target(mapping, r.name, r.attributes) for r in recs}
    found = {r.span_id: _kind(r, ops[r.span_id]) for r in recs}
    kinds = {sid: mapped_kind(targets[sid], kind) for sid, (kind, _) in found.items()}
    tools: dict[str, Tool] = {}
    for rec in recs:
        for tool in tool_catalog(rec.attributes.get("gen_ai.tool.definitions")):
            tools.setdefault(tool.name, tool)
    spans = [_raw_span(r, kinds, targets[r.span_id], found[r.span_id][1]) for r in recs]
    if not any(span.kind in ("llm", "tool") for span in spans):
        return None  # not an agent run (an HTTP request, a health check): nothing to evaluate
    return spans_to_trace(spans, trace_id=trace_id, format_name="otel", tools=list(tools.values()))


def parse(document: Document, source: str, mapping: SpanMapping | None = None) -> list[Trace]:
    """Read every trace of an OTLP/JSON document (spans grouped by trace id).

    ``mapping`` gives spans the user mapped a step type (see ``agenteval.mapping``).

    Raises:
        TraceError: malformed OTLP or GenAI attributes; the message names the trace, span and field.
    """
    return parse_spans(by_trace(iter_records(document.items())), source, mapping)


def parse_spans(
    traces: Iterable[tuple[str, list[SpanRecord]]], source: str, mapping: SpanMapping | None = None
) -> list[Trace]:
    """Read every trace from its decoded spans (see ``FormatReader.parse_spans``).

    Raises:
        TraceError: as :func:`parse`.
    """
    return collect_traces((_trace(tid, recs, mapping) for tid, recs in traces), source)


READER = FormatReader(
    name="otel",
    description="OpenTelemetry GenAI spans as OTLP/JSON (a TracesData document, or JSON Lines from file exporters)",
    detect=detect,
    parse=parse,
    parse_spans=parse_spans,
    mappable=True,
)
