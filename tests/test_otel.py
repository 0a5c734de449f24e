"""The OTel GenAI reader and the OTLP/JSON decoding under it (design/trace-formats.md §4.1, §10)."""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from format_checks import (
    assert_parse_error,
    assert_weather_dag,
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
from agenteval.formats.otel import READER, join_logs, parse_message
from agenteval.formats.otlp import any_value, attributes, norm_id, unflatten
from agenteval.models import StepType

FIXTURES = Path(__file__).parent / "fixtures" / "otel"
WEATHER_FILES = [
    "weather_messages.json",  # gen_ai.input/output.messages as JSON strings and as structured AnyValue
    "weather_span_events.json",  # semconv <= 1.27 gen_ai.content.* span events, no invoke_agent
    "weather_base64.json",  # protobuf-JSON: base64 ids, enum names
    "weather_lines.jsonl",  # file exporter: one TracesData per line, shuffled, one span exported twice
    "weather_openllmetry.json",  # flattened gen_ai.prompt.N / gen_ai.completion.N, tools without call ids
]
TRACE_ID = "5b8aa5a2d2c872e8321cf37308d69df2"


def doc(name: str) -> Document:
    return load_document(FIXTURES / name)


parse_one = partial(only_trace, READER, check_dag=False)


@pytest.mark.parametrize("name", WEATHER_FILES)
def test_worked_example_parses_to_the_section_8_dag(name):
    trace = read_only_trace(FIXTURES / name, "otel")
    assert trace.id == TRACE_ID
    assert_weather_dag(trace)


def test_ids_and_step_metadata():
    trace = parse_one(doc("weather_messages.json"))
    plan = trace.steps[0]
    assert plan.id == "a1b2c3d4e5f60718#plan"
    assert plan.agent == "weather_agent" and plan.model == "gpt-4o-mini-2024-07-18"
    assert plan.metadata["parent_id"] == "051581bf3cb55c13"
    assert plan.metadata["source"] == {"format": "otel", "span_id": "a1b2c3d4e5f60718", "span_name": "chat gpt-4o-mini",
                                       "span_kind_raw": "chat"}
    assert plan.input[0] == {"role": "system", "content": plan.input[0]["content"]}
    assert plan.input[1] == {"role": "user", "content": trace.task}
    assert "gen_ai.input.messages" not in plan.metadata["attributes"]
    assert plan.start_time.isoformat() == "2025-06-12T10:00:00.100000+00:00"
    failed = trace.steps[3]
    assert failed.error.type == "TimeoutError" and failed.error.message == "get_weather timed out after 3.0 seconds"
    assert trace.steps[6].output == {"city": "Paris", "date": "2025-06-12", "forecast": "sunny", "high_c": 24,
                                     "low_c": 15}
    assert [t.name for t in trace.tools] == ["get_weather"]
    assert trace.tools[0].parameters["required"] == ["city", "date"]


def test_base64_ids_become_hex():
    assert norm_id("W4qlotLIcugyHPNzCNad8g==", 16, "x") == TRACE_ID
    assert norm_id("BRWBvzy1XBM=", 8, "x") == "051581bf3cb55c13"
    assert norm_id("0x051581BF3CB55C13", 8, "x") == "051581bf3cb55c13"
    assert norm_id("0000000000000000", 8, "x") is None and norm_id("", 8, "x") is None
    assert norm_id("span-7", 8, "x") == "span-7"
    with pytest.raises(TraceError, match="parentSpanId"):
        norm_id(12, 8, "span 1: parentSpanId")
    trace = parse_one(doc("weather_base64.json"))
    assert trace.steps[0].metadata["source"]["span_id"] == "a1b2c3d4e5f60718"


def test_any_value_decoding():
    where = "span s"
    assert any_value({"intValue": "212"}, where) == 212 and any_value({"intValue": 7}, where) == 7
    assert any_value({"doubleValue": "NaN"}, where) == "NaN" and any_value({"doubleValue": 0.5}, where) == 0.5
    assert any_value({"boolValue": False}, where) is False and any_value({}, where) is None
    assert any_value({"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "1"}]}}, where) == ["a", 1]
    assert any_value({"kvlistValue": {"values": [{"key": "k", "value": {"stringValue": "v"}}]}}, where) == {"k": "v"}
    assert any_value({"bytesValue": "AAE="}, where) == "AAE="
    assert any_value({"string_value": None, "int_value": "3"}, where) == 3  # Phoenix otlpv1: every variant, nulls
    assert attributes([{"key": "a", "value": {"stringValue": "b"}}], where) == {"a": "b"}
    with pytest.raises(TraceError, match="span s: attribute n: bad intValue"):
        attributes([{"key": "n", "value": {"intValue": "12x"}}], where)


def test_unflatten_sorts_indices_numerically_and_tolerates_gaps():
    flat = {f"m.{i}.role": str(i) for i in (10, 2, 9)} | {"m.1.calls.3.id": "c", "x": 1}
    tree = unflatten(flat)
    assert [m.get("role") for m in tree["m"]] == [None, "2", "9", "10"]
    assert tree["m"][0] == {"calls": [{"id": "c"}]} and tree["x"] == 1
    assert unflatten({"a": "leaf", "a.b": 2}) == {"a": {"": "leaf", "b": 2}}


def test_parse_message_shapes():
    call = {"type": "tool_call", "id": " call_1", "name": "f", "arguments": '{"x": 1}'}
    parts = {"role": "assistant", "parts": [call, {"type": "text", "content": "hi"},
                                            {"type": "reasoning", "content": "hmm"}]}
    [msg] = parse_message(parts)
    assert (msg.text, msg.reasoning, msg.tool_calls[0].id, msg.tool_calls[0].args) == ("hi", "hmm", "call_1", {"x": 1})
    answers = {"role": "tool", "parts": [{"type": "tool_call_response", "id": "a", "response": {"ok": 1}},
                                         {"type": "tool_call_response", "id": "b", "result": "done"}]}
    assert [(m.role, m.tool_call_id, m.text) for m in parse_message(answers)] == [("tool", "a", '{"ok": 1}'),
                                                                                  ("tool", "b", "done")]
    oai = {"role": "assistant", "content": [{"type": "text", "text": "x"}],
           "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    [msg] = parse_message(oai)
    assert msg.text == "x" and msg.tool_calls[0].name == "f" and msg.tool_calls[0].args == {}


def test_parallel_tool_calls():
    trace = parse_one(doc("parallel_tools.json"))
    StepDAG.from_trace(trace)
    assert shape(trace) == [
        ("PLAN1", []), ("TOOLSEL1", ["PLAN1"]), ("PARAMGEN1", ["TOOLSEL1"]), ("TOOLSEL2", ["PLAN1"]),
        ("PARAMGEN2", ["TOOLSEL2"]), ("EXEC1", ["PARAMGEN1"]), ("EXEC2", ["PARAMGEN2"]), ("SYNTH1", ["EXEC1", "EXEC2"]),
    ]
    execs = [s for s in trace.steps if s.type is StepType.EXEC]
    assert [e.arguments["city"] for e in execs] == ["Paris", "London"]
    assert [e.output["forecast"] for e in execs] == ["sunny", "rain"]


def test_hidden_content_is_typed_by_structure():
    trace = parse_one(doc("weather_no_content.json"))
    StepDAG.from_trace(trace)
    assert shape(trace) == [
        ("TOOLSEL1", []), ("PARAMGEN1", ["TOOLSEL1"]), ("EXEC1", ["PARAMGEN1"]), ("TOOLSEL2", ["EXEC1"]),
        ("PARAMGEN2", ["TOOLSEL2"]), ("EXEC2", ["PARAMGEN2"]), ("SYNTH1", ["EXEC2"]),
    ]
    assert all(s.metadata["content_inferred"] for s in trace.steps if s.type is not StepType.EXEC)
    assert [s.tool_call_id for s in trace.steps if s.type is StepType.PARAMGEN] == ["call_w1", "call_w2"]
    assert trace.steps[2].status == "timeout" and trace.steps[-1].is_final
    assert [s.usage.input_tokens for s in trace.steps if s.usage] == [212, 290, 368]


def test_companion_log_file_restores_the_content():
    spans = doc("weather_no_content.json")
    before = json.dumps(spans.data)
    trace = parse_one(join_logs(spans, doc("weather_no_content.logs.json")))
    assert_weather_dag(trace)
    assert json.dumps(spans.data) == before
    with pytest.raises(TraceError, match="resourceLogs: expected a list"):
        join_logs(spans, Document({"resourceLogs": 3}, json_lines=False))


def test_joining_logs_copies_only_the_spans_it_changes():
    spans = doc("weather_no_content.json")
    joined = join_logs(spans, doc("weather_no_content.logs.json"))
    [before], [after] = spans.data["resourceSpans"], joined.data["resourceSpans"]
    assert after is not before and after["resource"] is before["resource"]
    scopes = zip(after["scopeSpans"], before["scopeSpans"])
    pairs = [(a, b) for scope_a, scope_b in scopes for a, b in zip(scope_a["spans"], scope_b["spans"])]
    assert all(a["attributes"] is b["attributes"] for a, b in pairs)
    assert any(a is not b and len(a["events"]) > len(b.get("events", [])) for a, b in pairs)
    assert all(a is b for a, b in pairs if not a.get("events"))


def _kv(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": {"stringValue": v} if isinstance(v, str) else {"intValue": str(v)}}
            for k, v in attrs.items()]


def _one_trace(*spans: dict[str, Any]) -> Any:
    for n, span in enumerate(spans):
        span.setdefault("traceId", "ab" * 16)
        span.setdefault("startTimeUnixNano", str(1_000 * (n + 1)))
        span["attributes"] = _kv(span.get("attributes", {}))
        for event in span.get("events", []):
            event["attributes"] = _kv(event["attributes"])
    return parse_one(Document({"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}, json_lines=False))


def test_other_content_locations():
    messages = json.dumps([{"role": "user", "content": "weather?"}])
    details = {"name": "gen_ai.client.inference.operation.details", "attributes": {
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}]),
    }}
    trace = _one_trace(
        {"spanId": "1" * 16, "name": "openai.chat",
         "attributes": {"llm.request.type": "chat", "gen_ai.prompt": messages, "gen_ai.completion.0.role": "assistant",
                        "gen_ai.completion.0.content": "thinking"}},
        {"spanId": "2" * 16, "name": "chat m", "attributes": {"gen_ai.operation.name": "chat"}, "events": [details]},
    )
    assert [(s.type, s.output) for s in trace.steps] == [(StepType.PLAN, "thinking"), (StepType.SYNTH, "hello")]
    assert trace.task == "weather?" and trace.steps[1].input == [{"role": "user", "content": "hi"}]


def test_retrieval_is_an_action_only_directly_under_an_agent():
    trace = _one_trace(
        {"spanId": "1" * 16, "name": "invoke_agent a", "attributes": {"gen_ai.operation.name": "invoke_agent"}},
        {"spanId": "2" * 16, "parentSpanId": "1" * 16, "name": "retrieval docs",
         "attributes": {"gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": "docs"}},
        {"spanId": "3" * 16, "parentSpanId": "1" * 16, "name": "embeddings m",
         "attributes": {"gen_ai.operation.name": "embeddings"}},
        {"spanId": "4" * 16, "parentSpanId": "1" * 16, "name": "chat m",
         "attributes": {"gen_ai.operation.name": "chat", "gen_ai.output.messages": json.dumps(
             [{"role": "assistant", "parts": [{"type": "text", "content": "from the docs"}]}])}},
    )
    assert [(s.type, s.tool) for s in trace.steps] == [(StepType.EXEC, "docs"), (StepType.SYNTH, None)]
    assert trace.steps[0].metadata["tool_type"] == "retrieval" and trace.steps[0].metadata["invoked_by"] == "code"
    note = {"span_id": "3" * 16, "name": "embeddings m", "kind": "embeddings"}
    assert trace.steps[1].metadata["annotations"] == [note]


def test_snake_case_keys_read_the_same():
    def snake(value: Any) -> Any:
        if isinstance(value, dict):
            return {re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): snake(v) for k, v in value.items()}
        return [snake(v) for v in value] if isinstance(value, list) else value

    assert_weather_dag(parse_one(Document(snake(doc("weather_messages.json").data), json_lines=False)))


def test_an_array_of_documents_and_non_agent_traces():
    data = doc("weather_messages.json").data
    http = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "1" * 32, "spanId": "2" * 16, "name": "GET /health", "startTimeUnixNano": 5}]}]}]}
    traces = READER.parse(Document([http, data], json_lines=False), "x.json")
    assert [t.id for t in traces] == [TRACE_ID]


