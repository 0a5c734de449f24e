"""Measure agenteval on labeled datasets: step detection, agreement and root-cause accuracy.

Modes (the paper's comparison):

* ``dag``: per-step judgments, failures split into direct and cascade along the DAG, root causes
  by a registered attribution algorithm (``algorithm``; the default one when None).
* ``rules``: the same with the deterministic rules judge (unless another judge is passed).
* ``flat``: per-step judgments without propagation; the root cause is the lowest-scoring failing
  step (earliest on ties), as in the paper's flat baseline.
* ``end-to-end``: one verdict per trace, from its final answer step (or, with ``oracle``, the
  gold outcome); no step-level or root-cause predictions.

``oracle=True`` replaces the judge by the gold labels (score 1 for gold failing steps, 5 for the
others), which isolates the attribution algorithm from judge quality.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from agenteval.dag import StepDAG
from agenteval.datasets import load_dataset
from agenteval.datasets.base import LabeledTrace
from agenteval.errors import ConfigError
from agenteval.evaluate import judge_trace
from agenteval.judges.base import Judge
from agenteval.metrics import BenchReport, TracePrediction, evaluate
from agenteval.models import Judgment, Step, StepType, StepVerdict
from agenteval.propagation import (
    CASCADE_RULES,
    DEFAULT_ROOT_CAUSE,
    ROOT_CAUSE_ALGORITHMS,
    CascadeRule,
    classify,
    root_causes,
    trace_status,
)

MODES = ("end-to-end", "flat", "rules", "dag")
ORACLE_JUDGE = "oracle"
#: Judge calls in flight at once.
CONCURRENCY = 8


def oracle_judgments(gold: LabeledTrace) -> dict[str, Judgment]:
    """Gold labels as judgments: score 1 for gold failing steps, 5 for every other judged step."""
    return {
        step.id: Judgment(
            step_id=step.id,
            judge=ORACLE_JUDGE,
            score=1.0 if step.id in gold.failing_steps else 5.0,
            reason="gold label",
            details={"category": gold.failing_steps[step.id]} if step.id in gold.failing_steps else {},
        )
        for step in gold.trace.steps
        if step.type.judged
    }


async def _judgments(judge: Judge, dags: Mapping[str, StepDAG], final_only: bool) -> dict[str, dict[str, Judgment]]:
    limit = asyncio.Semaphore(CONCURRENCY)
    jobs = {}
    for trace_id, dag in dags.items():
        steps = [s for s in dag.trace.steps if s.type.judged]
        if final_only:
            steps = _final_step(steps)
        jobs[trace_id] = judge_trace(dag.trace, dag, judge, limit, steps)
    results = await asyncio.gather(*jobs.values())
    return dict(zip(jobs, results))


def _final_step(steps: Sequence[Step]) -> list[Step]:
    final = [s for s in steps if s.is_final] or [s for s in steps if s.type is StepType.SYNTH] or list(steps)
    return final[-1:]


def _flat_root(verdicts: Sequence[StepVerdict]) -> list[str]:
    failing = [
        (v.score if v.score is not None else 0.0, i, v.step_id)
        for i, v in enumerate(verdicts)
        if v.failed and not v.recovered
    ]
    return [min(failing)[2]] if failing else []


def _predict(
    mode: str,
    dag: StepDAG,
    judgments: Mapping[str, Judgment],
    gold: LabeledTrace,
    *,
    oracle: bool,
    algorithm: str,
    thresholds: Mapping[StepType, float] | None,
    cascade: CascadeRule = "reached",
) -> TracePrediction:
    trace_id = dag.trace.id
    if mode == "end-to-end":
        if oracle:
            failed = gold.failed if gold.failed is not None else bool(gold.failing_steps)
        else:
            failed = trace_status(classify(dag, judgments, thresholds, cascade=cascade)) == "failed"
        return TracePrediction(trace_id=trace_id, failed=failed)
    verdicts = classify(dag, judgments, thresholds, cascade=cascade)
    # A failure the agent recovered from does not fail the trace, so it is not predicted failing.
    failing = {v.step_id: v.failure_code for v in verdicts if v.failed and not v.recovered}
    if mode == "flat":
        roots = _flat_root(verdicts)
    else:
        roots = [rc.step_id for rc in root_causes(dag, verdicts, algorithm)]
    agent = dag.step(roots[0]).agent if roots else None
    failed = trace_status(verdicts) == "failed"
    return TracePrediction(trace_id=trace_id, failed=failed, failing=failing, root_causes=roots, agent=agent)


def _category_of(labeled: Sequence[LabeledTrace]) -> Callable[[str | None], str | None] | None:
    if any(g.dataset == "agentrx" for g in labeled):
        from agenteval.datasets.agentrx import category_for_code

        return category_for_code
    return None


def run_benchmark(
    directory: Path,
    dataset: str,
    *,
    mode: str,
    judge: Judge | None = None,
    oracle: bool = False,
    algorithm: str | None = None,
    thresholds: Mapping[StepType, float] | None = None,
    traces: Sequence[LabeledTrace] | None = None,
    cascade: CascadeRule = "reached",
) -> BenchReport:
    """Evaluate one method on one labeled dataset.

    Args:
        directory: the dataset's folder (e.g. ``data/who_and_when``).
        dataset: a name from ``agenteval.datasets.DATASETS``.
        mode: "end-to-end", "flat", "rules" or "dag".
        judge: the step judge; "rules" defaults to the rules judge, other modes need one unless
            ``oracle``.
        oracle: judge with the gold labels instead.
        algorithm: root-cause algorithm for "dag" and "rules" (default: the registry's default).
        thresholds: failure thresholds per step type (default: the paper's).
        traces: already loaded traces of ``dataset`` (skips loading).
        cascade: the direct/cascade rule ("reached", or "ancestor" to measure the earlier rule).

    Raises:
        ConfigError: unknown mode, algorithm or cascade rule, or no judge for a mode that needs one.
        TraceError: the dataset folder is missing or malformed.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown benchmark mode '{mode}' (choose from: {', '.join(MODES)})")
    algorithm = algorithm or DEFAULT_ROOT_CAUSE
    if algorithm not in ROOT_CAUSE_ALGORITHMS:
        raise ConfigError(
            f"unknown root-cause algorithm '{algorithm}' (choose from: {', '.join(ROOT_CAUSE_ALGORITHMS)})"
        )
    if cascade not in CASCADE_RULES:
        raise ConfigError(f"unknown cascade rule '{cascade}' (choose from: {', '.join(CASCADE_RULES)})")
    if judge is None and not oracle:
        if mode != "rules":
            raise ConfigError(f"mode '{mode}' needs a judge or oracle=True")
        from agenteval.judges.rules import RulesJudge

        judge = RulesJudge()
    labeled = list(traces) if traces is not None else load_dataset(dataset, Path(directory))
    dags = {g.trace.id: StepDAG.from_trace(g.trace) for g in labeled}
    if oracle:
        judgments = {g.trace.id: oracle_judgments(g) for g in labeled}
    else:
        judgments = asyncio.run(_judgments(judge, dags, final_only=mode == "end-to-end"))
    predictions = {
        g.trace.id: _predict(
            mode, dags[g.trace.id], judgments[g.trace.id], g, oracle=oracle, algorithm=algorithm,
            thresholds=thresholds, cascade=cascade,
        )
        for g in labeled
    }
    return evaluate(predictions, labeled, category_of=_category_of(labeled), dags=dags)


def compare_algorithms(
    directory: Path, dataset: str, *, traces: Sequence[LabeledTrace] | None = None
) -> dict[str, BenchReport]:
    """Oracle-mode reports of every registered root-cause algorithm (and the flat baseline) on one
    dataset."""
    labeled = list(traces) if traces is not None else load_dataset(dataset, Path(directory))
    reports = {
        name: run_benchmark(directory, dataset, mode="dag", oracle=True, algorithm=name, traces=labeled)
        for name in ROOT_CAUSE_ALGORITHMS
    }
    reports["flat"] = run_benchmark(directory, dataset, mode="flat", oracle=True, traces=labeled)
    return reports


def judge_labeled(labeled: Sequence[LabeledTrace], judge: Judge) -> dict[str, dict[str, Judgment]]:
    """Judge every agent step of labeled traces: trace id -> step id -> judgment."""
    dags = {g.trace.id: StepDAG.from_trace(g.trace) for g in labeled}
    return asyncio.run(_judgments(judge, dags, final_only=False))


def bench_suite(
    directory: Path,
    dataset: str,
    *,
    judge: Judge | None,
    modes: Sequence[str] | None = None,
    oracle: bool = False,
    algorithm: str | None = None,
    thresholds: Mapping[StepType, float] | None = None,
    limit: int | None = None,
    cascade: CascadeRule = "reached",
) -> dict[str, BenchReport]:
    """What `agenteval bench` runs: several modes side by side on one dataset.

    With ``oracle``, the gold labels replace the judge and every root-cause algorithm is compared
    (``dag/<algorithm>`` rows). Without it, ``judge`` (None: the rules judge) runs the chosen
    modes; "rules" always uses the rules judge. ``limit`` keeps the first N traces (a cheap sample
    for slow judges). ``cascade`` picks the direct/cascade rule ("ancestor" measures the earlier one).
    """
    if cascade not in CASCADE_RULES:
        raise ConfigError(f"unknown cascade rule '{cascade}' (choose from: {', '.join(CASCADE_RULES)})")
    labeled = load_dataset(dataset, Path(directory))[:limit]
    common = {"traces": labeled, "thresholds": thresholds, "cascade": cascade}
    if oracle:
        chosen = list(modes or ("end-to-end", "flat", "dag"))
        reports: dict[str, BenchReport] = {}
        for mode in chosen:
            if mode == "dag" and algorithm is None:
                for name in ROOT_CAUSE_ALGORITHMS:
                    reports[f"dag/{name}"] = run_benchmark(directory, dataset, mode="dag", oracle=True, algorithm=name, **common)
            else:
                reports[mode] = run_benchmark(directory, dataset, mode=mode, oracle=True, algorithm=algorithm, **common)
        return reports
    chosen = list(modes or (("end-to-end", "flat", "rules") if judge is None else MODES))
    return {
        mode: run_benchmark(
            directory, dataset, mode=mode, judge=None if mode == "rules" else judge, algorithm=algorithm,
            **common,
        )
        if mode == "rules" or judge is not None
        else run_benchmark(directory, dataset, mode=mode, judge=_rules(), algorithm=algorithm, **common)
        for mode in chosen
    }


def _rules() -> Judge:
    from agenteval.judges.rules import RulesJudge

    return RulesJudge()
