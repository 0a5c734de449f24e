"""Two runs -> what got worse, what got better, and whether the change is statistically real. Pure.

Metrics are direction-aware: a failure rate going up is bad, a score going down is bad. A change is
beyond tolerance only when it clears both tolerances (``|delta| > abs_tol`` and
``|delta| > rel_tol * |base|``). Traces are matched by case, not by trace id (``agenteval.pairing``):
exporters mint new trace ids on every run. Each failure rate and mean score carries the tests that ran
on it (``agenteval.significance``): paired tests on the paired cases, Fisher's exact test on the rest.
Step types judged differently in the two runs (another judge, judge model, rubric version or
threshold) are ``not_comparable``: an edited rubric is not an agent regression.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agenteval.changes import (
    ChainStep,
    TraceChange,
    case_change,
    case_status,
    failing_codes,
    not_comparable_types,
    root_labels,
    shown_trial,
)
from agenteval.models import JUDGED_TYPES, Run, TraceResult
from agenteval.pairing import Matched, Pairing, match_runs
from agenteval.policy import Tolerance
from agenteval.significance import Significance, TestResult, rate_significance, score_significance
from agenteval.stats import bootstrap_ci, mcnemar_exact, pass_hat_k

__all__ = [
    "COMPARISON_FORMAT_VERSION", "ChainStep", "CodeChange", "Comparison", "MetricChange", "PairedComparison",
    "Pairing", "PassK", "RunInfo", "Significance", "StepTypeChange", "TestResult", "TraceChange",
    "bootstrap_ci", "compare_runs", "mcnemar_exact",
]

COMPARISON_FORMAT_VERSION = "2"

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
    significance: Significance | None = Field(None, description="The tests that ran on the change, and their p-values.")

    @property
    def regressed(self) -> bool:
        """A change in the bad direction beyond tolerance (significant or not: see ``significance``)."""
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
    new_in_traces: list[str] = Field(default_factory=list, description="Candidate trace ids of paired cases where the code newly fails.")
    gone_in_traces: list[str] = Field(default_factory=list, description="Candidate trace ids of paired cases where the code no longer fails.")


class PairedComparison(_Model):
    """Outcomes of the cases found in both runs (a case passes when every trial of it passed)."""

    pairs: int = Field(description="Cases in both runs.")
    both_passed: int = Field(description="Passed in both.")
    both_failed: int = Field(description="Failed in both.")
    new_failures: int = Field(description="Passed in base, not in candidate.")
    fixed: int = Field(description="Failed in base, passed in candidate.")
    test: str = Field("exact McNemar", description="The paired test on the trace failure rate.")
    mcnemar_p: float = Field(description="Its two-sided p-value (exact McNemar with one trial per case).")
    score_pairs: int = Field(0, description="Cases with an assessed score in both runs.")
    score_delta: float | None = Field(None, description="Mean per-case change of the mean step score.")
    score_ci: tuple[float, float] | None = Field(None, description="Bootstrap interval of score_delta (level: the gate's 1 - alpha).")


class PassK(_Model):
    """Repeated trials: tau-bench's pass^k (all k trials of a case pass) in each run."""

    k: int = Field(description="Trials per case the estimate is for.")
    base: float | None = Field(None, description="pass^k of the base run (cases with at least k trials).")
    candidate: float | None = Field(None, description="pass^k of the candidate run.")
    base_pass_1: float | None = Field(None, description="Mean share of passing trials per case (pass^1) in the base run.")
    candidate_pass_1: float | None = Field(None, description="pass^1 of the candidate run.")


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
    pairing: Pairing = Field(description="How traces were matched by case: paired, unmatched on each side, ambiguous.")
    paired: PairedComparison | None = Field(None, description="Outcomes of the paired cases, when any.")
    pass_k: PassK | None = Field(None, description="pass^k of each run when cases ran several times.")
    new_failures: list[TraceChange] = Field(default_factory=list, description="Paired cases: passed in base, not in candidate.")
    fixed_failures: list[TraceChange] = Field(default_factory=list, description="Paired cases: failed in base, passed in candidate.")
    root_cause_changes: list[TraceChange] = Field(default_factory=list, description="Paired cases failing in both, with other root causes.")
    unpaired_failures: list[TraceChange] = Field(default_factory=list, description="Failing candidate cases that have no base case to pair with.")
    not_comparable: dict[str, str] = Field(default_factory=dict, description="Step type -> why it was judged differently.")

    @property
    def comparable(self) -> bool:
        """Whether every step type was judged the same way in both runs."""
        return not self.not_comparable


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


