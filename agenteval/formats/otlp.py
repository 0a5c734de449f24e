"""OTLP/JSON decoding shared by the OTel-family readers: documents to flat ``SpanRecord``s.

Accepts what exporters really write (design/trace-formats.md §4.1, §10): one ``TracesData`` document, an
array of them, or JSON Lines of them; Phoenix's ``/spans/otlpv1`` pages of bare spans; hex or base64 ids;
int64 values as strings or numbers; enum numbers or names; lowerCamelCase or snake_case keys; absent
fields written as null. Every problem raises ``TraceError`` naming the span and field.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from agenteval.errors import TraceError
from agenteval.formats.base import Document
from agenteval.models import ErrorInfo

_HEX = re.compile(r"[0-9a-fA-F]+")
_MAX_DEPTH = 64
_VALUE_KEYS = ("string", "bool", "int", "double", "array", "kvlist", "bytes")


@dataclass(slots=True)
class Event:
    """A span event (or a log record joined to its span)."""

    name: str
    time_ns: int | None
    attributes: dict[str, Any]


@dataclass(slots=True)
class SpanRecord:
    """One OTLP span with decoded values; conventions (GenAI, OpenInference) are read from it later."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start_ns: int | None
    end_ns: int | None
    error: bool
    status_message: str
    attributes: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    seq: int = 0

    @property
    def where(self) -> str:
        """How error messages name this span."""
        return f"trace {self.trace_id}: span {self.span_id}"

    def error_info(self) -> ErrorInfo | None:
        """The span's error (``error.type``, status message, ``exception`` event), or None when it succeeded."""
        exc = next((e.attributes for e in self.events if e.name == "exception"), {})
        etype = self.attributes.get("error.type") or exc.get("exception.type")
        if not (self.error or etype):
            return None
        message = self.status_message or exc.get("exception.message") or ""
        return ErrorInfo(type=str(etype) if etype else None, message=str(message))


