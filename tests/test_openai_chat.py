from pathlib import Path

import pytest
from format_checks import read_only_trace

from agenteval.dag import StepDAG
from agenteval.errors import TraceError
from agenteval.formats import BUILTIN_FORMATS, get_reader, read_file
from agenteval.formats.base import Document
from agenteval.formats.openai_chat import READER, detect, messages_to_trace
from agenteval.models import StepType

FIXTURES = Path(__file__).parent / "fixtures" / "openai_chat"

# trace-formats.md §8: the canonical 8-step DAG of the worked example, keyed by our step ids
# (message index of the first step of each message).
WEATHER_DAG = {
    "2": (StepType.PLAN, []),
    "2.toolsel0": (StepType.TOOLSEL, ["2"]),
    "2.paramgen0": (StepType.PARAMGEN, ["2.toolsel0"]),
    "3": (StepType.EXEC, ["2.paramgen0"]),
    "4": (StepType.TOOLSEL, ["3"]),
    "4.paramgen0": (StepType.PARAMGEN, ["4"]),
    "5": (StepType.EXEC, ["4.paramgen0"]),
    "6": (StepType.SYNTH, ["5"]),
}


def judged_graph(trace):
    judged = {s.id for s in trace.steps if s.type.judged}
    return {s.id: (s.type, [p for p in s.parents if p in judged]) for s in trace.steps if s.id in judged}


def test_registered_after_native():
    names = list(BUILTIN_FORMATS)
    assert names.index("openai-chat") > names.index("native")
    assert get_reader("openai-chat") is READER


def test_worked_example_parses_to_the_canonical_dag():
    trace = read_only_trace(FIXTURES / "weather.json", "openai-chat")
    StepDAG.from_trace(trace)
    assert judged_graph(trace) == WEATHER_DAG
    steps = {s.id: s for s in trace.steps}
    assert steps["0"].type is StepType.SYSTEM and steps["1"].type is StepType.USER
    assert steps["2"].parents == ["0", "1"]
    assert steps["2.toolsel0"].tool == "get_weather" and steps["2.toolsel0"].tool_call_id == "call_w1"
    assert steps["2.paramgen0"].arguments == {"city": "Paris", "date": "2025-06-12"}
    assert steps["4.paramgen0"].arguments == {"city": "Paris", "date": "2025-06-12", "units": "metric"}
    assert steps["3"].status == "error" and steps["3"].error.type == "TimeoutError"
    assert steps["5"].status == "ok" and steps["5"].error is None
    assert [s.id for s in trace.steps if s.is_final] == ["6"]
    assert all(s.metadata["message_index"] == int(s.id.split(".")[0]) for s in trace.steps)
    assert trace.task == "What will the weather be in Paris on 2025-06-12?"
    assert [t.name for t in trace.tools] == ["get_weather"]
    assert trace.tools[0].parameters["required"] == ["city", "date"]
    assert steps["2"].model == "gpt-4o-2024-08-06"


def test_parallel_calls_bind_by_call_id_and_join_in_the_next_call():
    first, second = read_file(FIXTURES / "parallel.jsonl").traces
    assert (first.id, second.id) == ("parallel-1", "parallel-2")
    steps = {s.id: s for s in first.steps}
    assert [s.id for s in first.steps] == ["0", "1", "1.paramgen0", "1.toolsel1", "1.paramgen1", "2", "3", "4"]
    assert steps["1"].parents == ["0"] and steps["1.toolsel1"].parents == ["0"]
    # Results arrive in the opposite order of the calls; the ids still pair them up.
    assert steps["2"].parents == ["1.paramgen1"] and steps["2"].arguments == {"city": "Rome"}
    assert steps["3"].parents == ["1.paramgen0"] and steps["3"].arguments == {"city": "Oslo"}
    assert steps["3"].status == "error" and steps["3"].error.type == "NotFound"
    assert steps["2"].status == "ok"
    assert steps["4"].type is StepType.SYNTH and steps["4"].parents == ["2", "3"] and steps["4"].is_final
    assert [s.type for s in second.steps] == [StepType.USER, StepType.SYNTH]


