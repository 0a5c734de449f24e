"""The OpenInference reader: OTLP with openinference.span.kind, and Phoenix REST exports (§4.2, §10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from format_checks import (
    assert_parse_error,
    assert_weather_dag,
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
from agenteval.formats.openinference import READER
from agenteval.models import StepType

FIXTURES = Path(__file__).parent / "fixtures" / "openinference"
ALL_FILES = ["weather_otlp.json", "weather_phoenix.json", "llm_errors.json", "langgraph_loop.json"]


def doc(name: str) -> Document:
    return load_document(FIXTURES / name)


@pytest.mark.parametrize("name", ["weather_otlp.json", "weather_phoenix.json"])
def test_worked_example_parses_to_the_section_8_dag(name):
    trace = read_only_trace(FIXTURES / name, "openinference")
    assert trace.id == "5b8aa5a2d2c872e8321cf37308d69df2"
    assert_weather_dag(trace)
    assert [t.name for t in trace.tools] == ["get_weather"]
    assert trace.tools[0].parameters["properties"]["units"]["enum"] == ["metric", "imperial"]
    assert all(s.agent == "weather_agent" for s in trace.steps)


def test_tool_spans_without_call_ids_bind_by_name():
    [trace] = READER.parse(doc("weather_otlp.json"), "x.json")
    execs = [s for s in trace.steps if s.type is StepType.EXEC]
    assert [e.metadata["bound_by"] for e in execs] == ["tool_name", "tool_name"]
    assert [e.tool_call_id for e in execs] == ["call_w1", "call_w2"]  # taken from the PARAMGEN they bind to
    assert execs[0].error.type == "TimeoutError" and execs[0].status == "timeout"


def test_phoenix_export_details():
    [trace] = READER.parse(doc("weather_phoenix.json"), "x.json")
    execs = [s for s in trace.steps if s.type is StepType.EXEC]
    assert [e.metadata["bound_by"] for e in execs] == ["call_id", "call_id"]
    # tool_calls.1 without tool_calls.0 in the second LLM span is still its one call
    assert trace.steps[4].type is StepType.TOOLSEL and trace.steps[4].tool_call_id == "call_w2"
    assert trace.steps[0].start_time.isoformat() == "2025-06-12T10:00:00.100000+00:00"
    assert trace.steps[0].input[0]["role"] == "system"
    assert trace.steps[0].metadata["source"]["span_kind_raw"] == "LLM"


def test_phoenix_list_lines_and_duplicate_pages():
    rows = doc("weather_phoenix.json").data["data"]
    assert_weather_dag(READER.parse(Document(rows, json_lines=False), "x.json")[0])
    assert_weather_dag(READER.parse(Document(rows + rows[:3], json_lines=True), "x.jsonl")[0])


def test_logical_json_with_unflattened_lists():
    rows = json.loads(json.dumps(doc("weather_phoenix.json").data["data"]))
    for row in rows:
        attrs = row["attributes"]
        for prefix in ("llm.input_messages", "llm.output_messages"):
            keys = sorted(k for k in attrs if k.startswith(prefix + "."))
            items: dict[int, dict] = {}
            for key in keys:
                index, rest = key[len(prefix) + 1:].split(".", 1)
                items.setdefault(int(index), {})[rest] = attrs.pop(key)
            if items:
                attrs[prefix] = [items[i] for i in sorted(items)]
    assert_weather_dag(READER.parse(Document({"data": rows}, json_lines=False), "x.json")[0])


def test_llm_errors_retry_collapse_and_failed_answer():
    [trace] = READER.parse(doc("llm_errors.json"), "x.json")
    StepDAG.from_trace(trace)
    assert shape(trace) == [("PLAN1", []), ("TOOLSEL1", ["PLAN1"]), ("PARAMGEN1", ["TOOLSEL1"]),
                            ("EXEC1", ["PARAMGEN1"]), ("SYNTH1", ["EXEC1"])]
    plan = trace.steps[0]
    assert plan.attempts == 2 and plan.metadata["retry_errors"] == ["Error code: 429 - Rate limit reached"]
    assert plan.usage.input_tokens == 212
    answer = trace.steps[-1]
    assert answer.status == "error" and answer.is_final
    assert answer.error.type == "openai.InternalServerError"
    assert answer.error.message == "Error code: 500 - server error"


def test_langgraph_loop_is_unrolled_by_span_instance():
    [trace] = READER.parse(doc("langgraph_loop.json"), "x.json")
    StepDAG.from_trace(trace)
    assert shape(trace) == [
        ("PLAN1", []), ("TOOLSEL1", ["PLAN1"]), ("PARAMGEN1", ["TOOLSEL1"]), ("EXEC1", ["PARAMGEN1"]),
        ("TOOLSEL2", ["EXEC1"]), ("PARAMGEN2", ["TOOLSEL2"]), ("EXEC2", ["PARAMGEN2"]), ("SYNTH1", ["EXEC2"]),
    ]
    execs = [s for s in trace.steps if s.type is StepType.EXEC]
    assert [e.arguments for e in execs] == [{"query": "population of Paris"}, {"query": "population of Lyon"}]
    assert len({s.metadata["parent_id"] for s in trace.steps if s.type is StepType.EXEC}) == 2
    assert trace.steps[1].metadata["reasoning"] == "Looking up Paris first."
    assert trace.task == "Which city has more inhabitants, Paris or Lyon?"
    assert trace.steps[-1].is_final and "Paris" in trace.steps[-1].output


def test_detection():
    otel, openinference = get_reader("otel"), get_reader("openinference")
    for name in ALL_FILES:
        assert openinference.detect(doc(name)) and not otel.detect(doc(name)), name
    assert not openinference.detect(Document({"data": [{"id": 1}]}, json_lines=False))
    assert not openinference.detect(Document([{"role": "user", "content": "hi"}], json_lines=False))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("start_time", "yesterday", "span a1b2c3d4e5f60718: start_time: not an ISO 8601 time"),
        ("context", "x", "span #1: context: expected an object"),
        ("attributes", [1], "span a1b2c3d4e5f60718: attributes: expected an object"),
        ("events", {}, "span a1b2c3d4e5f60718: events: expected a list"),
    ],
)
def test_malformed_phoenix_spans_name_the_span_and_field(field, value, message):
    data = json.loads(json.dumps(doc("weather_phoenix.json").data))
    row = next(r for r in data["data"] if r["context"]["span_id"] == "a1b2c3d4e5f60718")
    data["data"].remove(row)
    data["data"].insert(1, row)
    row[field] = value
    assert_parse_error(READER, data, message, one_line=False)


def test_bad_token_count():
    data = json.loads(json.dumps(doc("weather_phoenix.json").data))
    data["data"][0]["attributes"]["llm.token_count.prompt"] = "many"
    with pytest.raises(TraceError, match="span e5f60718293a415c: llm.token_count.prompt"):
        READER.parse(Document(data, json_lines=False), "bad.json")


test_random_json_never_crashes = random_json_test(READER, lambda value: [
    Document({"data": [value]}, json_lines=False),
    Document([{"context": {"trace_id": "a", "span_id": "b"}, "span_kind": "LLM",
               "attributes": {"llm.output_messages": value}}], json_lines=True),
], dump=False)
test_wrong_types_in_fields_never_crash = wrong_types_test(READER, [FIXTURES / n for n in ALL_FILES], dump=False)
test_truncated_files_never_crash = truncated_files_test(READER, [FIXTURES / n for n in ALL_FILES], dump=False)


# -- Phoenix's /spans/otlpv1 (tests/fixtures/phoenix/make_otlpv1.py writes the fixture) ------------------

PHOENIX_OTLP = Path(__file__).parent / "fixtures" / "phoenix" / "weather_otlpv1.json"


def _steps(trace):
    return [s.model_dump(exclude={"start_time", "end_time", "metadata"}) for s in trace.steps]


def test_phoenix_otlpv1_page_reads_like_the_camelcase_file():
    """The page holds the spans of weather_otlp.json as Phoenix returns them: bare snake_case spans,
    newest first, every absent field null, numbers for times and ints."""
    page = json.loads(PHOENIX_OTLP.read_text(encoding="utf-8"))
    assert set(page) == {"data", "next_cursor"} and page["data"][0]["dropped_links_count"] is None
    assert page["data"][0]["attributes"][0]["value"]["int_value"] is None  # every AnyValue variant is there
    trace = read_only_trace(PHOENIX_OTLP, "openinference")
    assert_weather_dag(trace)
    assert _steps(trace) == _steps(read_only_trace(FIXTURES / "weather_otlp.json", "openinference"))


def test_phoenix_otlpv1_pages_as_json_lines(tmp_path):
    """Paging through the endpoint and saving each page as a line gives the same trace."""
    page = json.loads(PHOENIX_OTLP.read_text(encoding="utf-8"))
    half = len(page["data"]) // 2
    pages = [{"data": page["data"][:half], "next_cursor": "U3BhbjoxMA=="}, {"data": page["data"][half:], "next_cursor": None}]
    path = tmp_path / "pages.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in pages), encoding="utf-8")
    assert _steps(read_only_trace(path, "openinference")) == _steps(read_only_trace(PHOENIX_OTLP, "openinference"))


def test_snake_case_traces_data_reads_like_the_camelcase_file(tmp_path):
    """Protobuf JSON written with ``preserving_proto_field_name=True``: resource_spans, scope_spans, ..."""
    import re

    def snake(value):
        if isinstance(value, dict):
            return {re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): snake(v) for k, v in value.items()}
        return [snake(v) for v in value] if isinstance(value, list) else value

    path = tmp_path / "snake.json"
    path.write_text(json.dumps(snake(json.loads((FIXTURES / "weather_otlp.json").read_text(encoding="utf-8")))))
    assert "resource_spans" in path.read_text()
    assert _steps(read_only_trace(path, "openinference")) == _steps(read_only_trace(FIXTURES / "weather_otlp.json", "openinference"))


def test_phoenix_otlpv1_page_of_spans_without_openinference_kinds_is_read_as_otel(tmp_path):
    spans = [{"trace_id": "5b8aa5a2d2c872e8321cf37308d69df2", "span_id": f"00000000000000a{n}", "parent_span_id": None,
              "name": name, "start_time_unix_nano": 1749722400000000000 + n, "end_time_unix_nano": 1749722400000000010 + n,
              "attributes": [{"key": k, "value": {"string_value": v, "int_value": None, "bool_value": None}} for k, v in attrs],
              "events": None, "status": {"code": 0, "message": None}}
             for n, (name, attrs) in enumerate([("chat", [("gen_ai.operation.name", "chat")]),
                                                ("execute_tool t", [("gen_ai.operation.name", "execute_tool")])])]
    path = tmp_path / "page.json"
    path.write_text(json.dumps({"data": spans, "next_cursor": None}))
    from agenteval.formats import read_file

    parsed = read_file(path)
    assert parsed.format == "otel" and [s.type.value for s in parsed.traces[0].steps][-1] == "EXEC"
