"""Who&When ("Which Agent Causes Task Failures and When?", ICML 2025) as labeled traces.

The folder holds ``Algorithm-Generated/*.json`` (AG2 group chats of "experts" and a
``Computer_terminal``) and ``Hand-Crafted/*.json`` (Magentic-One histories, read by
:mod:`agenteval.datasets.magentic`). One step per message; step ids are the 0-based indices of
``history`` that ``mistake_step`` counts in.

Algorithm-Generated heuristics (the chats have no tool-call structure, only text):

* message 0 carries the task and the manager's plan, handed to the first expert -> PLAN (the
  annotators do blame it: the plan can be wrong);
* a message from a terminal (``Computer_terminal``) -> EXEC of that tool; ``exitcode: 1``,
  "execution failed" or a traceback -> ``status="error"``; "no code ... to execute" stays ok
  (``metadata["no_code"]``);
* an expert message with a runnable code block (python / sh) -> PARAMGEN for the terminal, with
  the code as ``arguments``;
* other expert text -> SYNTH when it ends the chat (the last expert message, or one that says
  TERMINATE), else PLAN.

Edges: a group chat is a broadcast where each speaker answers the message before it, and the
terminal runs the code of the message before it; so each message depends on the previous one
(the terminal's result flows into the next message through that edge).

Labels: the whole trace failed; ``mistake_step`` is the decisive failing step (its category is
not given); every judged step before it is known correct (``negatives``); steps after it are
unlabeled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agenteval.datasets.base import LabeledTrace, normalise_agent, read_json, require_dir
from agenteval.datasets.magentic import history_to_trace
from agenteval.errors import TraceError
from agenteval.models import ErrorInfo, Step, StepType, Tool, Trace

DATASET = "who-and-when"
SUBSETS = {"Algorithm-Generated": "algorithm-generated", "Hand-Crafted": "hand-crafted"}
TERMINALS = frozenset({"computerterminal", "terminal"})

_CODE = re.compile(r"```[ \t]*(python3?|py|sh|bash|shell|console)?[ \t]*\n(.*?)```", re.IGNORECASE | re.DOTALL)
_EXEC_FAILED = re.compile(r"exitcode:\s*[1-9]|execution failed|Traceback \(most recent call last\)", re.IGNORECASE)
_NO_CODE = re.compile(r"no code (?:block )?(?:from|in) the last", re.IGNORECASE)


def _speaker(message: Mapping[str, Any]) -> str:
    return str(message.get("name") or message.get("role") or "")


def _code(text: str) -> list[str]:
    return [body.strip() for _, body in _CODE.findall(text) if body.strip()]


def group_chat_to_trace(
    history: Sequence[Mapping[str, Any]],
    *,
    trace_id: str,
    task: str = "",
    expected_outcome: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Trace:
    """An AG2 group-chat history (Who&When Algorithm-Generated) as a Trace, ids = 0-based indices.

    Raises:
        TraceError: a message is not an object (names the trace and message).
    """
    speakers = []
    for index, message in enumerate(history):
        if not isinstance(message, dict):
            raise TraceError(f"trace {trace_id}: message {index}: expected an object, got {type(message).__name__}")
        speakers.append(_speaker(message))
    experts = [i for i, name in enumerate(speakers) if normalise_agent(name) not in TERMINALS]
    last_expert = experts[-1] if experts else -1
    terminal = next((name for name in speakers if normalise_agent(name) in TERMINALS), "Computer_terminal")
    steps: list[Step] = []
    for index, message in enumerate(history):
        text = message.get("content") if isinstance(message.get("content"), str) else str(message.get("content") or "")
        name = speakers[index]
        fields: dict[str, Any] = {
            "id": str(index),
            "agent": name,
            "parents": [str(index - 1)] if index else [],
            "output": text,
            "metadata": {"message_index": index, "role": message.get("role")},
        }
        code = _code(text)
        if index == 0:
            steps.append(Step(type=StepType.PLAN, **fields))
        elif normalise_agent(name) in TERMINALS:
            ran = steps[-1].arguments if steps and steps[-1].type is StepType.PARAMGEN else None
            failed = bool(_EXEC_FAILED.search(text))
            if _NO_CODE.search(text):
                fields["metadata"]["no_code"] = True
            steps.append(
                Step(
                    type=StepType.EXEC,
                    tool=name,
                    input=ran,
                    arguments=ran,
                    status="error" if failed else "ok",
                    error=ErrorInfo(message=text.strip()[:2000]) if failed else None,
                    **fields,
                )
            )
        elif code:
            arguments = {"code": "\n\n".join(code)}
            steps.append(Step(type=StepType.PARAMGEN, tool=terminal, arguments=arguments, **fields))
        elif index == last_expert or "TERMINATE" in text:
            steps.append(Step(type=StepType.SYNTH, **fields))
        else:
            steps.append(Step(type=StepType.PLAN, **fields))
    synths = [s for s in steps if s.type is StepType.SYNTH]
    if synths:
        synths[-1].is_final = True
    return Trace(
        id=trace_id,
        task=task,
        expected_outcome=expected_outcome,
        tools=[Tool(name=terminal, description="Runs the python or sh code blocks of the message before it.")],
        steps=steps,
        metadata={"time_synthetic": True, **(metadata or {})},
    )


def _labeled(path: Path, subset: str) -> LabeledTrace:
    record = read_json(path)
    if not isinstance(record, dict) or not isinstance(record.get("history"), list):
        raise TraceError("not a Who&When record (no 'history' list)", source=str(path))
    history = record["history"]
    trace_id = f"{subset}/{path.stem}"
    meta = {
        "dataset": DATASET,
        "subset": subset,
        "question_id": record.get("question_ID"),
        "level": record.get("level"),
        "mistake_reason": record.get("mistake_reason"),
    }
    common = {
        "trace_id": trace_id,
        "task": str(record.get("question") or ""),
        "expected_outcome": None if record.get("ground_truth") is None else str(record["ground_truth"]),
        "metadata": meta,
    }
    try:
        trace = (
            history_to_trace(history, **common) if subset == "hand-crafted" else group_chat_to_trace(history, **common)
        )
    except TraceError as exc:
        raise TraceError(exc.message, source=str(path)) from None
    try:
        mistake = int(str(record.get("mistake_step")).strip())
    except ValueError:
        raise TraceError(f"mistake_step {record.get('mistake_step')!r} is not an index", source=str(path)) from None
    if not 0 <= mistake < len(history):
        raise TraceError(f"mistake_step {mistake} is outside the history (0-{len(history) - 1})", source=str(path))
    step_id = str(mistake)
    return LabeledTrace(
        trace=trace,
        dataset=DATASET,
        subset=subset,
        # Who&When holds failed runs only ("is_correct" false in Algorithm-Generated).
        failed=not bool(record.get("is_correct", False)),
        failing_steps={step_id: None},
        root_cause=step_id,
        root_cause_agent=record.get("mistake_agent"),
        negatives=[s.id for s in trace.steps if s.type.judged and s.metadata["message_index"] < mistake],
    )


def _natural(path: Path) -> tuple[int, str]:
    return (int(path.stem), "") if path.stem.isdigit() else (1 << 30, path.stem)


def _load(directory: Path, folders: tuple[str, ...]) -> list[LabeledTrace]:
    directory = require_dir(directory, holds=folders)
    traces = []
    for folder in folders:
        for path in sorted((directory / folder).glob("*.json"), key=_natural):
            traces.append(_labeled(path, SUBSETS[folder]))
    if not traces:
        raise TraceError(f"no Who&When records in {' or '.join(folders)}", source=str(directory))
    return traces


def load(directory: Path) -> list[LabeledTrace]:
    """Every Who&When trace under ``directory`` (its Algorithm-Generated and Hand-Crafted folders).

    Raises:
        TraceError: the folder or a record is missing or malformed (names it).
    """
    return _load(directory, tuple(SUBSETS))


def load_algorithm_generated(directory: Path) -> list[LabeledTrace]:
    """The Algorithm-Generated (AG2 group chat) traces only."""
    return _load(directory, ("Algorithm-Generated",))


def load_hand_crafted(directory: Path) -> list[LabeledTrace]:
    """The Hand-Crafted (Magentic-One) traces only."""
    return _load(directory, ("Hand-Crafted",))