def _score_of(step_type: str | None):
    """A trace's mean assessed step score (of one step type, or of all); None when it has none."""
    def measure(result: TraceResult) -> float | None:
        scores = [v.score for v in _assessed(result) if v.score is not None and (step_type is None or v.type.value == step_type)]
        return sum(scores) / len(scores) if scores else None
    return measure


def _info(run: Run) -> RunInfo:
    return RunInfo(
        id=run.id, name=run.name, judge=run.judge, created_at=run.created_at,
        traces=len(run.results), input_errors=len(run.input_errors),
    )


def _step_type_changes(
    base: Run, cand: Run, matched: Matched, tolerance: Tolerance, not_comparable: dict[str, str], level: float, seed: int
) -> list[StepTypeChange]:
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
        rate = _change("failure_rate", step_type, _rate(sum(bf), len(bf)), _rate(sum(cf), len(cf)), tolerance, why)
        score = _change("mean_score", step_type, _mean(bs), _mean(cs), tolerance, why)
        if rate.status in ("regression", "improvement"):
            # Steps of one trace are not independent evidence: the test counts traces with a failing step of the type.
            rate.significance = rate_significance(
                matched, lambda r, t=step_type: any(v.failed and v.type.value == t for v in r.verdicts), level=level
            )
        if score.status in ("regression", "improvement"):
            score.significance = score_significance(matched, _score_of(step_type), level=level, seed=seed)
        changes.append(StepTypeChange(step_type=step_type, failure_rate=rate, mean_score=score))
    return changes


def _code_changes(
    base: Run, cand: Run, matched: Matched, tolerance: Tolerance, not_comparable: dict[str, str], level: float
) -> list[CodeChange]:
    def tallies(run: Run) -> tuple[Counter[str], Counter[str], dict[str, set[str]]]:
        traces, steps, types = Counter[str](), Counter[str](), {}
        for result in run.results:
            traces.update(failing_codes(result))
            for v in (v for v in result.verdicts if v.failed):
                steps[v.failure_code or "uncoded"] += 1
                types.setdefault(v.failure_code or "uncoded", set()).add(v.type.value)
        return traces, steps, types

    (bt, bsteps, btypes), (ct, csteps, ctypes) = tallies(base), tallies(cand)
    new_in: dict[str, list[str]] = {}
    gone_in: dict[str, list[str]] = {}
    for case in matched.paired:
        before = set().union(*map(failing_codes, case.base))
        after = set().union(*map(failing_codes, case.candidate))
        shown = shown_trial(case.candidate).trace_id
        for code in sorted(after - before):
            new_in.setdefault(code, []).append(shown)
        for code in sorted(before - after):
            gone_in.setdefault(code, []).append(shown)
    changes = []
    for code in sorted(set(bt) | set(ct)):
        types = sorted(btypes.get(code, set()) | ctypes.get(code, set()))
        why = "; ".join(f"{t}: {not_comparable[t]}" for t in types if t in not_comparable)
        rate = _change(
            "failure_rate", code, _rate(bt.get(code, 0), len(base.results)),
            _rate(ct.get(code, 0), len(cand.results)), tolerance, why,
        )
        if rate.status in ("regression", "improvement"):
            rate.significance = rate_significance(matched, lambda r, c=code: c in failing_codes(r), level=level)
        changes.append(CodeChange(
            code=code, failure_rate=rate, base_count=bsteps.get(code, 0), candidate_count=csteps.get(code, 0),
            step_types=types, new_in_traces=new_in.get(code, []), gone_in_traces=gone_in.get(code, []),
        ))
    return changes


