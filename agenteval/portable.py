"""Portable runs: a stored run as a JSON Lines file that another machine (CI) can compare against.

Line 1 is the run header ``{"format": "agenteval-run", "version": "1", "run": {...}}`` (the run
without its results); every following line is one ``TraceResult``. The same records are what a
Parquet export holds (``agenteval.store``), one per row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agenteval.errors import StoreError
from agenteval.models import Run, TraceResult

PORTABLE_FORMAT = "agenteval-run"
PORTABLE_VERSION = "1"

#: File suffixes read as exported runs (the rest of a baseline reference is a stored run's name).
RUN_FILE_SUFFIXES = (".jsonl", ".parquet")


def header_record(run: Run) -> dict[str, Any]:
    """The first record of an export: format, version and the run without its results."""
    return {
        "format": PORTABLE_FORMAT,
        "version": PORTABLE_VERSION,
        "run": run.model_dump(mode="json", exclude={"results"}),
    }


def run_records(run: Run) -> Iterator[str]:
    """The export of ``run`` as JSON texts: the header, then one trace result each."""
    yield json.dumps(header_record(run), ensure_ascii=False)
    for result in run.results:
        yield result.model_dump_json()


def run_from_records(records: Iterable[tuple[int, str]], source: str) -> Run:
    """Rebuild a run from numbered JSON texts (line numbers for JSON Lines, row numbers for Parquet).

    Raises:
        StoreError: the first record is not an agenteval run header of a known version, or a record
            is not valid JSON or not a trace result; the message names ``source`` and the record.
    """
    items = iter(records)
    first = next(items, None)
    if first is None:
        raise StoreError("empty file: expected an agenteval run export", source=source)
    number, text = first
    try:
        header = json.loads(text)
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != PORTABLE_FORMAT:
        raise StoreError(f"line {number}: not an agenteval run export (no '{PORTABLE_FORMAT}' header)", source=source)
    if header.get("version") != PORTABLE_VERSION:
        raise StoreError(
            f"line {number}: export format version {header.get('version')!r} is not supported "
            f"(this agenteval reads version {PORTABLE_VERSION})",
            source=source,
        )
    try:
        run = Run.model_validate({**header.get("run", {}), "results": []})
    except (ValidationError, TypeError) as exc:
        raise StoreError(f"line {number}: invalid run header: {_first_problem(exc)}", source=source) from None
    for number, text in items:
        if not text.strip():
            continue
        data = _json(text, source, number)
        try:
            run.results.append(TraceResult.model_validate(data))
        except ValidationError as exc:
            raise StoreError(f"line {number}: not a trace result: {_first_problem(exc)}", source=source) from None
    return run


def write_jsonl(run: Run, path: Path) -> None:
    """Write ``run`` to ``path`` as JSON Lines.

    Raises:
        StoreError: the file cannot be written.
    """
    try:
        with Path(path).open("w", encoding="utf-8") as out:
            for line in run_records(run):
                out.write(line + "\n")
    except OSError as exc:
        raise StoreError(f"cannot write: {exc.strerror or exc}", source=str(path)) from None


def read_jsonl(path: Path) -> Run:
    """Read a run exported with :func:`write_jsonl`.

    Raises:
        StoreError: the file is missing, unreadable or not an agenteval run export.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError("no such file", source=source) from None
    except UnicodeDecodeError:
        raise StoreError("not UTF-8 text", source=source) from None
    except OSError as exc:
        raise StoreError(f"cannot read: {exc.strerror or exc}", source=source) from None
    return run_from_records(enumerate(text.splitlines(), start=1), source)


def _json(text: str, source: str, number: int) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreError(f"line {number}: invalid JSON: {exc.msg} (column {exc.colno})", source=source) from None


def _first_problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        item = exc.errors()[0]
        where = ".".join(str(p) for p in item["loc"])
        return f"{where}: {item['msg']}" if where else item["msg"]
    return str(exc)
