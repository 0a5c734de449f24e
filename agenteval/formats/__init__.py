"""Trace readers: a registry of format name -> lazily imported reader, detection, and file loading.

Each reader module exposes ``READER``, a :class:`FormatReader`. Built-ins are listed in
``BUILTIN_FORMATS``; other packages add readers through the ``agenteval.formats`` entry point group,
which goes through the same lazy loading.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agenteval.errors import TraceError
from agenteval.formats.base import Document, FormatReader, describe_validation_error, load_document
from agenteval.models import InputError, Trace

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


def read_file(path: Path, format: str = "auto") -> ParsedFile:
    """Read every trace in one file.

    Args:
        path: the file.
        format: a registered format name, or "auto" to detect it from the content.

    Raises:
        TraceError: the file is missing, is not JSON / JSON Lines, matches no format, or does not
            validate; the message names the file.
    """
    return parse_document(path, load_document(path), format)


def parse_document(path: Path, document: Document, format: str = "auto") -> ParsedFile:
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
    traces = reader.parse(document, source)
    if not traces:
        raise TraceError("no traces in file", source=source)
    return ParsedFile(path=path, format=reader.name, traces=traces)


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


def read_paths(paths: Iterable[Path], format: str = "auto") -> tuple[list[ParsedFile], list[InputError]]:
    """Read every trace file under ``paths``; files that cannot be read become InputError records.

    OpenTelemetry log files (``resourceLogs``) given alongside span files are companions, not traces:
    exporters write message content there, apart from the spans, so their records are joined to the
    spans they belong to (by trace and span id) before the span files are parsed.
    """
    if format != "auto":
        get_reader(format)
    files, missing = expand_paths(paths)
    errors = [InputError(source=e.source or "", message=e.message) for e in missing]
    documents: list[tuple[Path, Document]] = []
    companions: list[Document] = []
    for path in files:
        try:
            document = load_document(path)
        except TraceError as exc:
            errors.append(InputError(source=exc.source or str(path), message=exc.message))
            continue
        (companions.append(document) if _is_otlp_logs(document) else documents.append((path, document)))
    parsed = []
    for path, document in documents:
        try:
            if companions and format in ("auto", "otel", "openinference"):
                document = _join_companions(document, companions, str(path))
            parsed.append(parse_document(path, document, format))
        except TraceError as exc:
            errors.append(InputError(source=exc.source or str(path), message=exc.message))
    return parsed, errors


def _is_otlp_logs(document: Document) -> bool:
    items = document.items()
    return bool(items) and all(isinstance(i, dict) and "resourceLogs" in i and "resourceSpans" not in i for i in items[:3])


def _join_companions(document: Document, companions: list[Document], source: str) -> Document:
    from agenteval.formats.otlp import is_otlp, join_logs

    if not is_otlp(document):
        return document
    for logs in companions:
        document = join_logs(document, logs)
    return document
