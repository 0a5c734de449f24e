"""The LangSmith reader (design/trace-formats.md §4.3) and the LangChain decoding under it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from format_checks import (
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

from agenteval.errors import TraceError
from agenteval.formats import available_formats
from agenteval.formats.base import Document, load_document
from agenteval.formats.langchain import (
    error_info,
    message,
    output_message,
    parse_tool_input,
    python_value,
    usage_from,
)
from agenteval.formats.langsmith import READER, parse_dotted_order
from agenteval.models import StepType

FIXTURES = Path(__file__).parent / "fixtures"
HERE = FIXTURES / "langsmith"
REAL = FIXTURES / "real" / "langsmith"
WEATHER_FILES = [
    "weather_runs.json",  # list_runs dump: LangGraph node chains, lc messages, Python-repr tool inputs
    "weather_multipart.jsonl",  # POST + PATCH records, parents and start times only from 3-digit dotted_order
    "weather_api_v2.json",  # {"items"}, UPPER-case run types, wrap_openai shapes, tool runs without call ids
]


def doc(name: str) -> Document:
    return load_document(HERE / name)


parse_one = partial(only_trace, READER)


@pytest.mark.parametrize("name", WEATHER_FILES)
def test_worked_example_parses_to_the_section_8_dag(name):
    trace = read_only_trace(HERE / name, "langsmith")
    assert_weather_dag(trace)


@pytest.mark.parametrize("path", sorted(REAL.glob("*.json*")), ids=lambda p: p.name)
def test_real_exporter_output(path):
    """LangGraph 1.2 + langsmith 0.14 against a scripted model (fixtures/real/generate.py): ingest batches
    with aware times, tool inputs as dicts, the call id in ``extra.tool_call_id``, the failed tool run with
    ``outputs: {}`` and the exception repr glued to its traceback."""
    trace = read_only_trace(path, "langsmith")
    assert_weather_dag(trace)
    failed = trace.steps[3]
    assert failed.error.message == "weather service did not answer within 10 s"
    assert failed.metadata["bound_by"] == "call_id" and trace.steps[6].output["condition"] == "sunny"
    assert [s.agent for s in trace.steps] == ["weather_agent"] * 8
    assert [t.name for t in trace.tools] == ["get_weather"]


def test_step_details_of_the_langgraph_export():
    trace = parse_one(doc("weather_runs.json"))
    assert trace.id == "01976a1c-8e00-7000-8000-000000000001"
    plan, exec1 = trace.steps[0], trace.steps[3]
    assert plan.id == "01976a1c-8e00-7000-8000-000000000003#plan"
    assert plan.agent == "LangGraph" and plan.model == "gpt-4o-mini-2024-07-18"
    assert plan.start_time == datetime(2025, 6, 12, 10, 0, 0, 100000, tzinfo=UTC)
    assert plan.input[1] == {"role": "user", "content": USER}
    assert plan.metadata["source"]["span_kind_raw"] == "llm"
    assert plan.metadata["attributes"]["metadata"]["langgraph_node"] == "agent"
    assert exec1.error.message == "get_weather timed out after 3.0 seconds"
    assert exec1.metadata["tool_args_raw"] == "{'city': 'Paris', 'date': '2025-06-12'}"
    assert "Traceback" in exec1.metadata["attributes"]["error"]
    assert exec1.metadata["bound_by"] == "tool_name"  # the failed run has no ToolMessage, hence no call id
    assert trace.steps[6].metadata["bound_by"] == "call_id"
    assert trace.steps[6].output["forecast"] == "sunny"
    assert [t.name for t in trace.tools] == ["get_weather"]
    assert trace.tools[0].parameters["required"] == ["city", "date"]


def test_post_and_patch_records_merge():
    trace = parse_one(doc("weather_multipart.jsonl"))
    plan = trace.steps[0]
    assert plan.start_time == datetime(2025, 6, 12, 10, 0, 0, 100000, tzinfo=UTC)  # from dotted_order
    assert plan.end_time == datetime(2025, 6, 12, 10, 0, 0, 900000, tzinfo=UTC)  # from the PATCH
    assert plan.metadata["parent_id"] == "01976a1c-9f00-7000-8000-000000000002"
    assert "tool_args_raw" not in trace.steps[3].metadata  # the streaming_events shape: a dict, not a repr
    assert trace.steps[6].metadata["bound_by"] == "call_id"  # extra.tool_call_id


def test_dotted_order_parsing():
    six = "20250612T100000100000Za.20250612T100001000001Zb"
    assert parse_dotted_order(six, "x") == [(1749722400100000000, "a"), (1749722401000001000, "b")]
    assert parse_dotted_order("20250612T100000100Zroot", "x") == [(1749722400100000000, "root")]
    assert parse_dotted_order(None, "x") is None and parse_dotted_order("", "x") is None
    with pytest.raises(TraceError, match="run r: dotted_order: bad segment '2025-06-12'"):
        parse_dotted_order("2025-06-12", "run r")
    with pytest.raises(TraceError, match="dotted_order: bad segment"):
        parse_dotted_order("20251399T100000100000Zx", "run r")
    with pytest.raises(TraceError, match="dotted_order: expected a string"):
        parse_dotted_order(5, "run r")


def test_handoff_between_langgraph_sub_agents():
    trace = parse_one(doc("handoff.json"))
    assert shape(trace) == [
        ("PLAN1", []), ("TOOLSEL1", ["PLAN1"]), ("PARAMGEN1", ["TOOLSEL1"]), ("EXEC1", ["PARAMGEN1"]),
        ("TOOLSEL2", ["EXEC1"]), ("PARAMGEN2", ["TOOLSEL2"]), ("EXEC2", ["PARAMGEN2"]), ("SYNTH1", ["EXEC2"]),
        ("SYNTH2", ["SYNTH1"]),
    ]
    assert [s.agent for s in trace.steps] == ["supervisor"] * 4 + ["researcher"] * 4 + ["supervisor"]
    assert trace.steps[3].tool == "transfer_to_researcher"
    assert [s.is_final for s in trace.steps] == [False] * 8 + [True]
    assert trace.task == "Find the population of Lyon and report it."


def test_parallel_tool_calls_bind_by_call_id():
    trace = parse_one(doc("parallel_tools.json"))
    assert shape(trace) == [
        ("PLAN1", []), ("TOOLSEL1", ["PLAN1"]), ("PARAMGEN1", ["TOOLSEL1"]), ("TOOLSEL2", ["PLAN1"]),
        ("PARAMGEN2", ["TOOLSEL2"]), ("EXEC1", ["PARAMGEN2"]), ("EXEC2", ["PARAMGEN1"]), ("SYNTH1", ["EXEC1", "EXEC2"]),
    ]
    execs = [s for s in trace.steps if s.type is StepType.EXEC]
    assert [(e.arguments["city"], e.tool_call_id, e.output["forecast"]) for e in execs] == [
        ("London", "call_l", "rain"), ("Paris", "call_p", "sunny")]


def test_langgraph_loop_is_unrolled_by_run_instance():
    trace = parse_one(doc("langgraph_loop.json"))
    assert shape(trace) == [
        ("PLAN1", []), ("TOOLSEL1", ["PLAN1"]), ("PARAMGEN1", ["TOOLSEL1"]), ("EXEC1", ["PARAMGEN1"]),
        ("TOOLSEL2", ["EXEC1"]), ("PARAMGEN2", ["TOOLSEL2"]), ("EXEC2", ["PARAMGEN2"]), ("SYNTH1", ["EXEC2"]),
    ]
    execs = [s for s in trace.steps if s.type is StepType.EXEC]
    assert [e.arguments for e in execs] == [{"query": "population of Paris"}, {"query": "population of Lyon"}]
    assert len({e.metadata["parent_id"] for e in execs}) == 2  # two "tools" node runs, not one node
    assert trace.steps[1].metadata["reasoning"] == "Looking up Paris first."
    assert trace.steps[-1].is_final and "Paris" in trace.steps[-1].output


def test_hidden_content_is_typed_by_structure():
    trace = parse_one(doc("no_content.json"))
    assert shape(trace) == [
        ("TOOLSEL1", []), ("PARAMGEN1", ["TOOLSEL1"]), ("EXEC1", ["PARAMGEN1"]), ("TOOLSEL2", ["EXEC1"]),
        ("PARAMGEN2", ["TOOLSEL2"]), ("EXEC2", ["PARAMGEN2"]), ("SYNTH1", ["EXEC2"]),
    ]
    assert all(s.metadata["content_inferred"] for s in trace.steps if s.type is not StepType.EXEC)
    assert trace.steps[2].status == "timeout" and trace.steps[-1].is_final
    assert [(s.usage.input_tokens, s.usage.output_tokens) for s in trace.steps if s.usage] == [
        (212, 47), (290, 26), (368, 34)]  # the run-level counts of llm runs, never the chains' roll-ups


def test_errors_retries_and_handled_tool_errors():
    trace = parse_one(doc("errors.json"))
    assert shape(trace) == [
        ("PLAN1", []), ("TOOLSEL1", ["PLAN1"]), ("PARAMGEN1", ["TOOLSEL1"]), ("EXEC1", ["PARAMGEN1"]),
        ("TOOLSEL2", ["EXEC1"]), ("PARAMGEN2", ["TOOLSEL2"]), ("EXEC2", ["PARAMGEN2"]), ("SYNTH1", ["EXEC2"]),
    ]
    plan = trace.steps[0]
    # R1: a failed run with the same input, plus a retry event inside the kept run
    assert plan.attempts == 3 and plan.status == "ok" and plan.usage.input_tokens == 100
    assert plan.metadata["retry_errors"] == [
        "Error code: 429 - Rate limit reached", "Error code: 503 - Service unavailable"]
    handled = trace.steps[3]
    assert handled.status == "error" and handled.error.type == "ValueError"
    assert handled.error.message == "unknown city 'Pariss'" and handled.tool_call_id == "call_e1"
    assert trace.steps[6].status == "ok" and "retry_of" not in trace.steps[6].metadata
    answer = trace.steps[-1]
    assert answer.status == "error" and answer.is_final and answer.error.type == "InternalServerError"
    assert answer.error.message == "Error code: 500 - server error"


def _runs(*runs: dict[str, Any]) -> Document:
    for n, run in enumerate(runs):
        run.setdefault("trace_id", "t")
        run.setdefault("start_time", f"2025-06-12T10:00:0{n}")
        run.setdefault("dotted_order", f"20250612T10000{n}000000Z{run['id']}")
    return Document(list(runs), json_lines=False)


def _llm(run_id: str, text: str, node: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": run_id, "run_type": "llm", "name": "ChatOpenAI", "parent_run_id": "root",
            "extra": {"metadata": {"langgraph_node": node} if node else {}},
            "inputs": {"messages": [[{"type": "human", "content": "go"}]]},
            "outputs": {"generations": [[{"text": text, "message": {"type": "ai", "content": text}}]]}, **extra}


def test_langgraph_planner_node_marks_a_plan_and_other_run_shapes():
    trace = parse_one(_runs(
        {"id": "root", "run_type": "chain", "name": "LangGraph", "parent_run_id": None},
        _llm("a", "hello"),
        _llm("b", "1. do this 2. do that", node="planner"),
        {"id": "r", "run_type": "retriever", "name": "docs", "parent_run_id": "root", "inputs": {"query": "x"},
         "outputs": {"documents": [{"page_content": "d"}]}},
        {"id": "p", "run_type": "prompt", "name": "ChatPromptTemplate", "parent_run_id": "root"},
        {"id": "c", "run_type": "chat_model", "name": "m", "parent_run_id": "root",
         "inputs": {"prompts": ["Human: go"]}, "outputs": {"generations": [[{"text": "done"}]]}},
    ))
    assert [(s.type, s.tool) for s in trace.steps] == [
        (StepType.PLAN, None), (StepType.PLAN, None), (StepType.EXEC, "docs"), (StepType.SYNTH, None)]
    assert trace.steps[2].metadata["tool_type"] == "retrieval" and trace.steps[2].arguments == "x"
    assert trace.steps[3].input == [{"role": "user", "content": "Human: go"}]
    assert trace.steps[3].metadata["annotations"] == [{"span_id": "p", "name": "ChatPromptTemplate", "kind": "prompt"}]


def test_runs_of_several_traces_and_chains_without_model_calls():
    doc_ = _runs({"id": "x", "run_type": "chain", "name": "etl"},
                 {**_llm("a", "hi"), "trace_id": "t2", "parent_run_id": None})
    doc_.data[1]["dotted_order"] = "20250612T100001000000Za"
    traces = READER.parse(doc_, "x.json")
    assert [t.id for t in traces] == ["t2"]  # trace "t" (a chain alone) has nothing to evaluate


def test_message_shapes():
    lc = {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "AIMessageChunk"],
          "kwargs": {"content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "hi"}],
                     "additional_kwargs": {"tool_calls": [
                         {"id": "c", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
                     "response_metadata": {"finish_reason": "tool_calls"}}}
    msg = message(lc)
    assert (msg.role, msg.text, msg.reasoning, msg.finish_reason) == ("assistant", "hi", "hmm", "tool_calls")
    assert [(c.name, c.id, c.args) for c in msg.tool_calls] == [("f", "c", {"a": 1})]
    assert message(("human", "hello")).role == "user" and message("plain").text == "plain"
    tool = message({"type": "tool", "content": "ok", "tool_call_id": " k "})
    assert (tool.role, tool.tool_call_id) == ("tool", "k")
    assert message({"role": "developer", "content": 3}).role == "system"
    legacy = message({"type": "ai", "content": "",
                      "additional_kwargs": {"function_call": {"name": "g", "arguments": "{}"}}})
    assert legacy.tool_calls[0].name == "g"
    out, fields = output_message(
        {"choices": [{"message": {"role": "assistant", "content": "x"}, "finish_reason": "length"}]})
    assert out.finish_reason == "length" and fields == {"role": "assistant", "content": "x"}
    assert output_message({}) == (None, None)


def test_python_repr_tool_inputs():
    assert python_value("{'a': True, 'b': None, 'c': (1, 2)}") == {"a": True, "b": None, "c": [1, 2]}
    assert python_value('{"a": 1}') == {"a": 1} and python_value("[{1, 2}]") == [[1, 2]]
    assert python_value("Paris") == "Paris" and python_value("{'a': b'x'}") == {"a": "b'x'"}
    assert python_value("{__import__('os').getcwd()}") == "{__import__('os').getcwd()}"  # nothing runs
    assert python_value("{(1, 2): 3}") == "{(1, 2): 3}" and python_value("[" * 5000) == "[" * 5000
    call = "{'name': 'f', 'args': {'x': 1}, 'id': 'call_9', 'type': 'tool_call'}"
    assert parse_tool_input(call) == ({"x": 1}, call, "call_9")
    assert parse_tool_input({"x": 1}) == ({"x": 1}, None, None)


@pytest.mark.parametrize(
    ("text", "type_", "message_"),
    [
        ("TimeoutError('timed out')\n\nTraceback (most recent call last):\n ...", "TimeoutError", "timed out"),
        ("ValueError('a', 2)Traceback (most recent call last):", "ValueError", "a; 2"),
        ("Error: ToolException(\"bad 'x'\")\n Please fix your mistakes.", "ToolException", "bad 'x'"),
        ("openai.RateLimitError: Error code: 429", "openai.RateLimitError", "Error code: 429"),
        ("Traceback (most recent call last):\n  File x\nKeyError: 'k'", "KeyError", "'k'"),
        ("something broke", None, "something broke"),
        ("CustomErr()", "CustomErr", ""),
    ],
)
def test_error_texts(text, type_, message_):
    info = error_info(text)
    assert (info.type, info.message) == (type_, message_)


def test_usage_sources():
    assert usage_from([None, {"input_tokens": 0, "output_tokens": 0}, {"prompt_tokens": "5", "completion_tokens": 2,
                                                                       "prompt_tokens_details": {"cached_tokens": 1}}],
                      "x") .model_dump() == {"input_tokens": 5, "output_tokens": 2, "cached_input_tokens": 1}
    assert usage_from([{}, "x"], "x") is None
    with pytest.raises(TraceError, match="run r: input_tokens: expected a non-negative token count"):
        usage_from([{"input_tokens": -1}], "run r")


def test_detection_claims_only_langsmith_files():
    assert "langsmith" in available_formats()
    checked, _ = check_detection("langsmith", lambda path: "langsmith" in str(path.relative_to(FIXTURES)).lower())
    assert checked > 20


def test_parse_json_on_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trace = cli_parse_json(HERE / "weather_runs.json")
    assert trace["format"] == "langsmith" and trace["trace_id"] == "01976a1c-8e00-7000-8000-000000000001"
    assert [s["type"] for s in trace["steps"]] == ["PLAN", "TOOLSEL", "PARAMGEN", "EXEC", "TOOLSEL", "PARAMGEN",
                                                   "EXEC", "SYNTH"]
    assert [s["status"] for s in trace["steps"]][3] == "error"
    assert trace["steps"][3]["parents"] == [trace["steps"][2]["id"]]


@pytest.mark.parametrize(
    ("index", "field", "value", "message"),
    [
        (2, "start_time", "yesterday", r"run 01976a1c-8e00-7000-8000-000000000003: start_time: not an ISO 8601 time"),
        (2, "dotted_order", "garbage", r"run 01976a1c-8e00-7000-8000-000000000003: dotted_order: bad segment"),
        (2, "inputs", "x", r"run 01976a1c-8e00-7000-8000-000000000003: inputs: expected an object"),
        (2, "extra", [], r"extra: expected an object"),
        (2, "id", None, r"run #2: missing id"),
        (2, "inputs", {"messages": "hi"}, r"inputs.messages: expected a list of messages"),
    ],
)
def test_malformed_runs_name_the_run_and_field(index, field, value, message):
    data = json.loads(json.dumps(doc("weather_runs.json").data))
    data[index][field] = value
    assert_parse_error(READER, data, message)


def test_malformed_token_count():
    data = json.loads(json.dumps(doc("weather_runs.json").data))
    data[2]["outputs"]["generations"][0][0]["message"]["kwargs"]["usage_metadata"]["input_tokens"] = -3
    with pytest.raises(TraceError, match="run 01976a1c-8e00-7000-8000-000000000003: input_tokens"):
        READER.parse(Document(data, json_lines=False), "bad.json")


test_random_json_never_crashes = random_json_test(READER, lambda value: [
    Document({"runs": value}, json_lines=False),
    Document([{"id": "a", "run_type": "llm", "dotted_order": "20250612T100000000000Za", "inputs": value,
               "outputs": value}], json_lines=False),
    Document([{"id": "a", "run_type": "tool", "inputs": {"input": value}, "outputs": value, "error": value,
               "events": value}], json_lines=True),
])
test_wrong_types_in_fields_never_crash = wrong_types_test(
    READER, [HERE / n for n in WEATHER_FILES] + sorted(REAL.glob("*.json*")))
test_truncated_files_never_crash = truncated_files_test(READER, [HERE / n for n in WEATHER_FILES])
