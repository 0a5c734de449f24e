"""`export --format otlp` and `--otlp-endpoint`: gen_ai.evaluation.result events decoded with the
OpenTelemetry protobuf definitions (opentelemetry-proto), parented to the spans of real OTel GenAI,
OpenInference and Langfuse exporter output, and sent to a real OTLP/HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from typer.testing import CliRunner

from agenteval.cli import app
from agenteval.reports.otlp_export import logs_url

REAL = Path(__file__).resolve().parent / "fixtures" / "real"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "traces"
runner = CliRunner()


def decode(body: dict) -> ExportLogsServiceRequest:
    """An OTLP/JSON request into the protobuf message, as a Collector reads it: trace and span ids are
    hex in OTLP/JSON (not base64 as in plain proto3 JSON); unknown fields are an error."""
    for resource in body.get("resourceLogs", []):
        for scope in resource.get("scopeLogs", []):
            for record in scope.get("logRecords", []):
                for key in ("traceId", "spanId"):
                    if key in record:
                        record[key] = base64.b64encode(bytes.fromhex(record[key])).decode()
    return json_format.ParseDict(body, ExportLogsServiceRequest())


def events(request: ExportLogsServiceRequest) -> list[dict]:
    out = []
    for resource in request.resource_logs:
        for scope in resource.scope_logs:
            for record in scope.log_records:
                attrs = {a.key: json_format.MessageToDict(a.value) for a in record.attributes}
                attrs = {k: next(iter(v.values())) if v else None for k, v in attrs.items()}
                out.append({"event": record.event_name, "trace_id": record.trace_id.hex(), "span_id": record.span_id.hex(),
                            "severity": record.severity_number, "attrs": attrs,
                            "service": {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]})
    return out


def exported(tmp_path: Path, source: Path, name: str = "x") -> list[dict]:
    db, out = tmp_path / f"{name}.duckdb", tmp_path / f"{name}.otlp.jsonl"
    assert runner.invoke(app, ["eval", str(source), "--db", str(db), "--run", name]).exit_code == 0
    done = runner.invoke(app, ["export", name, str(out), "--format", "otlp", "--db", str(db)])
    assert done.exit_code == 0, done.output
    found = [e for line in out.read_text(encoding="utf-8").splitlines() for e in events(decode(json.loads(line)))]
    assert f"wrote {len(found)} gen_ai.evaluation.result events" in done.output
    return found


def source_spans(path: Path) -> dict[str, tuple[str, str]]:
    """span id -> (trace id, span name), read straight from an exporter's OTLP file (hex or base64 ids)."""
    def norm(value: str) -> str:
        return value.lower() if all(c in "0123456789abcdefABCDEF" for c in value) else base64.b64decode(value).hex()

    spans = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        for resource in json.loads(line).get("resourceSpans", []):
            for scope in resource.get("scopeSpans", []):
                for span in scope.get("spans", []):
                    spans[norm(span["spanId"])] = (norm(span["traceId"]), span["name"])
    return spans


@pytest.mark.parametrize("fixture, tool_span", [
    ("otel/weather_latest.jsonl", "execute_tool get_weather"),
    ("otel/weather_legacy.jsonl", "execute_tool get_weather"),
    ("openinference/weather_otlp.jsonl", "get_weather"),
    ("openinference/weather_protobuf.jsonl", "get_weather"),
    ("langfuse/weather_otlp.jsonl", "get_weather"),
])
def test_events_from_real_exporter_traces_are_parented_to_their_source_spans(tmp_path, fixture, tool_span):
    found = exported(tmp_path, REAL / fixture)
    spans = source_spans(REAL / fixture)
    assert found, "no step was judged"
    for event in found:
        assert event["event"] == "gen_ai.evaluation.result" and event["service"] == "agenteval"
        step_id = event["attrs"]["agenteval.step.id"]
        assert event["span_id"] == step_id.split("#")[0], step_id  # the span the step was derived from
        assert spans[event["span_id"]][0] == event["trace_id"] == event["attrs"]["agenteval.trace.id"]
        if event["attrs"]["agenteval.step.type"] == "EXEC":
            assert spans[event["span_id"]][1] == tool_span
    # The weather tool's first call timed out: a direct failure, with its score and the judge's reason.
    first = next(e["attrs"] for e in found if e["attrs"]["agenteval.step.type"] == "EXEC")
    assert first["gen_ai.evaluation.score.label"] == "direct" and first["agenteval.failure.code"].startswith("E2.")
    assert first["gen_ai.evaluation.score.value"] == 1.0 and first["gen_ai.evaluation.explanation"]


def test_event_attributes_follow_the_semantic_conventions(tmp_path):
    found = exported(tmp_path, REAL / "otel" / "weather_latest.jsonl")
    execs = [e["attrs"] for e in found if e["attrs"]["agenteval.step.type"] == "EXEC"]
    assert [e["gen_ai.evaluation.score.label"] for e in execs] == ["direct", "pass"]
    assert execs[0]["agenteval.recovered"] is True and "agenteval.recovered" not in execs[1]  # the retry worked
    synth = next(e for e in found if e["attrs"]["agenteval.step.type"] == "SYNTH")
    assert synth["attrs"]["gen_ai.response.id"] == "chatcmpl-weather-3"  # the completion that wrote the answer
    assert synth["attrs"]["gen_ai.evaluation.name"] == "agenteval.synth" and synth["severity"] == 9
    for event in found:
        keys = set(event["attrs"])
        assert {"gen_ai.evaluation.name", "gen_ai.evaluation.score.label"} <= keys
        assert not {k for k in keys if k.startswith("gen_ai.evaluation.")} - {
            "gen_ai.evaluation.name", "gen_ai.evaluation.score.value", "gen_ai.evaluation.score.label",
            "gen_ai.evaluation.explanation"}


