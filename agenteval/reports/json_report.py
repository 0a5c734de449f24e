"""Machine-readable output: plain dicts ready for ``json.dumps``."""

from __future__ import annotations

from typing import Any

from agenteval.compare import Comparison
from agenteval.formats import ParsedFile
from agenteval.gate import GateResult
from agenteval.identity import trace_label
from agenteval.models import InputError, Run, TraceResult
from agenteval.reports.summary import status_note, unmapped_spans


def trace_result_json(result: TraceResult) -> dict[str, Any]:
    """One evaluated trace: id, outcome, root-cause step ids and a verdict per step."""
    return {
        "trace_id": result.trace_id,
        "label": trace_label(result.trace),
        "source": result.source,
        "format": result.format,
        "passed": result.passed,
        "status": result.status,
        "status_note": status_note(result) or None,
        "root_cause": [rc.step_id for rc in result.root_causes],
        "steps": [
            {
                "id": v.step_id,
                "type": v.type.value,
                "score": v.score,
                "verdict": v.verdict,
                "failure_code": v.failure_code,
                "recovered": v.recovered,
                "flags": v.flags,
                "not_assessable": v.reason if v.verdict == "not_assessable" else None,
            }
            for v in result.verdicts
        ],
        "unmapped_spans": unmapped_spans(result),
    }


def errors_json(errors: list[InputError]) -> list[dict[str, str]]:
    """Inputs that could not be read."""
    return [{"source": e.source, "message": e.message} for e in errors]


def run_json(run: Run) -> dict[str, Any]:
    """A whole run: id, name, judge, per-trace results and input errors."""
    return {
        "run_id": run.id,
        "run_name": run.name,
        "judge": run.judge,
        "traces": [trace_result_json(r) for r in run.results],
        "errors": errors_json(run.input_errors),
    }


def parse_json(files: list[ParsedFile], errors: list[InputError]) -> dict[str, Any]:
    """What `agenteval parse --json` prints: the steps of every trace, no judging."""
    return {
        "traces": [
            {
                "trace_id": trace.id,
                "source": str(file.path),
                "format": file.format,
                "steps": [
                    {
                        "id": s.id,
                        "type": s.type.value,
                        "parents": s.parents,
                        "tool": s.tool,
                        "status": "ok" if s.status == "ok" and s.error is None else "error",
                        "unrecorded": list(s.unrecorded),
                    }
                    for s in trace.steps
                ],
                "unmapped_spans": trace.metadata.get("unmapped_spans", []),
            }
            for file in files
            for trace in file.traces
        ],
        "errors": errors_json(errors),
    }


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    """What `agenteval compare --json` prints: the whole comparison (see ``agenteval.compare.Comparison``)."""
    return comparison.model_dump(mode="json")


def gate_json(comparison: Comparison | None, result: GateResult, candidate: Run | None = None) -> dict[str, Any]:
    """What `agenteval gate --json` prints: verdict, reasons, notes, how traces were paired, the
    candidate run's results and the comparison (None when there was no baseline yet)."""
    return {
        "verdict": result.verdict,
        "failure_rate": result.failure_rate,
        "reasons": [r.model_dump(mode="json") for r in result.reasons],
        "notes": result.notes,
        "pairing": comparison.pairing.model_dump(mode="json") if comparison is not None else None,
        "candidate": run_json(candidate) if candidate is not None else None,
        "comparison": comparison_json(comparison) if comparison is not None else None,
    }
