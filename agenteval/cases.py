"""Case keys: which test case of a suite a trace ran, so two runs pair by case and not by trace id. Pure.

Exporters mint a new trace id on every run, so a trace id says nothing about which case of the suite
ran. A case key does, and stays the same from run to run. ``case_key`` derives it from a trace and a
pairing rule (``--pair-by``):

* ``auto`` (default): the first natural key the trace carries (see ``NATURAL_KEYS``: our
  ``metadata.case_id`` / ``metadata.example_id``, LangSmith's ``reference_example_id``, the Inspect task
  and sample id, the tau-bench task id), else a hash of the task text, else the trace id.
* ``trace-id``: the trace id (for suites whose ids are stable).
* ``task``: a hash of the task text (whitespace-normalised).
* ``metadata:PATH``: a field of the trace's metadata, dotted for nesting (``metadata:dataset.row``).
* ``attr:NAME``: an OpenTelemetry / OpenInference span or resource attribute (root span and resource
  first, then the steps' spans in order).

Several traces of one run with the same key are repeated trials of the case (``trial`` tells them
apart when the source numbers them: Inspect epochs, tau-bench trials, ``metadata.epoch`` /
``metadata.trial``). Only when the key is the task-text fallback are repeats ``ambiguous``: two
cases may share a prompt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from agenteval.errors import ConfigError
from agenteval.models import Trace
from agenteval.policy import check_pair_by

#: Trace metadata fields holding a case key, in the order ``auto`` tries them, with how reports name them
#: (also read from the root span's attributes, where LangSmith's reader leaves ``reference_example_id``).
NATURAL_KEYS: tuple[tuple[str, str], ...] = (
    ("case_id", "metadata.case_id"),
    ("example_id", "metadata.example_id"),
    ("reference_example_id", "LangSmith reference_example_id"),
)
#: Trace metadata fields numbering a trial of a case.
TRIAL_KEYS = ("epoch", "trial")


@dataclass(frozen=True)
class CaseKey:
    """The case a trace ran, how that was found, and which trial of the case it was."""

    key: str | None
    """The case key; None when the rule names a field the trace does not have."""
    source: str
    """Where the key came from, e.g. 'metadata.case_id', 'Inspect sample', 'task text'."""
    trial: str | None = None
    """The trial (epoch) of the case, when the source numbers them."""
    explicit: bool = True
    """False for the task-text fallback of ``auto``: repeats of such a key are ambiguous."""


def validate_rule(rule: str) -> str:
    """The rule, stripped, when it is one ``case_key`` understands.

    Raises:
        ConfigError: an unknown rule, or a prefixed rule without a name.
    """
    try:
        return check_pair_by(rule)
    except ValueError as exc:
        raise ConfigError(f"pair_by: {exc}") from None


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _dotted(data: Any, path: str) -> Any:
    if isinstance(data, dict) and path in data:
        return data[path]
    node = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _trial(trace: Trace) -> str | None:
    return next((t for t in (_scalar(trace.metadata.get(k)) for k in TRIAL_KEYS) if t is not None), None)


def task_hash(task: str) -> str:
    """A short stable hash of a task text (whitespace runs count as one space)."""
    return hashlib.sha256(" ".join(task.split()).encode("utf-8")).hexdigest()[:16]


def attribute(trace: Trace, name: str) -> Any:
    """A span or resource attribute: the root span's (``metadata.attributes``; OTLP readers add the
    resource's there as ``resource.<name>``) first, then each step's span attributes in step order;
    None when no span has it."""
    holder = trace.metadata.get("attributes")
    if isinstance(holder, dict):
        for key in (name, f"resource.{name}"):
            if _scalar(holder.get(key)) is not None:
                return holder[key]
    for step in trace.steps:
        attrs = step.metadata.get("attributes")
        if isinstance(attrs, dict) and _scalar(attrs.get(name)) is not None:
            return attrs[name]
    return None


def natural_key(trace: Trace) -> CaseKey | None:
    """The case key the trace's source recorded, if any (what ``auto`` uses before the task text)."""
    meta = trace.metadata
    trial = _trial(trace)
    root = meta.get("attributes") if isinstance(meta.get("attributes"), dict) else {}
    for field, source in NATURAL_KEYS:
        key = _scalar(meta.get(field)) or _scalar(root.get(field))
        if key is not None:
            return CaseKey(key, source, trial)
    sample = _scalar(meta.get("sample_id"))
    if sample is not None and meta.get("format", "inspect") == "inspect" and "epoch" in meta:
        task = _scalar(meta.get("task")) or "inspect"
        return CaseKey(f"{task}/{sample}", "Inspect sample", trial)
    task_id = _scalar(meta.get("task_id"))
    if task_id is not None:
        return CaseKey(f"task-{task_id}", "tau-bench task_id", trial)
    return None


def case_key(trace: Trace, rule: str = "auto") -> CaseKey:
    """The case ``trace`` ran under ``rule`` (see the module docstring); rules are checked by ``validate_rule``."""
    if rule == "auto":
        found = natural_key(trace)
        if found is not None:
            return found
        if trace.task.strip():
            return CaseKey(f"task:{task_hash(trace.task)}", "task text", _trial(trace), explicit=False)
        return CaseKey(trace.id, "trace id", _trial(trace))
    if rule == "trace-id":
        return CaseKey(trace.id, "trace id", _trial(trace))
    if rule == "task":
        key = f"task:{task_hash(trace.task)}" if trace.task.strip() else None
        return CaseKey(key, "task text", _trial(trace))
    if rule.startswith("metadata:"):
        path = rule[len("metadata:"):]
        return CaseKey(_scalar(_dotted(trace.metadata, path)), f"metadata.{path}", _trial(trace))
    if rule.startswith("attr:"):
        name = rule[len("attr:"):]
        return CaseKey(_scalar(attribute(trace, name)), f"attribute {name}", _trial(trace))
    raise ConfigError(f"pair_by: unknown rule '{rule}'")
