"""The Langfuse reader (design/trace-formats.md §4.5)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from format_checks import (
    ARGS1,
    ARGS2,
    USER,
    assert_parse_error,
    assert_weather_dag,
    check_detection,
    cli_parse_json,
    only_trace,
    random_json_test,
    read_only_trace,
    shape,
    truncated_files_test,
    wrong_types_test,
)

from agenteval.dag import StepDAG
from agenteval.errors import TraceError
from agenteval.formats import get_reader
from agenteval.formats.base import Document, load_document
from agenteval.formats.langfuse import READER
from agenteval.models import StepType

FIXTURES = Path(__file__).parent / "fixtures"
HERE = FIXTURES / "langfuse"
REAL = FIXTURES / "real" / "langfuse"
WEATHER_FILES = [
    "weather_trace.json",  # GET /api/public/traces/{id}: AGENT/GENERATION/TOOL, unsorted, roll-ups on trace and agent
    "weather_observations.jsonl",  # older SDK: SPAN tools, legacy usage shapes, @observe inputs, one per line
    "weather_api_page.json",  # {"data", "meta"} observations page with snake_case keys
]
TRACE_ID = "4f6d2a9c1e8b47d3a5c0f19e2b7d8a63"
STEPS_8 = [
    ("PLAN1", []), ("TOOLSEL1", ["PLAN1"]), ("PARAMGEN1", ["TOOLSEL1"]), ("EXEC1", ["PARAMGEN1"]),
    ("TOOLSEL2", ["EXEC1"]), ("PARAMGEN2", ["TOOLSEL2"]), ("EXEC2", ["PARAMGEN2"]), ("SYNTH1", ["EXEC2"]),
]


def doc(name: str) -> Document:
    return load_document(HERE / name)


parse_one = partial(only_trace, READER)


@pytest.mark.parametrize("name", WEATHER_FILES)
def test_worked_example_parses_to_the_section_8_dag(name):
    trace = read_only_trace(HERE / name, "langfuse")
    assert_weather_dag(trace)
    # D2: TOOL observations carry no call id; both bind by tool name and order
    assert [s.metadata["bound_by"] for s in trace.steps if s.type is StepType.EXEC] == ["tool_name", "tool_name"]


def test_step_details_of_a_trace_export():
    trace = parse_one(doc("weather_trace.json"))
    assert trace.id == "4f6d2a9c1e8b47d3a5c0f19e2b7d8a63" and trace.task == USER
    plan, exec1, exec2 = trace.steps[0], trace.steps[3], trace.steps[6]
    assert plan.id == "4f6d2a9c1e8b0003#plan" and plan.agent == "weather_agent"
    assert plan.model == "gpt-4o-mini-2024-07-18"
    assert plan.metadata["source"]["span_kind_raw"] == "GENERATION"
    assert plan.start_time.isoformat() == "2025-06-12T10:00:00.100000+00:00"
    assert exec1.error.message == "get_weather timed out after 3.0 seconds"
    assert exec1.metadata["attributes"]["level"] == "ERROR"
    assert exec2.metadata["tool_args_raw"] == json.dumps({"city": "Paris", "date": "2025-06-12", "units": "metric"})
    assert exec2.tool_call_id == "call_2" and exec2.output["forecast"] == "sunny"
    assert [t.name for t in trace.tools] == ["get_weather"]
    assert plan.metadata["annotations"] == [{"span_id": "4f6d2a9c1e8b0002", "name": "agent_started", "kind": "EVENT"}]


@pytest.mark.parametrize("path", sorted(REAL.glob("*.json*")), ids=lambda p: p.name)
def test_real_exporter_output(path):
    """langfuse 5.0 (OpenAI drop-in client, ``@observe`` agent and tool) against a scripted model
    (fixtures/real/generate.py): OTLP/JSON with ``langfuse.observation.*`` attributes, protobuf-JSON ids. The
    tool's timeout is only a status message, so EXEC1 is a plain error."""
    trace = read_only_trace(path, "langfuse")
    StepDAG.from_trace(trace)
    assert shape(trace) == STEPS_8
    sel1, gen1, failed, gen2, done = (trace.steps[i] for i in (1, 2, 3, 5, 6))
    assert (gen1.arguments, failed.arguments, gen2.arguments, done.arguments) == (ARGS1, ARGS1, ARGS2, ARGS2)
    assert sel1.output == "get_weather" and failed.tool_call_id == gen1.tool_call_id == "call_w1"
    assert failed.status == "error" and failed.error.message == "weather service did not answer within 10 s"
    assert failed.metadata["bound_by"] == "tool_name" and done.output["condition"] == "sunny"
    usage = [(s.usage.input_tokens, s.usage.output_tokens) for s in trace.steps if s.usage]
    assert usage == [(212, 47), (290, 26), (368, 34)]
    assert trace.steps[0].output.startswith("Plan:") and trace.steps[-1].is_final
    assert [s.agent for s in trace.steps] == ["weather_agent"] * 8
    assert trace.task == USER and [t.name for t in trace.tools] == ["get_weather"]


