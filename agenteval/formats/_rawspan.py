"""The decoded span every span-based reader produces (``RawSpan``) and the small decoders readers share.

The bottom of the trace-building modules: ``_spantree`` and ``_derive`` build on these types, and
``spans`` (the readers' entry point) builds on those, so imports point one way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from agenteval.errors import TraceError
from agenteval.models import ErrorInfo, Usage

if TYPE_CHECKING:
    from agenteval.mapping import SpanMapping

PLAN_NAME = re.compile(r"(?<![a-z])plan(?:ner|ning)?(?![a-z])", re.IGNORECASE)

SpanKind = Literal["llm", "tool", "agent", "chain", "aux"]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class ToolCall:
    """A tool call the model asked for."""

    name: str
    id: str | None = None
    args: Any = None
    """Arguments, parsed from JSON when possible."""
    args_raw: str | None = None
    """The arguments as the source wrote them, when that was a string."""


@dataclass
class Msg:
    """One chat message, normalised across formats."""

    role: str
    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    """For a tool-role message: the call it answers."""
    finish_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The message as plain JSON for ``Step.input``."""
        data: dict[str, Any] = {"role": self.role, "content": self.text}
        if self.reasoning:
            data["reasoning"] = self.reasoning
        if self.tool_calls:
            data["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": c.args} for c in self.tool_calls]
        if self.tool_call_id:
            data["tool_call_id"] = self.tool_call_id
        return data


@dataclass
class RawSpan:
    """One span (or run, observation, event) decoded from any format; the input of ``spans_to_trace``."""

    id: str
    kind: SpanKind = "aux"
    parent: str | None = None
    name: str = ""
    kind_raw: str | None = None
    """The source's own kind, e.g. ``execute_tool`` or ``LLM``."""
    start_ns: int | None = None
    end_ns: int | None = None
    seq: int = 0
    """Position in the file: the last tie-breaker of the time order."""
    status: Literal["ok", "error", "timeout"] = "ok"
    error: ErrorInfo | None = None
    model: str | None = None
    usage: Usage | None = None
    inp: list[Msg] = field(default_factory=list)
    out: Msg | None = None
    """Output choice 0 of an LLM call; None when not captured."""
    tool_name: str | None = None
    tool_call_id: str | None = None
    tool_args: Any = None
    tool_args_raw: str | None = None
    args_as_sent: bool = True
    """Whether ``tool_args`` are the arguments as the model sent them (False: as the function received
    them, defaults filled in), so that they can stand for an unrecorded tool call (S6)."""
    tool_result: Any = None
    tool_type: str | None = None
    agent_name: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    plan_marker: bool = False
    content_missing: bool = False
    """True for an LLM span whose messages were not captured (S6: type it by structure)."""
    unrecorded: set[str] = field(default_factory=set)
    """What the source shows it did not record (content capture off, redacted): ``input`` (an LLM's
    messages), ``output`` (an LLM's answer text, a tool's result), ``arguments`` (tool call arguments)."""
    unmapped: bool = False
    """No convention of the format says what this span is: its kind is the reader's fallback guess."""
    mapped_to: str | None = None
    """The step type a user mapping gave the span (``EXEC``, ``PLAN``, ``SYNTH`` or ``ignore``)."""


def looks_like_plan(name: str) -> bool:
    """S4: whether a span, run or graph-node name marks planning (``plan``, ``planner``, ``planning``)."""
    return bool(PLAN_NAME.search(name))


def decode_json(value: Any) -> Any:
    """``value`` parsed as JSON when it is a string holding a JSON object or array, else unchanged."""
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def decode_args(value: Any) -> tuple[Any, str | None]:
    """Tool arguments as (parsed, raw string or None); unparseable strings stay strings."""
    if isinstance(value, str):
        try:
            return json.loads(value), value
        except (ValueError, RecursionError):
            return value, value
    return value, None


def ns_from_iso(value: Any, where: str) -> int | None:
    """Nanoseconds since the epoch (UTC) of an ISO 8601 string; naive times are UTC.

    Raises:
        TraceError: not a string or not an ISO time (message names ``where``).
    """
    if value is None or value == "":
        return None
    try:
        # Python 3.10's fromisoformat does not read a "Z" suffix.
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except (AttributeError, TypeError, ValueError):
        raise TraceError(f"{where}: not an ISO 8601 time: {str(value)[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def map_target(mapping: SpanMapping | None, name: str, attributes: Mapping[str, Any] | None) -> str | None:
    """The step type a user mapping gives a span (``EXEC``, ``PLAN``, ``SYNTH``, ``ignore``), or None."""
    return mapping.target(name, attributes) if mapping else None


def mapped_kind(target: str | None, kind: SpanKind) -> SpanKind:
    """The kind to decode a span as: a mapped span as a tool (its input and output are what the step
    takes and gives), an ignored one as a container that makes no step, any other as the reader says."""
    if target is None:
        return kind
    return "chain" if target == "ignore" else "tool"


def settle(span: RawSpan, target: str | None, fallback: bool) -> RawSpan:
    """Finish a decoded span: record its mapping (a ``PLAN`` or ``SYNTH`` one makes that one step), and
    flag it unmapped when only the reader's fallback guess typed it."""
    span.mapped_to = target
    if target in ("PLAN", "SYNTH"):
        span.kind = "llm"
    span.unmapped = fallback and target is None
    return span
