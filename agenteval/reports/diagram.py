"""A trace's step DAG as text diagrams: a Mermaid flowchart (GitHub renders it in Markdown) and
Graphviz DOT. Verdict colours, the root-cause chain drawn thick, and for Mermaid a cap on size.

GitHub's Mermaid refuses large diagrams (its text and edge limits), and a PR comment holds 65,536
characters, so ``mermaid_flowchart`` keeps at most ``max_nodes`` nodes: the root-cause chains and
failing steps first, then their neighbours, and collapses each run of left-out steps into one
``… N steps`` node; a note under the chart says what was left out. Labels are trace text: every
ASCII character outside a plain set is written as a Mermaid entity code (``#60;``), so a label can
neither break the syntax nor inject markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agenteval.compare import Comparison
from agenteval.models import Run, TraceResult
from agenteval.reports.step_text import clean

#: Fill and line colour per verdict (the HTML report's palette).
COLOURS = {
    "pass": ("#dafbe1", "#1a7f37"),
    "direct": ("#ffebe9", "#cf222e"),
    "cascade": ("#fff1c2", "#b07d00"),
    "judge_error": ("#f3e8ff", "#8250df"),
    "not_assessable": ("#eef1f4", "#6e7781"),
    "skipped": ("#f6f8fa", "#8c959f"),
}
ROOT = "#82071e"
MAX_NODES = 30
_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:/()+-_=*'")


@dataclass
class _Drawing:
    """What a capped diagram shows: kept steps, collapsed groups, edges, and what was left out."""

    steps: list[str]
    groups: list[list[str]] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    left_out_edges: int = 0


def _select(result: TraceResult, max_nodes: int | None) -> _Drawing:
    ids = [s.id for s in result.trace.steps]
    edges = [(p, s.id) for s in result.trace.steps for p in s.parents]
    if max_nodes is None or len(ids) <= max_nodes:
        return _Drawing(steps=ids, edges=list(dict.fromkeys(edges)))
    verdicts = {v.step_id: v for v in result.verdicts}
    parents = {s.id: s.parents for s in result.trace.steps}
    children: dict[str, list[str]] = {}
    for a, b in edges:
        children.setdefault(a, []).append(b)
    chain = [sid for rc in result.root_causes for sid in rc.chain]
    failing = [sid for sid in ids if verdicts[sid].failed or verdicts[sid].verdict == "judge_error"]
    context = [n for sid in failing for n in parents[sid] + children.get(sid, [])]
    ends = [ids[0], ids[-1]]
    priority = list(dict.fromkeys(chain + failing + context + ends))
    budget = max_nodes
    while True:
        keep = set(priority[:budget])
        groups = _components([sid for sid in ids if sid not in keep], edges)
        if len(keep) + len(groups) <= max_nodes or budget <= 1:
            break
        budget -= 1
    group_of = {sid: f"g{i}" for i, group in enumerate(groups) for sid in group}
    shown: list[tuple[str, str]] = []
    for a, b in edges:
        edge = (group_of.get(a, a), group_of.get(b, b))
        if edge[0] != edge[1]:
            shown.append(edge)
    shown = list(dict.fromkeys(shown))
    limit = 4 * max_nodes
    on_chain = {(a, b) for rc in result.root_causes for a, b in zip(rc.chain, rc.chain[1:])}
    ordered = sorted(shown, key=lambda e: e not in on_chain)
    return _Drawing(steps=[sid for sid in ids if sid in keep], groups=groups, edges=ordered[:limit],
                    left_out_edges=max(len(ordered) - limit, 0))


def _components(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Connected groups of left-out steps (ignoring direction), in trace order."""
    inside = set(nodes)
    near: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        if a in inside and b in inside:
            near[a].append(b)
            near[b].append(a)
    seen: set[str] = set()
    groups = []
    for start in nodes:
        if start in seen:
            continue
        group, stack = [], [start]
        seen.add(start)
        while stack:
            node = stack.pop()
            group.append(node)
            for other in near[node]:
                if other not in seen:
                    seen.add(other)
                    stack.append(other)
        order = {n: i for i, n in enumerate(nodes)}
        groups.append(sorted(group, key=order.__getitem__))
    return groups


