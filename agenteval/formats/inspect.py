"""Inspect AI eval logs (design/trace-formats.md §4.7, §10): one trace per sample and epoch.

Reads the JSON log (``{"version", "eval", "samples": [...]}``) and the binary ``.eval`` zip, which
``load_document`` opens into a map of member name -> JSON (``header.json`` plus ``samples/*.json``).

A sample's ``events`` are decoded into spans: ``model`` events are LLM calls, ``tool`` events tool
executions, ``span_begin``/``span_end`` containers (type ``agent`` is a scope). A tool event is merged
with its own ``tool`` span (opened next to it, same name, same parent), so whatever ran inside the tool
(a sub-agent, sandbox calls) nests under the execution. Scorer spans are grading, not agent steps, and are
left out. ``attachment://`` strings are resolved and empty ``input`` lists rebuilt from ``input_refs``
into the sample's message pool. Samples without events fall back to their ``messages``.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

from agenteval.errors import TraceError
from agenteval.formats.base import Document, FormatReader
from agenteval.formats.otel import json_text, tool_catalog
from agenteval.formats.otlp import as_dict, as_list, count
from agenteval.formats.spans import Msg, RawSpan, ToolCall, decode_args, decode_json, ns_from_iso, spans_to_trace
from agenteval.models import ErrorInfo, Trace, Usage

__all__ = ["READER", "detect", "parse", "sample_to_trace"]

_ATTACHMENT = "attachment://"
_SCORING = ("scorer", "scorers")
_AUX_EVENTS = ("sandbox", "approval", "error", "subtask", "compaction", "sample_limit", "input", "info")
_STOP = {"max_tokens": "length", "model_length": "length", "content_filter": "content_filter"}
#: Inspect's ToolCallError kinds that stand for one Python exception (model/_call_tools.py).
_ERROR_TYPES = {
    "timeout": "TimeoutError", "permission": "PermissionError", "file_not_found": "FileNotFoundError",
    "is_a_directory": "IsADirectoryError", "unicode_decode": "UnicodeDecodeError",
}


def _key(value: Any) -> str | None:
    """An id or name from the log as a string (None when missing), safe to use as a dict key."""
    return None if value is None or value == "" else str(value)


def _natural(name: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _log(document: Document) -> dict[str, Any] | None:
    """The EvalLog: the JSON log itself, or an ``.eval`` zip's header with its samples attached."""
    data = document.data
    if document.json_lines or not isinstance(data, dict):
        return None
    # A log still being written has no header.json yet; its journal's start.json holds the eval.
    header = next((data[k] for k in ("header.json", "_journal/start.json") if isinstance(data.get(k), dict)), None)
    if header is not None:
        samples = [data[k] for k in sorted(data, key=_natural) if k.startswith("samples/") and k.endswith(".json")]
        data = {**header, "samples": samples}
    if isinstance(data.get("eval"), dict) and any(k in data for k in ("samples", "version", "results", "plan")):
        return data
    return None


def detect(document: Document) -> bool:
    """An EvalLog (``eval`` object plus ``samples``/``version``), as JSON or as an opened ``.eval`` zip."""
    return _log(document) is not None


def _resolve(value: Any, attachments: dict[str, Any]) -> Any:
    """``attachment://<hash>`` strings replaced by their content (the raw provider ``call`` is skipped)."""
    if isinstance(value, str):
        return attachments.get(value[len(_ATTACHMENT):], value) if value.startswith(_ATTACHMENT) else value
    if isinstance(value, list):
        return [_resolve(v, attachments) for v in value]
    if isinstance(value, dict):
        return {k: v if k == "call" else _resolve(v, attachments) for k, v in value.items()}
    return value


def _content(value: Any) -> tuple[str, str]:
    """(text, reasoning) of a message ``content``: a string or a list of Content parts."""
    if value is None:
        return "", ""
    if not isinstance(value, list):
        return json_text(value), ""
    texts, thoughts = [], []
    for part in value:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type") == "text":
            texts.append(json_text(part.get("text")))
        elif isinstance(part, dict) and part.get("type") == "reasoning" and not part.get("redacted"):
            thoughts.append(json_text(part.get("reasoning", part.get("summary"))))
    return "\n".join(t for t in texts if t), "\n".join(t for t in thoughts if t)


def _tool_call(raw: Any) -> ToolCall | None:
    if not isinstance(raw, dict):
        return None
    function = raw.get("function")
    name, args = (function.get("name"), function.get("arguments")) if isinstance(function, dict) else (
        function, raw.get("arguments"))
    parsed, args_raw = decode_args(args)
    call_id = raw.get("id")
    return ToolCall(name=str(name or ""), id=str(call_id) if call_id not in (None, "") else None, args=parsed,
                    args_raw=args_raw)


