"""A comparison and the gate's verdict as GitHub-flavoured Markdown (job step summary, PR comment).

What a reviewer needs first comes first: the verdict and its reasons (each with its test and
p-value), how the runs were paired, the worst new failure with its root-cause chain, then the new
failures, what could not be paired, and the tables per step type and failure code.

Trace text is data written by whoever produced the traces: it is escaped, so it cannot break a
table, open an HTML comment (the sticky-comment marker), or mention a GitHub user.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from agenteval.compare import Comparison, MetricChange, RunInfo, TraceChange
from agenteval.gate import GateResult, describe_tests
from agenteval.identity import display_name
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
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}

#: Rows listed per trace table; a PR comment must stay well under GitHub's 65,536 characters.
MAX_ROWS = 20
#: Cases named per unpaired list.
MAX_NAMES = 10
_UNCODED = "uncoded"
_MARKUP = re.compile(r"([\\`*_\[\]|#~])")


def text(value: object) -> str:
    """Untrusted text for inline Markdown: one line, HTML and Markdown markup escaped, no @mentions."""
    flat = " ".join(str(value).split())
    return _MARKUP.sub(r"\\\1", flat).replace("<", "&lt;").replace("@", "@\u200b")


def code(value: object) -> str:
    """Untrusted text as an inline code span (a table-safe one)."""
    flat = " ".join(str(value).split()).replace("`", "'").replace("|", "\\|")
    return f"`{flat}`"


def _run(info: RunInfo) -> str:
    name = f"**{text(info.name)}** ({code(info.id)}, " if info.name != info.id else f"{code(info.id)} ("
    return f"{name}{info.traces} traces, judge {text(info.judge)})"


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


def _p(change: MetricChange) -> str:
    sig = change.significance
    if sig is None or not sig.tests:
        return "-"
    return f"{min(t.p_value for t in sig.tests):.3g}"


def _taxonomy():
    from agenteval.errors import TaxonomyError
    from agenteval.taxonomy import load_taxonomy

    try:
        return load_taxonomy()
    except TaxonomyError:
        return None


def _labeller(taxonomy) -> Callable[[str], str]:
    """Codes with their taxonomy names ("E2.1 tool_error"), or bare codes if the taxonomy is unreadable."""
    if taxonomy is None:
        return lambda c: c
    return lambda c: taxonomy.label(c) if taxonomy.get(c) else c


def worst_new_failure(comparison: Comparison, taxonomy=None) -> TraceChange | None:
    """The new failure to look at first: the most severe root-cause code, then the most failing steps.

    Paired new failures come first; with none, the failing cases that could not be paired.
    """
    pool = comparison.new_failures or comparison.unpaired_failures
    if not pool:
        return None

    def rank(change: TraceChange) -> tuple[int, int]:
        first = change.chain[0].failure_code if change.chain else None
        found = taxonomy.get(first) if taxonomy is not None and first else None
        return (SEVERITY_RANK.get(found.severity, 4) if found else 4, -len(change.failing_steps))

    return min(pool, key=rank)


def worst_failure_section(change: TraceChange, label: Callable[[str], str]) -> list[str]:
    """Markdown of the worst new failure: where it came from, its root cause and the chain it set off.

    ``comparison_markdown`` adds the trace's DAG as a Mermaid chart after these lines when it has the
    candidate run.
    """
    lines = [f"### Worst new failure: {code(display_name(change.trace_id, change.label or change.trace_id))}", ""]
    where = f"trace {code(change.trace_id)}" + (f" from {code(change.source)}" if change.source else "")
    if change.trials:
        where += f", failing trials {change.trials}"
    lines += [where, ""]
    if change.chain:
        root = change.chain[0]
        cause = f"{label(root.failure_code)}" if root.failure_code else "uncoded"
        lines.append(f"**Root cause:** {code(root.step_id)} {root.type}{' ' + code(root.tool) if root.tool else ''}: {text(cause)}")
        if root.reason:
            lines.append(f"> {text(root.reason)}")
        lines.append("")
        steps = [
            f"{code(s.step_id)} {s.type} {s.verdict}{' ' + text(s.failure_code) if s.failure_code else ''}" for s in change.chain
        ]
        lines += ["**Chain:** " + " → ".join(steps), ""]
    else:
        lines += ["No root cause was attributed (a step could not be judged).", ""]
    return lines


def _pairing_lines(comparison: Comparison) -> list[str]:
    p = comparison.pairing
    sources = ", ".join(f"{text(k)} ({n})" for k, n in p.key_sources.items()) or "-"
    line = (
        f"**Pairing** (`--pair-by {text(p.used)}`; keys from {sources}): {p.pairs} cases paired, "
        f"{p.base_only} only in the baseline, {p.candidate_only} only in the candidate, {p.ambiguous} ambiguous"
    )
    if p.missing_key:
        line += f", {p.missing_key} traces without a key"
    if p.trials > 1:
        line += f"; up to {p.trials} trials per case, clustered by case"
    lines = [line + ".", ""]
    if p.note:
        lines += [f"_{text(p.note)}._", ""]
    if not p.pairs:
        lines += ["No case is in both runs: no paired statistics; the runs are compared as independent samples.", ""]
    lines += [f"**Tests on the trace failure rate:** {text(describe_tests(comparison.overall.significance))}.", ""]
    if comparison.pass_k is not None:
        k = comparison.pass_k
        lines += [
            f"**pass^{k.k}** (all {k.k} trials of a case pass): {_rate(k.base)} → {_rate(k.candidate)}; "
            f"pass^1 {_rate(k.base_pass_1)} → {_rate(k.candidate_pass_1)}.",
            "",
        ]
    return lines


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
    taxonomy = _taxonomy()
    label = _labeller(taxonomy)
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
        lines += [f"| {VERDICT_MARK[r.level]} | {r.rule} | {text(r.message)} |" for r in gate.reasons]
        lines.append("")
    elif gate:
        lines += ["No rule of the gate policy fired.", ""]
    if gate:
        lines += [f"> {text(note)}" for note in gate.notes] + ([""] if gate.notes else [])

    if comparison.not_comparable:
        lines += ["> [!WARNING]", "> Judged differently in the two runs, so not compared:"]
        lines += [f"> - **{t}**: {text(why)}" for t, why in comparison.not_comparable.items()]
        lines.append("")

    lines += _pairing_lines(comparison)
    worst = worst_new_failure(comparison, taxonomy)
    if worst is not None:
        lines += worst_failure_section(worst, label)
        drawn = next((r for r in candidate.results if r.trace_id == worst.trace_id), None) if candidate else None
        if drawn is not None:
            from agenteval.reports.diagram import mermaid_markdown

            lines += ["Its DAG; the thick red edges are the root-cause chain.", "", mermaid_markdown(drawn), ""]
    lines += _trace_table("New failures", comparison.new_failures, label, cause="candidate")
    lines += _trace_table("Failing, with no baseline case to pair with", comparison.unpaired_failures, label, cause="candidate")
    lines += _trace_table("Fixed", comparison.fixed_failures, label, cause="base")
    lines += _trace_table("Root cause changed", comparison.root_cause_changes, label, cause="both")
    lines += _unpaired_section(comparison)

    if comparison.step_types:
        lines += [
            "### By step type", "",
            "| step type | failure rate | change | | p | mean score | change | |",
            "|---|---:|---:|---|---:|---:|---:|---|",
        ]
        for change in comparison.step_types:
            rate, score = change.failure_rate, change.mean_score
            lines.append(
                f"| {change.step_type} | {_rate(rate.base)} → {_rate(rate.candidate)} | {_delta(rate)} | "
                f"{STATUS_MARK[rate.status]} | {_p(rate)} | {_score(score.base)} → {_score(score.candidate)} | "
                f"{_delta(score)} | {STATUS_MARK[score.status]} |"
            )
        lines.append("")

    if comparison.codes:
        lines += [
            "### By failure code", "",
            "| code | traces with it | change | | p | failing steps |",
            "|---|---:|---:|---|---:|---:|",
        ]
        for change in comparison.codes:
            rate = change.failure_rate
            lines.append(
                f"| {text(label(change.code))} | {_rate(rate.base)} → {_rate(rate.candidate)} | {_delta(rate)} | "
                f"{STATUS_MARK[rate.status]} | {_p(rate)} | {change.base_count} → {change.candidate_count} |"
            )
        lines.append("")

    paired = comparison.paired
    if paired is not None and paired.score_delta is not None and paired.score_ci is not None:
        low, high = paired.score_ci
        lines += [
            f"Mean step score change per paired case: {paired.score_delta:+.2f} "
            f"(bootstrap interval {low:+.2f} to {high:+.2f}, {paired.score_pairs} cases).",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


def _names(names: list[str], total: int) -> str:
    shown = ", ".join(code(n) for n in names[:MAX_NAMES])
    return shown + (f" and {total - min(len(names), MAX_NAMES)} more" if total > min(len(names), MAX_NAMES) else "")


def _unpaired_section(comparison: Comparison) -> list[str]:
    p = comparison.pairing
    if not (p.base_only or p.candidate_only or p.ambiguous or p.missing_key):
        return []
    lines = ["### Unpaired", ""]
    if p.base_only:
        lines.append(f"- only in the baseline ({p.base_only}): {_names(p.base_only_cases, p.base_only)}")
    if p.candidate_only:
        lines.append(f"- only in the candidate ({p.candidate_only}): {_names(p.candidate_only_cases, p.candidate_only)}")
    if p.ambiguous:
        lines.append(
            f"- ambiguous ({p.ambiguous}; the same task text more than once in a run, so not paired: "
            f"give each case a `metadata.case_id` or use `--pair-by`): {_names(p.ambiguous_cases, p.ambiguous)}"
        )
    if p.missing_key:
        lines.append(f"- {p.missing_key} traces had no `{text(p.used)}` key")
    return lines + [""]


def _causes(labels: list[str], label: Callable[[str], str]) -> str:
    out = []
    for item in labels:
        step, _, failure = item.partition(" ")
        out.append(f"{code(step)} {text(label(failure))}" if failure else code(step))
    return ", ".join(out) or "-"


def _name(change: TraceChange) -> str:
    return text(display_name(change.trace_id, change.label or change.trace_id)) + (f" ({text(change.trials)})" if change.trials else "")


def _trace_table(title: str, changes: list[TraceChange], label: Callable[[str], str], *, cause: str) -> list[str]:
    if not changes:
        return []
    lines = [f"### {title} ({len(changes)})", ""]
    if cause == "both":
        lines += ["| trace | source | root cause before | root cause now |", "|---|---|---|---|"]
        rows = [
            f"| {_name(c)} | {code(c.source or '-')} | {_causes(c.base_root_causes, label)} | {_causes(c.candidate_root_causes, label)} |"
            for c in changes
        ]
    elif cause == "candidate":
        lines += ["| trace | source | root cause | failing steps |", "|---|---|---|---|"]
        rows = [
            f"| {_name(c)} | {code(c.source or '-')} | {_causes(c.candidate_root_causes, label)} | "
            f"{text(', '.join(c.failing_steps) or '-')} |"
            for c in changes
        ]
    else:
        lines += ["| trace | source | root cause before |", "|---|---|---|"]
        rows = [f"| {_name(c)} | {code(c.source or '-')} | {_causes(c.base_root_causes, label)} |" for c in changes]
    lines += rows[:MAX_ROWS]
    if len(rows) > MAX_ROWS:
        lines.append(f"\n…and {len(rows) - MAX_ROWS} more.")
    lines.append("")
    return lines


def first_run_markdown(run: Run, gate: GateResult, *, title: str = "agenteval") -> str:
    """The report of a gate that had no baseline to compare with: the verdict, why, and the run's counts."""
    failed = sum(not r.passed for r in run.results)
    lines = [f"## {title} gate: {VERDICT_MARK[gate.verdict]}", ""]
    lines += ["> [!NOTE]", *[f"> {text(note)}" for note in gate.notes], ""]
    name = f"**{text(run.name)}** ({code(run.id)})" if run.name != run.id else code(run.id)
    lines += [f"Candidate {name}: {len(run.results)} traces, {failed} not passed, judge {text(run.judge)}.", ""]
    failing = [r for r in run.results if not r.passed][:MAX_ROWS]
    if failing:
        from agenteval.identity import trace_label

        label = _labeller(_taxonomy())
        lines += ["| trace | source | root cause |", "|---|---|---|"]
        lines += [
            f"| {text(display_name(r.trace_id, trace_label(r.trace)))} | {code(r.source or '-')} | "
            f"{_causes([f'{rc.step_id} {rc.failure_code or _UNCODED}' for rc in r.root_causes], label)} |"
            for r in failing
        ]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
