"""Verdicts back into OpenTelemetry: one ``gen_ai.evaluation.result`` event per judged step, as
OTLP/JSON log records (the OpenTelemetry GenAI semantic conventions' evaluation event).

Per event (a log record whose ``eventName`` is ``gen_ai.evaluation.result``):

* ``gen_ai.evaluation.name``: ``agenteval.<step type>`` (``agenteval.paramgen``: the rubric of that type).
* ``gen_ai.evaluation.score.value``: the judge's 1-5 score (absent when the judge gave none).
* ``gen_ai.evaluation.score.label``: the verdict: ``pass``, ``direct``, ``cascade``, ``not_assessable``
  or ``judge_error``.
* ``gen_ai.evaluation.explanation``: the judge's reason.
* ``error.type``: ``judge_error`` when the judge could not score the step.
* ``gen_ai.response.id``: the model response the step came from, when the trace recorded it.
* ``agenteval.*``: the failure code, whether the step is a root cause and which root cause a failure
  descends from, the step and trace ids, the recovered flag and warning flags.

Each event is parented to the span it evaluates (``traceId``/``spanId``) when the step came from an
OpenTelemetry-shaped span (OTel GenAI, OpenInference, Langfuse: ``step.metadata["otel"]``). Steps that
are not agent work, or were not judged (``skipped``), get no event. Pure: dicts out, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agenteval import __version__
from agenteval.models import Run, Step, StepVerdict, TraceResult

EVENT_NAME = "gen_ai.evaluation.result"
SEVERITY_INFO = 9


def attribute(key: str, value: Any) -> dict[str, Any]:
    """One OTLP/JSON ``KeyValue``: strings, booleans, integers (as strings, int64), doubles, lists."""
    return {"key": key, "value": _any_value(value)}


def _any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _response_ids(result: TraceResult) -> dict[str, str]:
    """Model response id per LLM call, from the span attributes a reader kept on the call's steps."""
    found: dict[str, str] = {}
    for step in result.trace.steps:
        response = (step.metadata.get("attributes") or {}).get("gen_ai.response.id")
        call = step.metadata.get("llm_call_id")
        if isinstance(response, str) and response and isinstance(call, str):
            found.setdefault(call, response)
    return found


def _response_id(step: Step, by_call: dict[str, str]) -> str | None:
    direct = (step.metadata.get("attributes") or {}).get("gen_ai.response.id") or step.metadata.get("response_id")
    if isinstance(direct, str) and direct:
        return direct
    call = step.metadata.get("llm_call_id")
    return by_call.get(call) if isinstance(call, str) else None


def log_records(result: TraceResult, *, time_unix_nano: int) -> list[dict[str, Any]]:
    """The evaluation events of one trace, one per judged step, in trace order."""
    steps = {s.id: s for s in result.trace.steps}
    by_call = _response_ids(result)
    causes = {rc.step_id for rc in result.root_causes}
    root_of: dict[str, str] = {}
    for rc in result.root_causes:
        for sid in rc.chain:
            root_of.setdefault(sid, rc.step_id)
    records = []
    for verdict in result.verdicts:
        if verdict.verdict == "skipped":
            continue
        step = steps[verdict.step_id]
        records.append(_record(result, step, verdict, causes, root_of, _response_id(step, by_call), time_unix_nano))
    return records


def _record(
    result: TraceResult, step: Step, verdict: StepVerdict, causes: set[str], root_of: dict[str, str],
    response_id: str | None, time_unix_nano: int,
) -> dict[str, Any]:
    attrs = [attribute("gen_ai.evaluation.name", f"agenteval.{verdict.type.value.lower()}")]
    if verdict.score is not None:
        attrs.append(attribute("gen_ai.evaluation.score.value", float(verdict.score)))
    attrs.append(attribute("gen_ai.evaluation.score.label", verdict.verdict))
    if verdict.reason:
        attrs.append(attribute("gen_ai.evaluation.explanation", verdict.reason))
    if verdict.verdict == "judge_error":
        attrs.append(attribute("error.type", "judge_error"))
    if response_id:
        attrs.append(attribute("gen_ai.response.id", response_id))
    if step.tool:
        attrs.append(attribute("gen_ai.tool.name", step.tool))
    attrs += [
        attribute("agenteval.trace.id", result.trace_id),
        attribute("agenteval.step.id", step.id),
        attribute("agenteval.step.type", verdict.type.value),
        attribute("agenteval.root_cause", step.id in causes),
    ]
    if verdict.failure_code:
        attrs.append(attribute("agenteval.failure.code", verdict.failure_code))
    if step.id in root_of:
        attrs.append(attribute("agenteval.root_cause.step_id", root_of[step.id]))
    if verdict.upstream_failures:
        attrs.append(attribute("agenteval.upstream_failures", verdict.upstream_failures))
    if verdict.threshold is not None:
        attrs.append(attribute("agenteval.threshold", float(verdict.threshold)))
    if verdict.recovered:
        attrs.append(attribute("agenteval.recovered", True))
    if verdict.flags:
        attrs.append(attribute("agenteval.flags", verdict.flags))
    judgment = verdict.judgment
    if judgment is not None:
        attrs.append(attribute("agenteval.judge", judgment.judge))
        if judgment.rubric_version:
            attrs.append(attribute("agenteval.rubric.version", judgment.rubric_version))
    record: dict[str, Any] = {
        "timeUnixNano": str(time_unix_nano),
        "observedTimeUnixNano": str(time_unix_nano),
        "severityNumber": SEVERITY_INFO,
        "severityText": "INFO",
        "eventName": EVENT_NAME,
        "attributes": attrs,
    }
    otel = step.metadata.get("otel")
    if isinstance(otel, dict) and otel.get("trace_id") and otel.get("span_id"):
        record["traceId"], record["spanId"] = str(otel["trace_id"]), str(otel["span_id"])
    return record


def logs_request(run: Run, records: list[dict[str, Any]]) -> dict[str, Any]:
    """An OTLP ``ExportLogsServiceRequest`` (JSON encoding) holding ``records``."""
    resource = [
        attribute("service.name", "agenteval"),
        attribute("agenteval.run.id", run.id),
        attribute("agenteval.run.name", run.name),
        attribute("agenteval.judge", run.judge),
    ]
    return {"resourceLogs": [{
        "resource": {"attributes": resource},
        "scopeLogs": [{"scope": {"name": "agenteval", "version": __version__}, "logRecords": records}],
    }]}


def run_requests(run: Run, *, batch: int = 512) -> Iterator[tuple[dict[str, Any], int]]:
    """The run's events as export requests of at most ``batch`` records: (request, record count)."""
    moment = int(run.created_at.timestamp() * 1_000_000) * 1000
    pending: list[dict[str, Any]] = []
    for result in run.results:
        pending += log_records(result, time_unix_nano=moment)
        while len(pending) >= batch:
            yield logs_request(run, pending[:batch]), batch
            pending = pending[batch:]
    if pending:
        yield logs_request(run, pending), len(pending)
