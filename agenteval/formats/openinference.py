"""OpenInference spans (Arize Phoenix), design/trace-formats.md §4.2.

Two file shapes: OTLP/JSON whose spans carry ``openinference.span.kind`` (including the pages of bare
snake_case spans Phoenix's ``/spans/otlpv1`` returns, see ``otlp.is_span_page``), and Phoenix REST exports
(``{"data": [...]}``, a list, or JSON Lines of span objects with ``context.{trace_id,span_id}``,
``span_kind`` and flat dotted ``attributes``). Attributes are unflattened with numeric index order and
JSON strings inside values are decoded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agenteval.errors import TraceError
from agenteval.formats.base import Document, FormatReader, collect_traces
from agenteval.formats.otel import has_openinference_spans, json_text, parse_message, tool_catalog
from agenteval.formats.otlp import (
    Event,
    SpanRecord,
    as_dict,
    as_list,
    by_trace,
    count,
    flatten,
    is_otlp,
    iter_records,
    nanos,
    norm_id,
    unflatten,
)
from agenteval.formats.spans import (
    Msg,
    RawSpan,
    ToolCall,
    decode_args,
    decode_json,
    looks_like_plan,
    map_target,
    mapped_kind,
    ns_from_iso,
    settle,
    spans_to_trace,
)
from agenteval.mapping import SpanMapping
from agenteval.models import Trace, Usage

__all__ = ["READER", "detect", "parse", "parse_spans"]

_KINDS = {"LLM": "llm", "TOOL": "tool", "AGENT": "agent", "CHAIN": "chain"}
_OI_KINDS = {*_KINDS, "EMBEDDING", "RETRIEVER", "RERANKER", "GUARDRAIL", "EVALUATOR", "PROMPT", "UNKNOWN"}
_CONTENT_PREFIXES = ("llm.input_messages", "llm.output_messages", "llm.tools", "input.value", "output.value")


def _phoenix_items(document: Document) -> list[Any]:
    items = []
    for item in document.items():
        data = item.get("data") if isinstance(item, dict) else None
        items.extend(data if isinstance(data, list) and "context" not in item else [item])
    return items


def _looks_phoenix(item: Any) -> bool:
    context = item.get("context") if isinstance(item, dict) else None
    attrs = item.get("attributes") if isinstance(item, dict) else None
    return isinstance(context, dict) and "span_id" in context and "trace_id" in context and (
        "span_kind" in item or (isinstance(attrs, dict) and "openinference.span.kind" in attrs)
    )


def detect(document: Document) -> bool:
    """OTLP/JSON with OpenInference spans, or Phoenix REST span objects."""
    if is_otlp(document):
        return has_openinference_spans(document)
    items = _phoenix_items(document)
    return bool(items) and all(_looks_phoenix(i) for i in items)


def _time(value: Any, where: str) -> int | None:
    return ns_from_iso(value, where) if isinstance(value, str) and not value.strip().isdigit() else nanos(value, where)


def _phoenix_record(item: Any, seq: int) -> SpanRecord:
    where = f"span #{seq}"
    item = as_dict(item, where)
    context = as_dict(item.get("context"), f"{where}: context")
    trace_id = norm_id(context.get("trace_id"), 16, f"{where}: context.trace_id")
    span_id = norm_id(context.get("span_id"), 8, f"{where}: context.span_id")
    if trace_id is None or span_id is None:
        raise TraceError(f"{where}: missing context.{'trace_id' if trace_id is None else 'span_id'}")
    where = f"trace {trace_id}: span {span_id}"
    attrs = flatten(as_dict(item.get("attributes"), f"{where}: attributes"))
    kind = item.get("span_kind")
    if "openinference.span.kind" not in attrs and isinstance(kind, str) and kind.upper() in _OI_KINDS:
        attrs["openinference.span.kind"] = kind
    events = []
    for event in as_list(item.get("events"), f"{where}: events"):
        event = as_dict(event, f"{where}: event")
        events.append(Event(name=str(event.get("name") or ""),
                            time_ns=_time(event.get("timestamp"), f"{where}: event timestamp"),
                            attributes=flatten(as_dict(event.get("attributes"), f"{where}: event attributes"))))
    status = item.get("status_code")
    message = item.get("status_message")
    return SpanRecord(
        trace_id=trace_id, span_id=span_id,
        parent_id=norm_id(item.get("parent_id"), 8, f"{where}: parent_id"),
        name=item["name"] if isinstance(item.get("name"), str) else "",
        start_ns=_time(item.get("start_time"), f"{where}: start_time"),
        end_ns=_time(item.get("end_time"), f"{where}: end_time"),
        error=isinstance(status, str) and status.upper() == "ERROR",
        status_message=message if isinstance(message, str) else "",
        attributes=attrs, events=events, seq=seq,
    )


def _get(tree: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(tree, dict):
            tree = tree.get(part)
        elif isinstance(tree, list) and part.isdigit() and int(part) < len(tree):
            tree = tree[int(part)]
        else:
            return None
    return tree[""] if isinstance(tree, dict) and "" in tree else tree


def _str(value: Any) -> str | None:
    return str(value) if value is not None and value != "" else None


def _message(raw: Any, default_role: str) -> Msg:
    """An OpenInference ``message`` (role, content or contents, tool_calls, tool_call_id)."""
    raw = raw.get("message", raw) if isinstance(raw, dict) else raw
    if not isinstance(raw, dict):
        return Msg(role=default_role, text=json_text(raw))
    texts, calls = [], []
    if raw.get("content") is not None:
        texts.append(json_text(raw["content"]))
    for part in (p for p in _list(raw.get("contents")) if isinstance(p, dict)):
        content = part.get("message_content")
        if isinstance(content, dict) and content.get("text") is not None:
            texts.append(json_text(content["text"]))
        if isinstance(part.get("tool_call"), dict):
            calls.append(part["tool_call"])
    calls = [c.get("tool_call", c) if isinstance(c, dict) else c for c in _list(raw.get("tool_calls"))] + calls
    tool_calls = []
    for call in (c for c in calls if isinstance(c, dict)):
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        args, args_raw = decode_args(function.get("arguments"))
        tool_calls.append(ToolCall(name=str(function.get("name") or ""), id=_str(call.get("id")), args=args,
                                   args_raw=args_raw))
    if raw.get("function_call_name"):  # legacy OpenAI function calling
        args, args_raw = decode_args(raw.get("function_call_arguments_json"))
        tool_calls.append(ToolCall(name=str(raw["function_call_name"]), args=args, args_raw=args_raw))
    tool_call_id = _str(raw.get("tool_call_id"))
    return Msg(role=str(raw.get("role") or default_role), text="\n".join(t for t in texts if t),
               tool_calls=tool_calls, tool_call_id=tool_call_id.strip() if tool_call_id else None)


def _list(value: Any) -> list[Any]:
    value = decode_json(value)
    return value if isinstance(value, list) else []


def _from_value(value: Any, key: str) -> list[Msg] | None:
    """Messages from a whole request (``messages``) or response (``choices``) JSON in input/output.value."""
    value = decode_json(value)
    if not isinstance(value, dict):
        return None
    if key == "output" and isinstance(value.get("choices"), list) and value["choices"]:
        choice = value["choices"][0]
        return parse_message(choice.get("message") if isinstance(choice, dict) else choice, "assistant")
    if key == "input" and isinstance(value.get("messages"), list):
        return [m for raw in value["messages"] for m in parse_message(raw)]
    return None


def _kind(rec: SpanRecord, kinds: dict[str, str]) -> tuple[str, bool]:
    """The span's kind, and whether that is only the fallback guess (no OpenInference kind says it)."""
    raw = str(rec.attributes.get("openinference.span.kind") or "UNKNOWN").upper()
    if raw in _KINDS:
        return _KINDS[raw], False
    if raw == "RETRIEVER":  # S2: a retrieval is an agent action only directly under the agent
        return ("tool" if kinds.get(rec.parent_id or "") == "agent" else "aux"), False
    if raw != "UNKNOWN" and raw in _OI_KINDS:
        return "aux", False
    if any(k.startswith("llm.") for k in rec.attributes):
        return "llm", False
    return ("tool", False) if "tool.name" in rec.attributes else ("chain", True)


