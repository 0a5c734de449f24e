"""agenteval's own trace format: the ``Trace`` model as JSON (one trace, a list, or JSON Lines)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from agenteval.errors import TraceError
from agenteval.formats.base import Document, FormatReader, describe_validation_error
from agenteval.models import Trace


def _records(document: Document) -> list[Any]:
    data = document.data
    if isinstance(data, dict) and isinstance(data.get("traces"), list) and not document.json_lines:
        return data["traces"]
    return document.items()


def _looks_native(record: Any) -> bool:
    if not isinstance(record, dict) or not isinstance(record.get("steps"), list):
        return False
    steps = record["steps"]
    return "id" in record and all(isinstance(s, dict) and "type" in s and "id" in s for s in steps[:5])


def detect(document: Document) -> bool:
    """True when the records are objects with ``id`` and ``steps`` whose steps carry ``id`` and ``type``."""
    records = _records(document)
    return bool(records) and all(_looks_native(r) for r in records[:3])


def parse(document: Document, source: str) -> list[Trace]:
    """Validate each record as a Trace.

    Raises:
        TraceError: a record is not an object or fails validation (names the trace and field).
    """
    traces = []
    for index, record in enumerate(_records(document)):
        label = f"trace {record.get('id')!r}" if isinstance(record, dict) and record.get("id") else f"trace #{index}"
        if not isinstance(record, dict):
            raise TraceError(f"{label}: expected a JSON object, got {type(record).__name__}", source=source)
        try:
            traces.append(Trace.model_validate(record))
        except ValidationError as exc:
            raise TraceError(f"{label}: {describe_validation_error(exc)}", source=source) from None
    return traces


READER = FormatReader(
    name="native",
    description="agenteval's own JSON format (see `agenteval schema trace`): one trace, a list, or JSON Lines",
    detect=detect,
    parse=parse,
)
