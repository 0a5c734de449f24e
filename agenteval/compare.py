"""Two runs -> what got worse, what got better, and whether the change is statistically real. Pure.

Metrics are direction-aware: a failure rate going up is bad, a score going down is bad. A change is
a regression only when it clears both tolerances (``|delta| > abs_tol`` and ``|delta| > rel_tol * |base|``).
When the same trace ids appear in both runs the traces are paired: an exact McNemar test on per-trace
pass/fail and a seeded bootstrap interval on per-trace mean score changes say whether a change is
more than noise. Step types judged differently in the two runs (another judge, judge model, rubric
version or threshold) are ``not_comparable``: an edited rubric is not an agent regression.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agenteval.models import JUDGED_TYPES, Run, TraceResult
from agenteval.policy import Tolerance

COMPARISON_FORMAT_VERSION = "1"

#: Floating-point slack so a delta equal to a tolerance is not a regression because of rounding.
_EPS = 1e-9

ChangeStatus = Literal["regression", "improvement", "within_tolerance", "unchanged", "not_comparable", "no_data"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricChange(_Model):
    """One metric in both runs and what its change means."""

    metric: Literal["failure_rate", "mean_score"] = Field(description="What is measured.")
    key: str = Field(description="'overall', a step type ('EXEC') or a failure code ('E2.1').")
    base: float | None = Field(None, description="Value in the base run (None: no data).")
    candidate: float | None = Field(None, description="Value in the candidate run (None: no data).")
    delta: float | None = Field(None, description="candidate - base.")
    base_n: int = Field(0, description="Items the base value is computed over.")
    candidate_n: int = Field(0, description="Items the candidate value is computed over.")
    higher_is_better: bool = Field(description="False for failure rates, True for scores.")
    status: ChangeStatus = Field(description="regression, improvement, within_tolerance, unchanged, not_comparable, no_data.")
    reason: str = Field("", description="Why the change is not comparable, when it is not.")

    @property
    def regressed(self) -> bool:
        """A change in the bad direction beyond tolerance."""
        return self.status == "regression"


class StepTypeChange(_Model):
    """Failure rate and mean score of one step type."""

    step_type: str = Field(description="PLAN, TOOLSEL, PARAMGEN, EXEC or SYNTH.")
    failure_rate: MetricChange = Field(description="Failing steps / assessed steps.")
    mean_score: MetricChange = Field(description="Mean judge score of assessed steps.")


class CodeChange(_Model):
    """How often one failure code shows up in each run."""

    code: str = Field(description="Taxonomy code, e.g. 'E2.1' ('uncoded' for failures without one).")
    failure_rate: MetricChange = Field(description="Share of traces with a step failing with this code.")
    base_count: int = Field(description="Failing steps with this code in the base run.")
    candidate_count: int = Field(description="Failing steps with this code in the candidate run.")
    step_types: list[str] = Field(description="Step types the code was seen on, in either run.")
    new_in_traces: list[str] = Field(default_factory=list, description="Paired traces where the code newly fails.")
    gone_in_traces: list[str] = Field(default_factory=list, description="Paired traces where the code no longer fails.")


class TraceChange(_Model):
    """One trace present in both runs whose outcome or root cause changed."""

    trace_id: str = Field(description="The trace.")
    base_status: str = Field(description="passed, failed or incomplete in the base run.")
    candidate_status: str = Field(description="passed, failed or incomplete in the candidate run.")
    base_root_causes: list[str] = Field(default_factory=list, description="'step code' of each base root cause.")
    candidate_root_causes: list[str] = Field(default_factory=list, description="'step code' of each candidate root cause.")
    failing_steps: list[str] = Field(default_factory=list, description="'step (verdict code)' failing in the candidate.")


class PairedComparison(_Model):
    """Statistics over traces present in both runs."""

    pairs: int = Field(description="Trace ids in both runs.")
    both_passed: int = Field(description="Passed in both.")
    both_failed: int = Field(description="Failed in both.")
    new_failures: int = Field(description="Passed in base, not in candidate (McNemar b).")
    fixed: int = Field(description="Failed in base, passed in candidate (McNemar c).")
    mcnemar_p: float = Field(description="Two-sided exact McNemar p-value on the discordant pairs.")
    score_pairs: int = Field(0, description="Pairs with an assessed score in both runs.")
    score_delta: float | None = Field(None, description="Mean per-trace change of the mean step score.")
    score_ci: tuple[float, float] | None = Field(None, description="95% bootstrap interval of score_delta.")
    base_only: list[str] = Field(default_factory=list, description="Trace ids only in the base run.")
    candidate_only: list[str] = Field(default_factory=list, description="Trace ids only in the candidate run.")


class RunInfo(_Model):
    """Which run a side of the comparison is."""

    id: str = Field(description="Run id.")
    name: str = Field(description="Run name.")
    judge: str = Field(description="Judge that ran.")
    created_at: datetime = Field(description="When the run started (UTC).")
    traces: int = Field(description="Traces evaluated.")
    input_errors: int = Field(description="Inputs that could not be read.")


class Comparison(_Model):
    """What changed from a base run to a candidate run."""

    version: str = Field(COMPARISON_FORMAT_VERSION, description="Comparison format version.")
    base: RunInfo = Field(description="The base (baseline) run.")
    candidate: RunInfo = Field(description="The candidate run.")
    tolerance: Tolerance = Field(description="Tolerances the statuses were computed with.")
    overall: MetricChange = Field(description="Trace failure rate (traces not passed / traces).")
    step_types: list[StepTypeChange] = Field(description="Per judged step type.")
    codes: list[CodeChange] = Field(description="Per failure code seen in either run.")
    paired: PairedComparison | None = Field(None, description="Paired statistics when trace ids overlap.")
    new_failures: list[TraceChange] = Field(default_factory=list, description="Passed in base, not in candidate.")
    fixed_failures: list[TraceChange] = Field(default_factory=list, description="Failed in base, passed in candidate.")
    root_cause_changes: list[TraceChange] = Field(default_factory=list, description="Failed in both, different root causes.")
    not_comparable: dict[str, str] = Field(default_factory=dict, description="Step type -> why it was judged differently.")

    @property
    def comparable(self) -> bool:
        """Whether every step type was judged the same way in both runs."""
        return not self.not_comparable


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: a binomial(b + c, 1/2) test on the discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)


def bootstrap_ci(
    values: list[float], *, resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of ``values`` (seeded, so reports are reproducible)."""
    if not values:
        return None
    if len(values) == 1:
        return (values[0], values[0])
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    low = means[int(math.floor((1 - level) / 2 * resamples))]
    high = means[min(resamples - 1, int(math.ceil((1 + level) / 2 * resamples)) - 1)]
    return (low, high)