def _raw_span(rec: SpanRecord, kind: str, target: str | None = None, fallback: bool = False) -> RawSpan:
    attrs, where = rec.attributes, rec.where
    tree = unflatten(attrs)
    error = rec.error_info()
    span = RawSpan(
        id=rec.span_id, kind=kind, parent=rec.parent_id, name=rec.name,
        kind_raw=_str(attrs.get("openinference.span.kind")), start_ns=rec.start_ns, end_ns=rec.end_ns, seq=rec.seq,
        status="error" if error else "ok", error=error,
        attributes={k: v for k, v in attrs.items() if not k.startswith(_CONTENT_PREFIXES)},
    )
    metadata = decode_json(_get(tree, "metadata"))
    node = metadata.get("langgraph_node") if isinstance(metadata, dict) else None
    span.plan_marker = isinstance(node, str) and looks_like_plan(node)
    if kind == "llm":
        span.model = _str(_get(tree, "llm.model_name") or _get(tree, "llm.response.model_name")
                          or _get(tree, "llm.request.model_name"))
        prompt = count(_get(tree, "llm.token_count.prompt"), f"{where}: llm.token_count.prompt")
        completion = count(_get(tree, "llm.token_count.completion"), f"{where}: llm.token_count.completion")
        cached = count(_get(tree, "llm.token_count.prompt_details.cache_read"), f"{where}: cache_read")
        if prompt is not None or completion is not None:
            span.usage = Usage(input_tokens=prompt or 0, output_tokens=completion or 0, cached_input_tokens=cached or 0)
        inputs = _list(_get(tree, "llm.input_messages"))
        inp = [_message(m, "user") for m in inputs] if inputs else _from_value(_get(tree, "input.value"), "input")
        outputs = _list(_get(tree, "llm.output_messages"))
        out_list = [_message(outputs[0], "assistant")] if outputs else _from_value(_get(tree, "output.value"), "output")
        out = out_list[0] if out_list else None
        if out is not None and out.finish_reason is None:
            out.finish_reason = _str(_get(tree, "llm.finish_reason"))
        span.inp, span.out = inp or [], out
        span.content_missing = inp is None and out is None
        # Hidden messages (OPENINFERENCE_HIDE_*) are dropped; redacted values are caught on the steps.
        span.unrecorded = {k for k, v in (("input", inp), ("output", out)) if v is None}
    elif kind == "tool":
        span.tool_name = _str(_get(tree, "tool.name")) or rec.name or None
        span.tool_call_id = (_str(_get(tree, "tool.id") or _get(tree, "tool_call.id")) or "").strip() or None
        span.tool_type = "retrieval" if str(attrs.get("openinference.span.kind")).upper() == "RETRIEVER" else None
        args = _get(tree, "input.value")
        span.tool_args, span.tool_args_raw = decode_args(args) if args is not None else (None, None)
        span.args_as_sent = False  # @tracer.tool records the function's bound arguments, defaults included
        result = _get(tree, "output.value")
        span.tool_result = decode_json(result) if result is not None else _get(tree, "retrieval.documents")
    elif kind == "agent":
        span.agent_name = _str(_get(tree, "agent.name")) or rec.name or None
    return settle(span, target, fallback)


