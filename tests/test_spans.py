"""spans_to_trace: the format-independent rules (design/trace-formats.md §3) on hand-built spans."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from format_checks import ARGS1, ARGS2, FUZZ, USER, WEATHER, shape
from hypothesis import given
from hypothesis import strategies as st

from agenteval.dag import StepDAG
from agenteval.errors import TraceError
from agenteval.formats.spans import (
    Msg,
    RawSpan,
    ToolCall,
    decode_args,
    decode_json,
    looks_like_plan,
    ns_from_iso,
    spans_to_trace,
)
from agenteval.models import ErrorInfo, StepType, Trace, Usage

# -- the worked example through RawSpans ------------------------------------------------------------


def weather_spans() -> list[RawSpan]:
    user = Msg("user", USER)
    a1 = Msg("assistant", "Plan: look up the forecast.", tool_calls=[ToolCall("get_weather", "call_1", ARGS1)])
    t1 = Msg("tool", "Error: timed out", tool_call_id="call_1")
    a2 = Msg("assistant", tool_calls=[ToolCall("get_weather", "call_2", ARGS2)])
    t2 = Msg("tool", '{"forecast": "sunny"}', tool_call_id="call_2")
    timeout = ErrorInfo(type="TimeoutError", message="timed out")
    return [
        RawSpan("agent", "agent", name="weather_agent", start_ns=0, end_ns=100, usage=Usage(input_tokens=870)),
        RawSpan("c1", "llm", "agent", start_ns=1_000, end_ns=2_000, inp=[user], out=a1,
                usage=Usage(input_tokens=212, output_tokens=47)),
        RawSpan("t1", "tool", "agent", start_ns=3_000, end_ns=4_000, tool_name="get_weather", tool_call_id="call_1",
                tool_args=ARGS1, status="error", error=timeout),
        RawSpan("c2", "llm", "agent", start_ns=5_000, end_ns=6_000, inp=[user, a1, t1], out=a2,
                usage=Usage(input_tokens=290, output_tokens=26)),
        RawSpan("t2", "tool", "agent", start_ns=7_000, end_ns=8_000, tool_name="get_weather", tool_call_id="call_2",
                tool_args=ARGS2, tool_result={"forecast": "sunny"}),
        RawSpan("c3", "llm", "agent", start_ns=9_000, end_ns=10_000, inp=[user, a1, t1, a2, t2],
                out=Msg("assistant", "It will be sunny."), usage=Usage(input_tokens=368, output_tokens=34)),
    ]


def build(spans: list[RawSpan], **kwargs: Any) -> Trace:
    trace = spans_to_trace(spans, trace_id="t", format_name="test", **kwargs)
    StepDAG.from_trace(trace)
    return trace


def test_worked_example_gives_the_section_8_dag():
    trace = build(weather_spans())
    assert [s.id for s in trace.steps][:3] == ["c1#plan", "c1#toolsel.0", "c1#paramgen.0"]
    assert shape(trace) == [(n, p) for n, _, _, _, p in WEATHER]
    first = trace.steps[0]
    assert first.agent == "weather_agent"
    assert first.metadata["parent_id"] == "agent" and first.metadata["source"]["span_id"] == "c1"
    assert first.start_time == datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc)
    assert "retry_of" not in trace.steps[3].metadata and trace.steps[6].metadata["retry_of"] == "t1#exec"
    assert trace.task == USER and trace.metadata["format"] == "test"


def test_explicit_task_and_tools_are_kept():
    from agenteval.models import Tool

    trace = build(weather_spans(), task="forecast", tools=[Tool(name="get_weather")])
    assert trace.task == "forecast" and trace.tool("get_weather") is not None


def test_caller_spans_are_not_modified():
    spans = [RawSpan("a", "llm", parent="b", out=Msg("assistant", "hi")), RawSpan("b", "chain", parent="a")]
    build(spans)
    assert spans[0].parent == "b" and spans[1].parent == "a"


def test_r1_identical_failed_calls_collapse_into_one_step():
    user = Msg("user", "hi")
    spans = [
        RawSpan("x1", "llm", start_ns=1, inp=[user], status="error", error=ErrorInfo(message="429")),
        RawSpan("x2", "llm", start_ns=2, inp=[user], status="error", error=ErrorInfo(message="503"),
                usage=Usage(input_tokens=5)),
        RawSpan("x3", "llm", start_ns=3, inp=[user], out=Msg("assistant", "hello"), usage=Usage(input_tokens=10)),
    ]
    trace = build(spans)
    assert [(s.id, s.type, s.attempts, s.status) for s in trace.steps] == [("x3#synth", StepType.SYNTH, 3, "ok")]
    assert trace.steps[0].metadata["retry_errors"] == ["429", "503"]
    assert trace.steps[0].usage.input_tokens == 15


def test_r1_different_inputs_are_not_retries():
    spans = [
        RawSpan("x1", "llm", start_ns=1, inp=[Msg("user", "a")], status="error"),
        RawSpan("x2", "llm", start_ns=2, inp=[Msg("user", "b")], out=Msg("assistant", "ok")),
    ]
    trace = build(spans)
    # S3c: a failed call with no output and no tool run after it is a failed answer
    assert [(s.type, s.status, s.is_final) for s in trace.steps] == [
        (StepType.SYNTH, "error", False), (StepType.SYNTH, "ok", True)]
    assert trace.steps[1].parents == [trace.steps[0].id]


@pytest.mark.parametrize(("exec_follows", "expected"), [(True, StepType.TOOLSEL), (False, StepType.SYNTH)])
def test_s3c_failed_call_without_output(exec_follows, expected):
    spans = [RawSpan("x", "llm", start_ns=1, inp=[Msg("user", "a")], status="error",
                     error=ErrorInfo(type="APIError", message="boom"))]
    if exec_follows:
        spans.append(RawSpan("t", "tool", start_ns=2, tool_name="f"))
    trace = build(spans)
    assert trace.steps[0].type is expected and trace.steps[0].status == "error"
    assert trace.steps[0].error.type == "APIError"


def test_s3d_cut_off_output_is_an_error():
    spans = [RawSpan("x", "llm", inp=[Msg("user", "a")], out=Msg("assistant", "half an ans", finish_reason="length"))]
    step = build(spans).steps[0]
    assert step.type is StepType.SYNTH and step.status == "error" and step.error.type == "length"


def test_s6_hidden_content_types_by_structure():
    spans = [
        RawSpan("c1", "llm", start_ns=1, content_missing=True, usage=Usage(input_tokens=3)),
        RawSpan("t1", "tool", start_ns=2, tool_name="f", tool_call_id="k1", tool_args={"a": 1}),
        RawSpan("t2", "tool", start_ns=3, tool_name="g"),
        RawSpan("c2", "llm", start_ns=4, content_missing=True),
        RawSpan("c3", "llm", start_ns=5, content_missing=True),
    ]
    trace = build(spans)
    assert shape(trace) == [
        ("TOOLSEL1", []), ("PARAMGEN1", ["TOOLSEL1"]), ("TOOLSEL2", []), ("PARAMGEN2", ["TOOLSEL2"]),
        ("EXEC1", ["PARAMGEN1"]), ("EXEC2", ["PARAMGEN2"]), ("PLAN1", ["EXEC1", "EXEC2"]), ("SYNTH1", ["PLAN1"]),
    ]
    llm_steps = [s for s in trace.steps if s.type is not StepType.EXEC]
    assert all(s.metadata["content_inferred"] for s in llm_steps)
    assert trace.steps[1].arguments == {"a": 1} and trace.steps[1].tool_call_id == "k1"
    assert trace.steps[0].usage.input_tokens == 3 and trace.steps[2].usage is None


def test_d2_fifo_by_tool_name_and_orphan_exec():
    out = Msg("assistant", tool_calls=[ToolCall("f", None, {"n": 1}), ToolCall("g", None, {"n": 2})])
    spans = [
        RawSpan("c", "llm", start_ns=1, inp=[Msg("user", "go")], out=out),
        RawSpan("tg", "tool", start_ns=2, tool_name="g"),
        RawSpan("tf", "tool", start_ns=3, tool_name="f"),
        RawSpan("tx", "tool", start_ns=4, tool_name="cleanup"),
    ]
    trace = build(spans)
    parents = {s.id: s.parents for s in trace.steps}
    assert parents["tg#exec"] == ["c#paramgen.1"] and parents["tf#exec"] == ["c#paramgen.0"]
    assert parents["tx#exec"] == ["tf#exec"]
    orphan = trace.steps[-1]
    assert orphan.metadata["invoked_by"] == "code" and orphan.metadata["bound_by"] == "code"
    assert trace.steps[-3].arguments == {"n": 2}  # EXEC without arguments takes its PARAMGEN's


def test_r3_same_call_id_executed_twice():
    out = Msg("assistant", tool_calls=[ToolCall("f", "k", {})])
    spans = [
        RawSpan("c", "llm", start_ns=1, inp=[Msg("user", "go")], out=out),
        RawSpan("t1", "tool", start_ns=2, tool_name="f", tool_call_id="k", status="error"),
        RawSpan("t2", "tool", start_ns=3, tool_name="f", tool_call_id="k", tool_result="ok"),
        RawSpan("c2", "llm", start_ns=4, inp=[Msg("user", "go"), out, Msg("tool", "ok", tool_call_id="k")],
                out=Msg("assistant", "done")),
    ]
    trace = build(spans)
    assert shape(trace) == [("TOOLSEL1", []), ("PARAMGEN1", ["TOOLSEL1"]), ("EXEC1", ["PARAMGEN1"]),
                            ("EXEC2", ["EXEC1"]), ("SYNTH1", ["EXEC2"])]
    assert trace.steps[3].metadata["bound_by"] == "reexecution"


def test_r5_duplicate_records_merge():
    start = RawSpan("c", "llm", start_ns=1, inp=[Msg("user", "hi")], seq=0)
    end = RawSpan("c", "llm", start_ns=1, end_ns=9, out=Msg("assistant", "hello"), usage=Usage(output_tokens=2), seq=5)
    trace = build([start, end, end])
    assert len(trace.steps) == 1
    step = trace.steps[0]
    assert step.output == "hello" and step.input == [{"role": "user", "content": "hi"}]
    assert step.usage.output_tokens == 2


def test_r6_unknown_parent_and_parent_cycle():
    spans = [
        RawSpan("a", "agent", parent="b", start_ns=1),
        RawSpan("b", "agent", parent="a", start_ns=2),
        RawSpan("c", "llm", parent="a", start_ns=3, out=Msg("assistant", "x")),
        RawSpan("d", "llm", parent="nowhere", start_ns=4, out=Msg("assistant", "y")),
    ]
    trace = build(spans)
    assert any("cycle" in w for w in trace.metadata["warnings"])
    assert trace.steps[0].metadata["scope"] == "a" and trace.steps[1].metadata["parent_id"] is None


def test_d4_plan_only_call_then_tool_call():
    spans = [
        RawSpan("c1", "llm", start_ns=1, inp=[Msg("user", "go")], out=Msg("assistant", "first I will think")),
        RawSpan("c2", "llm", start_ns=2, inp=[Msg("user", "go")],
                out=Msg("assistant", "now", tool_calls=[ToolCall("f", "k")])),
        RawSpan("t", "tool", start_ns=3, tool_name="f", tool_call_id="k"),
    ]
    trace = build(spans)
    assert shape(trace) == [
        ("PLAN1", []), ("TOOLSEL1", ["PLAN1"]), ("PARAMGEN1", ["TOOLSEL1"]), ("EXEC1", ["PARAMGEN1"])]
    assert trace.steps[1].metadata["reasoning"] == "now"
    assert not any(s.is_final for s in trace.steps)


def test_s4_plan_marker_from_a_wrapping_chain():
    spans = [
        RawSpan("c1", "llm", start_ns=1, inp=[Msg("user", "go")], out=Msg("assistant", "hello")),
        RawSpan("p", "chain", name="plan step", start_ns=2),
        RawSpan("c2", "llm", "p", start_ns=3, out=Msg("assistant", "new plan", tool_calls=[ToolCall("f", "k")])),
        RawSpan("c3", "llm", start_ns=4, out=Msg("assistant", '{"plan": ["a", "b"]}')),
        RawSpan("c4", "llm", start_ns=5, out=Msg("assistant", "done")),
    ]
    types = [s.type for s in build(spans).steps]
    assert types == [StepType.PLAN, StepType.PLAN, StepType.TOOLSEL, StepType.PARAMGEN, StepType.PLAN, StepType.SYNTH]
    assert looks_like_plan("Planner") and looks_like_plan("make_plan") and not looks_like_plan("explanation")


def test_d5_sub_agent_under_a_tool():
    user = Msg("user", "research this")
    call = Msg("assistant", tool_calls=[ToolCall("researcher", "k", {"q": "x"})])
    spans = [
        RawSpan("root", "agent", name="boss", start_ns=0),
        RawSpan("c1", "llm", "root", start_ns=1, inp=[user], out=call),
        RawSpan("t", "tool", "root", start_ns=2, end_ns=9, tool_name="researcher", tool_call_id="k"),
        RawSpan("sub", "agent", "t", name="researcher", start_ns=3),
        RawSpan("s1", "llm", "sub", start_ns=4, inp=[Msg("user", "x")], out=Msg("assistant", "found it")),
        RawSpan("c2", "llm", "root", start_ns=10, inp=[user, call, Msg("tool", "found it", tool_call_id="k")],
                out=Msg("assistant", "answer")),
    ]
    trace = build(spans)
    assert [s.id for s in trace.steps] == ["c1#toolsel.0", "c1#paramgen.0", "s1#synth", "t#exec", "c2#synth"]
    parents = {s.id: s.parents for s in trace.steps}
    assert parents["s1#synth"] == ["c1#paramgen.0"]
    assert parents["t#exec"] == ["c1#paramgen.0", "s1#synth"] and parents["c2#synth"] == ["t#exec"]
    assert trace.steps[3].output == "found it"
    assert [s.id for s in trace.steps if s.is_final] == ["c2#synth"]
    assert trace.steps[2].agent == "researcher" and trace.steps[4].agent == "boss"


def test_d5_sub_agent_without_a_tool_feeds_the_next_call():
    spans = [
        RawSpan("c1", "llm", start_ns=1, inp=[Msg("user", "go")], out=Msg("assistant", "delegating")),
        RawSpan("sub", "agent", start_ns=2),
        RawSpan("s1", "llm", "sub", start_ns=3, inp=[Msg("user", "do")], out=Msg("assistant", "done")),
        RawSpan("c2", "llm", start_ns=4, inp=[Msg("user", "go")], out=Msg("assistant", "all done")),
    ]
    trace = build(spans)
    assert shape(trace) == [("PLAN1", []), ("SYNTH1", ["PLAN1"]), ("SYNTH2", ["SYNTH1"])]
    assert [s.is_final for s in trace.steps] == [False, False, True]


def test_multi_turn_chat_has_one_synth_per_turn_and_one_final():
    spans = [
        RawSpan("c1", "llm", start_ns=1, inp=[Msg("user", "hi")], out=Msg("assistant", "hello")),
        RawSpan("c2", "llm", start_ns=2, inp=[Msg("user", "hi"), Msg("assistant", "hello"), Msg("user", "bye")],
                out=Msg("assistant", "goodbye")),
    ]
    trace = build(spans)
    assert [(s.type, s.is_final) for s in trace.steps] == [(StepType.SYNTH, False), (StepType.SYNTH, True)]


def test_aux_spans_become_annotations():
    spans = [
        RawSpan("e", "aux", name="embeddings", kind_raw="embeddings", start_ns=1),
        RawSpan("c", "llm", start_ns=2, inp=[Msg("user", "go")], out=Msg("assistant", "x", tool_calls=[ToolCall("f")])),
        RawSpan("t", "tool", start_ns=3, tool_name="f"),
        RawSpan("inner", "llm", "t", start_ns=4, out=Msg("assistant", "tool-internal call")),
        RawSpan("late", "aux", start_ns=99),
    ]
    trace = build(spans)
    notes = {s.id: s.metadata.get("annotations") for s in trace.steps}
    assert notes["c#plan"] == [{"span_id": "e", "name": "embeddings", "kind": "embeddings"}]
    assert notes["t#exec"][0]["span_id"] == "inner"
    assert trace.metadata["annotations"][0]["span_id"] == "late"
    assert len(trace.steps) == 4


def test_untimed_spans_follow_file_order():
    spans = [RawSpan("b", "llm", seq=0, out=Msg("assistant", "one")),
             RawSpan("a", "llm", seq=1, out=Msg("assistant", "two"))]
    assert [s.id for s in build(spans).steps] == ["b#plan", "a#synth"]


def test_a_trace_without_steps_is_a_trace_error():
    with pytest.raises(TraceError, match="trace t: no LLM or tool spans"):
        spans_to_trace([RawSpan("a", "agent"), RawSpan("e", "aux")], trace_id="t", format_name="f")


def test_time_out_of_range_is_a_trace_error():
    with pytest.raises(TraceError, match="span x"):
        spans_to_trace([RawSpan("x", "llm", start_ns=10**30)], trace_id="t", format_name="f")


def test_decoders():
    assert decode_args('{"a": 1}') == ({"a": 1}, '{"a": 1}')
    assert decode_args("not json") == ("not json", "not json")
    assert decode_args({"a": 1}) == ({"a": 1}, None)
    assert decode_json("[1, 2]") == [1, 2] and decode_json("12") == "12" and decode_json("{bad") == "{bad"
    assert ns_from_iso("1970-01-01T00:00:01Z", "x") == 10**9
    assert ns_from_iso("1970-01-01T00:00:01.000001", "x") == 10**9 + 1000
    with pytest.raises(TraceError, match="start_time"):
        ns_from_iso("yesterday", "start_time")


# -- property: any span soup gives a valid DAG ---------------------------------------------------------

_names = st.sampled_from(["f", "g", ""])
_call_ids = st.sampled_from([None, "k1", "k2"])
_msgs = st.builds(
    Msg,
    role=st.sampled_from(["user", "assistant", "tool", "system"]),
    text=st.sampled_from(["", "hi", "plan"]),
    tool_calls=st.lists(st.builds(ToolCall, name=_names, id=_call_ids, args=st.none() | st.just({"a": 1})), max_size=2),
    tool_call_id=_call_ids,
    finish_reason=st.sampled_from([None, "stop", "length"]),
)


@st.composite
def span_soups(draw: Any) -> list[RawSpan]:
    ids = [f"s{i}" for i in range(draw(st.integers(0, 10)))]
    spans = []
    for index, span_id in enumerate(ids):
        start = draw(st.none() | st.integers(0, 20))
        spans.append(RawSpan(
            id=span_id,
            kind=draw(st.sampled_from(["llm", "tool", "agent", "chain", "aux"])),
            parent=draw(st.none() | st.sampled_from([*ids, "gone"])),
            name=draw(st.sampled_from(["", "planner", "x"])),
            start_ns=start,
            end_ns=None if start is None else start + draw(st.integers(0, 5)),
            seq=index,
            status=draw(st.sampled_from(["ok", "error", "timeout"])),
            inp=draw(st.lists(_msgs, max_size=3)),
            out=draw(st.none() | _msgs),
            usage=draw(st.none() | st.just(Usage(input_tokens=1))),
            tool_name=draw(_names),
            tool_call_id=draw(_call_ids),
            content_missing=draw(st.booleans()),
        ))
    return spans + draw(st.lists(st.sampled_from(spans), max_size=2)) if spans else spans


@FUZZ
@given(span_soups())
def test_any_spans_give_a_valid_dag(spans):
    try:
        trace = spans_to_trace(spans, trace_id="t", format_name="fuzz")
    except TraceError as exc:
        assert "no LLM or tool spans" in str(exc)
        return
    dag = StepDAG.from_trace(trace)
    assert len(dag) == len(trace.steps)
    by_id = {s.id: s for s in trace.steps}
    for step in trace.steps:
        if step.type is StepType.PARAMGEN:
            assert [by_id[p].type for p in step.parents] == [StepType.TOOLSEL]
        if step.type is StepType.EXEC:
            assert sum(by_id[p].type is StepType.PARAMGEN for p in step.parents) <= 1
    assert sum(s.is_final for s in trace.steps) <= 1
    llm_ids = {s.id for s in spans if s.kind == "llm"}
    assert sum(s.usage is not None for s in trace.steps) <= len(llm_ids)
    json.dumps(trace.model_dump(mode="json"))
