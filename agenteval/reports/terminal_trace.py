"""One trace in the terminal: every step, its verdict, its content on one line, and the root-cause chain.

Two layouts, and no step is ever left out:

* ``tree``: each step under the latest of the steps it consumed (its other inputs named beside it).
  Indentation is capped so a deep chain cannot push steps off the screen: past the cap, a step shows
  its depth (``«12»``) instead of another level of indentation.
* ``flat``: one line per step in topological order, naming the steps it consumed (``← a, b``).

``auto`` draws the tree when it fits the console's width and the flat list otherwise, and says which.
Content (plan text, arguments, tool output, answer) is cut to one line with ``…``; ``full`` shows it
whole. Trace text is data: it goes into ``rich.text.Text`` (never parsed as markup), ids and reasons
through ``terminal_text.plain`` (control characters shown as visible escapes), content through
``step_text`` (control characters removed before it is cut to one line).
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from rich.console import Console
from rich.text import Text

from agenteval.models import StepVerdict, TraceResult
from agenteval.reports.step_text import content, one_line
from agenteval.reports.summary import status_note, unmapped_line, unmapped_spans
from agenteval.reports.terminal_text import plain

Layout = Literal["auto", "tree", "flat"]
LAYOUTS: tuple[str, ...] = ("auto", "tree", "flat")

VERDICT_STYLE = {
    "pass": "green",
    "direct": "bold red",
    "cascade": "yellow",
    "judge_error": "bold magenta",
    "not_assessable": "blue",
    "skipped": "dim",
}
STATUS_STYLE = {"passed": "green", "failed": "bold red", "incomplete": "bold magenta"}

#: Columns a tree level takes, and the width a step's line needs beside its indentation.
_INDENT = 4
_LABEL_ROOM = 44


def render_trace(result: TraceResult, console: Console, *, layout: Layout = "auto", full: bool = False) -> None:
    """Print one trace: a header, each step with its verdict and content, and its root causes.

    Args:
        result: the evaluated trace.
        console: where to print; its width decides ``auto`` and where lines are cut.
        layout: ``tree``, ``flat``, or ``auto`` (the tree when it fits, else flat).
        full: print each step's content and the judge's reason whole instead of cut to one line.
    """
    trace = result.trace
    position = {s.id: i for i, s in enumerate(trace.steps)}
    primary = {s.id: max(s.parents, key=position.__getitem__) if s.parents else None for s in trace.steps}
    children: dict[str | None, list[str]] = {}
    for step in trace.steps:
        children.setdefault(primary[step.id], []).append(step.id)
    depth = _depths(children)
    deepest = max(depth.values(), default=0)
    cap = max((console.width - _LABEL_ROOM) // _INDENT, 1)
    chosen = layout if layout != "auto" else ("tree" if deepest <= cap else "flat")

    title = Text.assemble((f"{plain(trace.id)} ", "bold"), (result.status, STATUS_STYLE[result.status]))
    note = status_note(result)
    if note:
        title.append(f" ({note})", style="dim")
    if trace.task:
        title.append("  " + one_line(plain(trace.task, multiline=True), None if full else 200), style="italic")
    console.print(title)
    verdicts = {v.step_id: v for v in result.verdicts}
    console.print(Text(_counts(result) + _layout_note(chosen, layout, deepest, cap), style="dim"))

    on_chain = {sid for rc in result.root_causes for sid in rc.chain}
    causes = {rc.step_id for rc in result.root_causes}
    steps = {s.id: s for s in trace.steps}

    def add(step_id: str, lead: str, rest: str, shown_parent: str | None) -> None:
        step, verdict = steps[step_id], verdicts[step_id]
        label = step_label(step_id, verdict, step.tool, on_chain, causes)
        others = [p for p in step.parents if p != shown_parent]
        if others:
            label.append(f"  {'← ' if shown_parent is None else '+ '}{', '.join(plain(p) for p in others)}", style="dim")
        _print_hanging(console, lead, rest, label)
        for line in _detail_lines(step, verdict, full):
            _print_hanging(console, rest, rest, line)

    if chosen == "flat":
        from agenteval.dag import StepDAG

        for step in StepDAG.from_trace(trace).steps():
            add(step.id, "", "    ", None)
    else:
        _walk(children, None, [], cap, depth, add)
    unmapped = unmapped_spans(result)
    line = unmapped_line(Counter(str(s.get("name") or s.get("span_id")) for s in unmapped),
                         sum(bool(s.get("error")) for s in unmapped))
    if line:
        console.print(Text(plain(line), style="yellow"))
    for rc in result.root_causes:
        console.print(Text.assemble(
            ("root cause ", "bold red"), plain(rc.step_id), f" ({plain(rc.failure_code or 'uncoded')}) via {plain(rc.algorithm)}: ",
            " -> ".join(plain(s) for s in rc.chain),
        ))


def _print_hanging(console: Console, lead: str, rest: str, text: Text) -> None:
    """Print ``text`` after ``lead``, wrapped (or cut, for a no-wrap text) to the console's width,
    continuation lines after ``rest``: the guides of a tree stay whole."""
    room = max(console.width - len(lead), 24)
    lines = text.wrap(console, room, overflow=text.overflow or "fold", no_wrap=bool(text.no_wrap))
    for i, line in enumerate(lines):
        console.print(Text.assemble((lead if i == 0 else rest, "dim"), line), no_wrap=True, overflow="ignore", crop=False)


def _depths(children: dict[str | None, list[str]]) -> dict[str, int]:
    depth: dict[str, int] = {}
    stack = [(root, 0) for root in children.get(None, [])]
    while stack:
        node, d = stack.pop()
        depth[node] = d
        stack.extend((child, d + 1) for child in children.get(node, []))
    return depth


def _walk(children, parent, lasts: list[bool], cap: int, depth: dict[str, int], add) -> None:
    """Depth-first over the primary-parent tree, building each line's guides from ``lasts``."""
    kids = children.get(parent, [])
    for i, child in enumerate(kids):
        last = i == len(kids) - 1
        levels = lasts + [last]
        shown = levels[-cap:]  # the innermost levels keep their guides; the rest become «depth»
        guides = "".join("    " if done else "│   " for done in shown[:-1])
        lead = guides + ("└── " if last else "├── ")
        rest = guides + ("    " if last else "│   ")
        if len(levels) > cap:
            lead, rest = f"«{depth[child]}» " + lead, " " * (len(str(depth[child])) + 3) + rest
        add(child, lead, rest + ("│ " if children.get(child) else "  "), parent)
        _walk(children, child, levels, cap, depth, add)


