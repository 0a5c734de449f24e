"""File loading, detection and the native reader."""

import json
from pathlib import Path

import pytest

from agenteval import formats
from agenteval.errors import TraceError
from agenteval.formats import available_formats, expand_paths, get_reader, parse_document, read_file, read_paths
from agenteval.formats.base import load_document
from agenteval.formats.otel import join_logs

STEP = {"id": "s1", "type": "synth", "output": "hi"}
OTEL = Path(__file__).parent / "fixtures" / "otel"


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize(
    "content, ids",
    [
        ({"id": "a", "steps": [STEP]}, ["a"]),
        ([{"id": "a", "steps": [STEP]}, {"id": "b", "steps": [STEP]}], ["a", "b"]),
        ({"traces": [{"id": "a", "steps": [STEP]}]}, ["a"]),
        (json.dumps({"id": "a", "steps": [STEP]}) + "\n\n" + json.dumps({"id": "b", "steps": [STEP]}) + "\n", ["a", "b"]),
    ],
)
def test_native_containers(tmp_path, content, ids):
    parsed = read_file(write(tmp_path, "t.json", content))
    assert parsed.format == "native"
    assert [t.id for t in parsed.traces] == ids
    assert parsed.traces[0].steps[0].type.value == "SYNTH"  # type names are case-insensitive


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "file is empty"),
        ("{\"id\": ", "invalid JSON: Expecting value (line 1, column 8)"),
        ('{"id": "a", "steps": [{"id": "s", "type": "SYNTH"}]}\n{oops\n', "invalid JSON Lines: line 2"),
        ({"hello": "world"}, "not a trace in any known format"),
        ({"id": "a", "steps": [{"id": "s", "type": "DANCE"}]}, "trace 'a': steps.0.type: Input should be"),
        ({"id": "a", "steps": [{"id": "s", "type": "SYNTH", "status": "meh"}]}, "trace 'a': steps.0.status"),
        ({"id": "a", "steps": []}, "trace 'a': steps: List should have at least 1 item"),
    ],
)
def test_bad_files_give_one_line_errors_naming_the_file(tmp_path, content, message):
    path = write(tmp_path, "bad.json", content)
    with pytest.raises(TraceError) as info:
        read_file(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_binary_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TraceError, match="not a text file"):
        read_file(path)


def test_expand_paths_and_read_paths(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    write(tmp_path / "d", "a.json", {"id": "a", "steps": [STEP]})
    write(tmp_path / "d" / "sub", "b.jsonl", json.dumps({"id": "b", "steps": [STEP]}))
    write(tmp_path / "d", "notes.txt", "ignored")
    write(tmp_path / "d", "bad.json", "{")
    (tmp_path / "empty").mkdir()
    files, errors = expand_paths([tmp_path / "d", tmp_path / "missing.json", tmp_path / "empty"])
    assert [f.name for f in files] == ["a.json", "bad.json", "b.jsonl"]
    assert [e.message for e in errors] == ["no such file or directory", "folder holds no .json/.jsonl trace files"]
    parsed, problems = read_paths([tmp_path / "d"])
    assert [t.id for p in parsed for t in p.traces] == ["a", "b"]
    assert len(problems) == 1 and problems[0].source.endswith("bad.json")


def test_registry_and_forced_format(tmp_path):
    assert "native" in available_formats()
    assert get_reader("native").name == "native"
    with pytest.raises(TraceError, match="unknown format 'nope'"):
        get_reader("nope")
    path = write(tmp_path, "t.json", {"id": "a", "steps": [STEP]})
    assert read_file(path, "native").traces[0].id == "a"


def test_otel_companion_log_file_is_joined_not_read_as_a_trace():
    alone, errors = read_paths([OTEL / "weather_no_content.json"])
    joined, errors_joined = read_paths([OTEL / "weather_no_content.json", OTEL / "weather_no_content.logs.json"])
    assert errors == errors_joined == []
    assert len(joined) == 1  # the logs file is a companion, not a trace file
    types = [s.type.value for s in joined[0].traces[0].steps]
    assert types[0] == "PLAN" and len(types) == 8  # the plan text only lives in the log records
    assert [s.type.value for s in alone[0].traces[0].steps][0] == "TOOLSEL"


def test_json_lines_split_only_at_line_ends(tmp_path):
    records = [{"id": "a\u2028b\x85", "steps": [STEP]}, {"id": "c", "steps": [STEP]}]
    path = write(tmp_path, "t.jsonl", "\r\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\r\n")
    assert [t.id for t in read_file(path).traces] == ["a\u2028b\x85", "c"]
    pretty = write(tmp_path, "pretty.jsonl", json.dumps(records[1], indent=2))  # one value over many lines
    assert load_document(pretty).json_lines is False and read_file(pretty).traces[0].id == "c"


def _otlp_lines(tmp_path, name, fixture, key="resourceSpans", inner=("scopeSpans", "spans")):
    """An OTLP fixture as JSON Lines, one record (span or log record) a line, as file exporters write them."""
    lines = []
    for batch in load_document(OTEL / fixture).items():
        for resource in batch[key]:
            for scope in resource[inner[0]]:
                lines += [{key: [{**resource, inner[0]: [{**scope, inner[1]: [one]}]}]} for one in scope[inner[1]]]
    return write(tmp_path, name, "\n".join(json.dumps(line) for line in lines) + "\n")


def _dump(parsed):
    return [(p.path.name, p.format, [t.model_dump(mode="json") for t in p.traces]) for p in parsed]


def test_otlp_json_lines_are_read_line_by_line_with_the_same_result(tmp_path, monkeypatch):
    spans = _otlp_lines(tmp_path, "spans.jsonl", "weather_messages.json")
    bare = _otlp_lines(tmp_path, "bare.jsonl", "weather_no_content.json")
    logs = _otlp_lines(tmp_path, "bare.logs.jsonl", "weather_no_content.logs.json", "resourceLogs",
                       ("scopeLogs", "logRecords"))
    whole = parse_document(spans, load_document(spans))
    joined = parse_document(bare, join_logs(load_document(bare), load_document(logs)))
    loaded = []
    monkeypatch.setattr(formats, "load_document", lambda path: loaded.append(path.name) or load_document(path))
    assert _dump([read_file(spans)]) == _dump([whole])
    parsed, errors = read_paths([bare, logs])
    assert errors == [] and _dump(parsed) == _dump([joined])
    assert loaded == ["bare.logs.jsonl"]  # only the companion is held whole


def test_otlp_json_lines_report_what_whole_files_report(tmp_path):
    spans = _otlp_lines(tmp_path, "spans.jsonl", "weather_messages.json")
    lines = spans.read_text().splitlines()
    broken = json.loads(lines[2])
    broken["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"] = "soon"
    bad = write(tmp_path, "bad.jsonl", "\n".join([*lines[:2], json.dumps(broken), *lines[3:]]))
    health_check = {"traceId": "1" * 32, "spanId": "2" * 16, "name": "GET /health"}
    http = {"resourceSpans": [{"scopeSpans": [{"spans": [health_check]}]}]}
    quiet = write(tmp_path, "quiet.jsonl", json.dumps(http) + "\n" + json.dumps(http))
    for path, message in ((bad, "startTimeUnixNano: expected non-negative integer"), (quiet, "no traces in file")):
        with pytest.raises(TraceError, match=message) as streamed:
            read_file(path)
        with pytest.raises(TraceError) as whole:
            parse_document(path, load_document(path))
        assert str(streamed.value) == str(whole.value) and streamed.value.source == str(path)
