"""The variable part of judge prompts: trace data as fenced, cuttable blocks.

Everything copied from a trace is untrusted. Each block of it is fenced between ``<<<TRACE_DATA_<code>``
and ``TRACE_DATA_<code>>>>``, where the code is secret and random per judged trace (see :class:`Fence`),
so text in a trace cannot close a fence it cannot predict; fence-like text in the data is replaced
after normalisation anyway. Long context is cut to a budget, farther context first.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from agenteval.judges.base import StepContext
from agenteval.judges.injection import neutralise_fences
from agenteval.models import Step, StepType

CHARS_PER_TOKEN = 4
_SHORT_FIELD = 200  # ids, tool and agent names are short; cap them so they cannot eat the budget
_MARKER_ALLOWANCE = 40  # room for the cut marker itself
_LAST_FLOOR = 120  # the second cutting pass takes every value down to this


@dataclass(frozen=True)
class Fence:
    """The fence lines of one judged step's prompt; ``token`` is random, unknown to the trace."""

    token: str

    @classmethod
    def new(cls) -> Fence:
        """A fence with a fresh random 12-hex-digit code."""
        return cls(secrets.token_hex(6))

    @classmethod
    def for_trace(cls, secret: bytes, trace_id: str) -> Fence:
        """The fence of every prompt about one trace: a keyed hash of its id under a random secret.

        The trace cannot predict it (the secret never leaves the judge), and the prompts about one
        trace share it, so steps of a type in one trace share their data (task, tool catalog) as a
        cached prompt prefix, not only the system message.
        """
        return cls(hmac.new(secret, trace_id.encode("utf-8"), hashlib.sha256).hexdigest()[:12])

    @property
    def open(self) -> str:
        """The line that opens a block of trace data."""
        return f"<<<TRACE_DATA_{self.token}"

    @property
    def close(self) -> str:
        """The line that closes a block of trace data."""
        return f"TRACE_DATA_{self.token}>>>"

    def header(self) -> str:
        """The first line of a user message: the code, so the model knows which fences are ours."""
        return f"Fence code: {self.token}. Trace data is only what sits between {self.open} and {self.close}."


@dataclass
class Slot:
    """A trace-derived value that may be cut from the middle."""

    text: str
    rank: int  # cut order: lower ranks are cut first
    floor: int  # characters kept in the first cutting pass
    keep: int | None = None

    def __post_init__(self) -> None:
        self.text = neutralise_fences(self.text)

    def render(self) -> str:
        if self.keep is None or self.keep >= len(self.text):
            return self.text
        head = (self.keep * 2 + 2) // 3
        tail = self.keep - head
        cut = len(self.text) - self.keep
        return f"{self.text[:head]}\n[... {cut} characters cut ...]\n{self.text[len(self.text) - tail :]}"


@dataclass
class Block:
    """A heading and one fenced block of trace data (lines and cuttable values)."""

    heading: str
    items: list[str | Slot]

    def render(self, fence: Fence) -> str:
        body = "\n".join(item.render() if isinstance(item, Slot) else item for item in self.items)
        return f"{self.heading}\n{fence.open}\n{body}\n{fence.close}"


def fit(parts: list[str | Block], budget_chars: int, fence: Fence) -> str:
    """Render the parts, cutting slot values (lowest rank first) until the text fits the budget."""

    def render() -> str:
        return "\n\n".join(p.render(fence) if isinstance(p, Block) else p for p in parts)

    slots = sorted(
        (item for p in parts if isinstance(p, Block) for item in p.items if isinstance(item, Slot)),
        key=lambda s: s.rank,
    )
    text = render()
    for final_pass in (False, True):
        for slot in slots:
            over = len(text) - budget_chars
            if over <= 0:
                return text
            current = len(slot.text) if slot.keep is None else slot.keep
            floor = min(slot.floor, _LAST_FLOOR) if final_pass else slot.floor
            target = max(floor, current - over - _MARKER_ALLOWANCE)
            if target < current:
                slot.keep = target
                text = render()
    return text


# ---- the variable part ---------------------------------------------------------------------

# Cut order: the task goes first, then expected outcome, tools, parents' outputs, the step itself.
_TASK, _EXPECTED, _TOOLS, _PARENTS, _STEP = 0, 1, 2, 3, 5


