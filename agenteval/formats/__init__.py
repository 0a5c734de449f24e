"""Trace readers: a registry of format name -> lazily imported reader, detection, and file loading.

Each reader module exposes ``READER``, a :class:`FormatReader`. Built-ins are listed in
``BUILTIN_FORMATS``; other packages add readers through the ``agenteval.formats`` entry point group,
which goes through the same lazy loading.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agenteval.errors import TraceError
from agenteval.formats.base import Document, FormatReader, describe_validation_error, json_lines, load_document
from agenteval.models import InputError, Trace

if TYPE_CHECKING:
    from agenteval.formats.otlp_logs import LogEvents
    from agenteval.mapping import SpanMapping

__all__ = [
    "BUILTIN_FORMATS",
    "FormatReader",
    "ParsedFile",
    "available_formats",
    "describe_validation_error",
    "expand_paths",
    "get_reader",
    "parse_document",
    "read_file",
    "read_paths",
]

#: Built-in readers, in detection order (first match wins; ``native`` is the most specific).
BUILTIN_FORMATS: dict[str, str] = {
    "native": "agenteval.formats.native",
    "openinference": "agenteval.formats.openinference",
    "langfuse": "agenteval.formats.langfuse",
    "otel": "agenteval.formats.otel",
    "langsmith": "agenteval.formats.langsmith",
    "openai-agents": "agenteval.formats.openai_agents",
    "inspect": "agenteval.formats.inspect",
    "openai-chat": "agenteval.formats.openai_chat",
}

TRACE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".eval")
_HEAD = 3
"""How many records of a file tell an OTLP logs companion."""


def _entry_point_formats() -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group="agenteval.formats")}


def available_formats() -> dict[str, str]:
    """Format name -> module path of its reader, built-ins first."""
    return {**BUILTIN_FORMATS, **_entry_point_formats()}


def get_reader(name: str) -> FormatReader:
    """Import and return the reader registered under ``name``.

    Raises:
        TraceError: no reader has that name.
    """
    formats = available_formats()
    if name not in formats:
        raise TraceError(f"unknown format '{name}' (choose from: auto, {', '.join(formats)})")
    module_path, _, attr = formats[name].partition(":")
    return getattr(importlib.import_module(module_path), attr or "READER")


@dataclass(frozen=True)
class ParsedFile:
    """The traces read from one file and the format they were read as."""

    path: Path
    format: str
    traces: list[Trace]


def read_file(path: Path, format: str = "auto", mapping: SpanMapping | None = None) -> ParsedFile:
    """Read every trace in one file.

    A file of OTLP JSON Lines (what OpenTelemetry file exporters write) is decoded line by line and never
    held whole; the traces, format and errors are the same as for any other file.

    Args:
        path: the file.
        format: a registered format name, or "auto" to detect it from the content.
        mapping: span names and attributes the user mapped to step types (``[mapping]``).

    Raises:
        TraceError: the file is missing, is not JSON / JSON Lines, matches no format, or does not
            validate; the message names the file.
    """
    return _read_streaming(path, format, mapping=mapping) or parse_document(path, load_document(path), format, mapping)


def parse_document(path: Path, document: Document, format: str = "auto", mapping: SpanMapping | None = None) -> ParsedFile:
    """Parse an already loaded file (see :func:`read_file`)."""
    source = str(path)
    if format == "auto":
        reader = next(
            (r for r in map(get_reader, available_formats()) if r.detect(document)),
            None,
        )
        if reader is None:
            raise TraceError(
                "not a trace in any known format (see `agenteval formats`)", source=source
            )
    else:
        reader = get_reader(format)
    traces = reader.parse(document, source, mapping) if mapping and reader.mappable else reader.parse(document, source)
    return _parsed(path, reader.name, traces)


def _parsed(path: Path, format: str, traces: list[Trace]) -> ParsedFile:
    if not traces:
        raise TraceError("no traces in file", source=str(path))
    return ParsedFile(path=path, format=format, traces=traces)


def _read_streaming(
    path: Path, format: str, events: LogEvents | None = None, mapping: SpanMapping | None = None
) -> ParsedFile | None:
    """An OTLP/JSON Lines file read line by line, never held whole; None for any other file."""
    from agenteval.formats._otlp_stream import read_otlp_lines

    found = read_otlp_lines(path, format, events, mapping)
    return None if found is None else _parsed(path, *found)


def expand_paths(paths: Iterable[Path]) -> tuple[list[Path], list[TraceError]]:
    """Files named directly, plus trace files (.json, .jsonl, .ndjson) found under folders.

    Returns the files in a stable order and one error per path that does not exist.
    """
    files: list[Path] = []
    errors: list[TraceError] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TRACE_SUFFIXES)
            if not found:
                errors.append(TraceError("folder holds no .json/.jsonl trace files", source=str(path)))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            errors.append(TraceError("no such file or directory", source=str(path)))
    return files, errors


def read_paths(
    paths: Iterable[Path], format: str = "auto", mapping: SpanMapping | None = None
) -> tuple[list[ParsedFile], list[InputError]]:
    """Read every trace file under ``paths``; files that cannot be read become InputError records.

    ``mapping`` (the ``[mapping]`` settings) gives spans the user mapped a step type; the spans no
    reader maps are listed in each trace's ``metadata["unmapped_spans"]``.

    OpenTelemetry log files (``resourceLogs``) given alongside span files are companions, not traces:
    exporters write message content there, apart from the spans, so their records are joined to the
    spans they belong to (by trace and span id) before the span files are parsed.

    Only companions and files that are not JSON Lines are loaded up front (a file must be parsed to
    know it is a companion); a JSON Lines trace file is read when its turn comes, so one file's JSON
    is held at a time. Errors list missing paths, then unreadable files, then files that do not parse,
    each in file order.
    """
    if format != "auto":
        get_reader(format)
    files, missing = expand_paths(paths)
    errors = [InputError(source=e.source or "", message=e.message) for e in missing]
    unreadable: dict[int, InputError] = {}
    pending: list[tuple[int, Path, Document | None]] = []
    companions: list[Document] = []
    for index, path in enumerate(files):
        head = _json_lines_head(path)
        if head is not None and not _is_otlp_logs(Document(head, json_lines=True)):
            pending.append((index, path, None))
            continue
        document = _load(path, index, unreadable)
        if document is not None:
            (companions.append(document) if _is_otlp_logs(document) else pending.append((index, path, document)))
    join = bool(companions) and format in ("auto", "otel", "openinference")
    events = _companion_events(companions) if join else None
    stream = events is not None or not join  # else each span file is loaded and joined whole, as it reports
    parsed: list[ParsedFile] = []
    failed: list[InputError] = []
    for index, path, document in pending:
        try:
            if document is None:
                streamed = _read_streaming(path, format, events, mapping) if stream else None
                if streamed is not None:
                    parsed.append(streamed)
                    continue
                document = _load(path, index, unreadable)
                if document is None:
                    continue
            if join:
                document = _join_companions(document, companions, str(path))
            parsed.append(parse_document(path, document, format, mapping))
        except TraceError as exc:
            failed.append(_input_error(exc, path))
    return parsed, errors + [unreadable[i] for i in sorted(unreadable)] + failed


def _input_error(exc: TraceError, path: Path) -> InputError:
    return InputError(source=exc.source or str(path), message=exc.message)


def _load(path: Path, index: int, unreadable: dict[int, InputError]) -> Document | None:
    """The file's document, or None with its error noted under its position among the files."""
    try:
        return load_document(path)
    except TraceError as exc:
        unreadable[index] = _input_error(exc, path)
        return None