def _message(raw: Any, where: str) -> Msg:
    raw = as_dict(raw, where)
    role = str(raw.get("role") or "user")
    text, reasoning = _content(raw.get("content"))
    calls = [c for c in map(_tool_call, as_list(raw.get("tool_calls"), f"{where}: tool_calls")) if c is not None]
    call_id = raw.get("tool_call_id")
    return Msg(role=role, text=text, reasoning=reasoning, tool_calls=calls,
               tool_call_id=str(call_id) if role == "tool" and call_id not in (None, "") else None)


def _messages(value: Any, where: str) -> list[Msg]:
    return [_message(m, f"{where} #{n}") for n, m in enumerate(as_list(value, where))]


def _tool_error(raw: Any, where: str) -> ErrorInfo | None:
    if raw is None or raw == {}:
        return None
    if isinstance(raw, str):
        return ErrorInfo(message=raw)
    raw = as_dict(raw, f"{where}: error")
    kind = raw.get("type")
    kind = str(kind) if kind not in (None, "") else None
    return ErrorInfo(type=_ERROR_TYPES.get(kind or "", kind), message=json_text(raw.get("message")))


def _usage(value: Any, where: str) -> Usage | None:
    usage = as_dict(value, where)
    inp, out = count(usage.get("input_tokens"), f"{where}.input_tokens"), count(usage.get("output_tokens"),
                                                                              f"{where}.output_tokens")
    cached = count(usage.get("input_tokens_cache_read"), f"{where}.input_tokens_cache_read")
    if inp is None and out is None:
        return None
    return Usage(input_tokens=inp or 0, output_tokens=out or 0, cached_input_tokens=cached or 0)


def _input(event: dict[str, Any], pool: list[Any], where: str) -> list[Msg]:
    """A model event's input; since v0.3.195 it may be empty with ``input_refs`` ranges into the pool."""
    value = as_list(event.get("input"), f"{where}: input")
    refs = event.get("input_refs")
    if not value and refs:
        value = []
        for ref in as_list(refs, f"{where}: input_refs"):
            if not (isinstance(ref, list) and len(ref) == 2 and all(type(i) is int and i >= 0 for i in ref)):
                raise TraceError(f"{where}: input_refs: expected [start, end] pairs, got {str(ref)[:40]!r}")
            value.extend(pool[ref[0]:ref[1]])
    return _messages(value, f"{where}: input")


def _model_span(event: dict[str, Any], span_id: str, parent: str | None, seq: int, pool: list[Any],
                where: str) -> RawSpan:
    output = as_dict(event.get("output"), f"{where}: output")
    choices = as_list(output.get("choices"), f"{where}: output.choices")
    out = None
    if choices:
        choice = as_dict(choices[0], f"{where}: output.choices #0")
        if choice.get("message") is not None:
            out = _message(choice["message"], f"{where}: output message")
            stop = choice.get("stop_reason")
            out.finish_reason = _STOP.get(stop, stop) if isinstance(stop, str) else None
    inp = _input(event, pool, where)
    error = event.get("error") or output.get("error")
    model = output.get("model") or event.get("model")
    retries = event.get("retries")
    attributes = {k: event[k] for k in ("model", "role", "cache", "pending") if event.get(k) is not None}
    if isinstance(retries, int) and not isinstance(retries, bool) and retries > 0:
        attributes["retries"] = retries
    return RawSpan(
        id=span_id, kind="llm", parent=parent, name=str(event.get("model") or "model"), kind_raw="model",
        start_ns=ns_from_iso(event.get("timestamp"), f"{where}: timestamp"),
        end_ns=ns_from_iso(event.get("completed"), f"{where}: completed"), seq=seq,
        status="error" if error else "ok", error=ErrorInfo(message=json_text(error)) if error else None,
        model=str(model) if model else None, usage=_usage(output.get("usage"), f"{where}: output.usage"),
        inp=inp, out=out, attributes=attributes, content_missing=out is None and not inp,
    )