def _trace(trace_id: str, recs: list[SpanRecord], mapping: SpanMapping | None = None) -> Trace | None:
    kinds: dict[str, str] = {}
    for rec in recs:  # parents before children is not guaranteed: classify agents first
        if str(rec.attributes.get("openinference.span.kind") or "").upper() == "AGENT":
            kinds[rec.span_id] = "agent"
    targets = {rec.span_id: map_target(mapping, rec.name, rec.attributes) for rec in recs}
    fallback: dict[str, bool] = {}
    for rec in recs:
        kind, fallback[rec.span_id] = _kind(rec, kinds)
        kinds[rec.span_id] = mapped_kind(targets[rec.span_id], kind)
    tools = {}
    for rec in recs:
        schemas = _list(_get(unflatten(rec.attributes), "llm.tools"))
        found = [decode_json(_get(s, "tool.json_schema")) for s in schemas if isinstance(s, dict)]
        for tool in tool_catalog(found):
            tools.setdefault(tool.name, tool)
    spans = [_raw_span(rec, kinds[rec.span_id], targets[rec.span_id], fallback[rec.span_id]) for rec in recs]
    if not any(span.kind in ("llm", "tool") for span in spans):
        return None  # not an agent run (an HTTP request, a health check): nothing to evaluate
    return spans_to_trace(spans, trace_id=trace_id, format_name="openinference", tools=list(tools.values()))


def parse(document: Document, source: str, mapping: SpanMapping | None = None) -> list[Trace]:
    """Read every trace of an OpenInference OTLP document or Phoenix REST export.

    ``mapping`` gives spans the user mapped a step type (see ``agenteval.mapping``).

    Raises:
        TraceError: malformed spans or attributes; the message names the trace, span and field.
    """
    if is_otlp(document):
        spans: Iterable[SpanRecord] = iter_records(document.items())
    else:
        spans = (_phoenix_record(item, seq) for seq, item in enumerate(_phoenix_items(document)))
    return parse_spans(by_trace(spans), source, mapping)


def parse_spans(
    traces: Iterable[tuple[str, list[SpanRecord]]], source: str, mapping: SpanMapping | None = None
) -> list[Trace]:
    """Read every trace from its decoded spans (see ``FormatReader.parse_spans``).

    Raises:
        TraceError: as :func:`parse`.
    """
    return collect_traces((_trace(tid, group, mapping) for tid, group in traces), source)


READER = FormatReader(
    name="openinference",
    description="OpenInference spans: OTLP/JSON with openinference.span.kind (also Phoenix's /spans/otlpv1 "
    "pages), or a Phoenix REST span export",
    detect=detect,
    parse=parse,
    parse_spans=parse_spans,
    mappable=True,
)