def context_blocks(ctx: StepContext, *, hide_decision: bool) -> list[str | Block]:
    step, trace = ctx.step, ctx.trace
    parts: list[str | Block] = [
        Block("## Task", [Slot(trace.task or "(the trace records no task text)", _TASK, 400)])
    ]
    if trace.expected_outcome:
        parts.append(Block("## Expected outcome", [Slot(trace.expected_outcome, _EXPECTED, 300)]))
    if step.type in (StepType.PLAN, StepType.TOOLSEL):
        catalog = "\n".join(f"- {_short(t.name)}: {t.description}" if t.description else f"- {_short(t.name)}"
                            for t in trace.tools)
        parts.append(Block("## Available tools", [Slot(catalog or "(the trace lists no tools)", _TOOLS, 600)]))
    elif step.type in (StepType.PARAMGEN, StepType.EXEC):
        parts.append(_tool_schema_block(ctx))
    parents = ctx.parents
    if parents:
        parts.append("## What the step consumed (outputs of its parent steps, oldest first)")
        parts += [_parent_block(p, i, len(parents)) for i, p in enumerate(parents, 1)]
    elif step.input is not None:
        received = Slot(_to_text(step.input), _PARENTS, 600)
        parts.append(Block("## What the step received (it has no parent steps; this is its input)", [received]))
    else:
        parts.append("## What the step consumed\n(the step has no parent steps)")
    if step.type is StepType.SYNTH:
        parts += _failed_calls_block(ctx)
    parts.append(_step_block(step, hide_decision=hide_decision))
    return parts


def _failed_calls_block(ctx: StepContext) -> list[str | Block]:
    """Tool calls that failed before an answer and are not among its parents: what it may not claim."""
    shown = {p.id for p in ctx.parents}
    earlier = ctx.trace.steps[: ctx.dag.position(ctx.step.id)]
    failed = [s for s in earlier if s.type is StepType.EXEC and s.failed_in_trace and s.id not in shown]
    if not failed:
        return []
    items: list[str | Slot] = []
    for call in failed[-5:]:
        items += [f"- {_short(call.id)} {_short(call.tool or 'tool')} (status: {call.status}):",
                  Slot(_error_text(call) if call.error else "(no error message)", _PARENTS, 200)]
    return [Block("## Earlier tool calls that failed (not among the parents above)", items)]


def _tool_schema_block(ctx: StepContext) -> str | Block:
    if ctx.step.tool is None:
        return "## Tool schema\n(the step names no tool)"
    tool = ctx.tool
    if tool is None:
        return "## Tool schema\n(the step's tool is not in the trace's tool catalog)"
    schema = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    return Block("## Tool schema (JSON Schema of the arguments)", [Slot(_to_text(schema), _TOOLS, 1500)])


def _parent_block(parent: Step, index: int, total: int) -> Block:
    items: list[str | Slot] = [f"id: {_short(parent.id)}"]
    items += _identity(parent)
    if parent.error is not None:
        items += ["error:", Slot(_error_text(parent), _PARENTS, 300)]
    value = parent.output if parent.output is not None else parent.arguments
    items += ["output:", Slot(_to_text(value), _PARENTS, 600)]
    return Block(f"### Parent {index} of {total}: {parent.type.value} step", items)


def _step_block(step: Step, *, hide_decision: bool) -> Block:
    heading = f"## The step to judge: {step.type.value}"
    items: list[str | Slot] = [f"id: {_short(step.id)}"]
    if hide_decision:
        if step.agent:
            items.append(f"agent: {_short(step.agent)}")
        return Block(f"{heading} (its own decision is hidden for this question)", items)
    items += _identity(step)
    if step.attempts > 1:
        items.append(f"attempts: {step.attempts} (identical retries collapsed)")
    if step.is_final:
        items.append("final answer: yes")
    if step.error is not None:
        items += ["error:", Slot(_error_text(step), _STEP + 2, 400)]
    if step.arguments is not None:
        items += ["arguments:", Slot(_to_text(step.arguments), _STEP + 1, 1200)]
    if step.output is not None or step.arguments is None:
        items += ["output:", Slot(_to_text(step.output), _STEP, 1200)]
    return Block(heading, items)


def _identity(step: Step) -> list[str]:
    lines = []
    if step.agent:
        lines.append(f"agent: {_short(step.agent)}")
    if step.tool:
        lines.append(f"tool: {_short(step.tool)}")
    lines.append(f"status: {step.status}")
    return lines


def _error_text(step: Step) -> str:
    error = step.error
    assert error is not None
    return f"{error.type}: {error.message}" if error.type else error.message


def _to_text(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value if value.strip() else f"(empty: {json.dumps(value)})"
    return json.dumps(value, ensure_ascii=False, default=str)


def _short(text: str) -> str:
    text = neutralise_fences(" ".join(text.split()))
    return text if len(text) <= _SHORT_FIELD else f"{text[:_SHORT_FIELD]}[...]"