def _tool_span(event: dict[str, Any], span_id: str, parent: str | None, seq: int, where: str) -> RawSpan:
    error = _tool_error(event.get("error"), where)
    result = event.get("result")
    if isinstance(result, list):
        result = _content(result)[0]
    name = event.get("function")
    args = event.get("arguments")
    parsed, raw = decode_args(args) if args is not None else (None, None)
    call_id = event.get("id")
    attributes = {k: event[k] for k in ("agent", "truncated", "failed") if event.get(k) is not None}
    raw_type = event["error"].get("type") if isinstance(event.get("error"), dict) else None
    if error is not None and raw_type is not None and error.type != raw_type:
        attributes["error_type_raw"] = raw_type
    return RawSpan(
        id=span_id, kind="tool", parent=parent, name=str(name or "tool"), kind_raw="tool",
        start_ns=ns_from_iso(event.get("timestamp"), f"{where}: timestamp"),
        end_ns=ns_from_iso(event.get("completed"), f"{where}: completed"), seq=seq,
        status="error" if error is not None or event.get("failed") is True else "ok", error=error,
        tool_name=str(name) if name else None, tool_call_id=str(call_id) if call_id not in (None, "") else None,
        tool_args=parsed, tool_args_raw=raw, tool_result=decode_json(result), attributes=attributes,
    )


def _excluded(begins: dict[str, dict[str, Any]]) -> set[str]:
    """Scorer spans and every span inside them."""
    out: set[str] = set()
    for span_id in begins:
        seen, cur = set(), span_id
        while cur in begins and cur not in seen:
            if begins[cur].get("type") in _SCORING:
                out.add(span_id)
                break
            seen.add(cur)
            cur = _key(begins[cur].get("parent_id"))
    return out


def _from_events(events: list[Any], pool: list[Any], where: str) -> list[RawSpan]:
    events = [as_dict(e, f"{where}: event #{n}") for n, e in enumerate(events)]
    begins = {str(e["id"]): e for e in events if e.get("event") == "span_begin" and _key(e.get("id"))}
    excluded = _excluded(begins)
    # A tool event and its own tool span pair up in order per (parent span, function name).
    tool_spans: dict[tuple[Any, Any], deque[str]] = {}
    for span_id, begin in begins.items():
        if begin.get("type") == "tool" and span_id not in excluded:
            tool_spans.setdefault((_key(begin.get("parent_id")), _key(begin.get("name"))), deque()).append(span_id)
    merged: set[str] = set()
    ends: dict[str, Any] = {}
    spans: list[RawSpan] = []
    scoring = 0  # logs before span events mark scoring with ``step`` events
    for n, event in enumerate(events):
        kind, here = event.get("event"), f"{where}: event #{n} ({event.get('event')})"
        parent = _key(event.get("span_id"))
        if kind == "step" and event.get("type") == "scorer":
            scoring += 1 if event.get("action") == "begin" else -1 if scoring else 0
        if scoring or parent in excluded or kind == "score":
            continue
        event_id = str(event.get("uuid") or f"event{n}")
        if kind == "model":
            spans.append(_model_span(event, event_id, parent, n, pool, here))
        elif kind == "tool":
            queue = tool_spans.get((parent, _key(event.get("function"))))
            own = queue.popleft() if queue else None
            if own is not None:
                merged.add(own)
            spans.append(_tool_span(event, own or event_id, parent, n, here))
        elif kind == "span_end" and _key(event.get("id")):
            ends[str(event["id"])] = event.get("timestamp")
        elif kind in _AUX_EVENTS:
            spans.append(RawSpan(id=event_id, parent=parent, name=str(event.get("action") or kind), kind_raw=kind,
                                 start_ns=ns_from_iso(event.get("timestamp"), f"{here}: timestamp"), seq=n))
    for n, (span_id, begin) in enumerate(begins.items()):
        if span_id in excluded or span_id in merged:
            continue
        here = f"{where}: span {span_id}"
        name = str(begin.get("name") or begin.get("type") or "span")
        spans.append(RawSpan(
            id=span_id, kind="agent" if begin.get("type") == "agent" else "chain", name=name,
            parent=_key(begin.get("parent_id")), kind_raw=str(begin.get("type") or "span"),
            start_ns=ns_from_iso(begin.get("timestamp"), f"{here}: timestamp"),
            end_ns=ns_from_iso(ends.get(span_id), f"{here}: span_end timestamp"), seq=len(events) + n,
            agent_name=name if begin.get("type") == "agent" else None,
        ))
    return spans


