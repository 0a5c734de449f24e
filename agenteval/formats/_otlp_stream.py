"""OTLP/JSON Lines files read span by span, for files too big to hold as parsed JSON.

Parsed whole, a file exporter's OTLP JSON Lines take about five times their size in memory (OTLP wraps
every attribute in two small objects), on top of the traces made from them. Here each line is decoded
into ``SpanRecord``s as it is read and its JSON let go, and each trace's spans are let go once its
trace is built. The traces, the format and the errors are those of loading the file whole and parsing
it: whenever this path cannot promise that, it steps aside and the caller does just that.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agenteval.errors import TraceError
from agenteval.formats.base import Document, FormatReader, json_lines
from agenteval.formats.otlp import drain, get, group_by_trace, iter_records
from agenteval.formats.otlp_logs import LogEvents, attach_events
from agenteval.models import Trace

if TYPE_CHECKING:
    from agenteval.mapping import SpanMapping

#: The first readers auto-detection tries, in order. For a document of OTLP traces ``native`` (which
#: needs ``steps`` lists) says no, and one of the other three always says yes: ``otel`` claims what the
#: two before it leave. Their ``detect`` on the whole file is the ``or`` (``and`` for otel) of their
#: ``detect`` on each line.
_FIRST = ("native", "openinference", "langfuse", "otel")
_OTLP = _FIRST[1:]
_NATIVE_HEAD = 3


class _NotStreamable(Exception):
    """A line is not an OTLP ``TracesData``: the file is read the ordinary way."""


def read_otlp_lines(
    path: Path, format: str, events: LogEvents | None = None, mapping: SpanMapping | None = None
) -> tuple[str, list[Trace]] | None:
    """The traces of an OTLP/JSON Lines file and the format that read them, decoded line by line.

    Args:
        path: the file.
        format: "auto", or the name of an OTLP reader (``otel``, ``openinference``, ``langfuse``).
        events: log records of companion files, to attach to the spans as ``otlp_logs.join_logs`` does.
        mapping: span names and attributes the user mapped to step types.

    Returns:
        (format name, traces), or None unless the file is JSON Lines whose every line is an OTLP
        ``TracesData`` that decodes cleanly and the readers involved are the built-in ones: the caller
        then loads and parses the file whole, which gives the same answer or the right error.

    Raises:
        TraceError: a trace cannot be built (as the reader's ``parse`` would raise it, naming the file).
    """
    if format != "auto" and format not in _OTLP:
        return None
    readers = _builtin_readers()
    if readers is None:
        return None
    values = json_lines(path)
    if values is None:
        return None
    head: list[Any] = []
    claims = {"openinference": False, "langfuse": False, "otel": True}

    def checked() -> Iterator[Any]:
        for value in values:
            if not isinstance(value, dict) or get(value, "resourceSpans") is None:
                raise _NotStreamable
            line = Document([value], json_lines=True)
            if events is not None:
                line = attach_events(line, events)
            if len(head) < _NATIVE_HEAD:
                head.extend(line.data)
            if format == "auto":
                claims["openinference"] = claims["openinference"] or readers["openinference"].detect(line)
                claims["langfuse"] = claims["langfuse"] or readers["langfuse"].detect(line)
                claims["otel"] = claims["otel"] and readers["otel"].detect(line)
            yield line.data[0]

    try:
        grouped = group_by_trace(iter_records(checked()))
    except (TraceError, _NotStreamable):
        return None  # the ordinary path reports the error, in its own order
    finally:
        values.close()
    if format == "auto":
        if readers["native"].detect(Document(head, json_lines=True)):
            return None
        format = next((name for name in _OTLP if claims[name]), "")
        if not format:
            return None
    reader = readers[format]
    parse_spans = reader.parse_spans
    if parse_spans is None:  # not a reader of OTLP spans after all
        return None
    if mapping and reader.mappable:
        return reader.name, parse_spans(drain(grouped), str(path), mapping)
    return reader.name, parse_spans(drain(grouped), str(path))


def _builtin_readers() -> dict[str, FormatReader] | None:
    """The readers of ``_FIRST``, when they are the built-ins and detection tries them first."""
    from agenteval.formats import BUILTIN_FORMATS, available_formats, get_reader

    formats = available_formats()
    if tuple(formats)[: len(_FIRST)] != _FIRST or any(formats[n] != BUILTIN_FORMATS[n] for n in _FIRST):
        return None
    return {name: get_reader(name) for name in _FIRST}
