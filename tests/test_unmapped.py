"""Spans no reader maps are reported, never dropped when they failed, and mappable in agenteval.toml
(issue 9, part 3).

Each case adds a span no convention covers (a tool function traced with a plain tracer) to a copy of a
real exporter file, built here from tests/fixtures/real, once without and once with a recorded error.
"""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agenteval.cli import app
from agenteval.config import Settings
from agenteval.evaluate import evaluate
from agenteval.formats import read_file
from agenteval.judges.rules import RulesJudge
from agenteval.reports.junit import junit_xml

REAL = Path(__file__).parent / "fixtures" / "real"


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "250")
    for name in list(__import__("os").environ):
        if name.startswith("AGENTEVAL_") or name.startswith("OPENAI_"):
            monkeypatch.delenv(name)
    return CliRunner()


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _spans(records: list[dict]) -> list[dict]:
    """The span list of the file's last scope (where new spans go)."""
    return records[-1]["resourceSpans"][-1]["scopeSpans"][-1]["spans"]


def _all_spans(records: list[dict]) -> list[dict]:
    return [s for r in records for res in r["resourceSpans"] for scope in res["scopeSpans"] for s in scope["spans"]]


def _between_tool_calls(spans: list[dict]) -> tuple[str, str]:
    """Start and end (ns) just after the second tool call, before the final model call."""
    tools = sorted((s for s in spans if "get_weather" in s["name"]), key=lambda s: int(s["startTimeUnixNano"]))
    end = int(tools[-1]["endTimeUnixNano"])
    return str(end + 1_000), str(end + 2_000)


def _otlp_span(template: dict, span_id: str, name: str, error: bool, attributes: list[dict]) -> dict:
    start, end = _between_tool_calls([template])
    span = {"traceId": template["traceId"], "spanId": span_id, "parentSpanId": template["parentSpanId"], "name": name,
            "kind": 1, "startTimeUnixNano": start, "endTimeUnixNano": end, "attributes": attributes, "status": {}}
    if error:
        span["status"] = {"code": 2, "message": "ConnectionError: weather cache unreachable"}
    return span


def otel(error: bool) -> tuple[str, list[dict]]:
    records = _lines(REAL / "otel" / "weather_latest.jsonl")
    spans = _spans(records)
    tool = max((s for s in _all_spans(records) if s["name"] == "execute_tool get_weather"), key=lambda s: int(s["startTimeUnixNano"]))
    spans.append(_otlp_span(tool, "00000000000000a1", "weather_lookup", error,
                            [{"key": "weather.city", "value": {"stringValue": "Paris"}}]))
    return "otel", records


def openinference(error: bool) -> tuple[str, list[dict]]:
    records = _lines(REAL / "openinference" / "weather_otlp.jsonl")
    spans = _spans(records)
    tool = max((s for s in _all_spans(records) if s["name"] == "get_weather"), key=lambda s: int(s["startTimeUnixNano"]))
    spans.append(_otlp_span(tool, "00000000000000a1", "weather_lookup", error,
                            [{"key": "weather.city", "value": {"stringValue": "Paris"}},
                             {"key": "input.value", "value": {"stringValue": "{\"city\": \"Paris\"}"}}]))
    return "openinference", records


def langfuse(error: bool) -> tuple[str, list[dict]]:
    """A plain ``@observe`` function: a Langfuse SPAN observation that is no tool the model called."""
    records = _lines(REAL / "langfuse" / "weather_otlp.jsonl")
    spans = _spans(records)
    tool = max((s for s in _all_spans(records) if s["name"] == "get_weather"), key=lambda s: int(s["startTimeUnixNano"]))
    span = _otlp_span(tool, "AAAAAAAAAKE=", "weather_lookup", error,
                      [{"key": "langfuse.observation.type", "value": {"stringValue": "span"}},
                       {"key": "weather.city", "value": {"stringValue": "Paris"}}])
    span["traceId"] = tool["traceId"]
    spans.append(span)
    return "langfuse", records


