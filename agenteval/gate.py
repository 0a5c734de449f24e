"""The deploy gate: a comparison and a policy -> pass, warn or block, with the reasons. Pure.

Dual thresholds as in the AgentEval paper's CI integration: each rule can warn (the job goes on and
says so) or block (the deploy stops). A change inside the comparison's tolerance never triggers a
rule, and a change that the comparison's tests cannot tell from noise (p >= alpha) never blocks: it
warns and names the test and its p-value. Step types judged differently in the two runs are reported
as not comparable instead of as regressions. The one deliberate exception is a critical failure code
that the baseline never had: it blocks however few traces show it (set ``critical_failure = "warn"``
to soften it).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from agenteval.compare import Comparison, MetricChange
from agenteval.significance import Significance
from agenteval.policy import GatePolicy, Level

if TYPE_CHECKING:
    from agenteval.taxonomy import Taxonomy

Verdict = Literal["pass", "warn", "block"]
_RANK = {"pass": 0, "warn": 1, "block": 2}


class GateReason(BaseModel):
    """One rule that fired."""

    model_config = ConfigDict(extra="forbid")

    level: Literal["warn", "block"] = Field(description="warn or block.")
    rule: str = Field(description="Policy rule: failure_rate, step_failure_rate, score_drop, significant_regression, critical_failure, not_comparable, unreadable_traces.")
    message: str = Field(description="One line saying what changed.")


class GateResult(BaseModel):
    """The gate's decision."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict = Field(description="pass, warn or block: the highest level among the reasons.")
    reasons: list[GateReason] = Field(default_factory=list, description="Rules that fired, blocking ones first.")
    failure_rate: float | None = Field(None, description="The candidate's trace failure rate.")
    alpha: float = Field(description="Significance level used.")
    notes: list[str] = Field(default_factory=list, description="What the verdict rests on, e.g. no baseline yet.")


def critical_codes(policy: GatePolicy, taxonomy: Taxonomy | None = None) -> frozenset[str]:
    """The policy's critical codes, or the taxonomy's codes of severity ``critical``.

    With neither given, the bundled taxonomy is read.
    """
    if policy.critical_codes is not None:
        return frozenset(code.strip() for code in policy.critical_codes)
    if taxonomy is None:
        from agenteval.taxonomy import load_taxonomy

        taxonomy = load_taxonomy()
    return frozenset(f.code for f in taxonomy.codes() if f.severity == "critical")


def _points(value: float) -> str:
    return f"{value * 100:+.1f} pts"


def _rate_line(what: str, change: MetricChange, unit: str) -> str:
    return (
        f"{what} {change.base:.1%} -> {change.candidate:.1%} ({_points(change.delta)}, "
        f"{change.candidate_n} {unit})"
    )


def describe_tests(significance: Significance | None) -> str:
    """The tests behind a change in a few words: 'exact McNemar on 60 paired cases, p = 0.0078'."""
    if significance is None or not significance.tests:
        return "no test could run"
    parts = []
    for t in significance.tests:
        where = f"{t.base_n} paired {t.unit}s" if t.scope == "paired" else f"{t.base_n} + {t.candidate_n} unpaired {t.unit}s"
        parts.append(f"{t.test} on {where}, p = {t.p_value:.3g}")
    text = "; ".join(parts)
    if significance.correction:
        text += f" ({significance.correction}: p = {1.0 if significance.p_worse is None else significance.p_worse:.3g})"
    return text


def _evidence(level: Level, change: MetricChange, alpha: float) -> tuple[Level, str]:
    """The level a rule reaches once significance is asked for, and the words that say why."""
    tests = describe_tests(change.significance)
    if change.significance is not None and change.significance.significant(alpha):
        return level, f"significant: {tests}"
    return ("warn" if level == "block" else level), f"not significant at {alpha}: {tests}"


def apply_gate(
    comparison: Comparison,
    policy: GatePolicy,
    *,
    taxonomy: Taxonomy | None = None,
    critical: Collection[str] | None = None,
) -> GateResult:
    """Decide pass, warn or block for a comparison.

    Args:
        comparison: from ``compare_runs``.
        policy: the thresholds (``Settings.gate``).
        taxonomy: where default critical codes come from (default: the bundled taxonomy).
        critical: critical codes to use instead of the policy's or the taxonomy's.

    Returns:
        The verdict (the highest level among the rules that fired) and one reason per rule.
    """
    reasons: list[GateReason] = []

    def fire(level: Level, rule: str, message: str) -> None:
        if level != "pass":
            reasons.append(GateReason(level=level, rule=rule, message=message))

    if comparison.candidate.input_errors:
        n = comparison.candidate.input_errors
        fire(policy.unreadable_traces, "unreadable_traces", f"{n} candidate input(s) could not be read")
    for step_type, why in comparison.not_comparable.items():
        fire(policy.not_comparable, "not_comparable", f"{step_type} not comparable: {why}")

    alpha = policy.alpha
    overall = comparison.overall
    if overall.regressed:
        level, why = _evidence(policy.failure_rate.level(overall.delta), overall, alpha)
        fire(level, "failure_rate", f"{_rate_line('trace failure rate', overall, 'traces')}; {why}")
    for change in comparison.step_types:
        rate, score = change.failure_rate, change.mean_score
        if rate.regressed:
            level, why = _evidence(policy.step_failure_rate.level(rate.delta), rate, alpha)
            fire(level, "step_failure_rate", f"{_rate_line(f'{change.step_type} failure rate', rate, 'steps')}; {why}")
        if score.regressed:
            level, why = _evidence(policy.score_drop.level(-score.delta), score, alpha)
            fire(level, "score_drop", f"{change.step_type} mean score {score.base:.2f} -> {score.candidate:.2f} ({score.delta:+.2f}); {why}")

    significance = overall.significance
    if overall.regressed and comparison.comparable and significance is not None and significance.significant(alpha):
        fire(
            policy.significant_regression, "significant_regression",
            f"trace failure rate {overall.base:.1%} -> {overall.candidate:.1%} is more than noise at {alpha}: "
            f"{describe_tests(significance)}",
        )

    codes = frozenset(critical) if critical is not None else critical_codes(policy, taxonomy)
    for change in comparison.codes:
        if change.code not in codes or change.failure_rate.status == "not_comparable":
            continue
        if change.base_count == 0 and change.candidate_count > 0:
            where = f" (traces: {', '.join(change.new_in_traces[:5])})" if change.new_in_traces else ""
            fire(
                policy.critical_failure, "critical_failure",
                f"new critical failure {change.code}: {change.candidate_count} step(s), none in base{where}",
            )
        elif change.failure_rate.regressed:
            line = _rate_line(f"critical failure {change.code} more frequent: share of traces", change.failure_rate, "traces")
            level, why = _evidence(policy.critical_failure, change.failure_rate, alpha)
            fire(level, "critical_failure", f"{line}; {why}")

    reasons.sort(key=lambda r: -_RANK[r.level])
    verdict: Verdict = max((r.level for r in reasons), key=_RANK.__getitem__, default="pass")
    return GateResult(verdict=verdict, reasons=reasons, failure_rate=overall.candidate, alpha=policy.alpha)