def _mermaid_text(text: str) -> str:
    """Label text for a quoted Mermaid label: ASCII punctuation that could end the label or be read as
    markup becomes an entity code (``"`` is ``#34;``); letters, digits and other scripts stay."""
    return "".join(c if c in _SAFE or (ord(c) > 127 and c.isprintable()) else f"#{ord(c)};" for c in clean(text))


def _label(result: TraceResult, step_id: str) -> tuple[str, str]:
    verdict = next(v for v in result.verdicts if v.step_id == step_id)
    step = next(s for s in result.trace.steps if s.id == step_id)
    first = f"{step_id} {verdict.type.value}" + (f" {step.tool}" if step.tool else "")
    score = "-" if verdict.score is None else f"{verdict.score:.1f}"
    second = f"{score} {verdict.verdict}" + (f" {verdict.failure_code}" if verdict.failure_code else "")
    if verdict.recovered:
        second += " (recovered)"
    return first, second


def mermaid_flowchart(result: TraceResult, max_nodes: int | None = MAX_NODES) -> str:
    """The trace's DAG as a Mermaid ``flowchart TD`` (without the Markdown fence).

    Args:
        result: the evaluated trace.
        max_nodes: most nodes to draw (steps plus collapsed groups); None draws every step.

    Returns:
        Mermaid source; when steps were collapsed, its last line is a ``%%`` comment saying how many
        (``mermaid_markdown`` shows the same as a sentence).
    """
    drawing = _select(result, max_nodes)
    verdicts = {v.step_id: v for v in result.verdicts}
    causes = {rc.step_id for rc in result.root_causes}
    node_id = {sid: f"n{i}" for i, sid in enumerate(drawing.steps)}
    node_id.update({f"g{i}": f"g{i}" for i in range(len(drawing.groups))})
    lines = ["flowchart TD"]
    for verdict, (fill, line) in COLOURS.items():
        dash = ",stroke-dasharray:5 3" if verdict in ("cascade", "not_assessable") else ""
        lines.append(f"  classDef {verdict} fill:{fill},stroke:{line},color:#1f2328{dash}")
    lines.append("  classDef collapsed fill:#ffffff,stroke:#8c959f,color:#59636e,stroke-dasharray:2 2")
    lines.append(f"  classDef rootcause stroke:{ROOT},stroke-width:4px")
    for sid in drawing.steps:
        first, second = _label(result, sid)
        cause = "<br/>" + _mermaid_text("\u25c0 root cause") if sid in causes else ""
        lines.append(f'  {node_id[sid]}["{_mermaid_text(first)}<br/>{_mermaid_text(second)}{cause}"]:::{verdicts[sid].verdict}')
    for i, group in enumerate(drawing.groups):
        kinds = sorted({verdicts[s].verdict for s in group})
        what = f"\u2026 {len(group)} step{'s' if len(group) != 1 else ''} ({', '.join(kinds)})"
        span = group[0] if len(group) == 1 else f"{group[0]} \u2026 {group[-1]}"
        lines.append(f'  g{i}["{_mermaid_text(what)}<br/>{_mermaid_text(span)}"]:::collapsed')
    on_chain = {(a, b) for rc in result.root_causes for a, b in zip(rc.chain, rc.chain[1:])}
    thick = []
    for k, (a, b) in enumerate(drawing.edges):
        chain = (a, b) in on_chain
        lines.append(f"  {node_id[a]} {'==>' if chain else '-->'} {node_id[b]}")
        if chain:
            thick.append(str(k))
    if thick:
        lines.append(f"  linkStyle {','.join(thick)} stroke:{ROOT},stroke-width:3px")
    for sid in drawing.steps:
        if sid in causes:
            lines.append(f"  class {node_id[sid]} rootcause")
    note = _left_out(result, drawing)
    if note:
        lines.append(f"  %% {_mermaid_text(note)}")
    return "\n".join(lines) + "\n"


