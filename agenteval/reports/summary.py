"""Counts a report shows about a run, computed once for every renderer."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from agenteval.models import Run, Usage


@dataclass
class RunTally:
    """What a run found, in numbers."""

    traces: int = 0
    passed: int = 0
    failed: int = 0
    incomplete: int = 0
    input_errors: int = 0
    steps: int = 0
    judged: int = 0
    not_assessed: int = 0
    judge_errors: int = 0
    judged_by_model: int = 0
    first_judge_error: str | None = None
    direct: int = 0
    cascade: int = 0
    llm_calls_saved: int = 0
    cached: int = 0
    cost_usd: float = 0.0
    usage: Usage = field(default_factory=Usage)
    failures_by_type: Counter = field(default_factory=Counter)
    failures_by_code: Counter = field(default_factory=Counter)
    root_causes_by_code: Counter = field(default_factory=Counter)


def summarize(run: Run) -> RunTally:
    """Tally traces, verdicts, failure codes, root causes and judge cost of a run."""
    summary = RunTally(traces=len(run.results), input_errors=len(run.input_errors))
    for result in run.results:
        summary.passed += result.status == "passed"
        summary.failed += result.status == "failed"
        summary.incomplete += result.status == "incomplete"
        for rc in result.root_causes:
            summary.root_causes_by_code[rc.failure_code or "uncoded"] += 1
        for verdict in result.verdicts:
            if not verdict.type.judged:
                continue
            summary.steps += 1
            judgment = verdict.judgment
            if verdict.verdict == "judge_error":
                summary.judge_errors += 1
                summary.first_judge_error = summary.first_judge_error or verdict.reason
            elif verdict.verdict == "skipped":
                summary.not_assessed += 1
            else:
                summary.judged += 1
            if verdict.failed:
                summary.direct += verdict.verdict == "direct"
                summary.cascade += verdict.verdict == "cascade"
                summary.failures_by_type[verdict.type.value] += 1
                summary.failures_by_code[verdict.failure_code or "uncoded"] += 1
            if judgment is not None:
                summary.judged_by_model += judgment.judge != "rules" and judgment.error is None and judgment.score is not None
                summary.llm_calls_saved += bool(judgment.details.get("llm_call_saved"))
                summary.cached += judgment.cached
                summary.cost_usd += judgment.cost_usd or 0.0
                if judgment.usage:
                    summary.usage = summary.usage + judgment.usage
    return summary