def _change(
    metric: Literal["failure_rate", "mean_score"],
    key: str,
    base: tuple[float, int] | None,
    cand: tuple[float, int] | None,
    tolerance: Tolerance,
    not_comparable: str = "",
) -> MetricChange:
    higher_is_better = metric == "mean_score"
    fields = {
        "metric": metric, "key": key, "higher_is_better": higher_is_better,
        "base": base[0] if base else None, "base_n": base[1] if base else 0,
        "candidate": cand[0] if cand else None, "candidate_n": cand[1] if cand else 0,
    }
    if base is None or cand is None:
        return MetricChange(status="no_data", **fields)
    delta = cand[0] - base[0]
    status: ChangeStatus
    if not_comparable:
        status = "not_comparable"
    elif abs(delta) <= _EPS:
        status = "unchanged"
    elif not tolerance.exceeded(delta, base[0], score=higher_is_better):
        status = "within_tolerance"
    else:
        status = "regression" if (delta < 0 if higher_is_better else delta > 0) else "improvement"
    return MetricChange(delta=delta, status=status, reason=not_comparable, **fields)


def _rate(hits: int, total: int) -> tuple[float, int] | None:
    return (hits / total, total) if total else None


def _mean(values: list[float]) -> tuple[float, int] | None:
    return (sum(values) / len(values), len(values)) if values else None


def _assessed(result: TraceResult) -> Iterable:
    return (v for v in result.verdicts if v.verdict in ("pass", "direct", "cascade"))


def _trace_score(result: TraceResult) -> float | None:
    scores = [v.score for v in _assessed(result) if v.score is not None]
    return sum(scores) / len(scores) if scores else None


def _failing_codes(result: TraceResult) -> set[str]:
    return {v.failure_code or "uncoded" for v in result.verdicts if v.failed}


def _root_labels(result: TraceResult) -> list[str]:
    return [f"{rc.step_id} {rc.failure_code or 'uncoded'}" for rc in result.root_causes]


