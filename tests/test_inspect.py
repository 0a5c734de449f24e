"""The Inspect AI eval log reader (design/trace-formats.md §4.7, §10), JSON and .eval zip."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from format_checks import (
    assert_parse_error,
    assert_weather_dag,
    check_detection,
    cli_parse_json,
    random_json_test,
    read_only_trace,
    shape,
    truncated_files_test,
    wrong_types_test,
)

from agenteval.dag import StepDAG
from agenteval.errors import TraceError
from agenteval.formats import get_reader, read_file, read_paths
from agenteval.formats.base import Document, load_document
from agenteval.formats.inspect import READER
from agenteval.models import StepType

FIXTURES = Path(__file__).parent / "fixtures"
HERE = FIXTURES / "inspect"
WEATHER_FILES = [
    "weather.json",  # inline model inputs, tool spans around tool events, a scorer with its own model call
    "weather_refs.json",  # 0.3.285: empty inputs with input_refs into a message pool, attachment:// strings
]
ALL_FILES = [*WEATHER_FILES, "scenarios.json"]


def doc(name: str) -> Document:
    return load_document(HERE / name)


def traces_of(name: str) -> dict[str, Any]:
    traces = READER.parse(doc(name), name)
    for trace in traces:
        StepDAG.from_trace(trace)
    return {t.id: t for t in traces}


def write_eval(path: Path, log: dict[str, Any]) -> Path:
    """An .eval zip as Inspect writes it: header.json, samples/{id}_epoch_{n}.json, summaries, a journal."""
    header = {k: v for k, v in log.items() if k != "samples"}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("_journal/start.json", json.dumps({"version": 2, "eval": log["eval"]}))
        for sample in log["samples"]:
            archive.writestr(f"samples/{sample['id']}_epoch_{sample['epoch']}.json", json.dumps(sample))
        archive.writestr("summaries.json", json.dumps([{"id": s["id"], "epoch": s["epoch"]} for s in log["samples"]]))
        archive.writestr("header.json", json.dumps(header))
    return path


@pytest.mark.parametrize("name", WEATHER_FILES)
def test_worked_example_parses_to_the_section_8_dag(name):
    trace = read_only_trace(HERE / name, "inspect")
    assert trace.id == "weather/1/1"
    assert_weather_dag(trace)


@pytest.mark.parametrize("path", sorted((FIXTURES / "real" / "inspect").glob("*.json")), ids=lambda p: p.name)
def test_real_exporter_output(path):
    """inspect-ai 0.3.285 against a scripted model (fixtures/real/generate.py): input_refs into the message
    pool, the tool's own span next to the tool event, Python's TimeoutError as {"type": "timeout"}."""
    trace = read_only_trace(path, "inspect")
    assert trace.id == "weather/paris/1" and trace.expected_outcome == "sunny"
    assert_weather_dag(trace)
    failed = trace.steps[3]
    assert failed.metadata["source"]["span_kind_raw"] == "tool" and failed.metadata["parent_id"] is not None
    assert failed.metadata["attributes"]["error_type_raw"] == "timeout"
    assert [len(s.input) for s in trace.steps if s.type in (StepType.PLAN, StepType.SYNTH)] == [2, 6]
    assert trace.metadata["scores"] == {"includes": "C"}


def test_eval_zip(tmp_path):
    path = write_eval(tmp_path / "weather.eval", doc("weather.json").data)
    parsed = read_file(path)
    assert parsed.format == "inspect"
    assert_weather_dag(parsed.traces[0])
    files, errors = read_paths([tmp_path])  # .eval files are found in folders too
    assert errors == [] and [f.path.name for f in files] == ["weather.eval"]


def test_bad_zips_are_trace_errors(tmp_path):
    broken = tmp_path / "broken.eval"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(TraceError, match="not a readable zip archive"):
        load_document(broken)
    bad_member = tmp_path / "member.eval"
    with zipfile.ZipFile(bad_member, "w") as archive:
        archive.writestr("header.json", "{nope")
    with pytest.raises(TraceError, match="zip member header.json: invalid JSON") as caught:
        load_document(bad_member)
    assert caught.value.source == str(bad_member)
    unfinished = tmp_path / "unfinished.eval"  # no header.json yet: the journal names the eval
    with zipfile.ZipFile(write_eval(tmp_path / "w.eval", doc("weather.json").data)) as full, zipfile.ZipFile(
            unfinished, "w") as archive:
        for name in full.namelist():
            if name != "header.json":
                archive.writestr(name, full.read(name))
    assert_weather_dag(read_file(unfinished).traces[0])
    header_only = write_eval(tmp_path / "empty.eval", {**doc("weather.json").data, "samples": []})
    with pytest.raises(TraceError, match="no traces in file"):
        read_file(header_only)


def test_details_of_the_worked_example():
    trace = traces_of("weather.json")["weather/1/1"]
    plan, failed, done = trace.steps[0], trace.steps[3], trace.steps[6]
    assert plan.model == "gpt-4o-mini-2024-07-18"  # the actual model, not the provider-prefixed request
    assert plan.start_time.isoformat() == "2025-06-12T10:00:00.100000+00:00"  # -04:00 normalised to UTC
    assert plan.input[0] == {"role": "system", "content": plan.input[0]["content"]}
    assert failed.id == "sp_t1#exec" and failed.tool_call_id == "call_w1"
    assert (failed.error.type, failed.error.message) == ("TimeoutError", "Command timed out before completing.")
    assert failed.metadata["attributes"]["error_type_raw"] == "timeout"
    assert done.output["forecast"] == "sunny"
    assert trace.expected_outcome == "sunny"
    assert trace.tools[0].name == "get_weather" and trace.tools[0].parameters["required"] == ["city", "date"]
    meta = trace.metadata
    assert (meta["eval_id"], meta["sample_id"], meta["epoch"], meta["scores"]) == (
        "weatherEvalId01", 1, 1, {"model_graded_qa": "C"})


def test_scorer_calls_are_not_agent_steps():
    trace = traces_of("weather.json")["weather/1/1"]
    assert not any("GRADE" in str(s.output) for s in trace.steps)
    assert sum(s.usage.input_tokens for s in trace.steps if s.usage) == 870  # not 870 + the grader's 150


def test_refs_and_attachments_are_resolved():
    trace = traces_of("weather_refs.json")["weather/1/1"]
    assert trace.steps[0].output.startswith("Plan:") and trace.steps[0].input[0]["content"].startswith("You are")
    assert [len(s.input) for s in trace.steps if s.type in (StepType.PLAN, StepType.SYNTH)] == [2, 6]
    assert trace.tools[0].description == "Weather forecast for a city on a date."


def test_one_trace_per_sample_and_epoch():
    assert list(traces_of("scenarios.json")) == ["scenarios/handoff/1", "scenarios/parallel/1", "scenarios/loop/1",
                                                  "scenarios/errors/1", "scenarios/transcript/2"]


def test_sub_agent_run_inside_a_handoff_tool():
    trace = traces_of("scenarios.json")["scenarios/handoff/1"]
    assert shape(trace) == [
        ("TOOLSEL1", []), ("PARAMGEN1", ["TOOLSEL1"]), ("TOOLSEL2", ["PARAMGEN1"]), ("PARAMGEN2", ["TOOLSEL2"]),
        ("EXEC1", ["PARAMGEN2"]), ("SYNTH1", ["EXEC1"]), ("EXEC2", ["PARAMGEN1", "SYNTH1"]), ("SYNTH2", ["EXEC2"]),
    ]
    assert [s.agent for s in trace.steps] == ["supervisor"] * 2 + ["researcher"] * 4 + ["supervisor"] * 2
    handoff = trace.steps[6]
    assert (handoff.id, handoff.tool) == ("sp_h#exec", "transfer_to_researcher")
    assert [s.is_final for s in trace.steps].count(True) == 1 and trace.steps[-1].is_final


def test_parallel_calls_bind_by_call_id():
    trace = traces_of("scenarios.json")["scenarios/parallel/1"]
    assert shape(trace) == [
        ("TOOLSEL1", []), ("PARAMGEN1", ["TOOLSEL1"]), ("TOOLSEL2", []), ("PARAMGEN2", ["TOOLSEL2"]),
        ("EXEC1", ["PARAMGEN2"]), ("EXEC2", ["PARAMGEN1"]), ("SYNTH1", ["EXEC1", "EXEC2"]),
    ]
    execs = [s for s in trace.steps if s.type is StepType.EXEC]  # same start: the one that ended first comes first
    assert [(e.id, e.arguments["city"], e.output) for e in execs] == [
        ("sp_tl#exec", "London", {"forecast": "rain"}), ("sp_tp#exec", "Paris", {"forecast": "sunny"})]


def test_a_loop_is_unrolled():
    trace = traces_of("scenarios.json")["scenarios/loop/1"]
    assert [s.type.value for s in trace.steps] == ["PLAN"] + ["TOOLSEL", "PARAMGEN", "EXEC"] * 3 + ["SYNTH"]
    assert [s.tool_call_id for s in trace.steps if s.type is StepType.EXEC] == ["call_1", "call_2", "call_3"]
    assert all(s.output == [] for s in trace.steps if s.type is StepType.EXEC)


def test_errors_retries_and_a_failed_sample():
    trace = traces_of("scenarios.json")["scenarios/errors/1"]
    assert shape(trace) == [("TOOLSEL1", []), ("PARAMGEN1", ["TOOLSEL1"]), ("EXEC1", ["PARAMGEN1"]),
                            ("SYNTH1", ["EXEC1"])]
    sel, gen, exec_, synth = trace.steps
    assert sel.attempts == gen.attempts == 3  # ModelEvent.retries = 2
    assert exec_.status == "error" and exec_.error.type == "parsing" and "'date'" in exec_.error.message
    assert synth.status == "error" and synth.error.message.startswith("RateLimitError")
    assert trace.metadata["error"].startswith("RateLimitError")


def test_messages_are_the_fallback_without_events():
    trace = traces_of("scenarios.json")["scenarios/transcript/2"]
    assert shape(trace) == [("PLAN1", []), ("TOOLSEL1", ["PLAN1"]), ("PARAMGEN1", ["TOOLSEL1"]),
                            ("EXEC1", ["PARAMGEN1"]), ("SYNTH1", ["EXEC1"])]
    assert trace.steps[0].output == "I need the rate."  # a reasoning part
    assert trace.steps[3].arguments == {"amount": 100, "from": "USD", "to": "EUR"} and trace.steps[3].output == "93.00"
    assert trace.steps[-1].output == "100 USD is 93.00 EUR." and trace.expected_outcome == "93.00 EUR"
    assert trace.task == "Convert 100 USD to EUR."


def test_detection_across_all_fixtures(tmp_path):
    reader = get_reader("inspect")
    _, mine = check_detection("inspect", lambda path: path.parent.name == "inspect" or path.suffix == ".eval",
                              [write_eval(tmp_path / "w.eval", doc("weather.json").data)])
    assert mine == len(ALL_FILES) + 1 + len(list((FIXTURES / "real" / "inspect").glob("*")))
    assert not reader.detect(Document({"eval": "x", "samples": []}, json_lines=False))
    assert not reader.detect(Document([{"eval": {}, "samples": []}], json_lines=True))


def test_cli_parse_json():
    trace = cli_parse_json(HERE / "weather.json")
    assert trace["trace_id"] == "weather/1/1" and trace["format"] == "inspect"
    assert [s["type"] for s in trace["steps"]] == ["PLAN", "TOOLSEL", "PARAMGEN", "EXEC", "TOOLSEL", "PARAMGEN",
                                                   "EXEC", "SYNTH"]
    assert trace["steps"][3]["status"] == "error"


def _model_event(log: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in log["samples"][0]["events"] if e["event"] == "model")


def _tool_event(log: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in log["samples"][0]["events"] if e["event"] == "tool")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(samples=5), r"bad.json: samples: expected a list"),
        (lambda d: d["samples"].__setitem__(0, 5), r"sample #0: expected an object"),
        (lambda d: d["samples"][0].update(events={}), r"sample 1 \(epoch 1\): events: expected a list"),
        (lambda d: _model_event(d).update(timestamp="soon"), r"event #4 \(model\): timestamp: not an ISO 8601"),
        (lambda d: _model_event(d)["output"]["usage"].update(input_tokens=-1), r"output.usage.input_tokens"),
        (lambda d: _model_event(d).update(input=[], input_refs=[["a", 1]]), r"input_refs: expected \[start, end\]"),
        (lambda d: _model_event(d).update(output=[]), r"event #4 \(model\): output: expected an object"),
        (lambda d: _tool_event(d).update(error=5), r"event #7 \(tool\): error: expected an object"),
        (lambda d: _model_event(d)["input"].__setitem__(0, "hi"), r"input #0: expected an object"),
    ],
)
def test_malformed_logs_name_the_sample_event_and_field(mutate, message):
    data = json.loads(json.dumps(doc("weather.json").data))
    mutate(data)
    assert_parse_error(READER, data, message)


test_random_json_never_crashes = random_json_test(READER, lambda value: [
    Document({"eval": {"task": "t"}, "samples": [value]}, json_lines=False),
    Document({"eval": {}, "samples": [{"id": 1, "events": [
        {"event": "model", "output": {"choices": [{"message": value}]}}, {"event": "tool", "result": value}]}]},
        json_lines=False),
])
test_wrong_types_in_fields_never_crash = wrong_types_test(READER, [HERE / n for n in ALL_FILES])
test_truncated_files_never_crash = truncated_files_test(READER, [HERE / n for n in ALL_FILES])