def openai_agents(error: bool) -> tuple[str, list[dict]]:
    """``custom_span("weather_lookup")`` inside the agent span: the user's own span."""
    records = _lines(REAL / "openai_agents" / "weather_chat.jsonl")
    tool = [r for r in records if (r.get("span_data") or {}).get("type") == "function"][-1]
    agent = next(r for r in records if (r.get("span_data") or {}).get("type") == "agent")
    span = copy.deepcopy(tool)
    span.update(id="span_00000000000000000000a1", parent_id=agent["id"], error=None,
                span_data={"type": "custom", "name": "weather_lookup", "data": {"city": "Paris"}})
    span["started_at"] = span["ended_at"] = tool["ended_at"]
    if error:
        span["error"] = {"message": "ConnectionError: weather cache unreachable", "data": None}
    records.insert(records.index(tool) + 1, span)
    return "openai-agents", records


FORMATS = {"otel": otel, "openinference": openinference, "langfuse": langfuse, "openai-agents": openai_agents}


def write(tmp_path: Path, build, error: bool) -> Path:
    name, records = build(error)
    path = tmp_path / f"{name}_{'error' if error else 'ok'}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def original_steps(build) -> int:
    name, _ = build(False)
    source = {"otel": REAL / "otel" / "weather_latest.jsonl", "openinference": REAL / "openinference" / "weather_otlp.jsonl",
              "langfuse": REAL / "langfuse" / "weather_otlp.jsonl",
              "openai-agents": REAL / "openai_agents" / "weather_chat.jsonl"}[name]
    return len(read_file(source).traces[0].steps)


@pytest.mark.parametrize("build", FORMATS.values(), ids=FORMATS.keys())
def test_unmapped_span_is_listed_by_parse_and_eval(runner, tmp_path, build):
    path = write(tmp_path, build, error=False)
    parsed = runner.invoke(app, ["parse", str(path), "--json"])
    assert parsed.exit_code == 0, parsed.output
    [trace] = json.loads(parsed.stdout)["traces"]
    assert [(s["name"], s["error"]) for s in trace["unmapped_spans"]] == [("weather_lookup", False)]
    assert len(trace["steps"]) == original_steps(build)  # a span that failed nothing makes no step
    line = "1 span not mapped to a step type: weather_lookup; map them in agenteval.toml ([mapping])"
    assert line in runner.invoke(app, ["parse", str(path)]).stdout
    result = runner.invoke(app, ["eval", str(path)])
    assert result.exit_code == 0, result.output
    assert line in result.stdout
    data = json.loads(runner.invoke(app, ["show", "latest", "--json"]).stdout)  # stored with the run
    assert [s["name"] for s in data["traces"][0]["unmapped_spans"]] == ["weather_lookup"]
    assert data["traces"][0]["status"] == "passed"


@pytest.mark.parametrize("build", FORMATS.values(), ids=FORMATS.keys())
def test_unmapped_span_with_an_error_is_a_not_assessable_step_and_the_trace_is_incomplete(runner, tmp_path, build):
    path = write(tmp_path, build, error=True)
    result = runner.invoke(app, ["eval", str(path), "--json"])
    assert result.exit_code == 0, result.output
    [trace] = json.loads(result.stdout)["traces"]
    [step] = [s for s in trace["steps"] if s["verdict"] == "not_assessable"]
    assert step["type"] == "EXEC"
    assert step["not_assessable"] == ("span 'weather_lookup' recorded an error but is not mapped to a step type: "
                                      "map it in agenteval.toml ([mapping])")
    assert trace["status"] == "incomplete" and trace["status_note"] == "1 unmapped span recorded an error"
    assert [(s["name"], s["error"]) for s in trace["unmapped_spans"]] == [("weather_lookup", True)]
    shown = runner.invoke(app, ["show", "latest", "--trace", trace["trace_id"]]).stdout
    assert "EXEC  -  not_assessable" in shown and "span 'weather_lookup' recorded an error" in shown
    assert "incomplete (1 unmapped span recorded an error)" in shown
    summary = runner.invoke(app, ["show", "latest"]).stdout
    assert "1 incomplete" in summary and "1 not assessable" in summary
    assert "1 span not mapped to a step type: weather_lookup; 1 recorded an error (not assessable)" in summary


