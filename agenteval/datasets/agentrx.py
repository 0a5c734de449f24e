"""AgentRx (Microsoft) labeled traces: tau-bench retail runs and Magentic-One histories.

Folder layout: ``ground_truth/{tau,magentic_one}_ground_truth.json``, ``tau_retail/
tau_dataset_failed.json`` (and optionally ``tau_dataset_full.json`` with successful runs), and
``magentic_one/<trajectory_id>.json``.

Annotators counted steps from 1: for tau the step number is the message's ``index`` (the system
prompt is step 1), checked on load; for Magentic-One it is the 1-based position in the history.
Step ids therefore are those numbers (``"7"``; further steps of a message are ``"7.paramgen0"``).

Labels: every failing step the annotators found, with its category (normalised, see
:data:`CATEGORY_ALIASES`); the root cause; the blamed agent (``User`` for faults outside the
agent). Every other judged step of a labeled trace is a negative, except the other steps derived
from a failing message (which part of the message failed is not labeled). Successful tau runs of
``tau_dataset_full.json`` come with their outcome only; Magentic-One histories without labels are
left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agenteval.datasets.base import LabeledTrace, normalise_category, read_json, require_dir
from agenteval.datasets.magentic import history_to_trace
from agenteval.errors import TraceError
from agenteval.formats.openai_chat import messages_to_trace
from agenteval.models import Trace

DATASET = "agentrx"
TAU = "tau-retail"
MAGENTIC = "magentic-one"

#: Spellings in the ground truth -> the AgentRx category they mean (all lowercase).
CATEGORY_ALIASES: dict[str, str] = {
    "instruction adherence failure": "instruction/plan adherence failure",
    "plan adherence failure": "instruction/plan adherence failure",
    "intent-plan misalignment": "intent plan misalignment",
    "invention of new information": "invention of new information",
}

#: agenteval taxonomy code prefix -> nearest AgentRx category (for category kappa); approximate.
_CATEGORY_OF_CODE: tuple[tuple[str, str], ...] = (
    ("P1.1", "intent plan misalignment"),
    ("P1.2", "instruction/plan adherence failure"),
    ("P2", "intent plan misalignment"),
    ("P3.1", "invalid invocation"),
    ("P3.2", "intent plan misalignment"),
    ("P3.3", "instruction/plan adherence failure"),
    ("E1", "invalid invocation"),
    ("E2", "system failure"),
    ("E3", "misinterpretation of tool output"),
    ("I1", "invention of new information"),
    ("I2", "instruction/plan adherence failure"),
    ("I3", "instruction/plan adherence failure"),
)


def category(text: str | None) -> str | None:
    """A ground-truth category, lowercased and mapped to its canonical spelling."""
    norm = normalise_category(text)
    return CATEGORY_ALIASES.get(norm, norm) if norm else None


def category_for_code(code: str | None) -> str | None:
    """The AgentRx category closest to an agenteval failure code, or None."""
    if not code:
        return None
    return next((cat for prefix, cat in _CATEGORY_OF_CODE if code == prefix or code.startswith(prefix + ".")), None)


def _labels(trace: Trace, record: Mapping[str, Any], source: str) -> dict[str, Any]:
    """failing_steps, root_cause, root_cause_agent and negatives of one ground-truth record."""
    tid = record.get("trajectory_id")
    failures = record.get("failures")
    if not isinstance(failures, list) or not failures:
        raise TraceError(f"trajectory {tid}: no failures listed", source=source)
    ids = {s.id for s in trace.steps}
    try:
        root_id = int(record["root_cause"]["failure_id"])
    except (KeyError, TypeError, ValueError):
        raise TraceError(f"trajectory {tid}: root_cause.failure_id missing or not a number", source=source) from None
    failing: dict[str, str | None] = {}
    root = agent = None
    for failure in failures:
        step_id = str(failure.get("step_number"))
        if step_id not in ids:
            raise TraceError(f"trajectory {tid}: step_number {step_id} is not a step of the trace", source=source)
        cat = category(failure.get("failure_category"))
        is_root = _int(failure.get("failure_id")) == root_id
        if step_id not in failing or is_root:
            failing[step_id] = cat
        if is_root:
            root, agent = step_id, failure.get("failed_agent")
    if root is None:
        raise TraceError(f"trajectory {tid}: root cause failure_id {root_id} is not among its failures", source=source)
    units = call_units(trace)
    negatives = [s.id for s in trace.steps if s.type.judged and units.get(s.id, s.id) not in failing]
    return {"failing_steps": failing, "root_cause": root, "root_cause_agent": agent, "negatives": negatives,
            "units": units}


def call_units(trace: Trace) -> dict[str, str]:
    """Steps that share the label of another step: the further steps derived from one message
    (annotators label the message, by its first step's id), and for tau-bench the tool's answer,
    which belongs to the assistant message that made the call (the tool is the environment: the
    annotators never blame it, they label the call it answered)."""
    first: dict[Any, str] = {}
    units: dict[str, str] = {}
    calls: dict[str, str] = {}
    for step in trace.steps:
        index = step.metadata.get("message_index")
        head = first.setdefault(index, step.id)
        if head != step.id:
            units[step.id] = head
        if step.tool_call_id and step.type.value in ("TOOLSEL", "PARAMGEN"):
            calls.setdefault(step.tool_call_id, head)
    if trace.metadata.get("subset") == TAU:
        for step in trace.steps:
            if step.type.value == "EXEC" and step.tool_call_id in calls:
                units[step.id] = calls[step.tool_call_id]
    return units


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _ground_truth(directory: Path, name: str) -> dict[str, dict[str, Any]]:
    path = directory / "ground_truth" / name
    data = read_json(path)
    if not isinstance(data, list) or not all(isinstance(r, dict) and "trajectory_id" in r for r in data):
        raise TraceError("expected a list of records with 'trajectory_id'", source=str(path))
    return {str(r["trajectory_id"]): r for r in data}


def _tau_trace(run: Mapping[str, Any], source: str) -> Trace:
    traj = run.get("traj")
    if not isinstance(traj, list):
        raise TraceError(f"task {run.get('task_id')}: no 'traj' list", source=source)
    for position, message in enumerate(traj, 1):
        if isinstance(message, dict) and "index" in message and _int(message["index"]) != position:
            raise TraceError(
                f"task {run.get('task_id')}: message {position} has index {message['index']!r} (expected {position})",
                source=source,
            )
    try:
        return messages_to_trace(
            traj,
            trace_id=f"{TAU}/task-{run.get('task_id')}",
            index_base=1,
            metadata={"dataset": DATASET, "subset": TAU, "task_id": run.get("task_id"), "reward": run.get("reward")},
        )
    except TraceError as exc:
        raise TraceError(exc.message, source=source) from None


def _runs(path: Path) -> list[dict[str, Any]]:
    data = read_json(path)
    if not isinstance(data, list) or not all(isinstance(r, dict) and "task_id" in r for r in data):
        raise TraceError("expected a list of tau-bench runs with 'task_id'", source=str(path))
    return data


def load_tau(directory: Path) -> list[LabeledTrace]:
    """The labeled failed tau-retail runs, then the other runs with their outcome only.

    Raises:
        TraceError: a file is missing or malformed, or a label names a step the run lacks.
    """
    directory = require_dir(directory, holds=("tau_retail",))
    truth = _ground_truth(directory, "tau_ground_truth.json")
    failed_path = directory / "tau_retail" / "tau_dataset_failed.json"
    full_path = directory / "tau_retail" / "tau_dataset_full.json"
    traces: list[LabeledTrace] = []
    seen: set[str] = set()
    for path in (failed_path, full_path):
        if path == full_path and not path.exists():
            continue
        for run in _runs(path):
            key = str(run["task_id"])
            if key in seen:
                continue
            seen.add(key)
            trace = _tau_trace(run, str(path))
            reward = run.get("reward")
            outcome = None if reward is None else float(reward) < 1.0
            if key in truth:
                labels = _labels(trace, truth[key], str(directory / "ground_truth" / "tau_ground_truth.json"))
                traces.append(LabeledTrace(trace=trace, dataset=DATASET, subset=TAU, failed=True, **labels))
            else:
                traces.append(LabeledTrace(trace=trace, dataset=DATASET, subset=TAU, failed=outcome))
    missing = sorted(set(truth) - seen)
    if missing:
        raise TraceError(f"ground truth for tau runs not in the data: {', '.join(missing)}", source=str(directory))
    return traces


#: Where the Magentic-One histories live: the shared copy's name, then the upstream repository's.
MAGENTIC_FOLDERS = ("magentic_one", "magentic_dataset")


def load_magentic(directory: Path) -> list[LabeledTrace]:
    """The labeled Magentic-One histories (1-based step ids).

    Raises:
        TraceError: a file is missing or malformed, or a label names a step the history lacks.
    """
    directory = require_dir(directory, holds=MAGENTIC_FOLDERS)
    histories = next(directory / name for name in MAGENTIC_FOLDERS if (directory / name).is_dir())
    truth_path = directory / "ground_truth" / "magentic_one_ground_truth.json"
    traces = []
    for tid, record in _ground_truth(directory, truth_path.name).items():
        path = histories / f"{tid}.json"
        history = read_json(path)
        if not isinstance(history, list):
            raise TraceError("expected a list of messages", source=str(path))
        try:
            trace = history_to_trace(
                history,
                trace_id=f"{MAGENTIC}/{tid}",
                index_base=1,
                metadata={"dataset": DATASET, "subset": MAGENTIC},
            )
        except TraceError as exc:
            raise TraceError(exc.message, source=str(path)) from None
        labels = _labels(trace, record, str(truth_path))
        traces.append(LabeledTrace(trace=trace, dataset=DATASET, subset=MAGENTIC, failed=True, **labels))
    return traces


def load(directory: Path) -> list[LabeledTrace]:
    """All AgentRx traces: tau-retail, then Magentic-One."""
    return load_tau(directory) + load_magentic(directory)