def test_otlp_from_the_sdk_reads_like_the_api_export():
    def attr(key: str, value: Any) -> dict[str, Any]:
        return {"key": key, "value": {"stringValue": value if isinstance(value, str) else json.dumps(value)}}

    spans = [
        {"traceId": "ab" * 16, "spanId": "01" * 8, "name": "planner", "startTimeUnixNano": "1", "endTimeUnixNano": "9",
         "attributes": [attr("langfuse.observation.type", "generation"), attr("langfuse.observation.output", "a plan"),
                        attr("langfuse.observation.metadata.langgraph_node", "planner")]},
        {"traceId": "ab" * 16, "spanId": "02" * 8, "name": "lookup", "startTimeUnixNano": "10",
         "status": {"code": 2, "message": "boom"},
         "attributes": [attr("langfuse.observation.type", "tool"), attr("langfuse.observation.input", {"q": 1}),
                        attr("gen_ai.tool.call.id", "k1")]},
        {"traceId": "ab" * 16, "spanId": "03" * 8, "name": "answer", "startTimeUnixNano": "20",
         "attributes": [attr("langfuse.observation.type", "generation"), attr("langfuse.observation.output", "done"),
                        attr("langfuse.trace.input", "the task")]},
    ]
    document = Document({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}, json_lines=False)
    assert READER.detect(document) and not get_reader("openinference").detect(document)
    trace = parse_one(document)
    assert [(s.type, s.status) for s in trace.steps] == [
        (StepType.PLAN, "ok"), (StepType.EXEC, "error"), (StepType.SYNTH, "ok")]
    assert trace.steps[1].error.message == "boom" and trace.steps[1].tool_call_id == "k1"
    assert trace.steps[1].arguments == {"q": 1} and trace.task == "the task"
    assert trace.steps[0].metadata["attributes"]["metadata"] == {"langgraph_node": "planner"}


def test_older_sdk_spans_named_after_called_tools_are_tools():
    trace = parse_one(doc("weather_observations.jsonl"))
    execs = [s for s in trace.steps if s.type is StepType.EXEC]
    assert [e.metadata["source"]["span_kind_raw"] for e in execs] == ["SPAN", "SPAN"]
    assert execs[0].arguments == {"city": "Paris", "date": "2025-06-12"}  # from the @observe {"args", "kwargs"}
    assert trace.steps[0].agent is None  # a SPAN root is a container, not an agent


def test_handoff_between_agents():
    trace = parse_one(doc("handoff.json"))
    assert shape(trace) == STEPS_8
    assert [s.agent for s in trace.steps] == ["triage"] * 4 + ["weather_agent"] * 4
    assert trace.steps[3].tool == "transfer_to_weather_agent"
    assert trace.steps[3].output == {"assistant": "weather_agent"}
    assert [s.is_final for s in trace.steps] == [False] * 7 + [True]


