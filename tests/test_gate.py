"""apply_gate: warn/block levels per rule, critical codes, significance, not-comparable runs. Pure tables."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agenteval.compare import compare_runs
from agenteval.config import load_settings
from agenteval.gate import apply_gate, critical_codes
from agenteval.policy import GatePolicy, Thresholds
from agenteval.models import InputError
from agenteval.taxonomy import load_taxonomy
from test_compare import broken, ok, run

QUIET = {  # every rule off; each case turns on the one it tests
    "failure_rate": {"warn": None, "block": None},
    "step_failure_rate": {"warn": None, "block": None},
    "score_drop": {"warn": None, "block": None},
    "significant_regression": "pass",
    "critical_failure": "pass",
    "not_comparable": "pass",
    "unreadable_traces": "pass",
}


def policy(**overrides) -> GatePolicy:
    return GatePolicy.model_validate({**QUIET, **overrides})


def runs(n_base_fail: int, n_cand_fail: int, n: int = 10, code: str = "E2.1"):
    base = run(*(broken(f"t{i}", code) if i < n_base_fail else ok(f"t{i}") for i in range(n)))
    cand = run(*(broken(f"t{i}", code) if i < n_cand_fail else ok(f"t{i}") for i in range(n)))
    return base, cand


@pytest.mark.parametrize(
    "base_fail, cand_fail, thresholds, verdict",
    [
        (1, 1, {"warn": 0.0, "block": 0.1}, "pass"),  # no change
        (1, 2, {"warn": 0.0, "block": 0.1}, "warn"),  # +10 pts is not more than 0.10
        (1, 3, {"warn": 0.0, "block": 0.1}, "warn"),  # +20 pts, but 2 of 10 cases flipping is noise (p = 0.5)
        (1, 9, {"warn": 0.0, "block": 0.1}, "block"),  # +80 pts, 8 flips: p = 0.0078
        (1, 9, {"warn": 0.0, "block": None}, "warn"),  # block turned off
        (1, 9, {"warn": 0.85, "block": 0.9}, "pass"),  # below both levels
        (3, 1, {"warn": 0.0, "block": 0.0}, "pass"),  # an improvement never fires
    ],
)
def test_overall_failure_rate_levels(base_fail, cand_fail, thresholds, verdict):
    result = apply_gate(compare_runs(*runs(base_fail, cand_fail)), policy(failure_rate=thresholds), critical=())
    assert result.verdict == verdict
    assert all(r.rule == "failure_rate" for r in result.reasons)


def test_a_rise_beyond_the_block_level_that_may_be_noise_warns_and_says_why():
    result = apply_gate(compare_runs(*runs(1, 3)), policy(failure_rate={"warn": 0.0, "block": 0.1}), critical=())
    (reason,) = result.reasons
    assert reason.level == "warn"
    assert reason.message == (
        "trace failure rate 10.0% -> 30.0% (+20.0 pts, 10 traces); not significant at 0.05: "
        "exact McNemar on 10 paired cases, p = 0.5"
    )


def test_a_significant_change_inside_tolerance_never_fires():
    base, cand = runs(0, 15, n=1000)  # 15 new failures of 1000: p = 6e-5, but +1.5 pts is inside 2 pts
    result = apply_gate(compare_runs(base, cand), policy(significant_regression="block", failure_rate={"warn": 0.0, "block": 0.0}), critical=())
    assert result.verdict == "pass"


def test_change_inside_tolerance_never_fires():
    base, cand = runs(10, 11, n=100)  # +1 pt, tolerance 2 pts
    result = apply_gate(compare_runs(base, cand), policy(failure_rate={"warn": 0.0, "block": 0.0}), critical=())
    assert result.verdict == "pass"


def test_step_type_failure_rate_and_score_drop():
    base, cand = runs(1, 3)
    p = policy(step_failure_rate={"warn": 0.0, "block": 0.5}, score_drop={"warn": 0.0, "block": None})
    result = apply_gate(compare_runs(base, cand), p, critical=())
    assert result.verdict == "warn"
    assert {r.rule for r in result.reasons} == {"step_failure_rate", "score_drop"}
    assert any("EXEC failure rate 10.0% -> 30.0% (+20.0 pts, 10 steps)" in r.message for r in result.reasons)


@pytest.mark.parametrize(
    "base_fail, cand_fail, level, verdict",
    [
        (0, 8, "block", "block"),  # 8 new failures, 0 fixed: p = 2/256
        (0, 8, "warn", "warn"),
        (0, 3, "block", "pass"),  # p = 0.25: not significant
    ],
)
def test_significant_regression(base_fail, cand_fail, level, verdict):
    result = apply_gate(compare_runs(*runs(base_fail, cand_fail)), policy(significant_regression=level), critical=())
    assert result.verdict == verdict
    if verdict != "pass":
        assert result.reasons[0].message == (
            "trace failure rate 0.0% -> 80.0% is more than noise at 0.05: exact McNemar on 10 paired cases, p = 0.00781"
        )


def test_significance_uses_the_policy_alpha():
    comparison = compare_runs(*runs(0, 5))  # p = 2/32 = 0.0625
    assert apply_gate(comparison, policy(significant_regression="block"), critical=()).verdict == "pass"
    assert apply_gate(comparison, policy(significant_regression="block", alpha=0.1), critical=()).verdict == "block"


@pytest.mark.parametrize(
    "base_code, cand_code, base_fail, cand_fail, critical, verdict",
    [
        ("E2.1", "P3.1", 1, 1, {"P3.1"}, "block"),  # a critical code the base run never had
        ("P3.1", "P3.1", 1, 1, {"P3.1"}, "pass"),  # same critical failure as before
        ("P3.1", "P3.1", 1, 9, {"P3.1"}, "block"),  # more frequent, significantly (8 new, 0 gone: p = 0.0078)
        ("P3.1", "P3.1", 1, 4, {"P3.1"}, "warn"),  # more frequent, but 3 flips may be chance (p = 0.25)
        ("E2.1", "E2.2", 1, 1, {"P3.1"}, "pass"),  # new, but not critical
    ],
)
def test_critical_failures_block(base_code, cand_code, base_fail, cand_fail, critical, verdict):
    base = run(*(broken(f"t{i}", base_code) if i < base_fail else ok(f"t{i}") for i in range(10)))
    cand = run(*(broken(f"t{i}", cand_code) if i < cand_fail else ok(f"t{i}") for i in range(10)))
    result = apply_gate(compare_runs(base, cand), policy(critical_failure="block"), critical=critical)
    assert result.verdict == verdict
    if verdict == "block":
        assert result.reasons[0].rule == "critical_failure"


def test_critical_failure_more_frequent_without_paired_traces_uses_tolerance_only():
    base = run(broken("a", "P3.1"), *(ok(f"b{i}") for i in range(9)))
    cand = run(broken("x", "P3.1"), broken("y", "P3.1"), *(ok(f"z{i}") for i in range(8)))
    result = apply_gate(compare_runs(base, cand), policy(critical_failure="warn"), critical={"P3.1"})
    assert result.verdict == "warn"
    assert result.reasons[0].message.startswith("critical failure P3.1 more frequent: share of traces 10.0% -> 20.0%")


def test_critical_codes_default_to_the_taxonomy_severity():
    taxonomy = load_taxonomy()
    assert critical_codes(GatePolicy(), taxonomy) == {f.code for f in taxonomy.codes() if f.severity == "critical"}
    assert critical_codes(GatePolicy(critical_codes=[" E2.1 "]), taxonomy) == {"E2.1"}
    base, cand = runs(0, 1, code="I1.2")  # false_success is critical in the bundled taxonomy
    assert apply_gate(compare_runs(base, cand), policy(critical_failure="block"), taxonomy=taxonomy).verdict == "block"
    no_critical = policy(critical_failure="block", critical_codes=[])
    assert apply_gate(compare_runs(base, cand), no_critical, taxonomy=taxonomy).verdict == "pass"


def test_not_comparable_warns_instead_of_reporting_regressions():
    base = run(*(ok(f"t{i}") for i in range(10)))
    cand = run(*(broken(f"t{i}", "P3.1", rubric="rules-2") for i in range(10)))
    strict = policy(
        failure_rate={"warn": 0.0, "block": 0.0}, step_failure_rate={"warn": 0.0, "block": 0.0},
        significant_regression="block", critical_failure="block", not_comparable="warn",
    )
    result = apply_gate(compare_runs(base, cand), strict, critical={"P3.1"})
    assert result.verdict == "warn"
    assert [r.rule for r in result.reasons] == ["not_comparable", "not_comparable"]
    assert "rubric version rules-1 in base, rules-2 in candidate" in result.reasons[0].message


def test_unreadable_candidate_traces():
    base, cand = runs(0, 0)
    cand.input_errors.append(InputError(source="x.json", message="bad"))
    result = apply_gate(compare_runs(base, cand), policy(unreadable_traces="block"), critical=())
    assert (result.verdict, result.reasons[0].message) == ("block", "1 candidate input(s) could not be read")


def test_default_policy_identical_runs_pass_and_reasons_put_blocks_first():
    base, cand = runs(2, 2)
    assert apply_gate(compare_runs(base, cand), GatePolicy(), critical=()).verdict == "pass"
    result = apply_gate(compare_runs(*runs(1, 9)), GatePolicy(), critical=())
    assert result.verdict == "block" and result.failure_rate == pytest.approx(0.9)
    levels = [r.level for r in result.reasons]
    assert levels == sorted(levels, key=lambda level: level != "block")


@pytest.mark.parametrize("warn, block, worse_by, level", [(0.0, 0.1, 0.05, "warn"), (0.0, 0.1, 0.2, "block"), (None, None, 9, "pass")])
def test_thresholds_level(warn, block, worse_by, level):
    assert Thresholds(warn=warn, block=block).level(worse_by) == level


def test_block_below_warn_is_rejected():
    with pytest.raises(ValidationError, match="block"):
        Thresholds(warn=0.2, block=0.1)


def test_policy_comes_from_the_gate_table_of_agenteval_toml(tmp_path):
    (tmp_path / "agenteval.toml").write_text(
        '[gate]\nalpha = 0.01\ncritical_codes = ["E2.1"]\nnot_comparable = "block"\n'
        "[gate.failure_rate]\nwarn = 0.05\nblock = 0.2\n[gate.tolerance]\nabs_tol = 0.05\n"
    )
    settings = load_settings(directory=tmp_path, environ={})
    gate = settings.gate
    assert (gate.alpha, gate.critical_codes, gate.not_comparable) == (0.01, ["E2.1"], "block")
    assert (gate.failure_rate.warn, gate.failure_rate.block, gate.tolerance.abs_tol) == (0.05, 0.2, 0.05)


def test_a_bad_gate_setting_is_a_config_error(tmp_path):
    from agenteval.errors import ConfigError

    (tmp_path / "agenteval.toml").write_text('[gate]\ncritical_failure = "explode"\n')
    with pytest.raises(ConfigError, match="gate.critical_failure"):
        load_settings(directory=tmp_path, environ={})
