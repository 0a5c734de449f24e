"""Failure verdicts along the DAG (direct vs cascade) and root-cause attribution. Pure functions.

A step fails when its score is under its type's threshold. A failing step with a failing ancestor is
a CASCADE failure (it may only have received bad input); one without is a DIRECT failure. Root-cause
algorithms take the verdicts and name the steps to blame; they are registered by name so new ones
plug in beside the paper's greedy walk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from agenteval.dag import StepDAG
from agenteval.models import Judgment, RootCause, StepType, StepVerdict, TraceStatus

#: The paper's thresholds (grid-searched on a held-out set): fail when score < threshold.
DEFAULT_THRESHOLDS: dict[StepType, float] = {
    StepType.PLAN: 3.0,
    StepType.TOOLSEL: 3.0,
    StepType.PARAMGEN: 2.5,
    StepType.EXEC: 3.0,
    StepType.SYNTH: 3.0,
}


def classify(
    dag: StepDAG,
    judgments: Mapping[str, Judgment],
    thresholds: Mapping[StepType, float] | None = None,
) -> list[StepVerdict]:
    """One verdict per step, in trace order.

    Steps that are not agent work, have no judgment, or were not assessed are ``skipped``; a
    judgment carrying an error is ``judge_error`` (never a pass); one saying the trace lacks the
    evidence is ``not_assessable`` (neither a failure nor a pass); the rest pass or fail on the
    threshold, and failures are split into direct and cascade by their failing ancestors. A failed
    tool call the agent recovered from (see :func:`recovered_failures`) keeps its verdict and is
    marked ``recovered``.
    """
    limits = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    verdicts: dict[str, StepVerdict] = {}
    failing: set[str] = set()
    for step in dag.steps():
        judgment = judgments.get(step.id)
        threshold = limits.get(step.type)
        base = {"step_id": step.id, "type": step.type, "threshold": threshold, "judgment": judgment}
        if not step.type.judged or judgment is None:
            why = "not agent work" if not step.type.judged else "not judged"
            verdicts[step.id] = StepVerdict(verdict="skipped", reason=why, **base)
            continue
        base.update(score=judgment.score, reason=judgment.error or judgment.reason)
        base["flags"] = list(judgment.flags)
        if judgment.error:
            verdicts[step.id] = StepVerdict(verdict="judge_error", **base)
        elif judgment.not_assessable:
            base["reason"] = judgment.not_assessable
            verdicts[step.id] = StepVerdict(verdict="not_assessable", **base)
        elif judgment.score is None or not judgment.assessed:
            verdicts[step.id] = StepVerdict(verdict="skipped", **base)
        elif threshold is not None and judgment.score < threshold:
            upstream = [a for a in dag.ancestors(step.id) if a in failing]
            failing.add(step.id)
            verdicts[step.id] = StepVerdict(
                verdict="cascade" if upstream else "direct",
                failure_code=judgment.failure_code,
                upstream_failures=upstream,
                **base,
            )
        else:
            verdicts[step.id] = StepVerdict(verdict="pass", **base)
    for step_id in recovered_failures(dag, verdicts):
        verdicts[step_id] = verdicts[step_id].model_copy(update={"recovered": True})
    return [verdicts[s.id] for s in dag.trace.steps]


def recovered_failures(dag: StepDAG, verdicts: Mapping[str, StepVerdict]) -> set[str]:
    """Failing EXEC steps with a recorded error that a passing retry of the same tool followed, with
    only passing steps in between: the agent recovered, so the failure did not decide the outcome."""
    failed = {sid for sid, v in verdicts.items() if v.failed}
    recovered = set()
    for sid in failed:
        step = dag.step(sid)
        if step.type is not StepType.EXEC or not step.failed_in_trace:
            continue
        downstream = dag.descendants(sid)
        for retry in downstream:
            other = dag.step(retry)
            verdict = verdicts.get(retry)
            # A retry whose result the trace did not record but which it shows completing counts too:
            # that is what the trace proves, and missing content must not fail a trace.
            completed = verdict is not None and (
                verdict.verdict == "pass" or (verdict.verdict == "not_assessable" and not other.failed_in_trace)
            )
            if other.type is not StepType.EXEC or other.tool != step.tool or not completed:
                continue
            between = set(downstream).intersection(dag.ancestors(retry))
            if not between.intersection(failed):
                recovered.add(sid)
                break
    return recovered


def trace_status(verdicts: list[StepVerdict]) -> TraceStatus:
    """failed if a step failed and the agent did not recover from it; incomplete if a step could not
    be judged, a span that is not mapped to a step type recorded an error (something failed that no
    judge could look at), or no agent step could be assessed at all; else passed (recovered failures
    stay visible on their steps). A not_assessable step is never a failure and never a pass: it alone
    neither fails a trace nor lets an unjudged one pass."""
    if any(v.failed and not v.recovered for v in verdicts):
        return "failed"
    if any(v.verdict == "judge_error" for v in verdicts):
        return "incomplete"
    unassessable = [v for v in verdicts if v.verdict == "not_assessable"]
    agent_steps = [v for v in verdicts if v.type.judged]
    # "unmapped_error" is the flag judges.evidence sets on steps made from unmapped error spans.
    if any("unmapped_error" in v.flags for v in unassessable) or (unassessable and len(unassessable) == len(agent_steps)):
        return "incomplete"
    return "passed"


RootCauseAlgorithm = Callable[[StepDAG, Mapping[str, StepVerdict]], list[RootCause]]


def failing_sinks(dag: StepDAG, verdicts: Mapping[str, StepVerdict]) -> list[str]:
    """Failing steps with no failing step downstream: where each failure chain ends."""
    failed = {sid for sid, v in verdicts.items() if v.failed}
    return [sid for sid in failed if not failed.intersection(dag.descendants(sid))]


def _nearest_failing_upstream(dag: StepDAG, step_id: str, failed: set[str]) -> list[str]:
    """Failing parents; when none fails, the failing ancestors with no failing step between them."""
    parents = [p for p in dag.parents(step_id) if p in failed]
    if parents:
        return parents
    ancestors = [a for a in dag.ancestors(step_id) if a in failed]
    return [a for a in ancestors if not failed.intersection(dag.descendants(a)).intersection(ancestors)]


def _root_cause(dag: StepDAG, verdicts: Mapping[str, StepVerdict], step_id: str, chain: list[str], algorithm: str) -> RootCause:
    verdict = verdicts[step_id]
    return RootCause(
        step_id=step_id,
        algorithm=algorithm,
        chain=chain,
        failure_code=verdict.failure_code,
        agent=dag.step(step_id).agent,
        score=verdict.score,
    )


def greedy_root_causes(dag: StepDAG, verdicts: Mapping[str, StepVerdict]) -> list[RootCause]:
    """The paper's heuristic: from each failing sink, step to the lowest-scoring failing parent
    until a direct failure is reached."""
    failed = {sid for sid, v in verdicts.items() if v.failed}
    found: dict[str, RootCause] = {}
    for sink in failing_sinks(dag, verdicts):
        chain = [sink]
        current = sink
        while verdicts[current].verdict == "cascade":
            upstream = _nearest_failing_upstream(dag, current, failed)
            if not upstream:
                break
            current = min(upstream, key=lambda s: (verdicts[s].score or 0.0, dag.position(s)))
            chain.append(current)
        if current not in found:
            found[current] = _root_cause(dag, verdicts, current, list(reversed(chain)), "greedy")
    return sorted(found.values(), key=lambda rc: dag.position(rc.step_id))


def _earliest_root_causes(dag: StepDAG, verdicts: Mapping[str, StepVerdict]) -> list[RootCause]:
    """The earliest failing step in trace order (agenteval.attribution, imported on use)."""
    from agenteval.attribution import earliest_root_causes

    return earliest_root_causes(dag, verdicts)


def _dag_root_causes(dag: StepDAG, verdicts: Mapping[str, StepVerdict]) -> list[RootCause]:
    """Absorption, recovery and direct-failure impact (agenteval.attribution, imported on use)."""
    from agenteval.attribution import dag_root_causes

    return dag_root_causes(dag, verdicts)


ROOT_CAUSE_ALGORITHMS: dict[str, RootCauseAlgorithm] = {
    "greedy": greedy_root_causes,
    "earliest": _earliest_root_causes,
    "dag": _dag_root_causes,
}

DEFAULT_ROOT_CAUSE = "dag"


def root_causes(
    dag: StepDAG, verdicts: list[StepVerdict], algorithm: str = DEFAULT_ROOT_CAUSE
) -> list[RootCause]:
    """Root causes of a trace's failures by the named algorithm (none when nothing failed).

    Raises:
        KeyError: unknown algorithm name (callers validate names from config first).
    """
    by_id = {v.step_id: v for v in verdicts}
    if trace_status(verdicts) != "failed":
        return []
    return ROOT_CAUSE_ALGORITHMS[algorithm](dag, by_id)
