"""What every reader shares: the reader record, loading JSON or JSON Lines, and error wording."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agenteval.errors import TraceError
from agenteval.models import Trace


@dataclass(frozen=True)
class Document:
    """A parsed input file: one JSON value, or the values of a JSON Lines file."""

    data: Any
    """The JSON value; for JSON Lines, the list of line values."""
    json_lines: bool
    """Whether the file was JSON Lines."""

    def items(self) -> list[Any]:
        """The top-level records: the lines, the list's items, or the single value."""
        if self.json_lines or isinstance(self.data, list):
            return list(self.data)
        return [self.data]


@dataclass(frozen=True)
class FormatReader:
    """A trace format: how to recognise it and how to turn it into traces."""

    name: str
    description: str
    detect: Callable[[Document], bool]
    parse: Callable[[Document, str], list[Trace]]


def _load_zip(raw: bytes, source: str) -> Document:
    """A zip archive (e.g. an Inspect ``.eval`` log): its ``.json`` members as {member name: JSON value}."""
    members: dict[str, Any] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            for info in archive.infolist():
                if info.is_dir() or not info.filename.endswith(".json"):
                    continue
                try:
                    members[info.filename] = json.loads(archive.read(info).decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise TraceError(f"zip member {info.filename}: invalid JSON: {exc}".splitlines()[0],
                                     source=source) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError) as exc:
        raise TraceError(f"not a readable zip archive: {exc}".splitlines()[0], source=source) from None
    return Document(members, json_lines=False)


def load_document(path: Path) -> Document:
    """Parse a file as JSON, or as JSON Lines when it is not a single JSON value.

    A zip archive (an Inspect ``.eval`` log) becomes one object mapping each ``.json`` member's name to
    its parsed value.

    Raises:
        TraceError: unreadable file, or neither JSON nor JSON Lines (names the line that failed).
    """
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TraceError("no such file or directory", source=source) from None
    except OSError as exc:
        raise TraceError(f"cannot read file: {exc.strerror or exc}", source=source) from None
    if raw[:4] == b"PK\x03\x04":
        return _load_zip(raw, source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TraceError("not a text file (not UTF-8)", source=source) from None
    if not text.strip():
        raise TraceError("file is empty", source=source)
    try:
        return Document(json.loads(text), json_lines=False)
    except json.JSONDecodeError as whole_error:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        if len(lines) < 2:
            raise TraceError(
                f"invalid JSON: {whole_error.msg} (line {whole_error.lineno}, column {whole_error.colno})",
                source=source,
            ) from None
        values = []
        for number, line in lines:
            try:
                values.append(json.loads(line))
            except json.JSONDecodeError as exc:
                if number == lines[0][0]:
                    # The first line does not parse alone either: report the whole-file error.
                    raise TraceError(
                        f"invalid JSON: {whole_error.msg} (line {whole_error.lineno}, column {whole_error.colno})",
                        source=source,
                    ) from None
                raise TraceError(f"invalid JSON Lines: line {number}: {exc.msg}", source=source) from None
        return Document(values, json_lines=True)


def describe_validation_error(error: ValidationError, limit: int = 2) -> str:
    """One line naming the first failing fields of a pydantic error."""
    parts = []
    for item in error.errors()[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
