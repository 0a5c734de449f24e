"""Format-independent trace building: decoded spans (``RawSpan``) in, a ``Trace`` of typed steps out.

Span-based readers (OTel, OpenInference, ...) only decode their format into ``RawSpan`` records;
``spans_to_trace`` applies the rules of design/trace-formats.md §3 once for all of them: step typing
(S1-S6), data-flow edges (D0-D7), and retries, loops, duplicates and broken parent links (R1-R6).
Containment (which agent or chain enclosed a step) is kept in ``step.metadata``; ``Step.parents`` holds
data flow only, and always forms a DAG.

This module is the readers' entry point: the span types and decoders live in ``_rawspan``, the tree in
``_spantree`` and the derivation in ``_derive``; imports run one way, from here down.
"""

from __future__ import annotations

from collections.abc import Iterable

from agenteval.formats._derive import Builder
from agenteval.formats._rawspan import (
    Msg,
    RawSpan,
    SpanKind,
    ToolCall,
    decode_args,
    decode_json,
    looks_like_plan,
    map_target,
    mapped_kind,
    ns_from_iso,
    settle,
)
from agenteval.models import Tool, Trace

__all__ = [
    "Msg",
    "RawSpan",
    "SpanKind",
    "ToolCall",
    "decode_args",
    "decode_json",
    "looks_like_plan",
    "map_target",
    "mapped_kind",
    "ns_from_iso",
    "settle",
    "spans_to_trace",
]


def spans_to_trace(
    spans: Iterable[RawSpan],
    *,
    trace_id: str,
    format_name: str,
    task: str | None = None,
    tools: list[Tool] | None = None,
) -> Trace:
    """Derive the typed step DAG of one trace from its decoded spans.

    Args:
        spans: every span of the trace, in file order (``seq`` breaks time ties); duplicates of one
            span id are merged (R5).
        trace_id: the trace's id.
        format_name: the reader's format name, recorded in each step's source metadata.
        task: the agent's task; defaults to the first user message.
        tools: the tool catalog, when the source has one.

    Returns:
        The trace. Its ``metadata`` holds ``format``, ``warnings`` (edges dropped to keep the graph
        acyclic, broken parent cycles), ``annotations`` that no step could take and ``unmapped_spans``
        (spans no convention maps to a step type).

    Raises:
        TraceError: no span makes a step, or a span time is out of range (the message names the trace
            and span).
    """
    return Builder(spans, trace_id, format_name).build(task, tools)
