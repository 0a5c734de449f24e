"""The data an HTML report embeds: a small summary row per trace, and per trace its steps with their
laid-out positions, edges and content (parsed by the page only when that trace is opened).

Plain dicts ready for ``json.dumps``; short keys, since a run of thousands of traces is embedded whole.
"""

from __future__ import annotations

from typing import Any

from agenteval.models import Run, TraceResult
from agenteval.reports.dag_layout import layered_layout
from agenteval.reports.step_text import as_text, clean, cut, fields

#: Characters kept of one content field (tool output, input messages) in the report.
MAX_FIELD = 20_000


def _labels(result: TraceResult) -> list[str]:
    """Free-form labels a trace carries in its metadata (``labels`` or ``tags``), as text."""
    found: list[str] = []
    for key in ("labels", "tags"):
        value = result.trace.metadata.get(key)
        if isinstance(value, dict):
            found += [f"{k}={v}" for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            found += [as_text(v) for v in value]
        elif value:
            found.append(as_text(value))
    return [clean(label) for label in found]


def trace_row(result: TraceResult) -> dict[str, Any]:
    """One line of the run table: what the filters and the search look at."""
    failing = [v for v in result.verdicts if v.failed]
    agents = sorted({s.agent for s in result.trace.steps if s.agent})
    return {
        "id": clean(result.trace_id),
        "status": result.status,
        "steps": len(result.verdicts),
        "failing": [[clean(v.step_id), v.verdict, v.failure_code or "", v.recovered] for v in failing],
        "roots": [[clean(rc.step_id), rc.failure_code or ""] for rc in result.root_causes],
        "types": sorted({v.type.value for v in failing}),
        "codes": sorted({v.failure_code for v in result.verdicts if v.failure_code}),
        "agents": [clean(a) for a in agents],
        "labels": _labels(result),
        "task": clean(result.trace.task[:300]),
        "source": clean(result.source or ""),
    }


def trace_detail(result: TraceResult) -> dict[str, Any]:
    """Everything the trace view draws: steps with positions and content, edges, root causes."""
    trace = result.trace
    ids = [s.id for s in trace.steps]
    layout = layered_layout(ids, [(p, s.id) for s in trace.steps for p in s.parents])
    verdicts = {v.step_id: v for v in result.verdicts}
    causes = {rc.step_id for rc in result.root_causes}
    chain_edges = {(a, b) for rc in result.root_causes for a, b in zip(rc.chain, rc.chain[1:])}
    on_chain = {sid for rc in result.root_causes for sid in rc.chain}
    position = {sid: i for i, sid in enumerate(ids)}
    steps = []
    for step in trace.steps:
        verdict = verdicts.get(step.id)
        judgment = verdict.judgment if verdict else None
        box = layout.boxes[step.id]
        steps.append({
            "id": clean(step.id),
            "type": step.type.value,
            "verdict": verdict.verdict if verdict else "skipped",
            "score": verdict.score if verdict else None,
            "threshold": verdict.threshold if verdict else None,
            "code": (verdict.failure_code if verdict else None) or "",
            "reason": cut(clean(verdict.reason), MAX_FIELD) if verdict else "",
            "upstream": [clean(u) for u in verdict.upstream_failures] if verdict else [],
            "recovered": bool(verdict and verdict.recovered),
            "flags": [clean(f) for f in verdict.flags] if verdict else [],
            "tool": clean(step.tool or ""),
            "agent": clean(step.agent or ""),
            "model": clean(step.model or ""),
            "status": step.status,
            "parents": [clean(p) for p in step.parents],
            "fields": {k: cut(v, MAX_FIELD) for k, v in fields(step).items()},
            "judge": clean(judgment.judge) if judgment else "",
            "rc": step.id in causes,
            "chain": step.id in on_chain,
            "x": round(box.x, 1),
            "y": round(box.y, 1),
        })
    edges = []
    for route in layout.routes:
        middle = [round(c, 1) for point in route.points[1:-1] for c in point]
        edges.append([position[route.source], position[route.target], middle,
                      (route.source, route.target) in chain_edges])
    return {
        "id": clean(trace.id),
        "status": result.status,
        "task": cut(clean(trace.task), MAX_FIELD),
        "expected": cut(clean(trace.expected_outcome or ""), MAX_FIELD),
        "source": clean(result.source or ""),
        "format": clean(result.format or ""),
        "judge": clean(result.judge),
        "width": round(layout.width),
        "height": round(layout.height),
        "steps": steps,
        "edges": edges,
        "roots": [
            {"step": clean(rc.step_id), "code": rc.failure_code or "", "algorithm": rc.algorithm,
             "chain": [clean(s) for s in rc.chain]}
            for rc in result.root_causes
        ],
    }


def run_header(run: Run) -> dict[str, Any]:
    """Who ran what: the run's id, name, judge, time, commit and unreadable inputs."""
    return {
        "id": clean(run.id),
        "name": clean(run.name),
        "judge": clean(run.judge),
        "created": run.created_at.isoformat(timespec="seconds"),
        "commit": clean(run.git_commit or ""),
        "inputErrors": [[clean(e.source), clean(e.message)] for e in run.input_errors],
    }
