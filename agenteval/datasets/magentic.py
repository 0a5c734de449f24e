"""Magentic-One chat histories (a list of ``{role, content}``) as step DAGs.

Who&When "Hand-Crafted" and AgentRx "magentic_one" hold the same histories; they differ only in
how they count messages (0-based vs 1-based), hence ``index_base``. One step per message, with the
message index as its id, so labels line up.

Typing. Magentic-One is an Orchestrator driving sub-agents (WebSurfer, FileSurfer, Coder named
"Assistant", ComputerTerminal) the way an agent drives tools:

* ``human`` -> USER.
* ``Orchestrator (thought)`` (plans, progress ledgers, "Next speaker ...") -> PLAN.
* ``Orchestrator (-> X)`` -> TOOLSEL: it picks sub-agent X and hands it the request
  (``tool`` = X, ``arguments`` = ``{"request": text}``).
* ``Orchestrator (termination condition)`` -> SYNTH, the final answer.
* Any other speaker is a sub-agent answering a request -> EXEC of tool X. Per trace-formats.md
  rule S5 a sub-agent's reply is the output of the call that invoked it. A reply that carries a
  Python traceback or starts with "Error" gets ``status="error"``.

Edges (trace-formats.md D2/D3/D4 applied to a group chat):

* a sub-agent's reply depends on the latest unanswered request addressed to it (else, on the
  previous message);
* an Orchestrator message depends on the replies and user messages that arrived since its previous
  message; when none arrived, on its previous message.

The team (every sub-agent addressed or speaking) is the trace's tool catalog.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from agenteval.errors import TraceError
from agenteval.models import ErrorInfo, Step, StepType, Tool, Trace

_ROLE = re.compile(r"^\s*(?P<agent>[^()]+?)\s*(?:\((?P<kind>[^)]*)\))?\s*$")
_ADDRESS = re.compile(r"^->\s*(?P<target>.+)$")
_ERROR = re.compile(r"Traceback \(most recent call last\)|^\s*error\b", re.IGNORECASE)

ORCHESTRATOR = "Orchestrator"
HUMAN_ROLES = frozenset({"human", "user"})


def _role(role: str) -> tuple[str, str | None, str | None]:
    """(agent, kind, addressed sub-agent) of a Magentic-One role string."""
    match = _ROLE.match(role)
    if not match:
        return role, None, None
    kind = match.group("kind")
    address = _ADDRESS.match(kind.strip()) if kind else None
    return match.group("agent"), kind, address.group("target").strip() if address else None


def history_to_trace(
    history: Sequence[Mapping[str, Any]],
    *,
    trace_id: str,
    task: str | None = None,
    index_base: int = 0,
    expected_outcome: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Trace:
    """A Magentic-One history as a Trace; step ids are message indices counted from ``index_base``.

    Raises:
        TraceError: a message is not an object with a string ``role`` (names the trace and message).
    """
    steps: list[Step] = []
    team: list[str] = []
    arrived: list[str] = []
    last_orchestrator: str | None = None
    requests: dict[str, str] = {}
    for position, message in enumerate(history):
        index = position + index_base
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise TraceError(f"trace {trace_id}: message {index}: expected an object with a string 'role'")
        sid = str(index)
        content = message.get("content")
        text = content if isinstance(content, str) else ("" if content is None else str(content))
        agent, kind, target = _role(message["role"])
        previous = [steps[-1].id] if steps else []
        fields: dict[str, Any] = {
            "id": sid,
            "agent": agent,
            "output": text,
            "metadata": {"message_index": index, "role": message["role"]},
        }
        if agent.lower() in HUMAN_ROLES and kind is None:
            steps.append(Step(type=StepType.USER, parents=previous, **fields))
            arrived.append(sid)
            continue
        if agent == ORCHESTRATOR:
            parents = arrived or ([last_orchestrator] if last_orchestrator else previous)
            if target:
                step_type = StepType.TOOLSEL
                fields.update(tool=target, arguments={"request": text})
                requests[target] = sid
                if target not in team:
                    team.append(target)
            elif kind and "termination" in kind:
                step_type = StepType.SYNTH
                fields["is_final"] = True
            else:
                step_type = StepType.PLAN
            steps.append(Step(type=step_type, parents=parents, **fields))
            last_orchestrator, arrived = sid, []
            continue
        request = requests.pop(agent, None)
        if agent not in team:
            team.append(agent)
        error = ErrorInfo(message=text.strip()[:2000]) if _ERROR.search(text) else None
        steps.append(
            Step(
                type=StepType.EXEC,
                parents=[request] if request else previous,
                tool=agent,
                input=steps[int(request) - index_base].arguments if request else None,
                status="error" if error else "ok",
                error=error,
                **fields,
            )
        )
        arrived.append(sid)
    if task is None:
        task = next((s.output for s in steps if s.type is StepType.USER), "")
    return Trace(
        id=trace_id,
        task=task or "",
        expected_outcome=expected_outcome,
        tools=[Tool(name=name, description=f"Magentic-One sub-agent {name}") for name in team],
        steps=steps,
        metadata={"time_synthetic": True, **(metadata or {})},
    )