def test_parallel_tool_calls_bind_fifo_by_name():
    trace = parse_one(doc("parallel_tools.json"))
    assert shape(trace) == [
        ("PLAN1", []), ("TOOLSEL1", ["PLAN1"]), ("PARAMGEN1", ["TOOLSEL1"]), ("TOOLSEL2", ["PLAN1"]),
        ("PARAMGEN2", ["TOOLSEL2"]), ("EXEC1", ["PARAMGEN1"]), ("EXEC2", ["PARAMGEN2"]), ("SYNTH1", ["EXEC1", "EXEC2"]),
    ]
    execs = [s for s in trace.steps if s.type is StepType.EXEC]
    assert [(e.arguments["city"], e.tool_call_id, e.output["forecast"]) for e in execs] == [
        ("Paris", "call_p", "sunny"), ("London", "call_l", "rain")]


def test_langgraph_loop_through_the_langchain_handler():
    trace = parse_one(doc("langgraph_loop.json"))
    assert shape(trace) == STEPS_8
    execs = [s for s in trace.steps if s.type is StepType.EXEC]
    assert [e.arguments for e in execs] == [{"query": "population of Paris"}, {"query": "population of Lyon"}]
    assert execs[0].metadata["tool_args_raw"] == "{'query': 'population of Paris'}"
    assert len({e.metadata["parent_id"] for e in execs}) == 2
    assert trace.steps[1].metadata["reasoning"] == "Looking up Paris first."
    assert trace.steps[-1].is_final and "Paris" in trace.steps[-1].output


def test_hidden_content_is_typed_by_structure():
    trace = parse_one(doc("no_content.json"))
    assert shape(trace) == [
        ("TOOLSEL1", []), ("PARAMGEN1", ["TOOLSEL1"]), ("EXEC1", ["PARAMGEN1"]), ("TOOLSEL2", ["EXEC1"]),
        ("PARAMGEN2", ["TOOLSEL2"]), ("EXEC2", ["PARAMGEN2"]), ("SYNTH1", ["EXEC2"]),
    ]
    assert all(s.metadata["content_inferred"] for s in trace.steps if s.type is not StepType.EXEC)
    assert trace.steps[2].status == "timeout" and trace.steps[-1].is_final and trace.task == ""
    assert [(s.usage.input_tokens, s.usage.output_tokens) for s in trace.steps if s.usage] == [
        (212, 47), (290, 26), (368, 34)]


def test_levels_retries_and_auxiliary_observations():
    trace = parse_one(doc("errors.json"))
    assert shape(trace) == STEPS_8
    plan = trace.steps[0]
    assert plan.attempts == 2 and plan.metadata["retry_errors"] == ["Error code: 429 - Rate limit reached"]
    failed = trace.steps[3]
    assert failed.status == "error"
    assert (failed.error.type, failed.error.message) == ("ValueError", "unknown city 'Pariss'")
    assert trace.steps[6].status == "ok" and trace.steps[6].error is None  # WARNING is not fatal
    answer = trace.steps[-1]
    assert answer.status == "error" and answer.is_final and answer.error.type == "InternalServerError"
    notes = [n["kind"] for s in trace.steps for n in s.metadata.get("annotations", [])]
    assert notes == ["GUARDRAIL", "EVENT"] and trace.metadata["annotations"][0]["kind"] == "EVALUATOR"


def _observations(*items: dict[str, Any]) -> Document:
    for n, item in enumerate(items):
        item.setdefault("traceId", "t")
        item.setdefault("parentObservationId", None)
        item.setdefault("startTime", f"2025-06-12T10:00:0{n}.000Z")
    return Document(list(items), json_lines=False)


def test_call_ids_from_metadata_and_other_input_shapes():
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_x", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"id": "call_y", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    trace = parse_one(_observations(
        {"id": "g1", "type": "GENERATION", "input": "just a prompt", "output": call},
        {"id": "t1", "type": "TOOL", "name": "f", "metadata": {"attributes": {"gen_ai.tool.call.id": "call_y"}}},
        {"id": "g2", "type": "GENERATION", "input": {"role": "user", "content": "again"},
         "output": {"choices": [{"message": {"role": "assistant", "content": "done"}}]},
         "usage": {"promptTokens": 4, "completionTokens": 1}},
    ))
    assert trace.task == "just a prompt" and trace.id == "t"
    exec_ = next(s for s in trace.steps if s.type is StepType.EXEC)
    assert exec_.tool_call_id == "call_y" and exec_.parents == ["g1#paramgen.1"]
    assert exec_.metadata["bound_by"] == "call_id"
    assert trace.steps[-1].output == "done" and trace.steps[-1].usage.input_tokens == 4


