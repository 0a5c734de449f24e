"""Langfuse traces and observations (design/trace-formats.md §4.5), decoded into ``RawSpan`` records.

File shapes: a trace export (``GET /api/public/traces/{id}``: the trace with ``observations`` and
``htmlPath``), a list or JSON Lines of such traces, an observations page (``{"data": [...], "meta": ...}``),
a list / JSON Lines of observations (grouped by ``traceId``), or the OTLP/JSON the v3+ SDKs send (spans
with ``langfuse.observation.*`` attributes). camelCase and snake_case keys both read.
TOOL observations carry no call id, so executions bind to calls by name and order (D2). Trace-level
totals (``totalCost``, ``latency``) and usage on AGENT/CHAIN/SPAN observations are never counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from agenteval.errors import TraceError
from agenteval.formats.base import Document, FormatReader, collect_traces
from agenteval.formats.langchain import (
    error_info,
    fields_of,
    ident,
    message,
    output_message,
    parse_tool_input,
    usage_from,
)
from agenteval.formats.otel import json_text, tool_catalog
from agenteval.formats.otlp import (
    SpanRecord,
    as_dict,
    as_list,
    by_trace,
    get,
    is_otlp,
    iter_records,
    raw_spans,
)
from agenteval.formats.spans import (
    Msg,
    RawSpan,
    decode_json,
    looks_like_plan,
    map_target,
    mapped_kind,
    ns_from_iso,
    settle,
    spans_to_trace,
)
from agenteval.mapping import SpanMapping
from agenteval.models import ErrorInfo, Tool, Trace

__all__ = ["READER", "detect", "parse", "parse_spans"]

TYPES = ("SPAN", "GENERATION", "EVENT", "TOOL", "AGENT", "CHAIN", "RETRIEVER", "EVALUATOR", "EMBEDDING", "GUARDRAIL")
_KINDS = {"GENERATION": "llm", "TOOL": "tool", "AGENT": "agent", "CHAIN": "chain", "SPAN": "chain"}
_OTEL = "langfuse.observation."
_KEEP = ("type", "level", "statusMessage", "version", "promptName", "promptVersion", "modelParameters",
         "calculatedTotalCost", "latency")


def _is_observation(item: Any) -> bool:
    if not isinstance(item, dict) or "id" not in item:
        return False
    if "parentObservationId" in item or "parent_observation_id" in item:
        return True
    kind = get(item, "type")
    return get(item, "traceId") is not None and isinstance(kind, str) and kind.upper() in TYPES


def _is_trace(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("observations"), list) and (
        get(item, "htmlPath") is not None or all(_is_observation(o) for o in item["observations"]))


def _items(document: Document) -> list[Any]:
    found: list[Any] = []
    for item in document.items():
        data = item.get("data") if isinstance(item, dict) and "observations" not in item else None
        found.extend(data if isinstance(data, list) and "id" not in item else [item])
    return found


def _is_langfuse_span(span: dict[str, Any]) -> bool:
    attrs = span.get("attributes")
    if isinstance(attrs, list):
        return any(isinstance(a, dict) and a.get("key") == f"{_OTEL}type" for a in attrs)
    return isinstance(attrs, dict) and f"{_OTEL}type" in attrs


def detect(document: Document) -> bool:
    """Trace exports with ``observations`` (+ ``htmlPath``), observations with ``parentObservationId``, or
    OTLP/JSON holding spans of the Langfuse SDK (``langfuse.observation.type``)."""
    if is_otlp(document):
        return any(_is_langfuse_span(span) for span in raw_spans(document))
    items = _items(document)
    return bool(items) and all(_is_trace(i) or _is_observation(i) for i in items)


def _from_span(rec: SpanRecord) -> dict[str, Any]:
    """An OTLP span of the Langfuse SDK as an observation (times already in ns under ``_ns``)."""
    attrs = rec.attributes
    prefix = f"{_OTEL}metadata."
    metadata = {k[len(prefix):]: v for k, v in attrs.items() if k.startswith(prefix)}
    # other attributes (e.g. gen_ai.tool.call.id from another instrumentation) are searched for call ids
    skip = ("langfuse.", "gen_ai.prompt", "gen_ai.completion")
    metadata.update({k: v for k, v in attrs.items() if not k.startswith(skip)})
    level = attrs.get(f"{_OTEL}level") or ("ERROR" if rec.error else None)
    return {
        "id": rec.span_id, "traceId": rec.trace_id, "parentObservationId": rec.parent_id, "name": rec.name,
        "type": attrs.get(f"{_OTEL}type") or "span", "input": attrs.get(f"{_OTEL}input"),
        "output": attrs.get(f"{_OTEL}output"), "level": level,
        "statusMessage": attrs.get(f"{_OTEL}status_message") or rec.status_message or None,
        "model": attrs.get(f"{_OTEL}model.name"), "modelParameters": decode_json(attrs.get(f"{_OTEL}model.parameters")),
        "usageDetails": decode_json(attrs.get(f"{_OTEL}usage_details")), "metadata": metadata,
        "_ns": (rec.start_ns, rec.end_ns),
    }


def _groups(document: Document) -> Iterator[tuple[str, dict[str, Any], list[Any]]]:
    """(trace id, trace record or {}, observations) per trace, in file order (read at the first ``next``)."""
    if is_otlp(document):
        yield from _span_groups(by_trace(iter_records(document.items())))
        return
    groups: dict[str, tuple[dict[str, Any], list[Any]]] = {}
    loose: list[Any] = []
    for n, item in enumerate(_items(document)):
        if isinstance(item, dict) and "observations" in item:
            trace_id = ident(item.get("id"))
            if trace_id is None:
                raise TraceError(f"trace #{n}: missing id")
            observations = as_list(item["observations"], f"trace {trace_id}: observations")
            if observations and all(isinstance(o, str) for o in observations):
                raise TraceError(f"trace {trace_id}: observations are ids only; export the trace with "
                                 "GET /api/public/traces/{id}")
            known = groups.setdefault(trace_id, (item, []))
            known[1].extend(observations)
        else:
            loose.append(item)
    for n, obs in enumerate(loose):
        obs = as_dict(obs, f"observation #{n}")
        trace_id = ident(get(obs, "traceId")) or ""
        groups.setdefault(trace_id, ({}, []))[1].append(obs)
    for tid, (record, observations) in groups.items():
        yield tid, record, observations


def _span_groups(traces: Iterable[tuple[str, list[SpanRecord]]]) -> Iterator[tuple[str, dict[str, Any], list[Any]]]:
    """The OTLP spans of the Langfuse SDK as (trace id, trace record, observations), one trace at a time."""
    for trace_id, recs in traces:
        yield trace_id, _otlp_trace(recs), [_from_span(r) for r in recs]


def _otlp_trace(recs: list[SpanRecord]) -> dict[str, Any]:
    task = next((r.attributes["langfuse.trace.input"] for r in recs if "langfuse.trace.input" in r.attributes), None)
    return {"input": decode_json(task)} if task is not None else {}


def _error(obs: dict[str, Any]) -> ErrorInfo | None:
    level = get(obs, "level")
    if not (isinstance(level, str) and level.upper() == "ERROR"):
        return None  # WARNING is not fatal
    text = get(obs, "statusMessage")
    return error_info(text) if text not in (None, "") else ErrorInfo(message="error")


def _generation_input(value: Any) -> tuple[list[Msg] | None, list[Tool]]:
    """Messages (and tool definitions) from a generation ``input``: a list, ``{"messages", "tools"}``, a
    message, a string, or anything else (kept as one user message)."""
    value = decode_json(value)
    if value is None:
        return None, []
    tools: list[Tool] = []
    if isinstance(value, dict) and "messages" in value:
        tools = tool_catalog(value.get("tools"))
        value = decode_json(value["messages"])
    elif isinstance(value, dict) and ("role" in value or "lc" in value):
        value = [value]
    if isinstance(value, list):
        return [message(m) for m in value], tools
    return [message(value if isinstance(value, str) else json_text(value), "user")], tools


def _generation_output(value: Any) -> Msg | None:
    value = decode_json(value)
    if value is None:
        return None
    if isinstance(value, dict):
        found, _ = output_message(value)
        return found if found is not None else Msg("assistant", json_text(value))
    if isinstance(value, list) and value and all(isinstance(m, dict) and ("role" in m or "lc" in m) for m in value):
        return message(value[-1], "assistant")
    if isinstance(value, list):
        return message({"role": "assistant", "content": value}, "assistant")
    return Msg("assistant", value if isinstance(value, str) else json_text(value))


def _call_id(metadata: Any) -> str | None:
    """A tool call id that came in through metadata (OTel ``gen_ai.tool.call.id``, ``tool_call_id``)."""
    if not isinstance(metadata, dict):
        return None
    for key, value in metadata.items():
        if isinstance(key, str) and key.endswith(("tool_call_id", "tool.call.id")) and ident(value):
            return ident(value)
    return next((_call_id(v) for v in metadata.values() if isinstance(v, dict) and _call_id(v)), None)


def _tool_input(value: Any) -> tuple[Any, str | None, str | None]:
    """Tool arguments as (parsed, raw string, call id); the ``@observe`` default ``{"args", "kwargs"}`` unwrapped."""
    parsed = decode_json(value)
    if isinstance(parsed, dict) and parsed and set(parsed) <= {"args", "kwargs"}:
        args, kwargs = parsed.get("args"), parsed.get("kwargs")
        if kwargs:
            return parse_tool_input(kwargs)
        return parse_tool_input(args[0] if isinstance(args, list) and len(args) == 1 else args)
    return parse_tool_input(value)


def _span(obs: dict[str, Any], seq: int, kind: str, target: str | None = None,
          fallback: bool = False) -> tuple[RawSpan, list[Tool]]:
    obs_id = ident(obs.get("id"))
    if obs_id is None:
        raise TraceError(f"observation #{seq}: missing id")
    where = f"observation {obs_id}"
    error = _error(obs)
    kind_raw = get(obs, "type")
    metadata = decode_json(obs.get("metadata"))
    ns = obs.get("_ns") if isinstance(obs.get("_ns"), tuple) else None  # set by _from_span, never by JSON
    span = RawSpan(
        id=obs_id, kind=kind, parent=ident(get(obs, "parentObservationId")),
        name=str(obs.get("name") or ""), kind_raw=str(kind_raw) if kind_raw else None,
        start_ns=ns[0] if ns else ns_from_iso(get(obs, "startTime"), f"{where}: startTime"),
        end_ns=ns[1] if ns else ns_from_iso(get(obs, "endTime"), f"{where}: endTime"), seq=seq,
        status="error" if error else "ok", error=error,
        attributes={**{k: get(obs, k) for k in _KEEP if get(obs, k) is not None},
                    **({"metadata": metadata} if metadata else {})},
    )
    tools: list[Tool] = []
    if kind == "llm":
        inp, tools = _generation_input(obs.get("input"))
        span.inp, span.out = inp or [], _generation_output(obs.get("output"))
        span.content_missing = inp is None and span.out is None
        span.unrecorded = {k for k, v in (("input", inp), ("output", span.out)) if v is None}
        model = obs.get("model") or get(obs, "providedModelName")
        span.model = str(model) if model else None
        legacy = {k: get(obs, k) for k in ("promptTokens", "completionTokens")}  # v1 observation views
        span.usage = usage_from([get(obs, "usageDetails"), obs.get("usage"), legacy], where)
        node = metadata.get("langgraph_node") if isinstance(metadata, dict) else None
        span.plan_marker = isinstance(node, str) and looks_like_plan(node)
    elif kind == "tool":
        span.tool_name = span.name or None
        span.tool_type = "retrieval" if str(kind_raw).upper() == "RETRIEVER" else None
        span.tool_args, span.tool_args_raw, call_id = _tool_input(obs.get("input"))
        output = decode_json(obs.get("output"))
        if isinstance(output, dict) and ("lc" in output or output.get("role") == "tool" or "tool_call_id" in output):
            answer = message(output, "tool")  # a LangChain ToolMessage
            if str(fields_of(output)[1].get("status") or "").lower() == "error":
                span.status, span.error = "error", span.error or error_info(answer.text)
            call_id, output = call_id or answer.tool_call_id, decode_json(answer.text)
        span.tool_result = output
        span.tool_call_id = call_id or _call_id(metadata)
        if obs.get("input") is None and obs.get("output") is None:
            # Input/output capture off (capture_input/capture_output=False): a tool called with
            # arguments that returned nothing would still show its input.
            span.unrecorded = {"arguments", "output"}
    elif kind == "agent":
        span.agent_name = span.name or None
    return settle(span, target, fallback), tools


def _kinds(observations: list[dict[str, Any]]) -> dict[int, tuple[str, bool]]:
    """Span kind per position, and whether it is only a guess: a SPAN (the type of any ``@observe``d
    function) or an unknown type; SPANs named after a tool the model called are tools (older SDKs)."""
    called: set[str] = set()
    for obs in observations:
        if str(get(obs, "type") or "").upper() == "GENERATION":
            out = _generation_output(obs.get("output"))
            called.update(c.name for c in (out.tool_calls if out else []))
    types = {ident(o.get("id")): str(get(o, "type") or "SPAN").upper() for o in observations}
    kinds = {}
    for n, obs in enumerate(observations):
        raw = str(get(obs, "type") or "SPAN").upper()
        kind = _KINDS.get(raw, "aux" if raw in TYPES else "chain")
        fallback = raw == "SPAN" or raw not in TYPES
        if raw == "SPAN" and isinstance(obs.get("name"), str) and obs["name"] in called:
            kind, fallback = "tool", False
        if raw == "RETRIEVER":  # S2: an agent action only directly under an agent
            kind = "tool" if types.get(ident(get(obs, "parentObservationId"))) == "AGENT" else "aux"
        kinds[n] = kind, fallback
    return kinds


def _trace(trace_id: str, record: dict[str, Any], observations: list[Any],
           mapping: SpanMapping | None = None) -> Trace | None:
    observations = [as_dict(o, f"trace {trace_id}: observation #{n}") for n, o in enumerate(observations)]
    kinds = _kinds(observations)
    spans, tools = [], {}
    for n, obs in enumerate(observations):
        metadata = decode_json(obs.get("metadata"))
        target = map_target(mapping, str(obs.get("name") or ""), {**(metadata if isinstance(metadata, dict) else {}), **obs})
        kind, fallback = kinds[n]
        span, found = _span(obs, n, mapped_kind(target, kind), target, fallback)
        spans.append(span)
        for tool in found:
            tools.setdefault(tool.name, tool)
    if not any(s.kind in ("llm", "tool") for s in spans):
        return None
    if not trace_id:  # loose observations without traceId: name the trace after its first root
        trace_id = next((s.id for s in spans if s.parent is None), spans[0].id)
    task = record.get("input")
    return spans_to_trace(spans, trace_id=trace_id, format_name="langfuse", tools=list(tools.values()),
                          task=task.strip() if isinstance(task, str) and task.strip() else None)


def parse(document: Document, source: str, mapping: SpanMapping | None = None) -> list[Trace]:
    """Read every trace of a Langfuse export; ``mapping`` gives spans the user mapped a step type.

    Raises:
        TraceError: an observation is not an object, lacks an id, or has a malformed time or token count;
            the message names the trace or observation and the field.
    """
    return collect_traces((_trace(*group, mapping) for group in _groups(document)), source)


def parse_spans(
    traces: Iterable[tuple[str, list[SpanRecord]]], source: str, mapping: SpanMapping | None = None
) -> list[Trace]:
    """Read every trace from the decoded OTLP spans of the Langfuse SDK (see ``FormatReader.parse_spans``).

    Raises:
        TraceError: as :func:`parse`.
    """
    return collect_traces((_trace(*group, mapping) for group in _span_groups(traces)), source)


READER = FormatReader(
    name="langfuse",
    description="Langfuse traces with observations (API or UI exports) or lists of observations",
    detect=detect,
    parse=parse,
    parse_spans=parse_spans,
    mappable=True,
)