@functools.cache  # field names are a handful of constants; get() asks for them per span and value
def snake_case(camel: str) -> str:
    """The snake_case twin of a lowerCamelCase field name."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


def get(obj: dict[str, Any], camel: str) -> Any:
    """A field by its lowerCamelCase name or its snake_case twin."""
    if camel in obj:
        return obj[camel]
    return obj.get(snake_case(camel))


def as_list(value: Any, where: str) -> list[Any]:
    """A JSON array field (missing means empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise TraceError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def as_dict(value: Any, where: str) -> dict[str, Any]:
    """A JSON object field (missing means empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TraceError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def norm_id(value: Any, size: int, where: str) -> str | None:
    """A trace (16-byte) or span (8-byte) id as lowercase hex; base64 and ``0x`` forms are converted.

    Empty and all-zero ids mean "none"; other strings are kept as they are.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TraceError(f"{where}: expected a string id, got {type(value).__name__}")
    text = value.strip()
    text = text[2:] if text[:2].lower() == "0x" else text
    if len(text) == 2 * size and _HEX.fullmatch(text):
        hexed = text.lower()
    else:
        try:
            raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        hexed = raw.hex() if len(raw) == size else text
    return None if hexed.strip("0") == "" else hexed


def nanos(value: Any, where: str) -> int | None:
    """An int64 nanosecond time written as a decimal string or a number; 0 and missing mean unknown."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TraceError(f"{where}: expected nanoseconds, got a boolean")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise TraceError(f"{where}: expected non-negative integer nanoseconds, got {str(value)[:40]!r}")
    return value or None


def count(value: Any, where: str) -> int | None:
    """A token count: a non-negative integer (also as a string or an integral float)."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TraceError(f"{where}: expected a non-negative token count, got {str(value)[:40]!r}")
    return value


def any_value(value: Any, where: str, depth: int = 0) -> Any:
    """Decode an OTLP ``AnyValue``; plain JSON values pass through (some dumps write them)."""
    if depth > _MAX_DEPTH:
        raise TraceError(f"{where}: value nested too deeply")
    if not isinstance(value, dict):
        return value
    for kind in _VALUE_KEYS:
        inner = get(value, f"{kind}Value")
        if inner is None:
            continue
        if kind == "int":
            try:
                return int(inner)
            except (TypeError, ValueError):
                raise TraceError(f"{where}: bad intValue {str(inner)[:40]!r}") from None
        if kind == "double":
            try:
                number = float(inner)
            except (TypeError, ValueError):
                raise TraceError(f"{where}: bad doubleValue {str(inner)[:40]!r}") from None
            return number if math.isfinite(number) else str(inner)
        if kind == "array":
            values = as_list(as_dict(inner, where).get("values"), where)
            return [any_value(v, where, depth + 1) for v in values]
        if kind == "kvlist":
            return attributes(as_dict(inner, where).get("values"), where, depth + 1)
        return inner
    return None


def attributes(value: Any, where: str, depth: int = 0) -> dict[str, Any]:
    """A ``KeyValue`` list (or an already flat object) as a dict of decoded values."""
    if isinstance(value, dict):
        return dict(value)
    out: dict[str, Any] = {}
    for item in as_list(value, f"{where}: attributes"):
        item = as_dict(item, f"{where}: attribute")
        key = item.get("key")
        if not isinstance(key, str):
            raise TraceError(f"{where}: attribute without a string key")
        out[key] = any_value(item.get("value"), f"{where}: attribute {key}", depth)
    return out


def _status(span: dict[str, Any], where: str) -> tuple[bool, str]:
    status = as_dict(span.get("status"), f"{where}: status")
    code = status.get("code")
    message = status.get("message")
    failed = code in (2, "2") or (isinstance(code, str) and code.upper().endswith("ERROR"))
    return failed, message if isinstance(message, str) else ""


def _span(span: Any, seq: int) -> SpanRecord:
    where = f"span #{seq}"
    span = as_dict(span, where)
    trace_id = norm_id(get(span, "traceId"), 16, f"{where}: traceId")
    span_id = norm_id(get(span, "spanId"), 8, f"{where}: spanId")
    if trace_id is None or span_id is None:
        raise TraceError(f"{where}: missing {'traceId' if trace_id is None else 'spanId'}")
    where = f"trace {trace_id}: span {span_id}"
    name = span.get("name")
    events = []
    for event in as_list(span.get("events"), f"{where}: events"):
        event = as_dict(event, f"{where}: event")
        events.append(Event(
            name=str(event.get("name") or ""),
            time_ns=nanos(get(event, "timeUnixNano"), f"{where}: event timeUnixNano"),
            attributes=attributes(event.get("attributes"), f"{where}: event"),
        ))
    failed, message = _status(span, where)
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=norm_id(get(span, "parentSpanId"), 8, f"{where}: parentSpanId"),
        name=name if isinstance(name, str) else "",
        start_ns=nanos(get(span, "startTimeUnixNano"), f"{where}: startTimeUnixNano"),
        end_ns=nanos(get(span, "endTimeUnixNano"), f"{where}: endTimeUnixNano"),
        error=failed,
        status_message=message,
        attributes=attributes(span.get("attributes"), where),
        events=events,
        seq=seq,
    )


def is_span_page(value: Any) -> bool:
    """Whether a value is a page of Phoenix's ``GET /v1/projects/{p}/spans/otlpv1``: ``{"data": [span, ...],
    "next_cursor": ...}`` holding bare OTLP spans (snake_case, absent fields as null), no resource wrapper."""
    data = value.get("data") if isinstance(value, dict) and get(value, "resourceSpans") is None else None
    return isinstance(data, list) and bool(data) and all(
        isinstance(s, dict) and "context" not in s and get(s, "spanId") is not None and get(s, "traceId") is not None
        for s in data
    )


def traces_data(value: Any) -> Any:
    """A record as an OTLP ``TracesData``: a Phoenix span page is wrapped as one resource and scope."""
    if is_span_page(value):
        return {"resourceSpans": [{"scopeSpans": [{"spans": value["data"]}]}]}
    return value


def is_otlp(document: Document) -> bool:
    """True when every top-level record is an OTLP ``TracesData`` (has ``resourceSpans``) or a Phoenix
    OTLP span page (see :func:`is_span_page`)."""
    items = document.items()
    return bool(items) and all(isinstance(i, dict) and (get(i, "resourceSpans") is not None or is_span_page(i))
                               for i in items)