def test_detection():
    otel, openinference = get_reader("otel"), get_reader("openinference")
    for name in WEATHER_FILES:
        assert otel.detect(doc(name)) and not openinference.detect(doc(name)), name
    oi = load_document(FIXTURES.parent / "openinference" / "weather_otlp.json")
    assert not otel.detect(oi) and openinference.detect(oi)
    assert not otel.detect(Document({"data": []}, json_lines=False))
    assert not otel.detect(Document([{"resourceSpans": []}, {"other": 1}], json_lines=True))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.update(startTimeUnixNano="soon"), r"span 051581bf3cb55c13: startTimeUnixNano"),
        (lambda s: s.update(spanId=None), r"span #0: missing spanId"),
        (lambda s: s.update(attributes="nope"), r"span 051581bf3cb55c13: attributes: expected a list"),
        (lambda s: s.update(events=[{"name": "x", "timeUnixNano": -1}]), r"event timeUnixNano"),
        (lambda s: s.update(parentSpanId=5), r"parentSpanId: expected a string id"),
    ],
)
def test_malformed_spans_name_the_span_and_field(mutate, message):
    data = json.loads(json.dumps(doc("weather_messages.json").data))
    mutate(data["resourceSpans"][0]["scopeSpans"][0]["spans"][0])
    assert_parse_error(READER, data, message)