def _left_out(result: TraceResult, drawing: _Drawing) -> str:
    collapsed = sum(len(g) for g in drawing.groups)
    parts = []
    if collapsed:
        parts.append(f"{len(drawing.steps)} of {len(result.trace.steps)} steps drawn; {collapsed} collapsed "
                     f"into {len(drawing.groups)} group{'s' if len(drawing.groups) != 1 else ''}")
    if drawing.left_out_edges:
        parts.append(f"{drawing.left_out_edges} edges left out")
    return "; ".join(parts)


def mermaid_markdown(result: TraceResult, max_nodes: int | None = MAX_NODES) -> str:
    """A fenced Mermaid block of the trace's DAG, and a sentence on what was collapsed, if anything."""
    drawing = _select(result, max_nodes)
    note = _left_out(result, drawing)
    text = "```mermaid\n" + mermaid_flowchart(result, max_nodes) + "```\n"
    return text + (f"\n_{note} (`agenteval show --trace` lists every step)._\n" if note else "")


def worst_new_failure(comparison: Comparison, candidate: Run) -> TraceResult | None:
    """The newly failing trace with the most failing steps (then the lowest score, then by id)."""
    new = {c.trace_id for c in comparison.new_failures}
    found = [r for r in candidate.results if r.trace_id in new]
    if not found:
        return None

    def badness(r: TraceResult) -> tuple:
        failing = [v for v in r.verdicts if v.failed]
        low = min((v.score for v in failing if v.score is not None), default=5.0)
        return (-len(failing), low, r.trace_id)

    return min(found, key=badness)


def worst_failure_markdown(comparison: Comparison, candidate: Run, max_nodes: int | None = MAX_NODES) -> list[str]:
    """Markdown lines for the PR comment: the worst new failure's DAG as a Mermaid chart."""
    result = worst_new_failure(comparison, candidate)
    if result is None:
        return []
    causes = ", ".join(f"`{rc.step_id}` {rc.failure_code or ''}".strip() for rc in result.root_causes) or "-"
    return [
        f"### Worst new failure: `{clean(result.trace_id).replace('`', '')}`", "",
        f"Root cause {causes.replace('|', '')}; the thick red edges are the root-cause chain.", "",
        mermaid_markdown(result, max_nodes),
    ]


def _dot_string(text: str) -> str:
    return '"' + clean(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot_graph(result: TraceResult) -> str:
    """The trace's whole DAG as Graphviz DOT: verdict colours, root causes outlined, chain edges thick."""
    verdicts = {v.step_id: v for v in result.verdicts}
    causes = {rc.step_id for rc in result.root_causes}
    on_chain = {(a, b) for rc in result.root_causes for a, b in zip(rc.chain, rc.chain[1:])}
    lines = [
        f"digraph {_dot_string(result.trace_id)} {{",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
        '  edge [color="#8c959f"];',
    ]
    for step in result.trace.steps:
        verdict = verdicts[step.id]
        fill, line = COLOURS[verdict.verdict]
        first, second = _label(result, step.id)
        extra = f', color="{ROOT}", penwidth=3' if step.id in causes else f', color="{line}"'
        if verdict.verdict in ("cascade", "not_assessable"):
            extra += ', style="rounded,filled,dashed"'
        label = first + "\n" + second + ("\n\u25c0 root cause" if step.id in causes else "")
        lines.append(f"  {_dot_string(step.id)} [label={_dot_string(label)}, fillcolor=\"{fill}\"{extra}];")
    for step in result.trace.steps:
        for parent in dict.fromkeys(step.parents):
            style = f' [color="{ROOT}", penwidth=3]' if (parent, step.id) in on_chain else ""
            lines.append(f"  {_dot_string(parent)} -> {_dot_string(step.id)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"
