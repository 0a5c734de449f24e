"""Terminal reports with rich. Every renderer takes a Console so tests can render to a string."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from agenteval.models import Run, StepVerdict, TraceResult
from agenteval.reports.summary import summarize
from agenteval.reports.terminal_text import plain, safe

VERDICT_STYLE = {
    "pass": "green",
    "direct": "bold red",
    "cascade": "yellow",
    "judge_error": "bold magenta",
    "skipped": "dim",
}
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
        line.append(f", {s.incomplete} incomplete (judge errors)", style="magenta")
    if s.input_errors:
        line.append(f", {s.input_errors} input(s) could not be read", style="red")
    console.print(line)
    console.print(
        f"{s.steps} agent steps: {s.judged} judged, {s.direct} direct and {s.cascade} cascade failures, "
        f"{s.judge_errors} judge errors, {s.not_assessed} not assessed"
        + (f" · {s.llm_calls_saved} LLM calls saved by rules" if run.judge != "rules" else "")
        + (f" · {s.cached} from cache" if s.cached else "")
        + (f" · {s.usage.total_tokens} judge tokens, ${s.cost_usd:.4f}" if s.usage.total_tokens else "")
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
    table = Table(title="Traces", title_justify="left", show_lines=False)
    table.add_column("trace")
    table.add_column("status")
    table.add_column("failing steps")
    table.add_column("root cause")
    for result in results:
        failing = [v for v in result.verdicts if v.failed]
        table.add_row(
            safe(result.trace_id),
            Text(result.status, style=STATUS_STYLE[result.status]),
            safe(", ".join(f"{v.step_id} ({v.verdict})" for v in failing) or "-"),
            safe("; ".join(
                f"{rc.step_id} {rc.failure_code or ''}".strip() for rc in result.root_causes
            ) or "-"),
        )
    return table


def _count_table(title: str, label: str, counts) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(label)
    table.add_column("failures", justify="right")
    for key, count in counts.most_common():
        table.add_row(safe(key), str(count))
    return table


def render_trace(result: TraceResult, console: Console) -> None:
    """One trace as a tree of its DAG: verdict and score per step, root-cause chain highlighted,
    the judge's reason under each failing step.

    A step is drawn under the latest of its parents; its other parents are listed beside it.
    """
    trace = result.trace
    verdicts = {v.step_id: v for v in result.verdicts}
    on_chain = {sid for rc in result.root_causes for sid in rc.chain}
    causes = {rc.step_id for rc in result.root_causes}
    position = {s.id: i for i, s in enumerate(trace.steps)}
    children: dict[str | None, list[str]] = {}
    for step in trace.steps:
        primary = max(step.parents, key=position.__getitem__) if step.parents else None
        children.setdefault(primary, []).append(step.id)

    title = Text.assemble((f"{plain(trace.id)} ", "bold"), (result.status, STATUS_STYLE[result.status]))
    if trace.task:
        title.append(f"  {plain(trace.task[:100])}", style="italic")
    tree = Tree(title)

    def add(node: Tree, step_id: str) -> None:
        step = trace.steps[position[step_id]]
        verdict = verdicts[step_id]
        label = _step_label(step_id, verdict, step.tool, on_chain, causes)
        others = [p for p in step.parents if p != max(step.parents, key=position.__getitem__)]
        if others:
            label.append(f"  (also consumes {plain(', '.join(others))})", style="dim")
        branch = node.add(label)
        if verdict.failed or verdict.verdict == "judge_error":
            branch.add(safe(verdict.reason or "(no reason given)", "italic", multiline=True))
        for child in children.get(step_id, []):
            add(branch, child)

    for root in children.get(None, []):
        add(tree, root)
    console.print(tree)
    for rc in result.root_causes:
        console.print(Text.assemble(("root cause ", "bold red"), plain(rc.step_id), f" ({plain(rc.failure_code or 'uncoded')}) via {plain(rc.algorithm)}: ", plain(" -> ".join(rc.chain))))


def _step_label(step_id: str, verdict: StepVerdict, tool: str | None, on_chain: set[str], causes: set[str]) -> Text:
    label = Text()
    label.append(plain(step_id), style="bold reverse red" if step_id in causes else "bold" if step_id in on_chain else "")
    label.append(f" {verdict.type.value}")
    if tool:
        label.append(f" {plain(tool)}", style="cyan")
    score = "-" if verdict.score is None else f"{verdict.score:.1f}"
    label.append(f"  {score}  ")
    label.append(verdict.verdict, style=VERDICT_STYLE[verdict.verdict])
    if verdict.failure_code:
        label.append(f" {plain(verdict.failure_code)}", style=VERDICT_STYLE[verdict.verdict])
    if step_id in causes:
        label.append("  ◀ root cause", style="bold red")
    return label


def render_runs(runs: Sequence, console: Console) -> None:
    """Stored runs, newest first."""
    table = Table(title="Runs", title_justify="left")
    for column in ("id", "name", "created (UTC)", "judge", "traces", "passed", "failed", "commit"):
        table.add_column(column, no_wrap=column in ("id", "created (UTC)"))
    for r in runs:
        table.add_row(
            safe(r.id), safe("-" if r.name == r.id else r.name), f"{r.created_at:%m-%d %H:%M}", safe(r.judge),
            str(r.n_traces), str(r.n_passed), str(r.n_failed), safe((r.git_commit or "-")[:10]),
        )
    console.print(table)