def test_bare_message_list_multi_turn_and_error_heuristics():
    (trace,) = read_file(FIXTURES / "bare_list.json").traces
    assert trace.id == "bare_list"
    steps = {s.id: s for s in trace.steps}
    StepDAG.from_trace(trace)
    assert steps["1"].type is StepType.PLAN  # first assistant message: text + call -> PLAN first
    assert steps["1.paramgen0"].arguments == '{"a": 2, "b": 3'  # invalid JSON kept as given
    assert steps["1.paramgen0"].metadata["arguments_raw"] == '{"a": 2, "b": 3'
    assert steps["2"].status == "error"  # Traceback
    assert steps["3"].type is StepType.PLAN  # text followed by another assistant call
    assert steps["3"].parents == ["2"]
    assert steps["4"].parents == ["3"]  # D4: nothing arrived since the plan-only call
    assert steps["6"].type is StepType.SYNTH and not steps["6"].is_final
    assert steps["7"].type is StepType.USER and steps["7"].parents == ["6"]
    assert steps["8"].type is StepType.SYNTH and steps["8"].is_final and steps["8"].parents == ["7"]


def test_later_text_with_a_call_is_reasoning_not_a_plan():
    trace = messages_to_trace(
        [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "a", "content": "ok"},
            {
                "role": "assistant",
                "content": "now g",
                "tool_calls": [{"id": "b", "function": {"name": "g", "arguments": "{}"}}],
            },
        ],
        trace_id="t",
    )
    steps = {s.id: s for s in trace.steps}
    assert steps["3"].type is StepType.TOOLSEL and steps["3"].metadata["reasoning"] == "now g"
    assert steps["3"].parents == ["2"]


def test_taubench_results_become_one_trace_per_run():
    traces = read_file(FIXTURES / "taubench_run.json").traces
    assert [t.id for t in traces] == ["task-7-trial-0", "task-8-trial-0"]
    ok, failed = traces
    assert ok.metadata["reward"] == 1.0 and failed.metadata["reward"] == 0.0
    assert ok.expected_outcome == "shipped"
    steps = {s.id: s for s in failed.steps}
    assert steps["3"].status == "error" and steps["3"].tool == "cancel_pending_order"
    assert steps["4"].type is StepType.SYNTH and steps["4"].is_final
    assert steps["5"].type is StepType.USER and steps["5"].parents == ["4"]


def test_index_base_and_legacy_function_role():
    trace = messages_to_trace(
        [
            {"role": "system", "content": "policy"},
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": None, "function_call": {"name": "lookup", "arguments": '{"k": 1}'}},
            {"role": "function", "name": "lookup", "content": "value"},
            {"role": "assistant", "content": "value it is"},
        ],
        trace_id="legacy",
        index_base=1,
    )
    steps = {s.id: s for s in trace.steps}
    assert list(steps) == ["1", "2", "3", "3.paramgen0", "4", "5"]
    assert steps["4"].parents == ["3.paramgen0"] and steps["4"].tool == "lookup"
    assert steps["5"].parents == ["4"] and steps["5"].metadata["message_index"] == 5


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, True),
        ([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}], True),
        ([{"task_id": 1, "traj": [], "reward": 1.0}], True),
        ({"id": "t", "steps": [{"id": "a", "type": "PLAN"}]}, False),
        ({"resourceSpans": []}, False),
        ([{"role": "human", "content": "q"}, {"role": "Orchestrator (thought)", "content": "plan"}], False),
        ([1, 2, 3], False),
    ],
)
def test_detect(data, expected):
    assert detect(Document(data, json_lines=False)) is expected


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([{"role": "wizard", "content": "x"}], "trace t: message 0: unknown role 'wizard'"),
        (["not a message"], "trace t: message 0: expected an object, got str"),
    ],
)
def test_malformed_messages_raise_trace_errors(messages, message):
    with pytest.raises(TraceError) as caught:
        messages_to_trace(messages, trace_id="t")
    assert str(caught.value) == message


def test_malformed_file_names_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"messages": [{"role": "alien", "content": "x"}]}')
    with pytest.raises(TraceError) as caught:
        read_file(path, format="openai-chat")
    assert str(caught.value).startswith(str(path)) and "unknown role" in str(caught.value)