def test_malformed_content_and_usage():
    data = json.loads(json.dumps(doc("weather_messages.json").data))
    chat = data["resourceSpans"][0]["scopeSpans"][1]["spans"][0]
    for attr in chat["attributes"]:
        if attr["key"] == "gen_ai.usage.input_tokens":
            attr["value"] = {"stringValue": "-3"}
    with pytest.raises(TraceError, match="span a1b2c3d4e5f60718: gen_ai.usage.input_tokens"):
        READER.parse(Document(data, json_lines=False), "bad.json")
    for attr in chat["attributes"]:
        if attr["key"] == "gen_ai.usage.input_tokens":
            attr["value"] = {"intValue": "3"}
        if attr["key"] == "gen_ai.input.messages":
            attr["value"] = {"stringValue": '"just text"'}
    with pytest.raises(TraceError, match="gen_ai.input.messages: expected a list of messages"):
        READER.parse(Document(data, json_lines=False), "bad.json")


test_random_json_never_crashes = random_json_test(READER, lambda value: [
    Document({"resourceSpans": value}, json_lines=False),
    Document([{"resourceSpans": [{"scopeSpans": [{"spans": [value]}]}]}], json_lines=True),
], dump=False)
test_wrong_types_in_fields_never_crash = wrong_types_test(READER, [FIXTURES / n for n in WEATHER_FILES], dump=False)
test_truncated_files_never_crash = truncated_files_test(READER, [FIXTURES / n for n in WEATHER_FILES], dump=False)
