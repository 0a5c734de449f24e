from pathlib import Path

import pytest

from agenteval.benchmark import compare_algorithms, oracle_judgments, run_benchmark
from agenteval.datasets import load_dataset
from agenteval.errors import ConfigError
from agenteval.judges.base import StepContext
from agenteval.models import Judgment, StepType

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = Path(__file__).parent / "fixtures" / "openai_chat"


@pytest.fixture(scope="module")
def data_root() -> Path:
    """The shared labeled data (read in place, never copied into the repository)."""
    if not (SHARED / "who_and_when").is_dir() or not (SHARED / "agentrx").is_dir():
        pytest.fail(f"shared labeled data not found at {SHARED} (expected who_and_when/ and agentrx/ there)")
    return SHARED


@pytest.fixture(scope="module")
def tau(data_root):
    return load_dataset("agentrx-tau", data_root / "agentrx")


@pytest.fixture(scope="module")
def magentic(data_root):
    return load_dataset("agentrx-magentic-one", data_root / "agentrx")


def test_oracle_tau_retail_meets_the_target(data_root, tau):
    reports = compare_algorithms(data_root / "agentrx", "agentrx-tau", traces=tau)
    assert reports["dag"].rca_exact >= 0.90
    assert reports["dag"].rca_exact >= reports["earliest"].rca_exact
    assert reports["dag"].n_root_cause_traces == 20
    # Gold labels on user turns cannot be detected: agenteval judges agent work only.
    assert reports["dag"].fd_recall < 1.0 and reports["dag"].fpr == 0.0


def test_oracle_magentic_one_meets_the_target_and_beats_earliest(data_root, magentic):
    reports = compare_algorithms(data_root / "agentrx", "agentrx-magentic-one", traces=magentic)
    assert reports["dag"].rca_exact >= 0.70
    assert reports["dag"].rca_exact > reports["earliest"].rca_exact
    assert reports["dag"].rca_exact > reports["greedy"].rca_exact
    assert reports["dag"].fd_recall == 1.0 and reports["dag"].kappa == 1.0


def test_oracle_who_and_when_single_label_is_found(data_root):
    report = run_benchmark(data_root / "who_and_when", "who-and-when", mode="dag", oracle=True)
    assert report.n_traces == 134 and report.rca_exact == 1.0 and report.trace_recall == 1.0
    assert report.trace_fpr is None  # every Who&When run failed
    assert report.agent_accuracy >= 0.95


def test_oracle_end_to_end_has_outcomes_only(data_root, tau):
    report = run_benchmark(data_root / "agentrx", "agentrx-tau", mode="end-to-end", oracle=True, traces=tau)
    assert (report.trace_recall, report.trace_fpr) == (1.0, 0.0)
    assert report.fd_recall is None and report.rca_exact is None


def test_rules_mode_runs_on_real_traces(data_root, tau):
    report = run_benchmark(data_root / "agentrx", "agentrx-tau", mode="rules", traces=tau)
    assert report.n_traces == 73 and report.n_root_cause_traces == 20
    for value in (
        report.fd_recall,
        report.fpr,
        report.rca_exact,
        report.rca_1hop,
        report.trace_recall,
        report.trace_fpr,
    ):
        assert value is not None and 0.0 <= value <= 1.0
    assert report.category_kappa is not None


def test_rules_mode_on_our_own_tau_bench_runs():
    report = run_benchmark(FIXTURES, "tau-bench", mode="rules")
    assert report.n_traces == 2 and report.trace_recall == 1.0 and report.trace_fpr == 0.0
    assert report.rca_exact is None  # outcomes only


class ScoreByType:
    """A judge that fails every SYNTH step (an honest stand-in for a model judge)."""

    name = "by-type"

    async def judge_step(self, ctx: StepContext) -> Judgment:
        score = 1.0 if ctx.step.type is StepType.SYNTH else 5.0
        return Judgment(step_id=ctx.step.id, judge=self.name, score=score, failure_code="I1.1" if score < 3 else None)


def test_flat_and_dag_modes_with_a_judge():
    flat = run_benchmark(FIXTURES, "tau-bench", mode="flat", judge=ScoreByType())
    dag = run_benchmark(FIXTURES, "tau-bench", mode="dag", judge=ScoreByType(), algorithm="greedy")
    assert flat.trace_fpr == dag.trace_fpr == 1.0  # the successful run's answer was failed too
    end = run_benchmark(FIXTURES, "tau-bench", mode="end-to-end", judge=ScoreByType())
    assert end.trace_recall == 1.0


def test_oracle_judgments_score_gold_failures_low(tau):
    gold = next(g for g in tau if g.root_cause is not None)
    found = oracle_judgments(gold)
    assert {sid for sid, j in found.items() if j.score == 1.0} == {s for s in gold.failing_steps if s in found}
    assert all(j.score == 5.0 for sid, j in found.items() if sid not in gold.failing_steps)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "vibes"}, "unknown benchmark mode 'vibes'"),
        ({"mode": "flat"}, "mode 'flat' needs a judge or oracle=True"),
        ({"mode": "dag", "oracle": True, "algorithm": "coin"}, "unknown root-cause algorithm 'coin'"),
    ],
)
def test_bad_settings_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        run_benchmark(FIXTURES, "tau-bench", **kwargs)
