"""Failure verdicts along the DAG (direct vs cascade), trace status and the root-cause registry.
Pure functions.

A step fails when its score is under its type's threshold. A failure is a CASCADE when an earlier
failure's bad output reached it: the two are joined by a path of steps that failed or could not be
assessed, and the earlier failure is at least as well evidenced (see :mod:`agenteval.attribution`).
A step judged to pass breaks the chain, so a failure after it is DIRECT. Root-cause algorithms
(:mod:`agenteval.attribution`) take the verdicts and name the steps to blame; they are registered
here by name so new ones plug in beside the paper's greedy walk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

from agenteval.attribution import (
    dag_root_causes,
    earliest_root_causes,
    evidence,
    greedy_root_causes,
    reached_from,
)
from agenteval.dag import StepDAG
from agenteval.models import Judgment, RootCause, StepType, StepVerdict, TraceStatus
from agenteval.recovery import recovered_steps

#: The paper's thresholds (grid-searched on a held-out set): fail when score < threshold.
DEFAULT_THRESHOLDS: dict[StepType, float] = {
    StepType.PLAN: 3.0,
    StepType.TOOLSEL: 3.0,
    StepType.PARAMGEN: 2.5,
    StepType.EXEC: 3.0,
    StepType.SYNTH: 3.0,
}

#: How failures are split into direct and cascade: "reached" (a failure's bad output reached the
#: step through failed or unassessed steps, at no weaker evidence) or "ancestor" (any failing
#: ancestor: the earlier rule, kept to measure the difference).
CascadeRule = Literal["reached", "ancestor"]
CASCADE_RULES: tuple[str, ...] = ("reached", "ancestor")

#: Verdicts of steps that pass a bad input on instead of stopping it: failures, steps that could not
#: be assessed, and skipped steps (agent steps with no assessed judgment, USER/SYSTEM messages).
_CARRYING = frozenset({"direct", "cascade", "not_assessable", "judge_error", "skipped"})


def classify(
    dag: StepDAG,
    judgments: Mapping[str, Judgment],
    thresholds: Mapping[StepType, float] | None = None,
    *,
    cascade: CascadeRule = "reached",
) -> list[StepVerdict]:
    """One verdict per step, in trace order.

    Steps that are not agent work, have no judgment, or were not assessed are ``skipped``; a
    judgment carrying an error is ``judge_error`` (never a pass); one saying the trace lacks the
    evidence is ``not_assessable`` (neither a failure nor a pass); the rest pass or fail on the
    threshold.

    A failure is a ``cascade`` when an earlier failure reached it (``upstream_failures``): a path
    joins them on which every step in between failed, was not_assessable or a judge_error, is an
    agent step with no assessed judgment, or is a USER/SYSTEM message. A message hands on what it
    was given (a user who says "yes, go ahead" to a wrong offer passes the wrong offer on); what is
    wrong with the message itself is the user's, which agenteval does not blame (AgentRx labels
    such faults "underspecified user intent" on the user's message). On the shared labeled data the
    choice changes no verdict (no failure sits on both sides of a message there). A step judged to
    pass breaks the chain. The earlier failure counts only when its
    evidence is at least as strong (a proven failure is not demoted because of one a model only
    asserts) and when the agent did not recover from it. Otherwise the failure is ``direct``.

    A failing step the agent recovered from (see :mod:`agenteval.recovery`) keeps its verdict and
    is marked ``recovered``; it does not fail the trace.

    Args:
        dag: the trace's DAG.
        judgments: step id -> judgment.
        thresholds: failure thresholds per step type (default: the paper's).
        cascade: "reached" (the rule above) or "ancestor" (any failing ancestor makes a cascade,
            recovered or not, whatever its evidence; the earlier rule, kept for comparison).
    """
    if cascade not in CASCADE_RULES:
        raise ValueError(f"unknown cascade rule '{cascade}' (choose from: {', '.join(CASCADE_RULES)})")
    limits = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    verdicts: dict[str, StepVerdict] = {}
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
            verdicts[step.id] = StepVerdict(verdict="direct", failure_code=judgment.failure_code, **base)
        else:
            verdicts[step.id] = StepVerdict(verdict="pass", **base)
    failing = [sid for sid, v in verdicts.items() if v.verdict == "direct"]
    recovered = recovered_steps(dag, {sid: verdicts[sid].failure_code for sid in failing})
    if cascade == "ancestor":
        upstream_of = {sid: [a for a in dag.ancestors(sid) if a in failing] for sid in failing}
    else:
        carriers = {sid for sid, v in verdicts.items() if v.verdict in _CARRYING}
        strength = {sid: evidence(verdicts[sid].judgment) for sid in failing}
        sources = {sid: strength[sid] for sid in failing if sid not in recovered}
        upstream_of = {sid: reached_from(dag, sid, sources, carriers, strength[sid]) for sid in failing}
    for sid in failing:
        update: dict[str, object] = {"upstream_failures": upstream_of[sid]}
        if upstream_of[sid]:
            update["verdict"] = "cascade"
        if sid in recovered:
            update["recovered"] = True
        verdicts[sid] = verdicts[sid].model_copy(update=update)
    return [verdicts[s.id] for s in dag.trace.steps]


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

ROOT_CAUSE_ALGORITHMS: dict[str, RootCauseAlgorithm] = {
    "greedy": greedy_root_causes,
    "earliest": earliest_root_causes,
    "dag": dag_root_causes,
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