def step_label(step_id: str, verdict: StepVerdict, tool: str | None, on_chain: set[str], causes: set[str]) -> Text:
    """``pg2 PARAMGEN create_ticket  1.0  direct E1.1  ◀ root cause``: one step's line."""
    label = Text()
    label.append(plain(step_id), style="bold reverse red" if step_id in causes else "bold" if step_id in on_chain else "")
    label.append(f" {verdict.type.value}")
    if tool:
        label.append(f" {plain(tool)}", style="cyan")
    score = "-" if verdict.score is None else f"{verdict.score:.1f}"
    label.append(f"  {score}  ")
    style = VERDICT_STYLE[verdict.verdict]
    label.append(verdict.verdict, style=style)
    if verdict.failure_code:
        label.append(f" {plain(verdict.failure_code)}", style=style)
    if verdict.recovered:
        label.append(" (recovered)", style="green")
    for flag in verdict.flags:
        label.append(f" [{plain(flag)}]", style="magenta")
    if step_id in causes:
        label.append("  ◀ root cause", style="bold red")
    return label


def _detail_lines(step, verdict: StepVerdict, full: bool) -> list[Text]:
    """The step's content and, when it did not pass, why: one line each unless ``full``."""
    lines = []
    name, text = content(step)
    if text:
        lines.append(_line(name, text, full))
    if verdict.failed or verdict.verdict in ("judge_error", "not_assessable"):
        lines.append(_line("why", plain(verdict.reason, multiline=True) or "(no reason given)", full, style="italic"))
    return lines


def _line(name: str, text: str, full: bool, style: str = "") -> Text:
    if full:
        return Text.assemble((f"{name}: ", "dim"), (text, style))
    # Pre-cut very long text; the console then cuts it to the line with an ellipsis.
    line = Text.assemble((f"{name}: ", "dim"), (one_line(text, 400), style), no_wrap=True, overflow="ellipsis")
    return line


def _counts(result: TraceResult) -> str:
    tally: dict[str, int] = {}
    for v in result.verdicts:
        tally[v.verdict] = tally.get(v.verdict, 0) + 1
    parts = [f"{len(result.verdicts)} steps"] + [f"{tally[k]} {k.replace('_', ' ')}" for k in VERDICT_STYLE if tally.get(k)]
    recovered = sum(v.recovered for v in result.verdicts)
    if recovered:
        parts.append(f"{recovered} recovered")
    return " · ".join(parts)


def _layout_note(chosen: str, asked: str, deepest: int, cap: int) -> str:
    if chosen == "flat" and asked == "auto":
        return f" · flat list: the tree would be {deepest + 1} levels deep (--layout tree caps the indentation)"
    if chosen == "tree" and deepest >= cap:
        return f" · tree indentation capped at {cap} level{'s' if cap != 1 else ''}; «n» marks a deeper step"
    return ""