def _from_messages(messages: list[Any], where: str) -> list[RawSpan]:
    """The fallback without events: each assistant message an LLM call, each tool message an execution."""
    msgs = _messages(messages, where)
    calls = {c.id: c for m in msgs for c in m.tool_calls if c.id}
    spans = []
    for n, (raw, msg) in enumerate(zip(messages, msgs)):
        if msg.role == "assistant":
            model = raw.get("model")
            spans.append(RawSpan(id=f"message{n}", kind="llm", seq=n, inp=msgs[:n], out=msg,
                                 model=str(model) if model else None, kind_raw="message"))
        elif msg.role == "tool":
            call = calls.get(msg.tool_call_id or "")
            error = _tool_error(raw.get("error"), f"{where} #{n}")
            name = raw.get("function") or (call.name if call else None)
            spans.append(RawSpan(
                id=f"message{n}", kind="tool", seq=n, kind_raw="message", name=str(name or "tool"),
                tool_name=str(name) if name else None, tool_call_id=msg.tool_call_id,
                tool_args=call.args if call else None, tool_result=decode_json(msg.text),
                status="error" if error else "ok", error=error,
            ))
    return spans


def _text(value: Any) -> str:
    if isinstance(value, list):
        first = next((m for m in value if isinstance(m, dict) and m.get("role") == "user"), None)
        return _content(first.get("content"))[0] if first else ""
    return json_text(value)


def sample_to_trace(log: dict[str, Any], sample: Any, index: int = 0) -> Trace | None:
    """One EvalSample as a Trace (id ``<task>/<sample id>/<epoch>``); None when it holds no model or tool call.

    Raises:
        TraceError: a field of the sample has the wrong type (names the sample, event and field).
    """
    sample = as_dict(sample, f"sample #{index}")
    info = as_dict(log.get("eval"), "eval")
    epoch = sample.get("epoch", 1)
    where = f"sample {sample.get('id', f'#{index}')} (epoch {epoch})"
    attachments = as_dict(sample.get("attachments"), f"{where}: attachments")
    events = _resolve(as_list(sample.get("events"), f"{where}: events"), attachments)
    pool = _resolve(as_list(as_dict(sample.get("events_data"), f"{where}: events_data").get("messages"),
                            f"{where}: events_data.messages"), attachments)
    spans = _from_events(events, pool, where)
    if not any(s.kind in ("llm", "tool") for s in spans):
        spans = _from_messages(_resolve(as_list(sample.get("messages"), f"{where}: messages"), attachments), where)
    if not any(s.kind in ("llm", "tool") for s in spans):
        return None
    tools = {}
    for event in events:
        if isinstance(event, dict) and event.get("event") == "model":
            for tool in tool_catalog(event.get("tools")):
                tools.setdefault(tool.name, tool)
    task, sample_id = info.get("task") or "inspect", sample.get("id")
    trace = spans_to_trace(spans, trace_id=f"{task}/{index if sample_id is None else sample_id}/{epoch}",
                           format_name="inspect",
                           task=_text(_resolve(sample.get("input"), attachments)) or None, tools=list(tools.values()))
    retries = {s.id: s.attributes["retries"] for s in spans if s.kind == "llm" and "retries" in s.attributes}
    for step in trace.steps:
        step.attempts += retries.get(step.metadata.get("llm_call_id"), 0)
    scores = as_dict(sample.get("scores"), f"{where}: scores")
    error = sample.get("error")
    meta = {"eval_id": info.get("eval_id"), "run_id": info.get("run_id"), "task": info.get("task"),
            "model": info.get("model"), "sample_id": sample.get("id"), "epoch": epoch, "log_status": log.get("status"),
            "scores": {k: v.get("value") if isinstance(v, dict) else v for k, v in scores.items()}}
    if error:
        meta["error"] = error.get("message") if isinstance(error, dict) else json_text(error)
    target = sample.get("target")
    target = ", ".join(map(json_text, target)) if isinstance(target, list) else json_text(target)
    return trace.model_copy(update={"expected_outcome": target or None,
                                    "metadata": {**trace.metadata, **{k: v for k, v in meta.items() if v is not None}}})


def parse(document: Document, source: str) -> list[Trace]:
    """Read every sample of an Inspect eval log (JSON, or an ``.eval`` zip opened by ``load_document``).

    Raises:
        TraceError: not an eval log, or a sample is malformed (names the sample, event and field).
    """
    log = _log(document)
    if log is None:
        raise TraceError("not an Inspect eval log (expected an object with 'eval' and 'samples')", source=source)
    try:
        samples = as_list(log.get("samples"), "samples")
        traces = [sample_to_trace(log, sample, n) for n, sample in enumerate(samples)]
    except TraceError as exc:
        raise TraceError(" ".join(exc.message.splitlines()), source=source) from None
    return [t for t in traces if t is not None]


READER = FormatReader(
    name="inspect",
    description="Inspect AI eval logs (.json, or .eval zip): one trace per sample and epoch",
    detect=detect,
    parse=parse,
)
