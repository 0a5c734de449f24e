"""What a trace shows it did not record, and the spans no convention maps to a step.

Two things a judge must not mistake for the agent's doing: content the source left out (capture off,
redacted, masked) and spans whose kind nobody knows. ``unrecorded`` names a step's missing fields so
judges can call the step not assessable; ``unmapped_spans`` lists the unknown spans of a trace and picks
those that recorded an error, which become steps so that no error is dropped.
"""

from __future__ import annotations

from typing import Any

from agenteval.formats._rawspan import RawSpan
from agenteval.formats._spantree import SpanTree
from agenteval.models import StepType

#: Whole values exporters put where they withheld content: OpenInference's TraceConfig
#: (``OPENINFERENCE_HIDE_*``), Langfuse's SDKs when the mask function fails, and the common generic
#: placeholders. Compared case-insensitively with the whole (stripped) value, never a substring.
WITHHELD = frozenset({
    "__redacted__",
    "<fully masked due to failed mask function>",
    "[redacted]",
    "<redacted>",
    "redacted",
})
#: Inspect moves long content to ``attachments``; a reference the log does not resolve is content it lacks.
_ATTACHMENT = "attachment://"


def withheld(value: Any) -> bool:
    """Whether a value is a placeholder for content the source withheld (redacted, masked, detached)."""
    if isinstance(value, str):
        return value.strip().casefold() in WITHHELD or value.startswith(_ATTACHMENT)
    if isinstance(value, dict):
        return bool(value) and any(withheld(v) for v in value.values() if isinstance(v, str))
    return False


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def clear_withheld(span: RawSpan) -> None:
    """An LLM span whose answer or messages are placeholders has no content: type it by structure (S6)."""
    if span.kind != "llm" or span.mapped_to is not None:
        return
    if span.out is not None and not span.out.tool_calls and withheld(span.out.text):
        span.out = None
        span.unrecorded.add("output")
    hidden = [withheld(m.text) for m in span.inp if m.text]
    if any(hidden):
        span.unrecorded.add("input")  # some of what the model saw is hidden from the judge too
        if all(hidden):
            span.inp = []
    span.content_missing = span.content_missing or (not span.inp and span.out is None)


def unrecorded(step: dict[str, Any], span: RawSpan) -> list[str]:
    """The fields of a derived step the source did not record: ``input``, ``output``, ``arguments``.

    A field counts as unrecorded when the reader saw that it was not captured (``span.unrecorded``, or
    an LLM span without messages) and the step has no value for it from elsewhere (an EXEC's result read
    from the next model call's input, say), or when its value is a placeholder (``withheld``). An
    empty answer the source did record is not unrecorded: that is the agent's doing.
    """
    missing: set[str] = set()
    kind, ok = step["type"], step.get("status", "ok") == "ok"
    if kind is StepType.EXEC:
        if withheld(step.get("output")) or (step.get("output") is None and "output" in span.unrecorded):
            missing.add("output")
        arguments = step.get("arguments")
        if withheld(arguments) or (arguments is None and "arguments" in span.unrecorded):
            missing |= {"input", "arguments"}
        return sorted(missing)
    not_captured = span.out is None and span.mapped_to is None
    if span.mapped_to is None and (step.get("input") is None or "input" in span.unrecorded):
        missing.add("input")  # clear_withheld has put withheld messages in span.unrecorded
    output = step.get("output")
    if kind in (StepType.PLAN, StepType.SYNTH):
        if withheld(output) or (ok and _blank(output) and (not_captured or "output" in span.unrecorded)):
            missing.add("output")
    elif kind is StepType.TOOLSEL:
        if not step.get("tool") and _blank(output) and (not_captured or "output" in span.unrecorded):
            missing.add("output")
    elif kind is StepType.PARAMGEN:
        arguments = step.get("arguments")
        if withheld(arguments) or (arguments is None and (not_captured or "arguments" in span.unrecorded)):
            missing.add("arguments")
    return sorted(missing)


def unmapped_spans(tree: SpanTree) -> tuple[list[dict[str, Any]], set[str]]:
    """The spans of a trace no convention or mapping typed, and the ids of those that become steps.

    An unmapped span that encloses steps is a container (an HTTP handler around the agent, say) and is
    not listed; one inside a step's own span (an HTTP call a tool made) belongs to that step. The rest
    are listed with their name, id and whether they recorded an error. A listed span with an error
    becomes a step unless an unmapped span inside it recorded one too (then that one does): an error is
    never dropped.
    """
    children: dict[str, list[str]] = {}
    for span in tree.spans.values():
        if span.parent is not None:
            children.setdefault(span.parent, []).append(span.id)
    holds_step: dict[str, bool] = {}
    for root in [s.id for s in tree.spans.values() if s.parent is None]:
        _mark_holders(root, tree, children, holds_step)
    listed = [s for s in tree.spans.values()
              if s.unmapped and not holds_step.get(s.id) and tree.host[s.id] is None]
    failed = {s.id for s in listed if s.status != "ok"}
    inner_failed = {s for s in failed if any(d in failed for d in _descendants(s, children))}
    listing = [{"span_id": s.id, "name": s.name, "error": s.status != "ok"} for s in listed]
    return listing, failed - inner_failed


def _mark_holders(root: str, tree: SpanTree, children: dict[str, list[str]], holds: dict[str, bool]) -> None:
    """holds[id]: whether a step-making span is below the span (iterative: traces can be deep)."""
    stack: list[tuple[str, bool]] = [(root, False)]
    while stack:
        span_id, done = stack.pop()
        if span_id in holds and not done:
            continue
        if done:
            holds[span_id] = any(tree.is_step(tree.spans[c]) or holds.get(c, False) for c in children.get(span_id, []))
            continue
        stack.append((span_id, True))
        stack.extend((c, False) for c in children.get(span_id, []) if c not in holds)


def _descendants(span_id: str, children: dict[str, list[str]]) -> set[str]:
    found: set[str] = set()
    stack = list(children.get(span_id, []))
    while stack:
        cur = stack.pop()
        if cur not in found:
            found.add(cur)
            stack.extend(children.get(cur, []))
    return found