def test_observations_without_trace_id_and_traces_without_model_calls():
    doc_ = Document([{"id": "s", "type": "SPAN", "parentObservationId": None},
                     {"id": "g", "type": "GENERATION", "parentObservationId": "s", "output": "hi"}], json_lines=False)
    [trace] = READER.parse(doc_, "x.json")
    assert trace.id == "s"
    empty = Document({"id": "t", "htmlPath": "/x", "observations": [{"id": "e", "type": "EVENT"}]}, json_lines=False)
    assert READER.parse(empty, "x.json") == []


def test_trace_listing_with_observation_ids_is_a_clear_error():
    listing = Document({"data": [{"id": "t", "htmlPath": "/x", "observations": ["a", "b"]}], "meta": {}},
                       json_lines=False)
    assert READER.detect(listing)
    with pytest.raises(TraceError, match="trace t: observations are ids only"):
        READER.parse(listing, "x.json")


def test_detection_claims_only_langfuse_files():
    reader = get_reader("langfuse")
    checked, _ = check_detection("langfuse", lambda path: "langfuse" in str(path.relative_to(FIXTURES)).lower())
    assert checked > 20
    assert not reader.detect(Document({"data": [{"context": {"trace_id": "a", "span_id": "b"}}]}, json_lines=False))
    assert not reader.detect(Document([{"id": "x", "type": "SPAN"}], json_lines=False))


def test_parse_json_on_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trace = cli_parse_json(HERE / "weather_trace.json")
    assert trace["format"] == "langfuse" and trace["trace_id"] == "4f6d2a9c1e8b47d3a5c0f19e2b7d8a63"
    assert [s["type"] for s in trace["steps"]] == ["PLAN", "TOOLSEL", "PARAMGEN", "EXEC", "TOOLSEL", "PARAMGEN",
                                                   "EXEC", "SYNTH"]
    assert [s["status"] for s in trace["steps"]] == ["ok"] * 3 + ["error"] + ["ok"] * 4


def _first(data: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(o for o in data["observations"] if o["type"] == kind)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: _first(d, "GENERATION").update(startTime="yesterday"),
         r"observation 4f6d2a9c1e8b0007: startTime: not an ISO 8601 time"),
        (lambda d: _first(d, "GENERATION")["usageDetails"].update(input=-3),
         r"observation 4f6d2a9c1e8b0007: input: expected a non-negative token count"),
        (lambda d: d.update(observations="x"), rf"trace {TRACE_ID}: observations: expected a list"),
        (lambda d: d["observations"].append(3), rf"trace {TRACE_ID}: observation #7: expected an obj"),
        (lambda d: _first(d, "TOOL").update(id=None), r"observation #1: missing id"),
        (lambda d: d.update(id=[]), r"trace #0: missing id"),
    ],
)
def test_malformed_observations_name_the_observation_and_field(mutate, message):
    data = json.loads(json.dumps(doc("weather_trace.json").data))
    mutate(data)
    assert_parse_error(READER, data, message)


def _random_documents(value: Any) -> list[Document]:
    spans = [{"traceId": "ab" * 16, "spanId": "01" * 8, "attributes": value}]
    return [
        Document({"id": "t", "htmlPath": "/x", "observations": value}, json_lines=False),
        Document({"data": [value], "meta": {}}, json_lines=False),
        Document({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}, json_lines=False),
        *(Document([{"id": "a", "traceId": "t", "type": kind, "parentObservationId": None, "input": value,
                     "output": value, "metadata": value, "usage": value, "level": "ERROR", "statusMessage": value}],
                   json_lines=True) for kind in ("GENERATION", "TOOL", "SPAN")),
    ]


test_random_json_never_crashes = random_json_test(READER, _random_documents)
test_wrong_types_in_fields_never_crash = wrong_types_test(
    READER, [HERE / n for n in WEATHER_FILES] + sorted(REAL.glob("*.json*")))
test_truncated_files_never_crash = truncated_files_test(READER, [HERE / n for n in WEATHER_FILES])
