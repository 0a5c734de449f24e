"""Telling traces and steps apart: unique trace ids within a run, unique id prefixes, readable labels. Pure.

* ``UniqueIds`` gives a trace whose id was already seen in the run a new id derived from its source
  file (the same trace read from two exports, Inspect sample ids repeated across log files), so both
  are kept; the caller warns with ``renamed``.
* ``resolve_prefix`` finds the one id a user's text names: the exact id, else the only id starting
  with it.
* ``trace_label`` is what tables show instead of a 32-hex-digit id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import PurePath

from agenteval.errors import AgentEvalError
from agenteval.models import Trace

#: How much of the task a label shows.
LABEL_TASK_CHARS = 48
#: How many candidates an ambiguity message lists.
_SHOWN = 5
#: Characters of a minted id shown beside a label: enough for `show --trace PREFIX`.
SHORT_ID = 8
_MINTED = re.compile(r"[0-9a-fA-F]{16,}")


class UniqueIds:
    """Hands out trace ids unique within one run, in the order traces arrive (streaming friendly).

    The first trace with an id keeps it; a later one becomes ``<id>@<file name>`` (then
    ``<id>@<path>``, then ``#2``, ``#3``... when that is taken too) and keeps the original in
    ``metadata["original_id"]``.
    """

    def __init__(self) -> None:
        """Start a run with no ids seen."""
        self._seen: set[str] = set()
        self.renamed = 0
        """How many traces got a new id."""

    def claim(self, trace: Trace, source: str | None = None) -> Trace:
        """``trace``, or a copy with a new unique id when its id was already claimed in this run."""
        if trace.id not in self._seen:
            self._seen.add(trace.id)
            return trace
        options = []
        if source:
            options += [f"{trace.id}@{PurePath(source).name}", f"{trace.id}@{PurePath(source).as_posix()}"]
        base = options[-1] if options else trace.id
        new = next((o for o in options if o not in self._seen), None)
        n = 2
        while new is None:
            candidate = f"{base}#{n}"
            new = candidate if candidate not in self._seen else None
            n += 1
        self._seen.add(new)
        self.renamed += 1
        return trace.model_copy(update={"id": new, "metadata": {**trace.metadata, "original_id": trace.id}})


def resolve_prefix(ids: Iterable[str], ref: str, what: str = "trace") -> str:
    """The id ``ref`` names: an exact match, else the only id that starts with ``ref``.

    Raises:
        AgentEvalError: no id, or more than one id, starts with ``ref`` (the message lists some).
    """
    ids = list(dict.fromkeys(ids))
    if ref in ids:
        return ref
    matches = [i for i in ids if i.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(matches[:_SHOWN]) + (", ..." if len(matches) > _SHOWN else "")
        raise AgentEvalError(f"{what} id prefix '{ref}' is ambiguous ({len(matches)} match: {shown})")
    known = ", ".join(ids[:_SHOWN]) + (", ..." if len(ids) > _SHOWN else "")
    raise AgentEvalError(f"no {what} '{ref}', and no {what} id starts with it ({what}s: {known or 'none'})")


def _text(value: object) -> str | None:
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    return " ".join(str(value).split()) or None


def is_minted(trace_id: str) -> bool:
    """Whether an id was minted by an exporter (hex, UUID) rather than written to be read."""
    return bool(_MINTED.fullmatch(trace_id.replace("-", "")))


def display_name(trace_id: str, label: str) -> str:
    """How tables name a trace: its id when a person wrote it, else its label and a short id prefix."""
    if not is_minted(trace_id) or label == trace_id:
        return trace_id
    return f"{label} ({trace_id[:SHORT_ID]})"


def trace_label(trace: Trace) -> str:
    """A readable name for a trace: its workflow, root span or agent name and the start of its task.

    Falls back to the trace id when the trace has neither.
    """
    meta = trace.metadata
    name = _text(meta.get("name")) or _text(meta.get("workflow_name")) or _text(meta.get("root_span"))
    if name is None:
        name = next((s.agent for s in trace.steps if s.agent), None)
    task = " ".join(trace.task.split())
    if len(task) > LABEL_TASK_CHARS:
        task = task[: LABEL_TASK_CHARS - 1].rstrip() + "…"
    if name and task:
        return f"{name}: {task}"
    return name or task or trace.id


def name_taken(name: str, runs: Sequence[tuple[str, datetime]]) -> str:
    """The warning for a new run given a name that stored runs already have."""
    ids = ", ".join(run_id for run_id, _ in runs[:_SHOWN])
    return f"run name '{name}' is already used by run {ids}: `{name}` will now mean the new run; older ones by their id"


def name_clash(ref: str, runs: Sequence[tuple[str, datetime]]) -> str | None:
    """A note when ``ref`` is a name that several runs have: which one was picked (the newest), and the others."""
    if len(runs) < 2:
        return None
    (picked, when), others = runs[0], runs[1:]
    listed = ", ".join(run_id for run_id, _ in others[:_SHOWN]) + (", ..." if len(others) > _SHOWN else "")
    return f"{len(runs)} runs are named '{ref}': using the newest, {picked} ({when:%Y-%m-%d %H:%M} UTC); others: {listed}"
