"""compare_runs: direction-aware changes, tolerances, paired statistics, not-comparable judging. Pure tables."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from agenteval.compare import bootstrap_ci, compare_runs, mcnemar_exact
from agenteval.policy import Tolerance
from agenteval.models import Judgment, RootCause, Run, Step, StepType, StepVerdict, Trace, TraceResult

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
THRESHOLD = {"PLAN": 3.0, "TOOLSEL": 3.0, "PARAMGEN": 2.5, "EXEC": 3.0, "SYNTH": 3.0}


def result(tid: str, *steps: tuple, judge: str = "rules", rubric: str = "rules-1", model: str | None = None,
           threshold: float | None = None) -> TraceResult:
    """A trace result from (step_id, type, score, code) tuples; score under the threshold fails (direct)."""
    verdicts, roots = [], []
    for step_id, kind, score, code in steps:
        limit = threshold if threshold is not None else THRESHOLD[kind]
        failed = score < limit
        judgment = Judgment(step_id=step_id, judge=judge, score=score, failure_code=code if failed else None,
                            rubric_version=rubric, model=model)
        verdicts.append(StepVerdict(step_id=step_id, type=StepType(kind), verdict="direct" if failed else "pass",
                                    score=score, threshold=limit, failure_code=code if failed else None, judgment=judgment))
        if failed and not roots:
            roots.append(RootCause(step_id=step_id, algorithm="greedy", chain=[step_id], failure_code=code))
    trace = Trace(id=tid, steps=[Step(id=s[0], type=s[1]) for s in steps])
    status = "failed" if roots else "passed"
    return TraceResult(trace=trace, status=status, verdicts=verdicts, root_causes=roots, judge=judge)


def run(*results: TraceResult, judge: str = "rules", name: str = "r") -> Run:
    return Run(id=name, name=name, created_at=T0, judge=judge, results=list(results))


def ok(tid: str, **kw) -> TraceResult:
    return result(tid, ("ex", "EXEC", 5.0, None), ("s", "SYNTH", 4.0, None), **kw)


def broken(tid: str, code: str = "E2.1", **kw) -> TraceResult:
    return result(tid, ("ex", "EXEC", 1.0, code), ("s", "SYNTH", 4.0, None), **kw)


@pytest.mark.parametrize(
    "b, c, expected",
    [
        (0, 0, 1.0),
        (1, 0, 1.0),
        (3, 3, 1.0),
        (5, 0, 2 / 32),
        (6, 0, 2 / 64),
        (10, 2, 2 * (1 + 12 + 66) / 4096),
        (2, 10, 2 * (1 + 12 + 66) / 4096),
    ],
)
def test_mcnemar_exact(b, c, expected):
    assert mcnemar_exact(b, c) == pytest.approx(expected)


def test_mcnemar_exact_handles_many_pairs_without_overflow():
    p = mcnemar_exact(600, 400)
    assert 0 < p < 1e-8 and math.isfinite(p)


@pytest.mark.parametrize(
    "delta, base, score, expected",
    [
        (0.02, 0.5, False, False),  # equal to abs_tol: inside
        (0.03, 0.5, False, False),  # over abs_tol, under rel_tol * base (0.05)
        (0.06, 0.5, False, True),
        (-0.06, 0.5, False, True),  # size, not sign
        (0.03, 0.0, False, True),  # from zero only the absolute tolerance applies
        (0.05, 4.0, True, False),  # scores use their own tolerances
        (0.2, 4.0, True, True),
    ],
)
def test_tolerance_needs_both_bounds_exceeded(delta, base, score, expected):
    assert Tolerance(abs_tol=0.02, rel_tol=0.1, score_abs_tol=0.1, score_rel_tol=0.02).exceeded(delta, base, score=score) is expected


@pytest.mark.parametrize(
    "base_scores, cand_scores, metric, expected",
    [
        ([5.0, 5.0, 5.0, 5.0], [5.0, 5.0, 5.0, 1.0], "failure_rate", "regression"),  # rate up: bad
        ([5.0, 5.0, 5.0, 1.0], [5.0, 5.0, 5.0, 5.0], "failure_rate", "improvement"),
        ([5.0, 5.0, 5.0, 5.0], [5.0, 5.0, 5.0, 5.0], "failure_rate", "unchanged"),
        ([5.0, 5.0, 4.0, 4.0], [4.0, 4.0, 4.0, 4.0], "mean_score", "regression"),  # score down: bad
        ([4.0, 4.0, 4.0, 4.0], [5.0, 5.0, 4.0, 4.0], "mean_score", "improvement"),
        ([4.0, 4.0, 4.0, 4.0], [4.0, 4.0, 4.0, 4.2], "mean_score", "within_tolerance"),
    ],
)
def test_step_type_changes_are_direction_aware(base_scores, cand_scores, metric, expected):
    base = run(*(result(f"t{i}", ("ex", "EXEC", s, "E2.1")) for i, s in enumerate(base_scores)))
    cand = run(*(result(f"t{i}", ("ex", "EXEC", s, "E2.1")) for i, s in enumerate(cand_scores)))
    (change,) = compare_runs(base, cand).step_types
    assert getattr(change, metric).status == expected


def test_small_change_in_a_big_run_is_inside_tolerance():
    base = run(*(ok(f"t{i}") for i in range(100)))
    cand = run(broken("t0"), *(ok(f"t{i}") for i in range(1, 100)))
    comparison = compare_runs(base, cand)
    assert comparison.overall.delta == pytest.approx(0.01)
    assert comparison.overall.status == "within_tolerance"
    assert [c.trace_id for c in comparison.new_failures] == ["t0"]  # still listed


def test_overall_failure_rate_and_paired_lists():
    base = run(ok("a"), ok("b"), broken("c"), broken("d", "E2.1"), ok("e"))
    cand = run(broken("a"), ok("b"), ok("c"), broken("d", "E2.2"), ok("e"))
    comparison = compare_runs(base, cand)
    assert (comparison.overall.base, comparison.overall.candidate) == (0.4, 0.4)
    assert [c.trace_id for c in comparison.new_failures] == ["a"]
    assert [c.trace_id for c in comparison.fixed_failures] == ["c"]
    (changed,) = comparison.root_cause_changes
    assert (changed.trace_id, changed.base_root_causes, changed.candidate_root_causes) == ("d", ["ex E2.1"], ["ex E2.2"])
    paired = comparison.paired
    assert (paired.pairs, paired.new_failures, paired.fixed, paired.both_failed, paired.both_passed) == (5, 1, 1, 1, 2)
    assert paired.mcnemar_p == 1.0
    assert comparison.new_failures[0].failing_steps == ["ex (direct E2.1)"]


def test_codes_are_counted_per_trace_with_new_appearances():
    base = run(broken("a", "E2.1"), ok("b"))
    cand = run(broken("a", "E2.1"), broken("b", "P3.1"))
    codes = {c.code: c for c in compare_runs(base, cand).codes}
    assert set(codes) == {"E2.1", "P3.1"}
    assert (codes["E2.1"].failure_rate.status, codes["E2.1"].new_in_traces, codes["E2.1"].gone_in_traces) == ("unchanged", [], [])
    p31 = codes["P3.1"]
    assert (p31.base_count, p31.candidate_count, p31.new_in_traces, p31.step_types) == (0, 1, ["b"], ["EXEC"])
    assert p31.failure_rate.status == "regression" and p31.failure_rate.delta == 0.5


def test_codes_gone_from_paired_traces():
    codes = {c.code: c for c in compare_runs(run(broken("a", "E2.2"), ok("b")), run(ok("a"), ok("b"))).codes}
    assert (codes["E2.2"].gone_in_traces, codes["E2.2"].failure_rate.status) == (["a"], "improvement")


def test_no_shared_trace_ids_means_no_paired_statistics():
    comparison = compare_runs(run(ok("a")), run(broken("z")))
    assert comparison.paired is None and comparison.new_failures == []
    assert comparison.overall.status == "regression"


def test_unpaired_traces_are_listed():
    pairing = compare_runs(run(ok("a"), ok("b")), run(ok("a"), ok("c"))).pairing
    assert (pairing.pairs, pairing.base_only_cases, pairing.candidate_only_cases) == (1, ["b"], ["c"])
    assert (pairing.base_only, pairing.candidate_only, pairing.used) == (1, 1, "auto")


def test_bootstrap_interval_is_seeded_and_brackets_the_mean():
    values = [-1.0, -0.5, 0.0, 0.25, -0.75, -0.5, -1.0, 0.0]
    low, high = bootstrap_ci(values, seed=3)
    assert low <= sum(values) / len(values) <= high
    assert bootstrap_ci(values, seed=3) == (low, high)
    assert bootstrap_ci([]) is None and bootstrap_ci([0.5]) == (0.5, 0.5)


def test_score_deltas_are_paired_per_trace():
    base = run(*(ok(f"t{i}") for i in range(10)))
    cand = run(*(result(f"t{i}", ("ex", "EXEC", 4.0, None), ("s", "SYNTH", 4.0, None)) for i in range(10)))
    paired = compare_runs(base, cand).paired
    assert paired.score_delta == pytest.approx(-0.5)
    assert paired.score_ci == pytest.approx((-0.5, -0.5))


@pytest.mark.parametrize(
    "cand_kwargs, cand_judge, reason",
    [
        ({"rubric": "rules-2"}, "rules", "rubric version rules-1 in base, rules-2 in candidate"),
        ({"judge": "openai:gpt-4o", "rubric": "3", "model": "gpt-4o"}, "openai:gpt-4o", "judge rules in base, openai:gpt-4o in candidate"),
        ({"threshold": 2.0}, "rules", "threshold 3.0 in base, 2.0 in candidate"),
    ],
)
def test_differently_judged_step_types_are_not_comparable(cand_kwargs, cand_judge, reason):
    base = run(ok("a"), ok("b"))
    cand = run(broken("a", **cand_kwargs), ok("b", **cand_kwargs), judge=cand_judge)
    comparison = compare_runs(base, cand)
    assert not comparison.comparable
    assert reason in comparison.not_comparable["EXEC"]
    exec_change = next(c for c in comparison.step_types if c.step_type == "EXEC")
    assert exec_change.failure_rate.status == "not_comparable" and reason in exec_change.failure_rate.reason
    assert comparison.overall.status == "not_comparable"
    assert not any(c.failure_rate.regressed for c in comparison.codes)


def test_a_different_judge_model_under_the_same_judge_name_is_not_comparable():
    kw = {"judge": "openai:gpt-4o", "rubric": "3"}
    base = run(ok("a", model="gpt-4o", **kw), judge="openai:gpt-4o")
    cand = run(ok("a", model="gpt-4o-mini", **kw), judge="openai:gpt-4o")
    assert "judge model gpt-4o in base, gpt-4o-mini in candidate" in compare_runs(base, cand).not_comparable["SYNTH"]


def test_same_judging_is_comparable_and_identical_runs_are_unchanged():
    base = run(ok("a"), broken("b"))
    comparison = compare_runs(base, base)
    assert comparison.comparable
    assert comparison.overall.status == "unchanged"
    assert all(c.failure_rate.status == "unchanged" and c.mean_score.status == "unchanged" for c in comparison.step_types)
    assert comparison.new_failures == comparison.fixed_failures == comparison.root_cause_changes == []


def test_comparison_is_json_round_trippable():
    comparison = compare_runs(run(ok("a"), broken("b")), run(broken("a"), ok("b")))
    again = type(comparison).model_validate_json(comparison.model_dump_json())
    assert again == comparison