def _trace_change(base: TraceResult, cand: TraceResult) -> TraceChange:
    return TraceChange(
        trace_id=cand.trace_id, base_status=base.status, candidate_status=cand.status,
        base_root_causes=_root_labels(base), candidate_root_causes=_root_labels(cand),
        failing_steps=[f"{v.step_id} ({v.verdict} {v.failure_code or 'uncoded'})" for v in cand.verdicts if v.failed],
    )


def _judging(run: Run) -> dict[str, tuple[dict[str, set[tuple[str | None, str | None]]], set[float]]]:
    """Per step type: judge -> {(rubric version, model)} and the thresholds used."""
    seen: dict[str, tuple[dict[str, set[tuple[str | None, str | None]]], set[float]]] = {}
    for result in run.results:
        for v in result.verdicts:
            if not v.type.judged:
                continue
            judges, thresholds = seen.setdefault(v.type.value, ({}, set()))
            if v.threshold is not None:
                thresholds.add(v.threshold)
            j = v.judgment
            if j is not None and j.error is None:
                judges.setdefault(j.judge, set()).add((j.rubric_version, j.model))
    return seen


def _describe(values: set) -> str:
    return ", ".join(sorted(str(v) for v in values)) or "-"


def _not_comparable(base: Run, cand: Run) -> dict[str, str]:
    """Step types judged differently in the two runs, with the reason."""
    base_seen, cand_seen = _judging(base), _judging(cand)
    reasons: dict[str, str] = {}
    for step_type in (t.value for t in JUDGED_TYPES):
        if step_type not in base_seen or step_type not in cand_seen:
            continue
        (base_judges, base_thresholds), (cand_judges, cand_thresholds) = base_seen[step_type], cand_seen[step_type]
        problems = []
        if base.judge != cand.judge:
            problems.append(f"judge {base.judge} in base, {cand.judge} in candidate")
        for judge in sorted(set(base_judges) & set(cand_judges)):
            for index, what in ((0, "rubric version"), (1, "judge model")):
                before, after = {p[index] for p in base_judges[judge]}, {p[index] for p in cand_judges[judge]}
                if before != after:
                    problems.append(f"{judge} {what} {_describe(before)} in base, {_describe(after)} in candidate")
        if base_thresholds and cand_thresholds and base_thresholds != cand_thresholds:
            problems.append(f"threshold {_describe(base_thresholds)} in base, {_describe(cand_thresholds)} in candidate")
        if problems:
            reasons[step_type] = "; ".join(problems)
    return reasons


def _info(run: Run) -> RunInfo:
    return RunInfo(
        id=run.id, name=run.name, judge=run.judge, created_at=run.created_at,
        traces=len(run.results), input_errors=len(run.input_errors),
    )


def _step_type_changes(base: Run, cand: Run, tolerance: Tolerance, not_comparable: dict[str, str]) -> list[StepTypeChange]:
    def tallies(run: Run) -> dict[str, tuple[list[bool], list[float]]]:
        out: dict[str, tuple[list[bool], list[float]]] = {}
        for result in run.results:
            for v in _assessed(result):
                failed, scores = out.setdefault(v.type.value, ([], []))
                failed.append(v.failed)
                if v.score is not None:
                    scores.append(v.score)
        return out

    b, c = tallies(base), tallies(cand)
    changes = []
    for step_type in (t.value for t in JUDGED_TYPES):
        if step_type not in b and step_type not in c:
            continue
        (bf, bs), (cf, cs) = b.get(step_type, ([], [])), c.get(step_type, ([], []))
        why = not_comparable.get(step_type, "")
        changes.append(StepTypeChange(
            step_type=step_type,
            failure_rate=_change("failure_rate", step_type, _rate(sum(bf), len(bf)), _rate(sum(cf), len(cf)), tolerance, why),
            mean_score=_change("mean_score", step_type, _mean(bs), _mean(cs), tolerance, why),
        ))
    return changes


