"""Which test ran on a change, on how many cases, and what it said. Pure.

Every failure rate of a comparison (the trace failure rate, each step type's, each failure code's) is
tested on a per-trace indicator (the trace failed; it has a failing step of that type; of that code):

* on the paired cases, the exact McNemar test (one trace per case in each run) or, when cases were
  run several times, the exact sign test over cases: a case is worse when a larger share of its
  trials failed, better when a smaller share did, so k trials of one case count as one case and never
  as k independent observations;
* on the unpaired cases, the Fisher exact test, with a Newcombe interval for the change in rate (a
  case run several times counts once, failing when any of its trials failed).

When both ran, their smallest p-value is Bonferroni-corrected for the two looks. Mean scores are
tested the same way with a seeded bootstrap over cases (paired when there are paired cases).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agenteval.models import TraceResult
from agenteval.pairing import Case, Matched
from agenteval.stats import bootstrap_ci, fisher_exact, mcnemar_exact, newcombe_interval

Indicator = Callable[[TraceResult], bool]
"""True when a trace counts as failing for the metric under test."""
Measure = Callable[[TraceResult], "float | None"]
"""A trace's value for a score metric (None: the trace has none)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TestResult(_Model):
    """One test that ran on one part of the comparison."""

    test: str = Field(description="The test: exact McNemar, exact sign test over cases, Fisher exact, bootstrap, ...")
    scope: Literal["paired", "unpaired"] = Field(description="Paired cases, or cases found in one run only.")
    unit: Literal["case", "trace"] = Field(description="What was counted.")
    base_n: int = Field(description="Units on the base side (paired: the paired cases).")
    candidate_n: int = Field(description="Units on the candidate side (paired: the paired cases).")
    base_failing: int = Field(0, description="Failing units on the base side (rates only).")
    candidate_failing: int = Field(0, description="Failing units on the candidate side (rates only).")
    worse: int = Field(0, description="Paired: cases that got worse (newly failing, or failing more of their trials).")
    better: int = Field(0, description="Paired: cases that got better.")
    estimate: float | None = Field(None, description="The change the test looked at (rate points as a fraction, or score).")
    ci: tuple[float, float] | None = Field(None, description="Confidence interval of the estimate.")
    level: float = Field(0.95, description="Confidence level of ci.")
    p_value: float = Field(description="Two-sided p-value.")
    direction: int = Field(description="+1 the metric went up, -1 down, 0 no movement.")


class Significance(_Model):
    """The tests behind one metric change, and the p-value the gate reads."""

    tests: list[TestResult] = Field(default_factory=list, description="Tests that ran (paired, unpaired).")
    higher_is_better: bool = Field(description="False for failure rates, True for scores.")
    correction: str = Field("", description="Multiple-look correction applied to p_worse ('Bonferroni x2'), if any.")
    p_worse: float | None = Field(None, description="Corrected smallest p-value of a test showing the metric getting worse.")

    def significant(self, alpha: float) -> bool:
        """Whether a test shows the metric getting worse at level ``alpha``."""
        return self.p_worse is not None and self.p_worse < alpha

    @property
    def cases(self) -> int:
        """Units the tests looked at, both runs together for unpaired tests."""
        return sum(t.base_n if t.scope == "paired" else t.base_n + t.candidate_n for t in self.tests)


def _finish(tests: list[TestResult], higher_is_better: bool) -> Significance:
    bad = 1 if not higher_is_better else -1
    worse = [t.p_value for t in tests if t.direction == bad]
    factor = len(tests)
    return Significance(
        tests=tests, higher_is_better=higher_is_better,
        correction=f"Bonferroni x{factor}" if factor > 1 else "",
        p_worse=min(1.0, min(worse) * factor) if worse else None,
    )


def _any(results: Sequence[TraceResult], bad: Indicator) -> bool:
    return any(bad(r) for r in results)


def _paired_rate(cases: Sequence[Case], bad: Indicator) -> TestResult | None:
    if not cases:
        return None
    shares = [(sum(map(bad, c.base)) / len(c.base), sum(map(bad, c.candidate)) / len(c.candidate)) for c in cases]
    worse = sum(after > before for before, after in shares)
    better = sum(after < before for before, after in shares)
    single = all(len(c.base) == 1 and len(c.candidate) == 1 for c in cases)
    n = len(cases)
    return TestResult(
        test="exact McNemar" if single else "exact sign test over cases", scope="paired", unit="case",
        base_n=n, candidate_n=n, base_failing=sum(_any(c.base, bad) for c in cases),
        candidate_failing=sum(_any(c.candidate, bad) for c in cases), worse=worse, better=better,
        estimate=sum(after - before for before, after in shares) / n,
        p_value=mcnemar_exact(worse, better), direction=(worse > better) - (worse < better),
    )