def _pass_k(matched: Matched) -> PassK | None:
    if matched.pairing.trials <= 1:
        return None
    def tally(cases: list[list[TraceResult]]) -> list[tuple[int, int]]:
        return [(sum(r.passed for r in rs), len(rs)) for rs in cases if rs]
    base = tally([c.base for c in matched.paired + matched.base_unpaired])
    cand = tally([c.candidate for c in matched.paired + matched.candidate_unpaired])
    k = min(n for _, n in base + cand)
    k = max(k, 2) if any(n >= 2 for _, n in base + cand) else k
    return PassK(
        k=k, base=pass_hat_k(base, k), candidate=pass_hat_k(cand, k),
        base_pass_1=pass_hat_k(base, 1), candidate_pass_1=pass_hat_k(cand, 1),
    )


def compare_runs(
    base: Run,
    cand: Run,
    *,
    tolerance: Tolerance | None = None,
    pair_by: str = "auto",
    alpha: float = 0.05,
    resamples: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Compare a candidate run with a base run.

    Args:
        base: the baseline run (what is deployed, or the main branch).
        cand: the candidate run (the change under review).
        tolerance: how big a change must be to count (default: ``Tolerance()``).
        pair_by: how traces are matched across the runs (see ``agenteval.cases``).
        alpha: significance level; confidence intervals are at ``1 - alpha``.
        resamples: bootstrap resamples for score intervals.
        seed: bootstrap seed; the same runs always give the same interval.

    Returns:
        Per step type and failure code changes with their tests, the overall trace failure rate, how
        the traces were paired, and the cases that newly failed, were fixed or changed root cause.
    """
    tolerance = tolerance or Tolerance()
    level = 1 - alpha
    matched = match_runs(base.results, cand.results, pair_by)
    not_comparable = not_comparable_types(base, cand)
    overall_why = ("judged differently: " + ", ".join(not_comparable)) if not_comparable else ""
    not_passed = lambda run: sum(not r.passed for r in run.results)  # noqa: E731
    overall = _change(
        "failure_rate", "overall", _rate(not_passed(base), len(base.results)),
        _rate(not_passed(cand), len(cand.results)), tolerance, overall_why,
    )
    overall.significance = rate_significance(matched, lambda r: not r.passed, level=level)
    comparison = Comparison(
        base=_info(base), candidate=_info(cand), tolerance=tolerance, overall=overall,
        step_types=_step_type_changes(base, cand, matched, tolerance, not_comparable, level, seed),
        codes=_code_changes(base, cand, matched, tolerance, not_comparable, level),
        pairing=matched.pairing, pass_k=_pass_k(matched), not_comparable=not_comparable,
    )
    comparison.unpaired_failures = [
        case_change(c) for c in matched.candidate_unpaired if case_status(c.candidate) != "passed"
    ]
    if not matched.paired:
        return comparison
    both_passed = both_failed = 0
    for case in matched.paired:
        before, after = case_status(case.base), case_status(case.candidate)
        if before == "passed" and after != "passed":
            comparison.new_failures.append(case_change(case))
        elif before != "passed" and after == "passed":
            comparison.fixed_failures.append(case_change(case))
        elif before == after == "passed":
            both_passed += 1
        else:
            both_failed += 1
            b, c = shown_trial(case.base), shown_trial(case.candidate)
            if before == after == "failed" and sorted(root_labels(b)) != sorted(root_labels(c)):
                comparison.root_cause_changes.append(case_change(case))
    measure = _score_of(None)
    deltas = []
    for case in matched.paired:
        b = [v for v in map(measure, case.base) if v is not None]
        c = [v for v in map(measure, case.candidate) if v is not None]
        if b and c:
            deltas.append(sum(c) / len(c) - sum(b) / len(b))
    paired_test = next((t for t in overall.significance.tests if t.scope == "paired"), None)
    comparison.paired = PairedComparison(
        pairs=len(matched.paired), both_passed=both_passed, both_failed=both_failed,
        new_failures=len(comparison.new_failures), fixed=len(comparison.fixed_failures),
        test=paired_test.test if paired_test else "exact McNemar",
        mcnemar_p=paired_test.p_value if paired_test else 1.0,
        score_pairs=len(deltas), score_delta=sum(deltas) / len(deltas) if deltas else None,
        score_ci=bootstrap_ci(deltas, resamples=resamples, level=level, seed=seed),
    )
    return comparison