def raw_spans(document: Document) -> list[dict[str, Any]]:
    """The undecoded span objects of an OTLP document, in file order (cheap; for detection)."""
    def items(value: Any, key: str) -> list[Any]:
        inner = get(value, key) if isinstance(value, dict) else None
        return [v for v in inner if isinstance(v, dict)] if isinstance(inner, list) else []

    found = []
    for batch in map(traces_data, document.items()):
        for resource in items(batch, "resourceSpans"):
            for scope in items(resource, "scopeSpans") or items(resource, "instrumentationLibrarySpans"):
                found.extend(items(scope, "spans"))
    return found


def records(document: Document) -> list[SpanRecord]:
    """Every span of an OTLP document, decoded.

    Raises:
        TraceError: a record is not OTLP, or a span field has the wrong type (names the span and field).
    """
    return list(iter_records(document.items()))


def iter_records(batches: Iterable[Any]) -> Iterator[SpanRecord]:
    """The spans of a stream of ``TracesData`` values (the records of a document, or the lines of a file
    as they are read), decoded one at a time; numbering and errors as in :func:`records`."""
    seq = 0
    for number, batch in enumerate(map(traces_data, batches), 1):
        where = f"record {number}"
        batch = as_dict(batch, where)
        resources = get(batch, "resourceSpans")
        if resources is None:
            raise TraceError(f"{where}: no resourceSpans")
        for resource in as_list(resources, f"{where}: resourceSpans"):
            resource = as_dict(resource, f"{where}: resourceSpans item")
            scopes = get(resource, "scopeSpans") or get(resource, "instrumentationLibrarySpans")
            shared = attributes(as_dict(resource.get("resource"), f"{where}: resource").get("attributes"), f"{where}: resource")
            for scope in as_list(scopes, f"{where}: scopeSpans"):
                scope = as_dict(scope, f"{where}: scopeSpans item")
                for span in as_list(scope.get("spans"), f"{where}: spans"):
                    record = _span(span, seq)
                    if shared and record.parent_id is None:
                        # Resource attributes (a test run's ids, the service) reach the trace through its root span.
                        record.attributes = {**{f"resource.{k}": v for k, v in shared.items()}, **record.attributes}
                    yield record
                    seq += 1


def group_by_trace(spans: Iterable[SpanRecord]) -> dict[str, list[SpanRecord]]:
    """Spans per trace id, traces in order of first appearance (resources and lines may split a trace)."""
    grouped: dict[str, list[SpanRecord]] = {}
    for span in spans:
        grouped.setdefault(span.trace_id, []).append(span)
    return grouped


def by_trace(spans: Iterable[SpanRecord]) -> Iterator[tuple[str, list[SpanRecord]]]:
    """(trace id, spans) as :func:`group_by_trace` groups them, handed out one trace at a time.

    ``spans`` is read (and any decoding error raised) at the first ``next``; a trace's spans are held
    only until the next trace is asked for.
    """
    yield from drain(group_by_trace(spans))


def drain(grouped: dict[str, list[SpanRecord]]) -> Iterator[tuple[str, list[SpanRecord]]]:
    """The traces of a grouping in order, each taken out of ``grouped`` as it is handed out, so that its
    spans can be freed once its trace is built."""
    for trace_id in list(grouped):
        yield trace_id, grouped.pop(trace_id)


def flatten(value: Any, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Nested objects and lists of objects as one flat dict with dotted keys (lists of scalars stay leaves)."""
    out = {} if out is None else out
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            flatten(inner, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for index, inner in enumerate(value):
            flatten(inner, f"{prefix}.{index}" if prefix else str(index), out)
    else:
        out[prefix] = value
    return out


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys to nested objects; objects keyed only by numbers become lists in numeric order.

    Indices may skip numbers (``tool_calls.1`` without ``tool_calls.0``): the list holds what is there.
    A key that is both a value and a prefix keeps the value under ``""``.
    """
    root: dict[str, Any] = {}
    for key, value in flatten(flat).items():
        parts = key.split(".")
        node = root
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = node[part] = {} if part not in node else {"": nxt}
            node = nxt
        if isinstance(node.get(parts[-1]), dict):
            node[parts[-1]][""] = value
        else:
            node[parts[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    node = {k: _listify(v) for k, v in node.items()}
    if node and all(k.isdigit() for k in node):
        return [node[k] for k in sorted(node, key=int)]
    return node
