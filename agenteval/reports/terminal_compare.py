"""A comparison (and the gate's verdict) in the terminal, on one screen.

Colours follow direction, not sign: red where a metric got worse beyond tolerance (a failure rate up,
a score down), green where it got better, dim inside tolerance, yellow where the runs were judged
differently and cannot be compared.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from agenteval.compare import Comparison, MetricChange, RunInfo, TraceChange
from agenteval.gate import GateResult, describe_tests
from agenteval.identity import display_name
from agenteval.reports.markdown import worst_new_failure
from agenteval.reports.terminal_text import plain, safe

STATUS_STYLE = {
    "regression": "bold red",
    "improvement": "green",
    "within_tolerance": "dim",
    "unchanged": "dim",
    "not_comparable": "yellow",
    "no_data": "dim",
}
STATUS_WORD = {
    "regression": "worse",
    "improvement": "better",
    "within_tolerance": "within tolerance",
    "unchanged": "",
    "not_comparable": "not comparable",
    "no_data": "",
}
VERDICT_STYLE = {"pass": "bold green", "warn": "bold yellow", "block": "bold white on red"}

#: Traces listed per section before "... and N more"; the report stays on one screen.
MAX_TRACES = 5
MAX_CODES = 8


def _value(change: MetricChange, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if change.metric == "failure_rate" else f"{value:.2f}"


def _delta(change: MetricChange) -> Text:
    style = STATUS_STYLE[change.status]
    if change.delta is None:
        return Text("-", style="dim")
    number = f"{change.delta * 100:+.1f} pts" if change.metric == "failure_rate" else f"{change.delta:+.2f}"
    word = STATUS_WORD[change.status]
    return Text(f"{number} {word}".strip(), style=style)


def _span(change: MetricChange) -> Text:
    return Text(f"{_value(change, change.base)} → {_value(change, change.candidate)}", style=STATUS_STYLE[change.status] if change.status in ("regression", "improvement") else "")


def _taxonomy():
    from agenteval.errors import TaxonomyError
    from agenteval.taxonomy import load_taxonomy

    try:
        return load_taxonomy()
    except TaxonomyError:
        return None


def _run(info: RunInfo) -> Text:
    ident = f"{plain(info.id)}, " if info.name != info.id else ""
    return Text.assemble(safe(info.name, "bold cyan"), f" ({ident}{info.traces} traces, {plain(info.judge)})")


def render_comparison(comparison: Comparison, console: Console, gate: GateResult | None = None) -> None:
    """Print the comparison: verdict and reasons, overall rate, step types, codes that changed, traces."""
    if gate is not None:
        console.print(Text.assemble(("gate: ", "bold"), (f" {gate.verdict.upper()} ", VERDICT_STYLE[gate.verdict])))
        for reason in gate.reasons:
            style = "red" if reason.level == "block" else "yellow"
            console.print(Text.assemble(("  " + reason.level.ljust(6), style), f"{plain(reason.rule)}: ", plain(reason.message)))
        for note in gate.notes:
            console.print(Text(f"  {plain(note)}", style="dim"))
    console.print(Text.assemble(("base ", "bold"), _run(comparison.base), ("  →  candidate ", "bold"), _run(comparison.candidate)))
    overall = comparison.overall
    console.print(Text.assemble(("trace failure rate ", "bold"), _span(overall), "  ", _delta(overall)))
    for step_type, why in comparison.not_comparable.items():
        console.print(Text(plain(f"{step_type} not comparable: {why}"), style="yellow"))

    table = Table(title="By step type", title_justify="left")
    for column in ("step type", "failure rate", "change", "mean score", "change"):
        table.add_column(column, justify="left" if column == "step type" else "right")
    for change in comparison.step_types:
        table.add_row(
            safe(change.step_type), _span(change.failure_rate), _delta(change.failure_rate),
            _span(change.mean_score), _delta(change.mean_score),
        )
    if comparison.step_types:
        console.print(table)

    moved = [c for c in comparison.codes if c.failure_rate.status != "unchanged"]
    if moved:
        codes = Table(title="Failure codes that changed (share of traces)", title_justify="left")
        for column in ("code", "traces", "change", "steps"):
            codes.add_column(column, justify="left" if column == "code" else "right")
        for change in moved[:MAX_CODES]:
            codes.add_row(safe(change.code), _span(change.failure_rate), _delta(change.failure_rate),
                          f"{change.base_count} → {change.candidate_count}")
        console.print(codes)
        if len(moved) > MAX_CODES:
            console.print(Text(f"... and {len(moved) - MAX_CODES} more codes", style="dim"))

    _pairing(console, comparison)
    paired = comparison.paired
    if paired is not None:
        line = Text.assemble(
            (f"{paired.pairs} paired cases: ", "bold"),
            (f"{paired.new_failures} newly failing", "red" if paired.new_failures else "dim"), ", ",
            (f"{paired.fixed} fixed", "green" if paired.fixed else "dim"),
            f", {paired.both_failed} failing in both",
        )
        if paired.score_delta is not None and paired.score_ci is not None:
            line.append(f"; score change {paired.score_delta:+.2f} (CI {paired.score_ci[0]:+.2f} to {paired.score_ci[1]:+.2f})")
        console.print(line)
    worst = worst_new_failure(comparison, _taxonomy())
    if worst is not None:
        _worst(console, worst)
    _traces(console, "new failures", comparison.new_failures, "red", _root_cause)
    _traces(console, "failing, with no baseline case to pair with", comparison.unpaired_failures, "red", _root_cause)
    _traces(console, "fixed", comparison.fixed_failures, "green", lambda c: "was " + (", ".join(c.base_root_causes) or "-"))
    _traces(console, "root cause changed", comparison.root_cause_changes, "yellow",
            lambda c: f"{', '.join(c.base_root_causes)} → {', '.join(c.candidate_root_causes)}")
    _unpaired(console, comparison)


def _root_cause(change: TraceChange) -> str:
    return "root cause " + (", ".join(change.candidate_root_causes) or "-")


def _pairing(console: Console, comparison: Comparison) -> None:
    p = comparison.pairing
    sources = ", ".join(f"{k} ({n})" for k, n in p.key_sources.items()) or "-"
    line = Text.assemble(
        ("pairing ", "bold"), plain(f"--pair-by {p.used} (keys from {sources}): "),
        (f"{p.pairs} cases paired", "bold"),
        f", {p.base_only} only in base, {p.candidate_only} only in candidate, {p.ambiguous} ambiguous",
    )
    if p.missing_key:
        line.append(f", {p.missing_key} traces without a key")
    if p.trials > 1:
        line.append(f"; up to {p.trials} trials per case, clustered by case")
    console.print(line)
    if p.note:
        console.print(safe(p.note, "dim"))
    if not p.pairs:
        console.print(Text("no case in both runs: no paired statistics; compared as independent samples", style="yellow"))
    console.print(Text.assemble(("tests ", "bold"), "trace failure rate: ", describe_tests(comparison.overall.significance)))
    if comparison.pass_k is not None:
        k = comparison.pass_k
        rate = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
        console.print(Text.assemble((f"pass^{k.k} ", "bold"), f"{rate(k.base)} → {rate(k.candidate)}",
                                    f"  pass^1 {rate(k.base_pass_1)} → {rate(k.candidate_pass_1)}"))


def _worst(console: Console, change: TraceChange) -> None:
    console.print(Text.assemble(("worst new failure ", "bold red"), safe(display_name(change.trace_id, change.label or change.trace_id))))
    where = f"  trace {change.trace_id}" + (f" from {change.source}" if change.source else "")
    console.print(safe(where + (f", failing trials {change.trials}" if change.trials else ""), "dim"))
    if change.chain:
        chain = " → ".join(
            f"{s.step_id} {s.type} {s.verdict}" + (f" {s.failure_code}" if s.failure_code else "") for s in change.chain
        )
        console.print(Text.assemble("  chain ", safe(chain, "red")))
        if change.chain[0].reason:
            console.print(safe(f"  {change.chain[0].reason}", "italic"))


def _unpaired(console: Console, comparison: Comparison) -> None:
    p = comparison.pairing
    for title, count, names in (
        ("only in base", p.base_only, p.base_only_cases),
        ("only in candidate", p.candidate_only, p.candidate_only_cases),
        ("ambiguous (same task text twice in a run; add metadata.case_id or use --pair-by)", p.ambiguous, p.ambiguous_cases),
    ):
        if not count:
            continue
        shown = ", ".join(names[:MAX_TRACES]) + (f" and {count - min(len(names), MAX_TRACES)} more" if count > MAX_TRACES else "")
        console.print(Text.assemble((f"{title} ({count}): ", "bold"), safe(shown)))


def _traces(console: Console, title: str, changes: list[TraceChange], style: str, describe) -> None:
    if not changes:
        return
    console.print(Text(f"{title} ({len(changes)})", style=f"bold {style}"))
    for change in changes[:MAX_TRACES]:
        name = display_name(change.trace_id, change.label or change.trace_id)
        trials = f" [{change.trials}]" if change.trials else ""
        source = f"  {plain(change.source)}" if change.source else ""
        console.print(Text.assemble("  ", safe(name + trials, style), "  ", plain(describe(change)), (source, "dim")))
    if len(changes) > MAX_TRACES:
        console.print(Text(f"  ... and {len(changes) - MAX_TRACES} more", style="dim"))
