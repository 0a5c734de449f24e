"""Companion OTLP log files: log records joined to their spans as span events (design/trace-formats.md §10).

Default GenAI content capture writes the messages as log records in a file apart from the spans; the
records carry the trace and span id of the call they belong to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agenteval.formats.base import Document
from agenteval.formats.otlp import any_value, as_dict, as_list, attributes, get, norm_id, snake_case

__all__ = ["LogEvents", "attach_events", "join_logs", "log_events"]

LogEvents = dict[tuple[str | None, str | None], list[dict[str, Any]]]
"""Span events made from log records, by (trace id, span id)."""


def join_logs(spans: Document, logs: Document) -> Document:
    """Attach the log records of a companion OTLP logs file to their spans as span events.

    Default GenAI content capture writes messages as log records in a separate file (§10); after the
    join, each record is an event named by its ``eventName`` / ``event.name`` whose attributes hold the
    record's attributes plus its decoded body under ``gen_ai.event.body``. ``spans`` is left as it is.

    Raises:
        TraceError: the logs document is not OTLP logs.
    """
    return attach_events(spans, log_events(logs))


def log_events(logs: Document) -> LogEvents:
    """The records of an OTLP logs document as span events, by the (trace id, span id) they belong to.

    Raises:
        TraceError: the document is not OTLP logs.
    """
    by_span: LogEvents = {}
    for number, batch in enumerate(logs.items(), 1):
        where = f"log record {number}"
        for resource in as_list(get(as_dict(batch, where), "resourceLogs"), f"{where}: resourceLogs"):
            for scope in as_list(get(as_dict(resource, where), "scopeLogs"), f"{where}: scopeLogs"):
                for log in as_list(get(as_dict(scope, where), "logRecords"), f"{where}: logRecords"):
                    log = as_dict(log, where)
                    attrs = attributes(log.get("attributes"), where)
                    body = any_value(log.get("body"), f"{where}: body")
                    event = {
                        "name": get(log, "eventName") or attrs.get("event.name") or "",
                        "timeUnixNano": get(log, "timeUnixNano") or get(log, "observedTimeUnixNano"),
                        "attributes": {**attrs, "gen_ai.event.body": body},
                    }
                    key = (norm_id(get(log, "traceId"), 16, where), norm_id(get(log, "spanId"), 8, where))
                    by_span.setdefault(key, []).append(event)
    return by_span


def attach_events(spans: Document, events: LogEvents) -> Document:
    """``spans`` with each span's log events appended to its ``events``; ``spans`` is left as it is.

    Only the objects on the way from the top to a span are copied (a document is not copied whole):
    every other part of the result is shared with ``spans``.

    Raises:
        TraceError: a span id is not a string.
    """
    def span_with_events(span: dict[str, Any]) -> dict[str, Any]:
        key = (norm_id(get(span, "traceId"), 16, "span"), norm_id(get(span, "spanId"), 8, "span"))
        if key not in events:
            return span
        own = span.get("events") if isinstance(span.get("events"), list) else []
        return {**span, "events": own + events[key]}

    def scope_with_events(scope: dict[str, Any]) -> dict[str, Any]:
        return _map_list(scope, "spans", span_with_events)

    def resource_with_events(resource: dict[str, Any]) -> dict[str, Any]:
        # As raw_spans reads it: scopeSpans, or the older name when scopeSpans holds no objects.
        key = "scopeSpans" if _objects(resource, "scopeSpans") else "instrumentationLibrarySpans"
        return _map_list(resource, key, scope_with_events)

    def batch_with_events(batch: Any) -> Any:
        return _map_list(batch, "resourceSpans", resource_with_events) if isinstance(batch, dict) else batch

    if spans.json_lines or isinstance(spans.data, list):
        return Document([batch_with_events(batch) for batch in spans.data], spans.json_lines)
    return Document(batch_with_events(spans.data), spans.json_lines)


def _objects(value: dict[str, Any], camel: str) -> bool:
    inner = get(value, camel)
    return isinstance(inner, list) and any(isinstance(v, dict) for v in inner)


def _map_list(value: dict[str, Any], camel: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """A shallow copy of ``value`` whose list under ``camel`` (or its snake_case twin, as :func:`get`
    reads it) has ``change`` applied to its objects; ``value`` itself when there is no such list."""
    key = camel if camel in value else snake_case(camel)
    inner = value.get(key)
    if not isinstance(inner, list):
        return value
    return {**value, key: [change(v) if isinstance(v, dict) else v for v in inner]}
