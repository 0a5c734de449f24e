"""Evidence strength, how far a failure reaches, and root-cause attribution. Pure functions over the
DAG, judgments and verdicts; :mod:`agenteval.propagation` uses them and holds the registry.

**Evidence strength.** Not every failing verdict is equally sure. :func:`evidence` ranks the
judgment behind one:

=====  ==========  ===========================================================================
tier   name        the judgment
=====  ==========  ===========================================================================
3      proven      is ``decisive``: the trace itself shows it (a tool raised or timed out, a tool
                   that does not exist, arguments that break the schema)
2      asserted    any other failing judgment: a rules check short of proof, or a model's score
                   with no sign of doubt (confidence unknown or >= 0.6, samples within one point)
1      doubtful    a model's score with a sign of doubt: confidence < 0.6, samples that disagree
                   by more than one point (``details["disagreement"]``), or the rules judge
                   assessed the step and found it fine (``details["rules"]`` score >= 4)
=====  ==========  ===========================================================================

**Reach.** A failure is a cascade only when the bad input reached it: :func:`reached_from` walks
upstream from a step through steps that failed or could not be assessed (failing, not_assessable,
judge_error, agent steps with no assessed judgment, and USER/SYSTEM messages, which hand on what
they were given), and stops at a step judged to pass. The failures it meets are the step's
upstream failures, counted only when at least as strong as the step's own evidence: a proven
failure is never demoted because of one a model only asserts.

**Root causes.** ``greedy`` is the paper's heuristic: from each failing sink, step to the
lowest-scoring upstream failure until a direct failure is reached. ``earliest`` blames the first
failing step in trace order, a strong baseline on sequential agents. ``dag`` is our algorithm; it
rests on four observations about agent runs:

1. **A bad observation is the agent's to notice.** A tool's (or sub-agent's) output is an
   observation. When an EXEC returned normally but its result was judged wrong, and a reasoning
   step (PLAN, TOOLSEL, PARAMGEN, SYNTH) downstream fails as well, the agent read the bad result
   and went on (taxonomy E3.1 misread output): that decision is the actionable fault, so the EXEC
   is *absorbed* by it and is not a candidate. An EXEC the trace itself records as raised or timed
   out is different: the failure is plain, it is where the trouble started, and it stays a
   candidate (what the agent then did is a cascade).
2. **A failure the agent recovered from did not cause the outcome** (``StepVerdict.recovered``,
   see :mod:`agenteval.recovery`). It is blamed only when no other failure is left to blame.
3. **Blame what nothing else explains:** among the remaining candidates, those that no other
   candidate reached (by the verdicts' ``upstream_failures``).
4. **Order them by evidence, then impact:** proven before asserted before doubtful; then the one
   with the most failing steps downstream, then the one furthest under its threshold, then the
   earliest. Impact counts every failure downstream, not only those the bad input reached: a
   failure that put the run off course shapes what comes after it even through steps that pass
   (on the shared labeled data, counting only reached failures put a later, independent failure
   first on one Magentic-One trace, and nowhere helped).

USER and SYSTEM steps are never blamed: they are not agent work (``classify`` skips them), and a
fault that lies with the user leaves no agent failure to blame. Every returned root cause has a
``chain`` of the failing steps on a path from it to the last failing step it reaches; the first
root cause is the one to report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from agenteval.dag import StepDAG
from agenteval.models import Judgment, RootCause, StepType, StepVerdict

#: Step types whose output an agent reasons about; a failure of theirs can absorb an EXEC failure.
REASONING_TYPES = frozenset({StepType.PLAN, StepType.TOOLSEL, StepType.PARAMGEN, StepType.SYNTH})

PROVEN, ASSERTED, DOUBTFUL = 3, 2, 1
#: A model judgment below this confidence is doubtful.
LOW_CONFIDENCE = 0.6
#: Samples of one step whose scores spread wider than this (on the 1-5 scale) disagree.
HIGH_DISAGREEMENT = 1.0
#: A rules score at or above this means the rules assessed the step and found it fine.
RULES_FINE = 4.0


def evidence(judgment: Judgment | None) -> int:
    """How strongly a failing judgment is backed: PROVEN (3), ASSERTED (2) or DOUBTFUL (1).

    See the module docstring's table. A missing judgment counts as ASSERTED.
    """
    if judgment is None:
        return ASSERTED
    if judgment.decisive:
        return PROVEN
    if judgment.confidence is not None and judgment.confidence < LOW_CONFIDENCE:
        return DOUBTFUL
    spread = judgment.details.get("disagreement")
    if isinstance(spread, (int, float)) and spread > HIGH_DISAGREEMENT:
        return DOUBTFUL
    rules = judgment.details.get("rules")
    if isinstance(rules, Mapping) and rules.get("assessed", True):
        score = rules.get("score")
        if isinstance(score, (int, float)) and score >= RULES_FINE:
            return DOUBTFUL
    return ASSERTED


def reached_from(
    dag: StepDAG,
    step_id: str,
    sources: Mapping[str, int],
    carriers: set[str] | frozenset[str],
    strength: int,
) -> list[str]:
    """The failures whose bad output reached ``step_id``, in trace order.

    Walks upstream through ``carriers`` (steps that pass on bad input: failed or not assessed) and
    stops at any other step. A source met on the way counts when its evidence is at least
    ``strength``.

    Args:
        dag: the trace's DAG.
        step_id: the failing step.
        sources: failing steps that may start a cascade, with their evidence tier.
        carriers: steps a bad input passes through.
        strength: the evidence tier of ``step_id``'s own failure.
    """
    found, seen = set(), {step_id}
    frontier = list(dag.parents(step_id))
    while frontier:
        current = frontier.pop()
        if current in seen:
            continue
        seen.add(current)
        if current in sources and sources[current] >= strength:
            found.add(current)
        if current in carriers:
            frontier.extend(dag.parents(current))
    return sorted(found, key=dag.position)


def _failed(verdicts: Mapping[str, StepVerdict]) -> set[str]:
    return {sid for sid, v in verdicts.items() if v.failed}


def _strength(verdict: StepVerdict) -> int:
    return evidence(verdict.judgment)


def root_cause(
    dag: StepDAG, verdicts: Mapping[str, StepVerdict], step_id: str, chain: list[str], algorithm: str
) -> RootCause:
    """The RootCause record for a blamed step."""
    verdict = verdicts[step_id]
    return RootCause(
        step_id=step_id,
        algorithm=algorithm,
        chain=chain,
        failure_code=verdict.failure_code,
        agent=dag.step(step_id).agent,
        score=verdict.score,
    )


def failing_sinks(dag: StepDAG, verdicts: Mapping[str, StepVerdict]) -> list[str]:
    """Failing steps that no failing step downstream lists as its upstream failure: where each
    failure chain ends."""
    failed = _failed(verdicts)
    fed = {u for sid in failed for u in verdicts[sid].upstream_failures}
    return [sid for sid in sorted(failed, key=dag.position) if sid not in fed]


def _nearest_upstream(dag: StepDAG, verdict: StepVerdict) -> list[str]:
    """The verdict's upstream failures that are its parents; when none is, those with no other
    upstream failure between them and the step."""
    upstream = list(verdict.upstream_failures)
    parents = [p for p in dag.parents(verdict.step_id) if p in upstream]
    if parents:
        return parents
    return [a for a in upstream if not set(upstream).intersection(dag.descendants(a))]


def greedy_root_causes(dag: StepDAG, verdicts: Mapping[str, StepVerdict]) -> list[RootCause]:
    """The paper's heuristic: from each failing sink, step to the lowest-scoring upstream failure
    until a direct failure is reached. Several root causes are listed best evidenced first, then
    in trace order."""
    found: dict[str, RootCause] = {}
    for sink in failing_sinks(dag, verdicts):
        chain = [sink]
        current = sink
        while verdicts[current].verdict == "cascade":
            upstream = [u for u in _nearest_upstream(dag, verdicts[current]) if u not in chain]
            if not upstream:
                break
            current = min(upstream, key=lambda s: (verdicts[s].score or 0.0, dag.position(s)))
            chain.append(current)
        if current not in found:
            found[current] = root_cause(dag, verdicts, current, list(reversed(chain)), "greedy")
    return sorted(found.values(), key=lambda rc: (-_strength(verdicts[rc.step_id]), dag.position(rc.step_id)))


def _chain(dag: StepDAG, verdicts: Mapping[str, StepVerdict], root: str) -> list[str]:
    """Failing steps on a path from root to the last failing step it reached."""
    reached = [sid for sid in _failed(verdicts) if root in verdicts[sid].upstream_failures]
    if not reached:
        return [root]
    last = max(reached, key=dag.position)
    failed = _failed(verdicts)
    path = dag.path(root, last) or [root, last]
    return [s for s in path if s in failed]


def earliest_root_causes(dag: StepDAG, verdicts: Mapping[str, StepVerdict]) -> list[RootCause]:
    """The earliest failing step in trace order."""
    failed = _failed(verdicts)
    first = next((s.id for s in dag.trace.steps if s.id in failed), None)
    if first is None:
        return []
    return [root_cause(dag, verdicts, first, _chain(dag, verdicts, first), "earliest")]


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


def recovered_failures(verdicts: Mapping[str, StepVerdict]) -> set[str]:
    """Failing steps the agent recovered from (``StepVerdict.recovered``, set by ``classify``)."""
    return {sid for sid, v in verdicts.items() if v.failed and v.recovered}


def _unexplained(candidates: Iterable[str], verdicts: Mapping[str, StepVerdict]) -> list[str]:
    pool = set(candidates)
    return [c for c in pool if not pool.intersection(verdicts[c].upstream_failures)]


def dag_root_causes(dag: StepDAG, verdicts: Mapping[str, StepVerdict]) -> list[RootCause]:
    """Root causes by absorption, recovery, reach and evidence (see the module docstring)."""
    failed = _failed(verdicts)
    if not failed:
        return []
    candidates = failed - absorbed_failures(dag, verdicts)
    if not candidates:  # cannot happen (a reasoning failure absorbs), but never blame nothing
        candidates = set(failed)
    unrecovered = candidates - recovered_failures(verdicts)
    roots = _unexplained(unrecovered or candidates, verdicts)

    def rank(sid: str) -> tuple[int, int, float, int]:
        verdict = verdicts[sid]
        reach = len(failed.intersection(dag.descendants(sid)))
        deficit = (verdict.threshold or 0.0) - (verdict.score or 0.0)
        return (-_strength(verdict), -reach, -deficit, dag.position(sid))

    return [root_cause(dag, verdicts, sid, _chain(dag, verdicts, sid), "dag") for sid in sorted(roots, key=rank)]
