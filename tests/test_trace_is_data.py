"""A trace is data, never an instruction to the machine: tool schemas from a trace cannot make the
rules judge fetch a URL, read a file or backtrack for minutes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from typer.testing import CliRunner

from agenteval.cli import app
from agenteval.dag import StepDAG
from agenteval.judges.base import StepContext
from agenteval.judges._arguments import SchemaNotCheckedError, schema_violations, undeclared_parameters
from agenteval.judges.rules import judge_step_sync
from agenteval.models import Judgment, Step, Tool, Trace
from agenteval.store import open_store

from helpers import trace


def st(step_id: str, step_type: str, **fields) -> Step:
    return Step(id=step_id, type=step_type, **fields)


def judge_one(step: Step, tools: list[Tool]) -> Judgment:
    """The rules judgment of a single step in a one-step trace."""
    one = Trace(id="t", steps=[step], tools=tools)
    dag = StepDAG.from_trace(one)
    return judge_step_sync(StepContext(one, dag, dag.step(step.id)))


class _Recorder(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        type(self).requests.append(self.path)
        body = json.dumps({"type": "string", "description": "served by the test"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_server():
    """A local HTTP server that records every request it gets (there must be none)."""
    _Recorder.requests = []
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.requests
    server.shutdown()
    server.server_close()


def _schema_with_ref(ref: str) -> dict:
    return {"type": "object", "properties": {"city": {"$ref": ref}}, "required": ["city"]}


def test_remote_ref_is_refused_and_never_fetched(http_server):
    base, requests = http_server
    url = f"{base}/schema.json"
    with pytest.raises(SchemaNotCheckedError, match="points outside the schema"):
        schema_violations({"city": "Paris"}, _schema_with_ref(url))
    tool = Tool(name="weather", parameters=_schema_with_ref(url))
    judgment = judge_one(st("p", "PARAMGEN", tool="weather", arguments={"city": "Paris"}), tools=[tool])
    assert not judgment.assessed
    assert "weather's parameter schema was not checked: $ref " in judgment.reason
    assert "nothing is fetched or read" in judgment.reason
    assert "\n" not in judgment.reason
    assert requests == []


def test_file_ref_is_refused_and_never_read(tmp_path):
    secret_file = tmp_path / "private.json"
    secret_file.write_text(json.dumps({"type": "string", "description": "CONTENT-OF-A-PRIVATE-FILE"}))
    for ref in (secret_file.as_uri(), "private.json", f"{secret_file.as_uri()}#/description"):
        tool = Tool(name="weather", parameters=_schema_with_ref(ref))
        judgment = judge_one(st("p", "PARAMGEN", tool="weather", arguments={"city": 3}), tools=[tool])
        assert not judgment.assessed
        assert "points outside the schema" in judgment.reason
        assert "CONTENT-OF-A-PRIVATE-FILE" not in judgment.model_dump_json()


def test_refs_inside_the_document_still_resolve():
    defs = {"type": "object", "$defs": {"city": {"type": "string"}}, "properties": {"city": {"$ref": "#/$defs/city"}}}
    assert schema_violations({"city": 3}, defs) == ["'city' is not of type 'string'"]
    assert schema_violations({"city": "Paris"}, defs) == []
    embedded = {
        "$id": "https://example.invalid/root.json",
        "type": "object",
        "$defs": {"c": {"$id": "city.json", "type": "string"}},
        "properties": {"city": {"$ref": "city.json"}},
    }
    assert schema_violations({"city": 3}, embedded) == ["'city' is not of type 'string'"]


def test_backtracking_pattern_runs_in_linear_time():
    # Python's re takes minutes on this; RE2 answers at once. The test's own timeout guards a regression.
    schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^(a+)+$"}}}
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(v=schema_violations({"name": "a" * 40 + "!"}, schema)))
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "pattern check did not finish"
    assert result["v"] == [f"'name': '{'a' * 40}!' does not match '^(a+)+$'"]
    assert schema_violations({"name": "a" * 40}, schema) == []


def test_backtracking_pattern_properties_and_additional_properties_run_on_re2():
    schema = {
        "type": "object",
        "properties": {},
        "patternProperties": {"^(a+)+$": {"type": "integer"}},
        "additionalProperties": False,
    }
    hostile = "a" * 40 + "!"
    done = threading.Event()
    found: list = []

    nested = {"type": "object", "properties": {"opts": schema}}

    def run() -> None:
        found.append(schema_violations({hostile: 1, "aaa": "x"}, schema))
        found.append(schema_violations({"opts": {hostile: 1}}, nested))
        found.append(undeclared_parameters({hostile: 1}, {**schema, "additionalProperties": None}))
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(timeout=60), "pattern check did not finish"
    top, inner, undeclared = found
    assert top == ["'aaa' is not of type 'integer'", f"unknown parameter '{hostile}'"]
    assert inner == [f"'opts': '{hostile}' does not match any of the regexes..."]  # shortened to one line
    assert undeclared == [hostile]


@pytest.mark.parametrize(
    ("pattern", "why"),
    [("^(?=.*[0-9]).{8,}$", "lookaround"), (r"^(a)\1$", "backreference")],
)
def test_pattern_re2_cannot_run_is_reported_not_checked(pattern, why):
    schema = {"type": "object", "properties": {"pw": {"type": "string", "pattern": pattern}}, "required": ["pw"]}
    with pytest.raises(SchemaNotCheckedError, match=why):
        schema_violations({"pw": "x"}, schema)
    tool = Tool(name="login", parameters=schema)
    judgment = judge_one(st("p", "PARAMGEN", tool="login", arguments={"pw": "abc"}), tools=[tool])
    assert not judgment.assessed
    assert "login's parameter schema was not checked: pattern " in judgment.reason
    assert why in judgment.reason


def _write_trace(path, tools, arguments, trace_id="t-ref"):
    built = trace(
        ("u", "USER", (), {"output": "weather in Paris?"}),
        ("p", "PARAMGEN", ("u",), {"tool": "weather", "arguments": arguments}),
        task="weather",
        trace_id=trace_id,
        tools=tools,
    )
    path.write_text(built.model_dump_json())
    return path


def test_cli_eval_and_show_never_fetch_or_read_a_ref(tmp_path, monkeypatch, http_server):
    base, requests = http_server
    monkeypatch.chdir(tmp_path)
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"type": "string", "enum": ["PRIVATE-FILE-CONTENT"]}))
    traces = tmp_path / "traces"
    traces.mkdir()
    _write_trace(traces / "remote.json", [Tool(name="weather", parameters=_schema_with_ref(f"{base}/x.json"))],
                 {"city": 1}, "t-remote")
    _write_trace(traces / "file.json", [Tool(name="weather", parameters=_schema_with_ref(private.as_uri()))],
                 {"city": 1}, "t-file")
    runner = CliRunner()
    result = runner.invoke(app, ["eval", str(traces), "--db", "x.duckdb"])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["show", "--db", "x.duckdb", "--trace", "t-file"])
    as_json = runner.invoke(app, ["show", "--db", "x.duckdb", "--trace", "t-file", "--json"])
    assert shown.exit_code == 0 and as_json.exit_code == 0
    with open_store(tmp_path / "x.duckdb", must_exist=True) as store:
        stored = store.load_run("latest")
    reasons = {r.trace_id: r.verdicts[-1].judgment.reason for r in stored.results}
    assert all("was not checked: $ref" in reason for reason in reasons.values()), reasons
    for text in (result.output, shown.output, as_json.output, (tmp_path / "x.duckdb").read_bytes().decode("latin-1")):
        assert "PRIVATE-FILE-CONTENT" not in text
    assert requests == []