def test_root_causes_and_cascades_carry_agenteval_attributes(tmp_path):
    found = exported(tmp_path, EXAMPLES)
    by = {(e["attrs"]["agenteval.trace.id"], e["attrs"]["agenteval.step.id"]): e for e in found}
    pg2 = by[("ticket-double-charge", "pg2")]["attrs"]
    assert pg2["agenteval.root_cause"] is True and pg2["agenteval.failure.code"] == "E1.1"
    assert pg2["gen_ai.evaluation.score.label"] == "direct" and pg2["agenteval.root_cause.step_id"] == "pg2"
    ex2 = by[("ticket-double-charge", "ex2")]["attrs"]
    assert ex2["gen_ai.evaluation.score.label"] == "cascade" and ex2["agenteval.root_cause"] is False
    assert ex2["agenteval.root_cause.step_id"] == "pg2" and ex2["agenteval.upstream_failures"] == {"values": [{"stringValue": "pg2"}]}
    # Native traces carry no span ids: no parent, and no skipped step gets an event.
    assert all(e["trace_id"] == "" and e["span_id"] == "" for e in found)
    assert not {e["attrs"]["gen_ai.evaluation.score.label"] for e in found} & {"skipped"}
    assert ("ticket-double-charge", "u1") not in by


class Receiver:
    """A minimal OTLP/HTTP logs receiver on 127.0.0.1: decodes each body with opentelemetry-proto."""

    def __init__(self, status: int = 200, reply: dict | None = None, fail_first: int = 0) -> None:
        self.requests: list[ExportLogsServiceRequest] = []
        self.paths: list[str] = []
        self.content_types: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.paths.append(self.path)
                owner.content_types.append(self.headers["Content-Type"])
                if owner.fail_first > 0:
                    owner.fail_first -= 1
                    self.send_response(503)
                    self.send_header("Retry-After", "0")
                    self.end_headers()
                    return
                if status == 200:
                    owner.requests.append(decode(json.loads(body)))
                payload = json.dumps(reply or {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.fail_first = fail_first
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_endpoint_receives_the_same_events(tmp_path):
    source = REAL / "openinference" / "weather_otlp.jsonl"
    written = exported(tmp_path, source, name="oi")
    receiver = Receiver(fail_first=1)
    try:
        done = runner.invoke(app, ["export", "oi", "--otlp-endpoint", receiver.url, "--db", str(tmp_path / "oi.duckdb")])
    finally:
        receiver.close()
    assert done.exit_code == 0, done.output
    assert f"sent {len(written)} gen_ai.evaluation.result events" in done.output
    assert receiver.paths == ["/v1/logs", "/v1/logs"] and set(receiver.content_types) == {"application/json"}
    received = [e for r in receiver.requests for e in events(r)]
    assert received == written
    assert all(e["span_id"] and e["trace_id"] == "fd2a11a34c3c2ca19d1624c673eb9bfb" for e in received)


def test_endpoint_errors_are_one_line_exit_2(tmp_path):
    db = tmp_path / "e.duckdb"
    assert runner.invoke(app, ["eval", str(EXAMPLES), "--db", str(db), "--run", "e"]).exit_code == 0
    rejecting = Receiver(reply={"partialSuccess": {"rejectedLogRecords": 2, "errorMessage": "quota"}})
    refusing = Receiver(status=400)
    try:
        partial = runner.invoke(app, ["export", "e", "--otlp-endpoint", rejecting.url + "/custom/logs", "--db", str(db)])
        bad = runner.invoke(app, ["export", "e", "--otlp-endpoint", refusing.url, "--db", str(db)])
    finally:
        rejecting.close()
        refusing.close()
    assert rejecting.paths == ["/custom/logs"]
    assert partial.exit_code == 2 and "rejected 2 of" in partial.output and "quota" in partial.output
    assert bad.exit_code == 2 and "HTTP 400" in bad.output and "Traceback" not in bad.output
    gone = runner.invoke(app, ["export", "e", "--otlp-endpoint", refusing.url, "--db", str(db)])
    assert gone.exit_code == 2 and "cannot reach the OTLP endpoint" in gone.output
    for args, message in [
        (["--otlp-endpoint", "ftp://x"], "not an http(s) URL"),
        (["--format", "otlp"], "needs a FILE to write, --otlp-endpoint URL, or both"),
        (["--format", "xml", str(tmp_path / "x")], "unknown --format 'xml'"),
        (["--format", "otlp", str(tmp_path / "missing" / "x.jsonl")], "cannot write"),
    ]:
        done = runner.invoke(app, ["export", "e", *args, "--db", str(db)])
        assert done.exit_code == 2 and message in done.output, (args, done.output)


def test_logs_url():
    assert logs_url("http://h:4318") == "http://h:4318/v1/logs"
    assert logs_url("http://h:4318/") == "http://h:4318/v1/logs"
    assert logs_url("https://h/otlp/v1/logs") == "https://h/otlp/v1/logs"