@pytest.mark.parametrize("build", FORMATS.values(), ids=FORMATS.keys())
def test_mapping_a_span_name_makes_it_an_exec(runner, tmp_path, build):
    path = write(tmp_path, build, error=True)
    (tmp_path / "agenteval.toml").write_text('[mapping.names]\n"weather_look*" = "EXEC"\n', encoding="utf-8")
    result = runner.invoke(app, ["eval", str(path), "--json"])
    assert result.exit_code == 0, result.output
    [trace] = json.loads(result.stdout)["traces"]
    assert trace["unmapped_spans"] == []
    [mapped] = [s for s in trace["steps"] if s["id"].split("#")[0].endswith("00000a1")]
    assert (mapped["type"], mapped["failure_code"]) == ("EXEC", "E2.1") and mapped["verdict"] in ("direct", "cascade")
    steps = json.loads(runner.invoke(app, ["parse", str(path), "--json"]).stdout)["traces"][0]["steps"]
    assert [s["tool"] for s in steps if s["id"] == mapped["id"]] == ["weather_lookup"]
    assert len(steps) == original_steps(build) + 1


def test_attribute_rule_ignores_a_span(runner, tmp_path):
    path = write(tmp_path, otel, error=True)
    (tmp_path / "agenteval.toml").write_text(
        '[[mapping.rules]]\nattribute = "weather.city"\nequals = "Paris"\ntype = "ignore"\n', encoding="utf-8")
    parsed = json.loads(runner.invoke(app, ["parse", str(path), "--json"]).stdout)["traces"][0]
    assert parsed["unmapped_spans"] == [] and len(parsed["steps"]) == original_steps(otel)


def test_attribute_rule_maps_a_known_kind(tmp_path):
    """A rule may retype spans a convention already types: every OpenInference TOOL span made a SYNTH."""
    from agenteval.mapping import SpanMapping

    mapping = SpanMapping.model_validate(
        {"rules": [{"attribute": "openinference.span.kind", "equals": "TOOL", "name": "get_*", "type": "SYNTH"}]})
    trace = read_file(REAL / "openinference" / "weather_otlp.jsonl", mapping=mapping).traces[0]
    assert [s.type.value for s in trace.steps if s.metadata.get("mapped_to")] == ["SYNTH", "SYNTH"]


def test_unmapped_container_is_not_listed(tmp_path):
    """An unknown span around the agent (an HTTP handler, say) holds steps: it is structure, not loss."""
    records = _lines(REAL / "otel" / "weather_latest.jsonl")
    spans = _spans(records)
    agent = next(s for s in _all_spans(records) if s["name"].startswith("invoke_agent"))
    root = {**copy.deepcopy(agent), "spanId": "00000000000000b1", "name": "POST /chat", "attributes": []}
    root.pop("parentSpanId", None)
    agent["parentSpanId"] = "00000000000000b1"
    spans.append(root)
    path = tmp_path / "wrapped.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    trace = read_file(path).traces[0]
    assert "unmapped_spans" not in trace.metadata and len(trace.steps) == original_steps(otel)


def test_junit_reports_an_unmapped_error_as_an_error_not_a_failure(tmp_path):
    run = evaluate([write(tmp_path, otel, error=True), write(tmp_path, openinference, error=False)], Settings(),
                   judge=RulesJudge())
    suite = ET.fromstring(junit_xml(run)).find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "0", "1")
    [error] = suite.iter("error")
    assert error.get("type") == "not_assessable" and "1 unmapped span recorded an error" in error.get("message")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[mapping.names]\n"weather_lookup" = "EXECUTE"\n',
         "mapping.names.weather_lookup: Value error, unknown step type 'EXECUTE' (choose from: EXEC, PLAN, SYNTH, ignore)"),
        ('[mapping.names]\n"weather_lookup" = "PARAMGEN"\n', "PARAMGEN steps come from a model's tool call"),
        ('[[mapping.rules]]\ntype = "EXEC"\n', "a mapping rule needs a name glob or an attribute"),
        ('[[mapping.rules]]\nattribute = "a"\ntype = "EXEC"\nwhen = "x"\n', "mapping.rules.0.when: Extra inputs"),
    ],
)
def test_bad_mapping_is_a_one_line_config_error(runner, tmp_path, toml, message):
    (tmp_path / "agenteval.toml").write_text(toml, encoding="utf-8")
    path = write(tmp_path, otel, error=False)
    for command in (["eval", str(path)], ["parse", str(path)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "agenteval.toml" in lines[0] and message in lines[0], lines
        assert "Traceback" not in result.output
