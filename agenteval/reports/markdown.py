"""A comparison and the gate's verdict as GitHub-flavoured Markdown (job step summary, PR comment)."""

from __future__ import annotations

from collections.abc import Callable

from agenteval.compare import Comparison, MetricChange, RunInfo, TraceChange
from agenteval.gate import GateResult
from agenteval.models import Run

VERDICT_MARK = {"pass": "✅ pass", "warn": "⚠️ warn", "block": "❌ block"}
STATUS_MARK = {
    "regression": "🔴 worse",
    "improvement": "🟢 better",
    "within_tolerance": "within tolerance",
    "unchanged": "no change",
    "not_comparable": "⚠️ not comparable",
    "no_data": "-",
}

#: Rows listed per trace table; a PR comment must stay well under GitHub's 65,536 characters.
MAX_ROWS = 20


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _run(info: RunInfo) -> str:
    name = f"**{_cell(info.name)}** (`{info.id}`, " if info.name != info.id else f"`{info.id}` ("
    return f"{name}{info.traces} traces, judge {_cell(info.judge)})"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _delta(change: MetricChange) -> str:
    if change.delta is None:
        return "-"
    if change.metric == "failure_rate":
        return f"{change.delta * 100:+.1f} pts"
    return f"{change.delta:+.2f}"


def _labeller() -> Callable[[str], str]:
    """Codes with their taxonomy names ("E2.1 tool_error"), or bare codes if the taxonomy is unreadable."""
    from agenteval.errors import TaxonomyError
    from agenteval.taxonomy import load_taxonomy

    try:
        taxonomy = load_taxonomy()
    except TaxonomyError:
        return lambda code: code
    return lambda code: taxonomy.label(code) if taxonomy.get(code) else code


def comparison_markdown(
    comparison: Comparison, gate: GateResult | None = None, *, title: str = "agenteval", candidate: Run | None = None
) -> str:
    """The comparison (and the gate's verdict, when given) as Markdown.

    Args:
        comparison: from ``compare_runs``.
        gate: the gate's result, shown first with its reasons.
        title: heading text before the verdict.
        candidate: the candidate run; when given, the worst new failure's DAG is drawn as a Mermaid chart.
    """
    label = _labeller()
    lines: list[str] = []
    heading = f"## {title} gate: {VERDICT_MARK[gate.verdict]}" if gate else f"## {title} comparison"
    lines += [heading, "", f"Baseline {_run(comparison.base)} → candidate {_run(comparison.candidate)}", ""]
    overall = comparison.overall
    lines += [
        f"**Trace failure rate:** {_rate(overall.base)} → {_rate(overall.candidate)} "
        f"({_delta(overall)}, {STATUS_MARK[overall.status]})",
        "",
    ]
    if gate and gate.reasons:
        lines += ["| level | rule | why |", "|---|---|---|"]
        lines += [f"| {VERDICT_MARK[r.level]} | {r.rule} | {_cell(r.message)} |" for r in gate.reasons]
        lines.append("")
    elif gate:
        lines += ["No rule of the gate policy fired.", ""]

    if comparison.not_comparable:
        lines += ["> [!WARNING]", "> Judged differently in the two runs, so not compared:"]
        lines += [f"> - **{t}**: {_cell(why)}" for t, why in comparison.not_comparable.items()]
        lines.append("")

    if comparison.step_types:
        lines += [
            "### By step type", "",
            "| step type | failure rate | change | | mean score | change | |",
            "|---|---:|---:|---|---:|---:|---|",
        ]
        for change in comparison.step_types:
            rate, score = change.failure_rate, change.mean_score
            lines.append(
                f"| {change.step_type} | {_rate(rate.base)} → {_rate(rate.candidate)} | {_delta(rate)} | "
                f"{STATUS_MARK[rate.status]} | {_score(score.base)} → {_score(score.candidate)} | {_delta(score)} | "
                f"{STATUS_MARK[score.status]} |"
            )
        lines.append("")

    if comparison.codes:
        lines += [
            "### By failure code", "",
            "| code | traces with it | change | | failing steps |",
            "|---|---:|---:|---|---:|",
        ]
        for code in comparison.codes:
            rate = code.failure_rate
            lines.append(
                f"| {_cell(label(code.code))} | {_rate(rate.base)} → {_rate(rate.candidate)} | {_delta(rate)} | "
                f"{STATUS_MARK[rate.status]} | {code.base_count} → {code.candidate_count} |"
            )
        lines.append("")

    paired = comparison.paired
    if paired is not None:
        lines += ["### Paired traces", ""]
        text = (
            f"{paired.pairs} traces in both runs: {paired.new_failures} newly failing, {paired.fixed} fixed, "
            f"{paired.both_failed} failing in both; exact McNemar p = {paired.mcnemar_p:.3g}"
        )
        if gate:
            text += f" ({'significant' if paired.mcnemar_p < gate.alpha else 'not significant'} at {gate.alpha})"
        lines.append(text + ".")
        if paired.score_delta is not None and paired.score_ci is not None:
            low, high = paired.score_ci
            lines.append(
                f"Mean step score change per trace: {paired.score_delta:+.2f} "
                f"(95% bootstrap interval {low:+.2f} to {high:+.2f}, {paired.score_pairs} traces)."
            )
        if paired.base_only or paired.candidate_only:
            lines.append(
                f"Unpaired: {len(paired.base_only)} trace(s) only in the baseline, "
                f"{len(paired.candidate_only)} only in the candidate."
            )
        lines.append("")
        lines += _trace_table("New failures", comparison.new_failures, label, cause="candidate")
        lines += _trace_table("Fixed", comparison.fixed_failures, label, cause="base")
        lines += _trace_table("Root cause changed", comparison.root_cause_changes, label, cause="both")
    if candidate is not None:
        from agenteval.reports.diagram import worst_failure_markdown

        lines += worst_failure_markdown(comparison, candidate)
    return "\n".join(lines).rstrip("\n") + "\n"


def _causes(labels: list[str], label: Callable[[str], str]) -> str:
    out = []
    for item in labels:
        step, _, code = item.partition(" ")
        out.append(f"`{step}` {label(code)}" if code else f"`{step}`")
    return ", ".join(out) or "-"


def _trace_table(title: str, changes: list[TraceChange], label: Callable[[str], str], *, cause: str) -> list[str]:
    if not changes:
        return []
    lines = [f"### {title} ({len(changes)})", ""]
    if cause == "both":
        lines += ["| trace | root cause before | root cause now |", "|---|---|---|"]
        rows = [
            f"| `{_cell(c.trace_id)}` | {_causes(c.base_root_causes, label)} | {_causes(c.candidate_root_causes, label)} |"
            for c in changes
        ]
    elif cause == "candidate":
        lines += ["| trace | status | root cause | failing steps |", "|---|---|---|---|"]
        rows = [
            f"| `{_cell(c.trace_id)}` | {c.candidate_status} | {_causes(c.candidate_root_causes, label)} | "
            f"{_cell(', '.join(c.failing_steps) or '-')} |"
            for c in changes
        ]
    else:
        lines += ["| trace | root cause before |", "|---|---|"]
        rows = [f"| `{_cell(c.trace_id)}` | {_causes(c.base_root_causes, label)} |" for c in changes]
    lines += rows[:MAX_ROWS]
    if len(rows) > MAX_ROWS:
        lines.append(f"\n…and {len(rows) - MAX_ROWS} more.")
    lines.append("")
    return lines
