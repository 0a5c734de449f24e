"""Root-cause attribution beyond the paper's greedy walk. Pure functions over verdicts and the DAG.

``earliest``: the first failing step in trace order. A strong baseline on sequential agents,
where every later step consumes what came before.

``dag``: our algorithm. It rests on three observations about agent runs:

1. **A bad observation is the agent's to notice.** A tool's (or sub-agent's) output is an
   observation. When an EXEC returned normally but its result was judged wrong, and a reasoning
   step (PLAN, TOOLSEL, PARAMGEN, SYNTH) downstream fails as well, the agent read the bad result
   and went on (taxonomy E3.1 misread output): that decision is the actionable fault, so the EXEC
   is *absorbed* by it and is not a candidate. An EXEC the trace itself records as raised or timed
   out is different: the failure is plain, it is where the trouble started, and it stays a
   candidate (what the agent then did is a cascade).
2. **A failure the agent recovered from did not cause the outcome.** An EXEC that visibly failed
   (the trace records an error), followed downstream by a passing run of the same tool with only
   passing steps in between, was retried successfully. It is blamed only when no other failure is
   left to blame.
3. **Among what remains, blame the direct failures** (no remaining failing ancestor): later
   failures happened on corrupted state. When several independent direct failures remain, the one
   whose failure reaches the most failing steps comes first (it explains the most), then the one
   furthest under its threshold, then the earliest.

USER and SYSTEM steps are never blamed: they are not agent work (``classify`` skips them), and a
fault that lies with the user leaves no agent failure to blame. Every returned root cause has a
``chain`` of the failing steps on a path from it to the last failing step it reaches; the first
root cause is the one to report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from agenteval.dag import StepDAG
from agenteval.models import RootCause, StepType, StepVerdict
from agenteval.propagation import _root_cause, recovered_failures

#: Step types whose output an agent reasons about; a failure of theirs can absorb an EXEC failure.
REASONING_TYPES = frozenset({StepType.PLAN, StepType.TOOLSEL, StepType.PARAMGEN, StepType.SYNTH})


def _failed(verdicts: Mapping[str, StepVerdict]) -> set[str]:
    return {sid for sid, v in verdicts.items() if v.failed}


def _chain(dag: StepDAG, root: str, failed: set[str]) -> list[str]:
    """Failing steps on a path from root to the last failing step downstream of it."""
    downstream = [d for d in dag.descendants(root) if d in failed]
    if not downstream:
        return [root]
    path = dag.path(root, downstream[-1]) or [root, downstream[-1]]
    return [s for s in path if s in failed]


def earliest_root_causes(dag: StepDAG, verdicts: Mapping[str, StepVerdict]) -> list[RootCause]:
    """The earliest failing step in trace order."""
    failed = _failed(verdicts)
    first = next((s.id for s in dag.trace.steps if s.id in failed), None)
    if first is None:
        return []
    return [_root_cause(dag, verdicts, first, _chain(dag, first, failed), "earliest")]


def absorbed_failures(dag: StepDAG, verdicts: Mapping[str, StepVerdict]) -> set[str]:
    """Failing EXEC steps with a failing reasoning step downstream (observation 1)."""
    failed = _failed(verdicts)
    reasoning = {sid for sid in failed if dag.step(sid).type in REASONING_TYPES}
    return {
        sid
        for sid in failed
        if dag.step(sid).type is StepType.EXEC
        and not dag.step(sid).failed_in_trace
        and reasoning.intersection(dag.descendants(sid))
    }


def _direct(dag: StepDAG, candidates: Iterable[str]) -> list[str]:
    pool = set(candidates)
    return [c for c in pool if not pool.intersection(dag.ancestors(c))]


def dag_root_causes(dag: StepDAG, verdicts: Mapping[str, StepVerdict]) -> list[RootCause]:
    """Root causes by absorption, recovery and direct-failure impact (see the module docstring)."""
    failed = _failed(verdicts)
    if not failed:
        return []
    candidates = failed - absorbed_failures(dag, verdicts)
    if not candidates:  # cannot happen (a reasoning failure absorbs), but never blame nothing
        candidates = set(failed)
    unrecovered = candidates - recovered_failures(dag, verdicts)
    roots = _direct(dag, unrecovered or candidates)

    def rank(sid: str) -> tuple[int, float, int]:
        verdict = verdicts[sid]
        reach = len(failed.intersection(dag.descendants(sid)))
        deficit = (verdict.threshold or 0.0) - (verdict.score or 0.0)
        return (-reach, -deficit, dag.position(sid))

    return [_root_cause(dag, verdicts, sid, _chain(dag, sid, failed), "dag") for sid in sorted(roots, key=rank)]
