"""The OpenAI Agents SDK reader (design/trace-formats.md §4.4, §10)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from format_checks import (
    ARGS1,
    ARGS2,
    WEATHER,
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
from agenteval.formats.openai_agents import READER, handoff_tool_name, parse_error, parse_output
from agenteval.models import StepType

FIXTURES = Path(__file__).parent / "fixtures"
HERE = FIXTURES / "openai_agents"
REAL = FIXTURES / "real" / "openai_agents"
WEATHER_FILES = [
    "weather.json",  # the ingest envelope {"data": [...]}, no task/turn spans
    "weather_turns.jsonl",  # task/turn containers with roll-up usage, a guardrail running its own agent
]
ALL_FILES = [*WEATHER_FILES, "weather_responses.json", "handoff.json", "parallel.json", "loop.jsonl", "errors.json"]
TRACE_ID = "trace_5b8aa5a2d2c872e8321cf37308d69df2"
ANSWERED = [(name, parents) for name, *_, parents in WEATHER]


def doc(name: str) -> Document:
    return load_document(HERE / name)


parse_one = partial(only_trace, READER)


def by_type(trace: Any, type_: StepType) -> list[Any]:
    return [s for s in trace.steps if s.type is type_]


@pytest.mark.parametrize("name", WEATHER_FILES)
def test_worked_example_parses_to_the_section_8_dag(name):
    trace = read_only_trace(HERE / name, "openai-agents")
    assert trace.id == TRACE_ID
    assert_weather_dag(trace)


def test_ids_errors_outputs_and_metadata():
    trace = parse_one(doc("weather.json"))
    plan, failed, done = trace.steps[0], trace.steps[3], trace.steps[6]
    assert plan.id == "span_a1b2c3d4e5f6a7b8c9d0e1f2#plan"
    assert plan.agent == "weather_agent" and plan.model == "gpt-4o-mini"
    assert plan.metadata["source"] == {"format": "openai-agents", "span_id": "span_a1b2c3d4e5f6a7b8c9d0e1f2",
                                       "span_name": "generation", "span_kind_raw": "generation"}
    assert plan.input[0]["role"] == "system" and plan.start_time.isoformat() == "2025-06-12T10:00:00.100000+00:00"
    # no call id on function spans: it comes from the tool call with the same arguments
    assert failed.tool_call_id == "call_w1" and failed.metadata["attributes"]["tool_call_id_from"] == "arguments"
    assert (failed.error.type, failed.error.message) == ("TimeoutError", "get_weather timed out after 3.0 seconds")
    assert failed.metadata["attributes"]["error"]["message"] == "Error running tool (non-fatal)"
    assert failed.output.startswith("An error occurred while running the tool.")
    assert failed.metadata["tool_args_raw"] == '{"city":"Paris","date":"2025-06-12"}'
    # a successful output is Python str(dict), not JSON
    assert done.output == {"city": "Paris", "date": "2025-06-12", "forecast": "sunny", "high_c": 24, "low_c": 15}
    assert [t.name for t in trace.tools] == ["get_weather"]
    assert trace.metadata["workflow_name"] == "weather" and trace.metadata["format"] == "openai-agents"


def test_task_turn_containers_and_guardrail_runs_make_no_steps():
    trace = parse_one(doc("weather_turns.jsonl"))
    assert len(trace.steps) == 8 and {s.agent for s in trace.steps} == {"weather_agent"}
    notes = [n for s in trace.steps for n in s.metadata.get("annotations", [])]
    assert notes == [{"span_id": "span_4a0b0c0d0e0f101112131415", "name": "weather_topic_check", "kind": "guardrail"}]
    assert trace.steps[0].metadata["parent_id"] == "span_1a0b0c0d0e0f101112131415"  # the turn span
    assert trace.steps[0].metadata["scope"] == "span_f0f1f2f3f4f5f6f7f8f9fafb"  # the agent span


def test_responses_api_spans_are_typed_by_structure():
    trace = parse_one(doc("weather_responses.json"))
    assert shape(trace) == [
        ("TOOLSEL1", []), ("PARAMGEN1", ["TOOLSEL1"]), ("EXEC1", ["PARAMGEN1"]), ("TOOLSEL2", ["EXEC1"]),
        ("PARAMGEN2", ["TOOLSEL2"]), ("EXEC2", ["PARAMGEN2"]), ("SYNTH1", ["EXEC2"]),
    ]
    assert all(s.metadata["content_inferred"] for s in trace.steps if s.type is not StepType.EXEC)
    assert [s.arguments for s in by_type(trace, StepType.PARAMGEN)] == [ARGS1, ARGS2]
    assert trace.steps[2].status == "timeout" and trace.steps[-1].is_final and trace.steps[-1].output is None
    assert [(s.usage.input_tokens, s.usage.output_tokens) for s in trace.steps if s.usage] == [
        (212, 47), (290, 26), (368, 34)]
    assert trace.steps[0].metadata["attributes"]["response_id"] == "resp_68a1"
    assert trace.task == ""  # nothing in a Responses trace says what the user asked


def test_handoff_is_a_transfer_exec_into_the_next_agent():
    trace = parse_one(doc("handoff.json"))
    assert shape(trace) == [
        ("TOOLSEL1", []), ("PARAMGEN1", ["TOOLSEL1"]), ("EXEC1", ["PARAMGEN1"]), ("TOOLSEL2", ["EXEC1"]),
        ("PARAMGEN2", ["TOOLSEL2"]), ("EXEC2", ["PARAMGEN2"]), ("SYNTH1", ["EXEC2"]),
    ]
    transfer = trace.steps[2]
    assert (transfer.tool, transfer.tool_call_id, transfer.output) == (
        "transfer_to_billing_agent", "call_h1", {"assistant": "Billing Agent"})
    assert transfer.metadata["tool_type"] == "handoff" and transfer.agent == "Triage Agent"
    assert [s.agent for s in trace.steps[3:]] == ["Billing Agent"] * 4 and trace.steps[-1].is_final
    assert trace.steps[4].arguments == {"invoice_id": "INV-1042"}
    assert trace.steps[5].output["charges"][0]["status"] == "refunded"
    assert sorted(t.name for t in trace.tools) == ["lookup_invoice", "transfer_to_billing_agent"]
    # the guardrail's own classifier call (40/3 tokens) is not an agent step
    assert sum(s.usage.input_tokens for s in trace.steps if s.usage) == 120 + 160 + 230
    assert handoff_tool_name("Billing Agent") == "transfer_to_billing_agent"


def test_parallel_calls_bind_by_arguments_not_start_order():
    trace = parse_one(doc("parallel.json"))
    assert shape(trace) == [
        ("TOOLSEL1", []), ("PARAMGEN1", ["TOOLSEL1"]), ("TOOLSEL2", []), ("PARAMGEN2", ["TOOLSEL2"]),
        ("EXEC1", ["PARAMGEN2"]), ("EXEC2", ["PARAMGEN1"]), ("SYNTH1", ["EXEC1", "EXEC2"]),
    ]
    execs = by_type(trace, StepType.EXEC)
    assert [(e.arguments["city"], e.tool_call_id, e.output["forecast"]) for e in execs] == [
        ("London", "call_l", "rain"), ("Paris", "call_p", "sunny")]


def test_a_loop_is_unrolled_by_span_instance():
    trace = parse_one(doc("loop.jsonl"))
    assert [s.type.value for s in trace.steps] == ["PLAN"] + ["TOOLSEL", "PARAMGEN", "EXEC"] * 3 + ["SYNTH"]
    execs = by_type(trace, StepType.EXEC)
    assert [e.tool_call_id for e in execs] == ["call_1", "call_2", "call_3"]
    assert all(e.output == {"results": []} for e in execs)
    assert [by_type(trace, StepType.TOOLSEL)[i].parents for i in (1, 2)] == [[execs[0].id], [execs[1].id]]


def test_errored_spans():
    trace = parse_one(doc("errors.json"))
    assert shape(trace) == [("TOOLSEL1", []), ("PARAMGEN1", ["TOOLSEL1"]), ("EXEC1", ["PARAMGEN1"])]
    sel, _, exec_ = trace.steps
    # R1: the failed model call and its retry with the same input are one step
    assert sel.attempts == 2 and sel.metadata["retry_errors"] == ["Error code: 429 - Rate limit reached"]
    # a redacted tool error is still an error
    assert exec_.status == "error" and exec_.error.type is None
    assert exec_.error.message == "Tool execution failed. Error details are redacted."
    assert trace.metadata["span_errors"] == [
        {"span_id": "span_dd0000000000000000000000", "kind": "agent", "message": "Max turns exceeded"}]
    assert not any(s.is_final for s in trace.steps)


@pytest.mark.parametrize("path", sorted(REAL.glob("*.json*")), ids=lambda p: p.name)
def test_real_exporter_output(path):
    """openai-agents 0.24 against a scripted model (fixtures/real/generate.py): the §8 DAG, with the tool
    error redacted, so EXEC1 is a plain error whose cause (a timeout) the trace does not say."""
    trace = read_only_trace(path, "openai-agents")
    StepDAG.from_trace(trace)
    assert shape(trace) == ANSWERED
    sel1, gen1, failed, gen2, done = (trace.steps[i] for i in (1, 2, 3, 5, 6))
    assert (gen1.arguments, failed.arguments, gen2.arguments, done.arguments) == (ARGS1, ARGS1, ARGS2, ARGS2)
    assert sel1.output == "get_weather" and failed.tool_call_id == gen1.tool_call_id == "call_w1"
    assert failed.status == "error" and "redacted" in failed.error.message
    assert done.output["condition"] == "sunny"
    usage = [(s.usage.input_tokens, s.usage.output_tokens) for s in trace.steps if s.usage]
    assert usage == [(212, 47), (290, 26), (368, 34)]  # the task/turn roll-ups are not counted
    assert trace.steps[0].output.startswith("Plan:") and trace.steps[-1].is_final
    assert trace.task == "What will the weather be in Paris on 2025-06-12?"


def test_error_and_output_helpers():
    assert parse_error({"message": "Error running tool (non-fatal)",
                        "data": {"tool_name": "f", "error": "TimeoutError: took too long"}}, "s").model_dump() == {
        "type": "TimeoutError", "message": "took too long"}  # the JS SDK writes error.toString()
    assert parse_error({"message": "Max turns exceeded", "data": None}, "s").message == "Max turns exceeded"
    assert parse_error("boom", "s").type is None and parse_error(None, "s") is None
    with pytest.raises(TraceError, match="s: error: expected an object"):
        parse_error(5, "s")
    assert parse_output("{'a': 1, 'b': [True, None]}") == {"a": 1, "b": [True, None]}
    assert parse_output('{"a": 1}') == {"a": 1} and parse_output("[1, 2]") == [1, 2]
    assert parse_output("sunny") == "sunny" and parse_output("{not python") == "{not python"
    assert parse_output("{__import__('os')}") == "{__import__('os')}"  # literals only, never code
    assert parse_output(None) is None and parse_output(3) == 3


def _span(sid: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"object": "trace.span", "id": sid, "trace_id": "trace_x", "parent_id": None, "started_at": None,
            "ended_at": None, "span_data": data, "error": None, **extra}


def test_hidden_content_and_handled_errors_without_a_span_error():
    gen = {"type": "generation", "input": None, "output": None, "model": "m", "usage": None}
    function = {"type": "function", "name": "f", "input": None,
                "output": "An error occurred while running the tool. Please try again."}
    trace = parse_one(Document([_span("g1", gen), _span("f1", function), _span("g2", gen)], json_lines=True))
    assert [(s.type, s.metadata.get("content_inferred")) for s in trace.steps] == [
        (StepType.TOOLSEL, True), (StepType.PARAMGEN, True), (StepType.EXEC, None), (StepType.SYNTH, True)]
    assert trace.steps[2].status == "error" and trace.steps[2].error.message.startswith("An error occurred")


def test_traces_are_grouped_and_empty_ones_skipped():
    gen = {"type": "generation", "input": [{"role": "user", "content": "hi"}],
           "output": [{"role": "assistant", "content": "hello"}]}
    items = [{"object": "trace", "id": "trace_empty", "workflow_name": "w"}, _span("a", gen),
             dict(_span("b", gen), trace_id="trace_y"), _span("c", {"type": "agent", "name": "x"})]
    traces = READER.parse(Document({"data": items}, json_lines=False), "x.json")
    assert [(t.id, len(t.steps)) for t in traces] == [("trace_x", 1), ("trace_y", 1)]


def test_detection_across_all_fixtures():
    reader = get_reader("openai-agents")
    _, mine = check_detection("openai-agents", lambda path: path.parent.name == "openai_agents")
    assert mine == len(ALL_FILES) + len(list(REAL.glob("*.json*")))
    assert not reader.detect(Document([], json_lines=False))
    assert not reader.detect(Document({"data": [{"object": "trace", "id": "trace_x"}]}, json_lines=False))


def test_cli_parse_json():
    trace = cli_parse_json(HERE / "weather.json")
    assert trace["trace_id"] == TRACE_ID and trace["format"] == "openai-agents"
    assert [(s["type"], s["tool"], s["status"]) for s in trace["steps"]] == [
        ("PLAN", None, "ok"), ("TOOLSEL", "get_weather", "ok"), ("PARAMGEN", "get_weather", "ok"),
        ("EXEC", "get_weather", "error"), ("TOOLSEL", "get_weather", "ok"), ("PARAMGEN", "get_weather", "ok"),
        ("EXEC", "get_weather", "ok"), ("SYNTH", None, "ok")]


@pytest.mark.parametrize(
    ("index", "mutate", "message"),
    [
        (1, lambda s: s.update(started_at="soon"), r"span span_a1b2c3d4e5f6a7b8c9d0e1f2: started_at: not an ISO"),
        (1, lambda s: s.update(span_data="x"), r"span_a1b2c3d4e5f6a7b8c9d0e1f2: span_data: expected an object"),
        (1, lambda s: s["span_data"].update(type=5), r"span_data.type: expected a string"),
        (1, lambda s: s.update(error=5), r"span_a1b2c3d4e5f6a7b8c9d0e1f2: error: expected an object"),
        (1, lambda s: s["span_data"]["usage"].update(input_tokens=-3), r"usage.input_tokens: expected a non-negative"),
        (1, lambda s: s["span_data"].update(input=5), r"span_a1b2c3d4e5f6a7b8c9d0e1f2: input: expected a list"),
        (1, lambda s: s.update(parent_id=5), r"parent_id: expected a string id"),
        (1, lambda s: s.update(id=None), r"span #1: missing id"),
        (2, lambda s: s.pop("trace_id"), r"span #2: missing trace_id"),
    ],
)
def test_malformed_spans_name_the_span_and_field(index, mutate, message):
    data = json.loads(json.dumps(doc("weather.json").data))
    mutate(data["data"][index])
    assert_parse_error(READER, data, message)


def test_a_record_that_is_not_an_object():
    with pytest.raises(TraceError, match="record #1: expected an object"):
        READER.parse(Document({"data": [doc("weather.json").data["data"][1], 5]}, json_lines=False), "x")


test_random_json_never_crashes = random_json_test(READER, lambda value: [
    Document({"data": [value]}, json_lines=False),
    Document([_span("s", {"type": "generation", "output": value})], json_lines=True),
    Document([_span("s", {"type": "function", "name": "f", "output": value})], json_lines=True),
])
test_wrong_types_in_fields_never_crash = wrong_types_test(READER, [HERE / n for n in ALL_FILES])
test_truncated_files_never_crash = truncated_files_test(READER, [HERE / n for n in ALL_FILES])
