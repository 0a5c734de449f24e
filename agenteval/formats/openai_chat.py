"""OpenAI chat transcripts (and tau-bench run files) as step DAGs, per trace-formats.md §4.6 and §3.

Accepted containers: ``{"messages": [...], "tools": [...]}`` (one per JSON value or JSON Lines
line), a bare list of ``{role, content}`` messages, and tau-bench results (a list of
``{task_id, traj, reward, info, trial}``).

Steps keep the transcript's message index so outside labels line up: the first step derived from
message ``i`` has id ``"i"``, further ones ``"i.{role}{j}"`` (``"7.paramgen0"``, ``"7.toolsel1"``),
and every step carries ``metadata["message_index"]``.

Mapping (the spec's rules S3 and D1-D4, R3):

* system / developer -> SYSTEM; user -> USER (it depends on the last step of the assistant message
  it answers, so a multi-turn conversation stays one connected graph).
* assistant with tool calls -> TOOLSEL + PARAMGEN per call; its text becomes a PLAN first when this
  is the transcript's first assistant message, otherwise the TOOLSEL's ``metadata["reasoning"]``.
* assistant text without tool calls -> SYNTH when a user turn follows or no assistant / tool message
  does, else PLAN. Only the last SYNTH is final.
* tool / function -> EXEC, bound to its PARAMGEN by ``tool_call_id`` (else by tool name, first in
  first out; else the earliest unbound PARAMGEN; else it depends on the previous step). There is no
  error field in chat transcripts, so a result is an error when its text starts with ``Error``,
  ``Traceback``, ``Exception`` or ``ERROR:``, or it is a JSON object with a non-empty ``error`` key.
* The first step of each assistant message depends on the tool results, user and system messages
  that arrived since the previous assistant message; when nothing arrived, on the last step of the
  previous assistant message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agenteval.errors import TraceError
from agenteval.formats._chat_messages import ROLES, content_text, is_parts, tool_calls, tool_catalog, tool_error
from agenteval.formats.base import Document, FormatReader, describe_validation_error
from agenteval.models import Step, StepType, Trace


@dataclass
class _Builder:
    """Mutable state while walking one transcript."""

    index_base: int
    model: str | None
    steps: list[Step] = field(default_factory=list)
    arrived: list[str] = field(default_factory=list)
    """USER / SYSTEM / EXEC steps since the previous assistant message."""
    last_llm_step: str | None = None
    unbound: list[Step] = field(default_factory=list)
    """PARAMGEN steps whose call has not been executed yet, in order."""
    executed: dict[str, str] = field(default_factory=dict)
    """tool_call_id -> the latest EXEC of that call (R3)."""
    seen_assistant: bool = False

    def add(self, **fields: Any) -> Step:
        step = Step(**fields)
        self.steps.append(step)
        return step


def _step_id(index: int, role: str | None, j: int) -> str:
    return str(index) if role is None else f"{index}.{role}{j}"


def _is_synth(messages: Sequence[Mapping[str, Any]], position: int) -> bool:
    """S3b: text-only assistant output is an answer when a user turn follows or nothing else does."""
    for later in messages[position + 1 :]:
        role = ROLES.get(str(later.get("role", "")).lower())
        if role == "user":
            return True
        if role in ("assistant", "tool"):
            return False
    return True


def _assistant(
    b: _Builder, message: Mapping[str, Any], index: int, messages: Sequence[Mapping[str, Any]], position: int
) -> None:
    agent = message.get("name") or "assistant"
    text = content_text(message.get("content"))
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    calls = tool_calls(message)
    inputs = list(b.arrived) or ([b.last_llm_step] if b.last_llm_step else [])
    meta = {"message_index": index}
    common = {"agent": agent, "model": b.model}
    first = True

    def next_id(role: str, j: int) -> str:
        nonlocal first
        if first:
            first = False
            return _step_id(index, None, j)
        return _step_id(index, role, j)

    last: Step
    if calls:
        plan_id = None
        if text.strip() and not b.seen_assistant:
            plan = b.add(
                id=next_id("plan", 0), type=StepType.PLAN, parents=inputs, output=text, metadata=dict(meta), **common
            )
            plan_id = plan.id
        for j, call in enumerate(calls):
            extra = dict(meta)
            if j == 0 and text.strip() and plan_id is None:
                extra["reasoning"] = text
            if j == 0 and reasoning:
                extra["thinking"] = reasoning
            toolsel = b.add(
                id=next_id("toolsel", j),
                type=StepType.TOOLSEL,
                parents=[plan_id] if plan_id else inputs,
                output=call.name,
                tool=call.name,
                tool_call_id=call.id,
                metadata=extra,
                **common,
            )
            pmeta = dict(meta)
            if isinstance(call.raw_arguments, str) and call.arguments is call.raw_arguments:
                pmeta["arguments_raw"] = call.raw_arguments
            last = b.add(
                id=next_id("paramgen", j),
                type=StepType.PARAMGEN,
                parents=[toolsel.id],
                output=call.arguments,
                tool=call.name,
                arguments=call.arguments,
                tool_call_id=call.id,
                metadata=pmeta,
                **common,
            )
            b.unbound.append(last)
    else:
        step_type = StepType.SYNTH if _is_synth(messages, position) else StepType.PLAN
        if reasoning:
            meta["thinking"] = reasoning
        last = b.add(
            id=next_id(step_type.value.lower(), 0), type=step_type, parents=inputs, output=text, metadata=meta, **common
        )
    b.last_llm_step = last.id
    b.arrived = []
    b.seen_assistant = True


def _bind(b: _Builder, call_id: str | None, name: str | None) -> Step | None:
    """D2: the PARAMGEN a tool result belongs to (id, else name FIFO, else earliest unbound)."""
    for matches in (
        lambda p: call_id is not None and p.tool_call_id == call_id,
        lambda p: name is not None and p.tool == name,
        lambda p: True,
    ):
        found = next((p for p in b.unbound if matches(p)), None)
        if found is not None:
            b.unbound.remove(found)
            return found
    return None


def _tool(b: _Builder, message: Mapping[str, Any], index: int) -> None:
    call_id = message.get("tool_call_id")
    name = message.get("name")
    meta: dict[str, Any] = {"message_index": index}
    if call_id is not None and call_id in b.executed:
        parents = [b.executed[call_id]]  # R3: the same call executed again
        producer = None
    else:
        producer = _bind(b, call_id, name)
        if producer is not None:
            parents = [producer.id]
        else:
            parents = [b.steps[-1].id] if b.steps else []
            meta["invoked_by"] = "code"
    content = message.get("content")
    error = tool_error(content)
    if error is not None:
        meta["status_inferred"] = True
    step = b.add(
        id=_step_id(index, None, 0),
        type=StepType.EXEC,
        parents=parents,
        input=producer.arguments if producer is not None else None,
        output=content if isinstance(content, (dict, list)) and not is_parts(content) else content_text(content),
        tool=name or (producer.tool if producer is not None else None),
        arguments=producer.arguments if producer is not None else None,
        tool_call_id=call_id or (producer.tool_call_id if producer is not None else None),
        status="error" if error is not None else "ok",
        error=error,
        metadata=meta,
    )
    if step.tool_call_id:
        b.executed[step.tool_call_id] = step.id
    b.arrived.append(step.id)


def messages_to_trace(
    messages: Sequence[Mapping[str, Any]],
    *,
    trace_id: str,
    task: str | None = None,
    tools: Iterable[Any] | None = None,
    index_base: int = 0,
    metadata: Mapping[str, Any] | None = None,
    model: str | None = None,
) -> Trace:
    """Turn OpenAI chat messages into a Trace whose step ids keep the message indices.

    Args:
        messages: the transcript, in order.
        trace_id: id of the resulting trace.
        task: the task text; defaults to the first user message.
        tools: the tool catalog (OpenAI ``{"type": "function", "function": {...}}`` specs or Tools).
        index_base: index of the first message (1 when labels count the system prompt as step 1).
        metadata: extra trace metadata.
        model: model that produced the assistant messages, if known.

    Raises:
        TraceError: a message is not an object or has no known role (names the trace and message).
    """
    try:
        return _messages_to_trace(messages, trace_id, task, tools, index_base, metadata, model)
    except ValidationError as exc:
        raise TraceError(f"trace {trace_id}: {describe_validation_error(exc)}") from None


def _messages_to_trace(
    messages: Sequence[Mapping[str, Any]],
    trace_id: str,
    task: str | None,
    tools: Iterable[Any] | None,
    index_base: int,
    metadata: Mapping[str, Any] | None,
    model: str | None,
) -> Trace:
    builder = _Builder(index_base=index_base, model=model)
    for position, message in enumerate(messages):
        index = position + index_base
        if not isinstance(message, dict):
            raise TraceError(f"trace {trace_id}: message {index}: expected an object, got {type(message).__name__}")
        role = ROLES.get(str(message.get("role", "")).lower())
        if role is None:
            raise TraceError(f"trace {trace_id}: message {index}: unknown role {message.get('role')!r}")
        meta = {"message_index": index}
        if role == "assistant":
            _assistant(builder, message, index, messages, position)
        elif role == "tool":
            _tool(builder, message, index)
        elif role == "user":
            step = builder.add(
                id=str(index),
                type=StepType.USER,
                parents=[builder.last_llm_step] if builder.last_llm_step else [],
                agent=message.get("name") or "user",
                output=content_text(message.get("content")),
                metadata=meta,
            )
            builder.arrived.append(step.id)
        else:
            step = builder.add(
                id=str(index),
                type=StepType.SYSTEM,
                agent=message.get("name") or "system",
                output=content_text(message.get("content")),
                metadata=meta,
            )
            builder.arrived.append(step.id)
    synths = [s for s in builder.steps if s.type is StepType.SYNTH]
    if synths:
        synths[-1].is_final = True
    if task is None:
        task = next((s.output for s in builder.steps if s.type is StepType.USER and s.output), "")
    return Trace(
        id=trace_id,
        task=task,
        tools=tool_catalog(tools),
        steps=builder.steps,
        metadata={"time_synthetic": True, **(metadata or {})},
    )


# ---------------------------------------------------------------------------------------------
# Containers and detection


def _is_message(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and str(value.get("role", "")).lower() in ROLES
        and ("content" in value or "tool_calls" in value or "function_call" in value)
    )


def _is_wrapper(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("messages"), list)


def _is_taubench(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("traj"), list) and "task_id" in value


def detect(document: Document) -> bool:
    """True for ``{"messages": [...]}`` records, a bare list of messages, or tau-bench results."""
    records = document.items()
    if not records:
        return False
    head = records[:5]
    return all(_is_wrapper(r) for r in head) or all(_is_taubench(r) for r in head) or all(_is_message(r) for r in head)


def taubench_trace_id(record: Mapping[str, Any]) -> str:
    """The trace id of a tau-bench result: ``task-<task_id>-trial-<trial>``."""
    trial = record.get("trial")
    return f"task-{record.get('task_id')}" + (f"-trial-{trial}" if trial is not None else "")


def taubench_to_trace(record: Mapping[str, Any], *, index_base: int = 0, trace_id: str | None = None) -> Trace:
    """One tau-bench ``EnvRunResult`` as a Trace; reward, task id and trial go to its metadata."""
    tid = trace_id or taubench_trace_id(record)
    info = record.get("info") if isinstance(record.get("info"), dict) else {}
    task_info = info.get("task") if isinstance(info.get("task"), dict) else {}
    outputs = task_info.get("outputs")
    return messages_to_trace(
        record["traj"],
        trace_id=tid,
        index_base=index_base,
        metadata={"task_id": record.get("task_id"), "trial": record.get("trial"), "reward": record.get("reward")},
    ).model_copy(update={"expected_outcome": ", ".join(map(str, outputs)) if outputs else None})


def parse(document: Document, source: str) -> list[Trace]:
    """Read every transcript in the document.

    Raises:
        TraceError: a record is malformed (names the file and the record).
    """
    stem = Path(source).stem
    records = document.items()
    try:
        if records and all(_is_message(r) for r in records[:5]) and not any(_is_wrapper(r) for r in records):
            return [messages_to_trace(records, trace_id=stem)]
        traces = []
        seen: set[str] = set()
        for n, record in enumerate(records):
            if _is_taubench(record):
                trace = taubench_to_trace(record)
            elif _is_wrapper(record):
                trace_id = str(record.get("id") or (stem if len(records) == 1 else f"{stem}-{n}"))
                trace = messages_to_trace(
                    record["messages"],
                    trace_id=trace_id,
                    tools=record.get("tools"),
                    model=record.get("model"),
                    metadata={k: v for k, v in record.items() if k in ("parallel_tool_calls", "metadata")},
                )
            else:
                raise TraceError(f"record #{n}: not a chat transcript (no 'messages' list)", source=source)
            if trace.id in seen:
                trace = trace.model_copy(update={"id": f"{trace.id}-{n}"})
            seen.add(trace.id)
            traces.append(trace)
        return traces
    except TraceError as exc:
        if exc.source:
            raise
        raise TraceError(exc.message, source=source) from None
    except ValidationError as exc:
        raise TraceError(describe_validation_error(exc), source=source) from None


READER = FormatReader(
    name="openai-chat",
    description="OpenAI chat transcripts ({'messages': [...]} or a bare message list) and tau-bench results",
    detect=detect,
    parse=parse,
)
