"""What every reader shares: the reader record, loading JSON or JSON Lines, and error wording."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from agenteval.errors import TraceError
from agenteval.formats._archive import read_members
from agenteval.models import Trace

_ZIP_MAGIC = b"PK\x03\x04"


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
    parse_spans: Callable[[Iterable[tuple[str, list[Any]]], str], list[Trace]] | None = None
    """Readers of OTLP spans: ``parse`` from already decoded spans, given trace by trace as (trace id,
    its ``otlp.SpanRecord``s in file order), so that a big JSON Lines file can be read line by line."""
    mappable: bool = False
    """``parse`` and ``parse_spans`` take a third argument: the user's ``agenteval.mapping.SpanMapping``."""


def _load_zip(path: Path, source: str) -> Document:
    """A zip archive (e.g. an Inspect ``.eval`` log): its ``.json`` members as {member name: JSON value}.

    Members are size-capped before and while they are inflated (see ``_archive``).
    """
    members: dict[str, Any] = {}
    for name, data in read_members(path, source, ".json"):
        try:
            members[name] = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TraceError(f"zip member {name}: invalid JSON: {exc}".splitlines()[0], source=source) from None
    return Document(members, json_lines=False)


def _filled_lines(text: TextIO) -> Iterator[tuple[int, str]]:
    """(line number, line) of the lines holding more than whitespace."""
    return ((number, line) for number, line in enumerate(text, 1) if line.strip())


def _values(text: TextIO, first: Any, rest: Iterator[tuple[int, str]], source: str) -> Iterator[Any]:
    yield first
    for number, line in rest:
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            for _ in text:  # a file that is not UTF-8 further on says so, as when files were read whole
                pass
            raise TraceError(f"invalid JSON Lines: line {number}: {exc.msg}", source=source) from None
        yield value


def _json_lines(text: TextIO, source: str) -> Iterator[Any] | None:
    """The line values of an open JSON Lines file, parsed as they are read; None when it is not one.

    A file is JSON Lines when its first non-blank line is a JSON value alone and another non-blank line
    follows (then the file as a whole cannot be one JSON value). Anything else (one value over one or
    many lines, blank, not JSON) is None, before anything past the second non-blank line is read.
    """
    lines = _filled_lines(text)
    first, second = next(lines, None), next(lines, None)
    if first is None or second is None:
        return None
    try:
        value = json.loads(first[1])
    except json.JSONDecodeError:
        return None
    return _values(text, value, itertools.chain([second], lines), source)


def _is_zip(path: Path) -> bool:
    with path.open("rb") as raw:
        return raw.read(4) == _ZIP_MAGIC


def json_lines(path: Path) -> Iterator[Any] | None:
    """The values of a JSON Lines file, read and parsed one line at a time (the file stays open until the
    iterator is exhausted or closed); None when the file is not JSON Lines or cannot be opened.

    Iterating raises TraceError, with the message :func:`load_document` gives, at a line that is not
    JSON or where the file stops being UTF-8.
    """
    source = str(path)
    try:
        if _is_zip(path):
            return None
        text = path.open(encoding="utf-8")
    except OSError:
        return None
    try:
        values = _json_lines(text, source)
    except (OSError, UnicodeDecodeError):
        values = None
    if values is None:
        text.close()
        return None
    return _closing(text, values, source)


def _closing(text: TextIO, values: Iterator[Any], source: str) -> Iterator[Any]:
    with text:
        try:
            yield from values
        except UnicodeDecodeError:
            raise TraceError("not a text file (not UTF-8)", source=source) from None
        except OSError as exc:
            raise TraceError(f"cannot read file: {exc.strerror or exc}", source=source) from None


def load_document(path: Path) -> Document:
    """Parse a file as JSON, or as JSON Lines when it is not a single JSON value.

    JSON Lines are read and parsed line by line, so only the parsed values are ever held. A zip archive
    (an Inspect ``.eval`` log) becomes one object mapping each ``.json`` member's name to its parsed value.

    Raises:
        TraceError: unreadable file, or neither JSON nor JSON Lines (names the line that failed).
    """
    source = str(path)
    try:
        if _is_zip(path):
            return _load_zip(path, source)
        with path.open(encoding="utf-8") as text:
            values = _json_lines(text, source)
            if values is not None:
                return Document(list(values), json_lines=True)
            text.seek(0)
            whole = text.read()
    except FileNotFoundError:
        raise TraceError("no such file or directory", source=source) from None
    except UnicodeDecodeError:
        raise TraceError("not a text file (not UTF-8)", source=source) from None
    except OSError as exc:
        raise TraceError(f"cannot read file: {exc.strerror or exc}", source=source) from None
    if not whole.strip():
        raise TraceError("file is empty", source=source)
    try:
        return Document(json.loads(whole), json_lines=False)
    except json.JSONDecodeError as exc:
        raise TraceError(f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", source=source) from None


def collect_traces(traces: Iterable[Trace | None], source: str) -> list[Trace]:
    """The traces a reader builds lazily, without the Nones (runs with nothing to evaluate).

    Raises:
        TraceError: building one failed; re-raised naming ``source`` as the file.
    """
    try:
        found = list(traces)
    except TraceError as exc:
        raise TraceError(exc.message, source=source) from None
    return [t for t in found if t is not None]


def describe_validation_error(error: ValidationError, limit: int = 2) -> str:
    """One line naming the first failing fields of a pydantic error."""
    parts = []
    for item in error.errors()[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
