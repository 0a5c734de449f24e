"""Terminal reports with rich. Every renderer takes a Console so tests can render to a string."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agenteval.models import Run, TraceResult
from agenteval.reports.summary import status_note, summarize, unmapped_line
from agenteval.reports.terminal_text import plain, safe
from agenteval.reports.terminal_trace import VERDICT_STYLE, render_trace  # noqa: F401  (one trace: its own module)

STATUS_STYLE = {"passed": "green", "failed": "bold red", "incomplete": "bold magenta"}


def judge_label(judge: str) -> str:
    """How a report names the judge; says so when the offline rules judge ran."""
    if judge == "rules":
        return "rules (deterministic, offline: no judge model configured)"
    return judge


def render_run(run: Run, console: Console) -> None:
    """Summary of a run: traces passed/failed, failures by step type and code, root causes."""
    s = summarize(run)
    console.print(Text.assemble(("Run ", "bold"), safe(run.name, "bold cyan"), f"  id {plain(run.id)}  ", ("judge: ", "bold"), plain(judge_label(run.judge))))
    line = Text.assemble(
        (f"{s.traces} traces: ", "bold"),
        (f"{s.passed} passed", "green"), ", ",
        (f"{s.failed} failed", "red" if s.failed else "green"),
    )
    if s.incomplete:
        why = [w for w, n in (("judge errors", s.judge_errors), ("unmapped spans with errors", s.unmapped_errors)) if n]
        line.append(f", {s.incomplete} incomplete ({', '.join(why) or 'nothing assessable'})", style="magenta")
    if s.input_errors:
        line.append(f", {s.input_errors} input(s) could not be read", style="red")
    console.print(line)
    console.print(
        f"{s.steps} agent steps: {s.judged} judged, {s.direct} direct and {s.cascade} cascade failures, "
        f"{s.not_assessable} not assessable, {s.judge_errors} judge errors, {s.not_assessed} not assessed"
        + (f" · {s.llm_calls_saved} LLM calls saved by rules" if run.judge != "rules" else "")
        + (f" · {s.cached} from cache" if s.cached else "")
        + (f" · {s.usage.total_tokens} judge tokens, ${s.cost_usd:.4f}" if s.usage.total_tokens else "")
    )
    unmapped = unmapped_line(s.unmapped_spans, s.unmapped_errors)
    if unmapped:
        console.print(safe(unmapped, "yellow"))
    if s.flagged_injection:
        console.print(
            f"{s.flagged_injection} step{'s' if s.flagged_injection != 1 else ''} flagged for judge injection "
            "(trace text that addresses the judge; see `agenteval show RUN --trace ID`)",
            style="bold yellow", highlight=False,
        )
    if run.results:
        console.print(_traces_table(run.results))
    if s.failures_by_type:
        console.print(_count_table("Failures by step type", "step type", s.failures_by_type))
        console.print(_count_table("Failures by code", "code", _with_names(s.failures_by_code)))
        console.print(_count_table("Root causes by code", "code", _with_names(s.root_causes_by_code)))


def _with_names(counts: Counter) -> Counter:
    """Codes labelled with their taxonomy names ("E2.1 tool_error")."""
    from agenteval.errors import TaxonomyError
    from agenteval.taxonomy import load_taxonomy

    try:
        taxonomy = load_taxonomy()
    except TaxonomyError:
        return counts
    return Counter({taxonomy.label(code) if taxonomy.get(code) else code: n for code, n in counts.items()})


def _traces_table(results: Sequence[TraceResult]) -> Table:
    from agenteval.identity import trace_label

    table = Table(title="Traces", title_justify="left", show_lines=False)
    table.add_column("trace")
    table.add_column("status")
    table.add_column("failing steps")
    table.add_column("root cause")
    for result in results:
        failing = [v for v in result.verdicts if v.failed]
        label = trace_label(result.trace)
        table.add_row(
            _trace_cell(result, label),
            _status(result),
            safe(", ".join(f"{v.step_id} ({v.verdict})" for v in failing) or "-"),
            safe("; ".join(
                f"{rc.step_id} {rc.failure_code or ''}".strip() for rc in result.root_causes
            ) or "-"),
        )
    return table


def _status(result: TraceResult) -> Text:
    """The trace's status, with a note when most of it could not be assessed or an unmapped span failed."""
    text = Text(result.status, style=STATUS_STYLE[result.status])
    note = status_note(result)
    if note:
        text.append(f" ({note})", style="dim")
    return text


def _trace_cell(result: TraceResult, label: str) -> Text:
    """The trace's id when a person wrote it; for an exporter's minted id, its label and a short prefix."""
    from agenteval.identity import display_name

    return safe(display_name(result.trace_id, label))


def _count_table(title: str, label: str, counts) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(label)
    table.add_column("failures", justify="right")
    for key, count in counts.most_common():
        table.add_row(safe(key), str(count))
    return table


def render_runs(runs: Sequence, console: Console) -> None:
    """Stored runs, newest first, readable at 80 columns: the id (its time is when the run started),
    the name, the judge, and the trace counts."""
    table = Table(title="Runs", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("judge", overflow="ellipsis", no_wrap=True, max_width=18)
    table.add_column("traces", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("commit", no_wrap=True)
    names = Counter(r.name for r in runs)
    for r in runs:
        name = safe("-" if r.name == r.id else r.name)
        if names[r.name] > 1 and r.name != r.id:
            name.append(" (name reused)", style="yellow")
        failed = Text(str(r.n_failed + r.n_incomplete), style="red" if r.n_failed else "")
        table.add_row(safe(r.id), name, safe(r.judge), str(r.n_traces), failed, safe((r.git_commit or "-")[:7]))
    console.print(table)
