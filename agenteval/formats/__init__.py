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
from agenteval.formats.base import FormatReader, describe_validation_error, load_document
from agenteval.models import InputError, Trace

__all__ = [
    "BUILTIN_FORMATS",
    "FormatReader",
    "ParsedFile",
    "available_formats",
    "describe_validation_error",
    "expand_paths",
    "get_reader",
    "read_file",
    "read_paths",
]

#: Built-in readers, in detection order (first match wins; ``native`` is the most specific).
BUILTIN_FORMATS: dict[str, str] = {
    "native": "agenteval.formats.native",
}

TRACE_SUFFIXES = (".json", ".jsonl", ".ndjson")


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
    source = str(path)
    document = load_document(path)
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
    """Read every trace file under ``paths``; files that cannot be read become InputError records."""
    if format != "auto":
        get_reader(format)
    files, missing = expand_paths(paths)
    errors = [InputError(source=e.source or "", message=e.message) for e in missing]
    parsed = []
    for path in files:
        try:
            parsed.append(read_file(path, format))
        except TraceError as exc:
            errors.append(InputError(source=exc.source or str(path), message=exc.message))
    return parsed, errors
