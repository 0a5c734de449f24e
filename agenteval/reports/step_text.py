"""What a step holds, as plain text for every renderer: the one-line content (plan, arguments, output,
answer) and the full fields, with control characters removed and long text cut visibly.

Trace text is data from outside: renderers print what these functions return through escaping
(rich ``Text``, HTML ``textContent``, Mermaid entity codes), never as markup.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agenteval.models import Step, StepType

#: C0/C1 control characters except tab and newline, plus bidi overrides that can disguise text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile(r"\s+")
CUT_MARK = "…"


def clean(text: str) -> str:
    """``text`` without control characters (terminal escapes, bidi overrides); newlines and tabs stay."""
    return _CONTROL.sub("", text)


def as_text(value: Any) -> str:
    """A field's value as text: strings as they are, anything else as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return clean(value)
    try:
        return clean(json.dumps(value, ensure_ascii=False, default=str))
    except (TypeError, ValueError, RecursionError):
        return clean(repr(value))


def one_line(text: str, limit: int | None) -> str:
    """``text`` on one line (whitespace runs become one space), cut to ``limit`` characters with
    a trailing ``…`` when longer; ``limit=None`` keeps it whole."""
    flat = _SPACE.sub(" ", text).strip()
    if limit is None or len(flat) <= limit:
        return flat
    return flat[: max(limit - 1, 0)] + CUT_MARK


def cut(text: str, limit: int) -> str:
    """``text`` kept to ``limit`` characters, saying how many were cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} characters cut ...]"


def _field(step: Step, name: str) -> str:
    if name in step.unrecorded:
        return "(not recorded)"
    return as_text(getattr(step, name))


def content(step: Step) -> tuple[str, str]:
    """The step's main content as (label, text): what a reader needs to see on the step's line."""
    kind = step.type
    if kind is StepType.PLAN:
        return "plan", _field(step, "output")
    if kind is StepType.TOOLSEL:
        return "tool", step.tool or _field(step, "output")
    if kind is StepType.PARAMGEN:
        return "args", _field(step, "arguments") or _field(step, "output")
    if kind is StepType.EXEC:
        if step.error is not None:
            what = f"{step.error.type}: " if step.error.type else ""
            return "error", clean(what + step.error.message)
        if step.status == "timeout":
            return "error", "timed out"
        return "output", _field(step, "output")
    if kind is StepType.SYNTH:
        return "answer", _field(step, "output")
    text = _field(step, "output") or _field(step, "input")
    return ("message" if kind is StepType.USER else "input"), text


def fields(step: Step) -> dict[str, str]:
    """Every content field that has something, as text: input, arguments, output, error."""
    out = {name: _field(step, name) for name in ("input", "arguments", "output")}
    if step.error is not None:
        out["error"] = clean((f"{step.error.type}: " if step.error.type else "") + step.error.message)
    return {k: v for k, v in out.items() if v}
