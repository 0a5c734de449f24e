"""Counts a report shows about a run, computed once for every renderer."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from agenteval.models import JUDGE_INJECTION, Run, TraceResult, Usage


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
    not_assessable: int = 0
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
    unmapped_spans: Counter = field(default_factory=Counter)
    """Names of the spans no reader mapped to a step type, with how often each occurs."""
    unmapped_errors: int = 0
    """Unmapped spans that recorded an error (each one made a not assessable step)."""
    flagged_injection: int = 0


def summarize(run: Run) -> RunTally:
    """Tally traces, verdicts, failure codes, root causes and judge cost of a run."""
    summary = RunTally(traces=len(run.results), input_errors=len(run.input_errors))
    for result in run.results:
        summary.passed += result.status == "passed"
        summary.failed += result.status == "failed"
        summary.incomplete += result.status == "incomplete"
        for rc in result.root_causes:
            summary.root_causes_by_code[rc.failure_code or "uncoded"] += 1
        for span in unmapped_spans(result):
            summary.unmapped_spans[str(span.get("name") or span.get("span_id"))] += 1
            summary.unmapped_errors += bool(span.get("error"))
        for verdict in result.verdicts:
            if not verdict.type.judged:
                continue
            summary.steps += 1
            summary.flagged_injection += JUDGE_INJECTION in verdict.flags
            judgment = verdict.judgment
            if verdict.verdict == "judge_error":
                summary.judge_errors += 1
                summary.first_judge_error = summary.first_judge_error or verdict.reason
            elif verdict.verdict == "skipped":
                summary.not_assessed += 1
            elif verdict.verdict == "not_assessable":
                summary.not_assessable += 1
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


def unmapped_spans(result: TraceResult) -> list[dict]:
    """The spans of a trace no reader mapped to a step type (name, span id, whether it recorded an error)."""
    found = result.trace.metadata.get("unmapped_spans")
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def unmapped_line(names: Counter, errors: int, limit: int = 5) -> str:
    """One line naming the unmapped spans: "3 spans not mapped: weather_lookup, ...", or "" for none."""
    total = sum(names.values())
    if not total:
        return ""
    shown = [name if n == 1 else f"{name} ({n}x)" for name, n in names.most_common(limit)]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    failed = f"; {errors} recorded an error (not assessable)" if errors else ""
    return (f"{total} span{'s' if total != 1 else ''} not mapped to a step type: {', '.join(shown)}{more}"
            f"{failed}; map them in agenteval.toml ([mapping])")


def status_note(result: TraceResult) -> str:
    """Why a trace's status needs a word: unmapped spans that recorded an error, or most of its agent
    steps not assessable; "" otherwise."""
    agent = [v for v in result.verdicts if v.type.judged]
    lacking = [v for v in agent if v.verdict == "not_assessable"]
    unmapped = [v for v in lacking if "unmapped_error" in v.flags]
    notes = []
    if unmapped:
        notes.append(f"{len(unmapped)} unmapped span{'s' if len(unmapped) != 1 else ''} recorded an error")
    content = len(lacking) - len(unmapped)
    if content and 2 * content > len(agent):
        notes.append(f"{content} of {len(agent)} agent steps not assessable: content not recorded")
    return "; ".join(notes)