def _code_changes(
    base: Run, cand: Run, paired: list[tuple[TraceResult, TraceResult]], tolerance: Tolerance,
    not_comparable: dict[str, str],
) -> list[CodeChange]:
    def tallies(run: Run) -> tuple[Counter[str], Counter[str], dict[str, set[str]]]:
        traces, steps, types = Counter[str](), Counter[str](), {}
        for result in run.results:
            traces.update(_failing_codes(result))
            for v in (v for v in result.verdicts if v.failed):
                steps[v.failure_code or "uncoded"] += 1
                types.setdefault(v.failure_code or "uncoded", set()).add(v.type.value)
        return traces, steps, types

    (bt, bsteps, btypes), (ct, csteps, ctypes) = tallies(base), tallies(cand)
    new_in: dict[str, list[str]] = {}
    gone_in: dict[str, list[str]] = {}
    for b, c in paired:
        before, after = _failing_codes(b), _failing_codes(c)
        for code in sorted(after - before):
            new_in.setdefault(code, []).append(c.trace_id)
        for code in sorted(before - after):
            gone_in.setdefault(code, []).append(c.trace_id)
    changes = []
    for code in sorted(set(bt) | set(ct)):
        types = sorted(btypes.get(code, set()) | ctypes.get(code, set()))
        why = "; ".join(f"{t}: {not_comparable[t]}" for t in types if t in not_comparable)
        changes.append(CodeChange(
            code=code,
            failure_rate=_change(
                "failure_rate", code, _rate(bt.get(code, 0), len(base.results)),
                _rate(ct.get(code, 0), len(cand.results)), tolerance, why,
            ),
            base_count=bsteps.get(code, 0),
            candidate_count=csteps.get(code, 0),
            step_types=types,
            new_in_traces=new_in.get(code, []),
            gone_in_traces=gone_in.get(code, []),
        ))
    return changes


def compare_runs(
    base: Run, cand: Run, *, tolerance: Tolerance | None = None, resamples: int = 2000, seed: int = 0
) -> Comparison:
    """Compare a candidate run with a base run.

    Args:
        base: the baseline run (what is deployed, or the main branch).
        cand: the candidate run (the change under review).
        tolerance: how big a change must be to count (default: ``Tolerance()``).
        resamples: bootstrap resamples for the score-change interval.
        seed: bootstrap seed; the same runs always give the same interval.

    Returns:
        Per step type and failure code changes, the overall trace failure rate, paired statistics
        when trace ids overlap, and the traces that newly failed, were fixed or changed root cause.
    """
    tolerance = tolerance or Tolerance()
    not_comparable = _not_comparable(base, cand)
    overall_why = ("judged differently: " + ", ".join(not_comparable)) if not_comparable else ""
    not_passed = lambda run: sum(not r.passed for r in run.results)  # noqa: E731
    overall = _change(
        "failure_rate", "overall", _rate(not_passed(base), len(base.results)),
        _rate(not_passed(cand), len(cand.results)), tolerance, overall_why,
    )
    base_by_id = {r.trace_id: r for r in base.results}
    cand_by_id = {r.trace_id: r for r in cand.results}
    shared = [tid for tid in cand_by_id if tid in base_by_id]
    pairs = [(base_by_id[tid], cand_by_id[tid]) for tid in shared]

    comparison = Comparison(
        base=_info(base), candidate=_info(cand), tolerance=tolerance, overall=overall,
        step_types=_step_type_changes(base, cand, tolerance, not_comparable),
        codes=_code_changes(base, cand, pairs, tolerance, not_comparable),
        not_comparable=not_comparable,
    )
    if not pairs:
        return comparison
    for b, c in pairs:
        if b.passed and not c.passed:
            comparison.new_failures.append(_trace_change(b, c))
        elif not b.passed and c.passed:
            comparison.fixed_failures.append(_trace_change(b, c))
        elif b.status == c.status == "failed" and sorted(_root_labels(b)) != sorted(_root_labels(c)):
            comparison.root_cause_changes.append(_trace_change(b, c))
    deltas = [
        cs - bs for bs, cs in ((_trace_score(b), _trace_score(c)) for b, c in pairs) if bs is not None and cs is not None
    ]
    comparison.paired = PairedComparison(
        pairs=len(pairs),
        both_passed=sum(b.passed and c.passed for b, c in pairs),
        both_failed=sum(not b.passed and not c.passed for b, c in pairs),
        new_failures=len(comparison.new_failures),
        fixed=len(comparison.fixed_failures),
        mcnemar_p=mcnemar_exact(len(comparison.new_failures), len(comparison.fixed_failures)),
        score_pairs=len(deltas),
        score_delta=sum(deltas) / len(deltas) if deltas else None,
        score_ci=bootstrap_ci(deltas, resamples=resamples, seed=seed),
        base_only=[tid for tid in base_by_id if tid not in cand_by_id],
        candidate_only=[tid for tid in cand_by_id if tid not in base_by_id],
    )
    return comparison