def _unpaired_rate(base: Sequence[Case], cand: Sequence[Case], bad: Indicator, level: float) -> TestResult | None:
    base_units = [c.base for c in base if c.base]
    cand_units = [c.candidate for c in cand if c.candidate]
    if not base_units or not cand_units:
        return None
    clustered = any(len(u) > 1 for u in [*base_units, *cand_units])
    if not clustered:
        base_units, cand_units = [[u[0]] for u in base_units], [[u[0]] for u in cand_units]
    bf, bn = sum(_any(u, bad) for u in base_units), len(base_units)
    cf, cn = sum(_any(u, bad) for u in cand_units), len(cand_units)
    outcome = fisher_exact(bf, bn, cf, cn)
    return TestResult(
        test="Fisher exact" + (" on cases" if clustered else ""), scope="unpaired",
        unit="case" if clustered else "trace", base_n=bn, candidate_n=cn, base_failing=bf, candidate_failing=cf,
        estimate=cf / cn - bf / bn, ci=newcombe_interval(bf, bn, cf, cn, level), level=level,
        p_value=outcome.p_value, direction=outcome.direction,
    )


def rate_significance(matched: Matched, bad: Indicator, *, level: float = 0.95) -> Significance:
    """Paired and unpaired tests of a failure rate (``bad`` says which traces count as failing)."""
    tests = [t for t in (_paired_rate(matched.paired, bad), _unpaired_rate(matched.base_unpaired, matched.candidate_unpaired, bad, level)) if t]
    return _finish(tests, higher_is_better=False)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _case_mean(results: Sequence[TraceResult], measure: Measure) -> float | None:
    values = [v for v in map(measure, results) if v is not None]
    return _mean(values) if values else None


def _bootstrap_p(draws: Sequence[float]) -> float:
    """Two-sided percentile-bootstrap p-value that the mean is 0; never below what the resamples can resolve."""
    below = sum(d <= 0 for d in draws) / len(draws)
    above = sum(d >= 0 for d in draws) / len(draws)
    return min(1.0, max(2 * min(below, above), 1 / len(draws)))


def score_significance(
    matched: Matched, measure: Measure, *, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> Significance:
    """A seeded bootstrap over cases of a mean score change: paired per-case changes when cases are
    paired, else the difference of the two runs' case means."""
    deltas = []
    for case in matched.paired:
        b, c = _case_mean(case.base, measure), _case_mean(case.candidate, measure)
        if b is not None and c is not None:
            deltas.append(c - b)
    rng = random.Random(seed)
    if deltas:
        n = len(deltas)
        draws = [sum(rng.choices(deltas, k=n)) / n for _ in range(resamples)]
        test = TestResult(
            test="paired bootstrap over cases", scope="paired", unit="case", base_n=n, candidate_n=n,
            worse=sum(d < 0 for d in deltas), better=sum(d > 0 for d in deltas), estimate=_mean(deltas),
            ci=bootstrap_ci(deltas, resamples=resamples, level=level, seed=seed), level=level,
            p_value=_bootstrap_p(draws), direction=(_mean(deltas) > 0) - (_mean(deltas) < 0),
        )
        return _finish([test], higher_is_better=True)
    base = [m for m in (_case_mean(c.base, measure) for c in matched.base_unpaired) if m is not None]
    cand = [m for m in (_case_mean(c.candidate, measure) for c in matched.candidate_unpaired) if m is not None]
    if len(base) < 2 or len(cand) < 2:
        return _finish([], higher_is_better=True)
    draws = sorted(
        _mean(rng.choices(cand, k=len(cand))) - _mean(rng.choices(base, k=len(base))) for _ in range(resamples)
    )
    low = draws[int((1 - level) / 2 * resamples)]
    high = draws[min(resamples - 1, int((1 + level) / 2 * resamples + 0.999999) - 1)]
    estimate = _mean(cand) - _mean(base)
    test = TestResult(
        test="unpaired bootstrap over cases", scope="unpaired", unit="case", base_n=len(base), candidate_n=len(cand),
        estimate=estimate, ci=(low, high), level=level, p_value=_bootstrap_p(draws),
        direction=(estimate > 0) - (estimate < 0),
    )
    return _finish([test], higher_is_better=True)