def _json_lines_head(path: Path) -> list[Any] | None:
    """The first records of a JSON Lines file, reading no further; None for any other file."""
    values = json_lines(path)
    if values is None:
        return None
    try:
        return list(itertools.islice(values, _HEAD))
    except TraceError:
        return None  # loaded whole, it reports the problem
    finally:
        values.close()


def _companion_events(companions: list[Document]) -> LogEvents | None:
    """The log records of every companion by span, in companion order; None when one does not decode
    (then each span file is joined the ordinary way, which reports it)."""
    from agenteval.formats.otlp_logs import log_events

    merged: LogEvents = {}
    try:
        for logs in companions:
            for key, events in log_events(logs).items():
                merged.setdefault(key, []).extend(events)
    except TraceError:
        return None
    return merged


def _is_otlp_logs(document: Document) -> bool:
    items = document.items()
    return bool(items) and all(
        isinstance(i, dict) and "resourceLogs" in i and "resourceSpans" not in i for i in items[:_HEAD]
    )


def _join_companions(document: Document, companions: list[Document], source: str) -> Document:
    from agenteval.formats.otlp import is_otlp
    from agenteval.formats.otlp_logs import join_logs

    if not is_otlp(document):
        return document
    for logs in companions:
        document = join_logs(document, logs)
    return document
