"""LangSmith runs (design/trace-formats.md §4.3): run exports decoded into ``RawSpan`` records.

File shapes: a JSON array of runs (``Client.list_runs``), ``{"runs": [...]}`` (``POST /runs/query``),
``{"items": [...]}`` (v2 API), ``{"post": [...], "patch": [...]}`` ingestion batches, or JSON Lines of
any of these. Records of one run id (POST + PATCH) are merged first (R5). Parents come from
``parent_run_id`` or, failing that, from ``dotted_order``, which also gives the execution order and
start times. Message and error decoding live in ``agenteval.formats.langchain``.
"""

from __future__ import annotations

import re
from calendar import timegm
from datetime import datetime
from typing import Any

from agenteval.errors import TraceError
from agenteval.formats.base import Document, FormatReader
from agenteval.formats.langchain import (
    error_info,
    fields_of,
    ident,
    message,
    messages,
    output_message,
    parse_tool_input,
    usage_from,
)
from agenteval.formats.otel import json_text, tool_catalog
from agenteval.formats.otlp import as_dict, as_list
from agenteval.formats.spans import (
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

__all__ = ["READER", "detect", "parse", "parse_dotted_order"]

_WRAPPERS = ("runs", "items", "post", "patch")
_DOTTED = re.compile(r"(\d{8}T\d{6})(\d{6}|\d{3})Z(.+)")
_LLM_TYPES = {"llm", "chat_model", "chatmodel"}
_AUX_TYPES = {"embedding", "prompt", "parser"}
_KNOWN_TYPES = {*_LLM_TYPES, *_AUX_TYPES, "tool", "retriever", "chain"}
_KEEP = ("run_type", "status", "tags", "prompt_tokens", "completion_tokens", "total_tokens", "total_cost",
         "session_id", "reference_example_id")


def _records(document: Document) -> list[Any]:
    found: list[Any] = []
    for item in document.items():
        wrapped = [item[k] for k in _WRAPPERS if isinstance(item, dict) and "run_type" not in item
                   and isinstance(item.get(k), list)]
        if wrapped:
            found.extend(run for runs in wrapped for run in runs)
        else:
            found.append(item)
    return found


def detect(document: Document) -> bool:
    """Runs (objects with ``id``; some with ``run_type`` and ``dotted_order`` or ``parent_run_id``)."""
    runs = _records(document)
    return (
        bool(runs) and all(isinstance(r, dict) and "id" in r for r in runs)
        and any("run_type" in r for r in runs)
        and any("dotted_order" in r or "parent_run_id" in r for r in runs)
    )


def parse_dotted_order(value: Any, where: str) -> list[tuple[int, str]] | None:
    """The segments of a ``dotted_order`` as (start in ns since the epoch, run id), root first.

    Accepts six-digit (SDK) and three-digit (docs) fractions of a second.

    Raises:
        TraceError: not a string of ``YYYYmmddTHHMMSSffffffZ<run id>`` segments joined with dots.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TraceError(f"{where}: dotted_order: expected a string, got {type(value).__name__}")
    segments = []
    for part in value.split("."):
        match = _DOTTED.fullmatch(part)
        try:
            if match is None:
                raise ValueError
            moment = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S")
        except ValueError:
            raise TraceError(f"{where}: dotted_order: bad segment {part[:60]!r}") from None
        fraction = match.group(2)
        micros = int(fraction) * (1000 if len(fraction) == 3 else 1)
        segments.append(((timegm(moment.timetuple()) * 1_000_000 + micros) * 1000, match.group(3)))
    return segments


def _finished(run: dict[str, Any]) -> bool:
    return run.get("end_time") is not None or run.get("outputs") is not None


def _merge_runs(records: list[Any]) -> dict[str, tuple[int, dict[str, Any]]]:
    """R5: run id -> (file position of its first record, the records merged; a finished record wins)."""
    runs: dict[str, tuple[int, dict[str, Any]]] = {}
    for n, record in enumerate(records):
        record = as_dict(record, f"run #{n}")
        run_id = ident(record.get("id"))
        if run_id is None:
            raise TraceError(f"run #{n}: missing id")
        if run_id not in runs:
            runs[run_id] = (n, record)
            continue
        first, known = runs[run_id]
        base, over = (record, known) if _finished(known) and not _finished(record) else (known, record)
        runs[run_id] = (first, {**base, **{k: v for k, v in over.items() if v is not None and v != {} and v != ""}})
    return runs


class _Run:
    """One merged run with what the grouping and typing passes need."""

    def __init__(self, run_id: str, position: int, data: dict[str, Any]) -> None:
        self.id, self.position, self.data = run_id, position, data
        self.where = f"run {run_id}"
        self.dotted = parse_dotted_order(data.get("dotted_order"), self.where)
        parent = ident(data.get("parent_run_id"))
        if parent is None and self.dotted and len(self.dotted) > 1:
            parent = self.dotted[-2][1]
        self.parent = parent
        extra = as_dict(data.get("extra"), f"{self.where}: extra")
        self.extra = extra
        self.metadata = as_dict(extra.get("metadata"), f"{self.where}: extra.metadata")
        node = self.metadata.get("langgraph_node")
        self.node = node if isinstance(node, str) else None
        run_type = data.get("run_type")
        self.run_type = run_type.strip().lower().replace(" ", "_") if isinstance(run_type, str) else ""

    def base_kind(self) -> str:
        if self.run_type in _LLM_TYPES:
            return "llm"
        if self.run_type in ("tool", "retriever"):
            return self.run_type
        return "aux" if self.run_type in _AUX_TYPES else "chain"


def _trace_id(run: _Run, runs: dict[str, _Run]) -> str:
    explicit = ident(run.data.get("trace_id"))
    if explicit is not None:
        return explicit
    if run.dotted:
        return run.dotted[0][1]
    seen, cur = {run.id}, run
    while cur.parent in runs and cur.parent not in seen:
        cur = runs[cur.parent]
        seen.add(cur.id)
    return cur.id


def _kinds(runs: dict[str, _Run]) -> dict[str, str]:
    """Span kinds; LangGraph graphs become agents: sub-graphs, or the top graph when it has none."""
    kinds = {rid: run.base_kind() for rid, run in runs.items()}
    children: dict[str, list[_Run]] = {}
    for run in runs.values():
        if run.parent in runs:
            children.setdefault(run.parent, []).append(run)
    # A graph run's node runs carry a langgraph_node other than its own (metadata is inherited below a node).
    graphs = {rid for rid, run in runs.items() if kinds[rid] == "chain" and any(
        kinds[c.id] == "chain" and c.node is not None and c.node != run.node for c in children.get(rid, []))}
    tops = {rid for rid, run in runs.items() if run.parent not in runs}
    agents = (graphs - tops) or {rid for rid in tops if kinds[rid] == "chain"}
    for rid in agents:
        kinds[rid] = "agent"
    for rid, run in runs.items():  # S2: a retrieval is an agent action only directly under the agent
        if kinds[rid] == "retriever":
            kinds[rid] = "tool" if kinds.get(run.parent or "") == "agent" else "aux"
    return kinds


def _times(run: _Run) -> tuple[int | None, int | None]:
    start = ns_from_iso(run.data.get("start_time"), f"{run.where}: start_time")
    if start is None and run.dotted:
        start = run.dotted[-1][0]
    return start, ns_from_iso(run.data.get("end_time"), f"{run.where}: end_time")


def _run_error(run: _Run) -> ErrorInfo | None:
    text = run.data.get("error")
    if text is not None and text != "":
        return error_info(text if isinstance(text, str) else json_text(text))
    status = run.data.get("status")
    return ErrorInfo(message="error") if isinstance(status, str) and status.lower() == "error" else None


def _llm(span: RawSpan, run: _Run, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
    where = run.where
    inp = _llm_input(inputs, where)
    out, fields = output_message(outputs)
    span.inp, span.out = inp or [], out
    span.content_missing = inp is None and out is None
    span.unrecorded = {k for k, v in (("input", inp), ("output", out)) if v is None}
    llm_output = as_dict(outputs.get("llm_output"), f"{where}: outputs.llm_output") if outputs else {}
    response = as_dict(fields.get("response_metadata"), f"{where}: response_metadata") if fields else {}
    invocation = as_dict(run.extra.get("invocation_params"), f"{where}: extra.invocation_params")
    model = (response.get("model_name") or llm_output.get("model_name") or outputs.get("model")
             or run.metadata.get("ls_model_name") or invocation.get("model") or invocation.get("model_name"))
    span.model = str(model) if model else None
    span.usage = usage_from(
        [(fields or {}).get("usage_metadata"), llm_output.get("token_usage"), llm_output.get("usage"),
         outputs.get("usage_metadata"), outputs.get("usage"), run.data], where)
    span.plan_marker = run.node is not None and looks_like_plan(run.node)


def _llm_input(inputs: dict[str, Any], where: str) -> list[Any] | None:
    if "messages" in inputs:
        value = inputs["messages"]
        if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
            value = value[0]  # the batch dimension of LangChain chat model runs
        return messages(value, f"{where}: inputs.messages")
    prompts = inputs.get("prompts", inputs.get("prompt"))
    if isinstance(prompts, list) and prompts:
        prompts = prompts[0]
    if prompts is not None:
        return [message(prompts, "user")]
    return [message(inputs["input"], "user")] if "input" in inputs else None


def _tool(span: RawSpan, run: _Run, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
    span.tool_name = span.name or None
    span.tool_type = "retrieval" if run.run_type == "retriever" else None
    value = inputs.get("input", inputs.get("query")) if len(inputs) == 1 else (inputs or None)
    span.tool_args, span.tool_args_raw, call_id = parse_tool_input(value)
    result = outputs.get("output", outputs.get("documents", outputs or None))
    if _is_tool_message(result):
        answer = message(result, "tool")
        span.tool_result = decode_json(answer.text)
        call_id = call_id or answer.tool_call_id
        if str(fields_of(result)[1].get("status") or "").lower() == "error" and span.status == "ok":
            span.status, span.error = "error", error_info(answer.text)  # a handled tool error is an error
    else:
        span.tool_result = decode_json(result)
    span.tool_call_id = call_id or ident(run.extra.get("tool_call_id")) or ident(run.metadata.get("tool_call_id"))
    # hide_inputs / hide_outputs send {}; a tool called with arguments or that returned (even None)
    # records a key. A failed run's empty outputs are its error, which the step shows.
    if not inputs:
        span.unrecorded.add("arguments")
    if not outputs and span.status == "ok":
        span.unrecorded.add("output")


def _is_tool_message(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    cls, fields = fields_of(value)
    return (cls.removesuffix("Chunk") in ("ToolMessage", "tool") or fields.get("role") == "tool"
            or ("tool_call_id" in fields and "content" in fields))


def _retry_spans(span: RawSpan, run: _Run) -> list[RawSpan]:
    """R1: ``retry`` events of an LLM run become failed attempts with its input, folded into it later."""
    if span.kind != "llm" or not span.inp or span.content_missing:
        return []
    found = []
    for n, event in enumerate(as_list(run.data.get("events"), f"{run.where}: events")):
        if not isinstance(event, dict) or event.get("name") != "retry":
            continue
        kwargs = event.get("kwargs") if isinstance(event.get("kwargs"), dict) else {}
        kind, text = kwargs.get("exception_type"), kwargs.get("exception")
        error = ErrorInfo(type=str(kind) if kind else None, message=str(text) if text is not None else "retry")
        found.append(RawSpan(id=f"{run.id}:retry.{n}", kind="llm", parent=span.parent, name=span.name,
                             kind_raw=span.kind_raw, start_ns=span.start_ns, end_ns=span.start_ns, status="error",
                             error=error, inp=list(span.inp)))
    return found


def _span(run: _Run, kind: str, target: str | None = None) -> RawSpan:
    where = run.where
    start, end = _times(run)
    error = _run_error(run)
    span = RawSpan(
        id=run.id, kind=kind, parent=run.parent, name=str(run.data.get("name") or ""),
        kind_raw=run.run_type or None, start_ns=start, end_ns=end, status="error" if error else "ok", error=error,
        attributes={**{k: run.data[k] for k in _KEEP if run.data.get(k) is not None},
                    **({"metadata": run.metadata} if run.metadata else {}),
                    **({"error": run.data["error"]} if error and isinstance(run.data.get("error"), str) else {})},
    )
    inputs = as_dict(decode_json(run.data.get("inputs")), f"{where}: inputs")
    outputs = as_dict(decode_json(run.data.get("outputs")), f"{where}: outputs")
    if kind == "llm":
        _llm(span, run, inputs, outputs)
    elif kind == "tool":
        _tool(span, run, inputs, outputs)
    elif kind == "agent":
        span.agent_name = span.name or None
    return settle(span, target, run.run_type not in _KNOWN_TYPES)


def _tools(runs: list[_Run], kinds: dict[str, str]) -> list[Tool]:
    found: dict[str, Tool] = {}
    for run in runs:
        if kinds[run.id] != "llm":
            continue
        invocation = run.extra.get("invocation_params")
        inputs = run.data.get("inputs")
        for value in (invocation.get("tools") if isinstance(invocation, dict) else None,
                      inputs.get("tools") if isinstance(inputs, dict) else None):
            for tool in tool_catalog(value):
                found.setdefault(tool.name, tool)
    return list(found.values())


def _trace(trace_id: str, runs: dict[str, _Run], mapping: SpanMapping | None = None) -> Trace | None:
    kinds = _kinds(runs)
    targets = {rid: map_target(mapping, str(run.data.get("name") or ""), {**run.data, "metadata": run.metadata})
               for rid, run in runs.items()}
    kinds = {rid: mapped_kind(targets[rid], kind) for rid, kind in kinds.items()}
    # D0: dotted_order order (pre-order execution order) is the tie-breaker after times
    ordered = sorted(runs.values(), key=lambda r: (r.dotted is None, r.dotted or [], r.position))
    spans: list[RawSpan] = []
    for run in ordered:
        span = _span(run, kinds[run.id], targets[run.id])
        for extra in [*_retry_spans(span, run), span]:
            extra.seq = len(spans)
            spans.append(extra)
    if not any(s.kind in ("llm", "tool") for s in spans):
        return None  # a chain without model or tool calls: nothing to evaluate
    return spans_to_trace(spans, trace_id=trace_id, format_name="langsmith", tools=_tools(ordered, kinds))


def parse(document: Document, source: str, mapping: SpanMapping | None = None) -> list[Trace]:
    """Read every trace (runs grouped by ``trace_id``, the root of ``dotted_order``, or the root run);
    ``mapping`` gives runs the user mapped a step type.

    Raises:
        TraceError: a run is not an object, lacks an id, or has a malformed time, ``dotted_order``,
            inputs/outputs or token count; the message names the run and field.
    """
    try:
        merged = _merge_runs(_records(document))
        runs = {rid: _Run(rid, position, data) for rid, (position, data) in merged.items()}
        groups: dict[str, dict[str, _Run]] = {}
        for run in runs.values():
            groups.setdefault(_trace_id(run, runs), {})[run.id] = run
        traces = [_trace(tid, group, mapping) for tid, group in groups.items()]
    except TraceError as exc:
        raise TraceError(exc.message, source=source) from None
    return [t for t in traces if t is not None]


READER = FormatReader(
    name="langsmith",
    description="LangSmith runs (list_runs exports, {\"runs\"}/{\"items\"} API pages, POST+PATCH batches, JSON Lines)",
    detect=detect,
    parse=parse,
    mappable=True,
)
