"""The spec's worked example in every format, through `agenteval parse --json` and `agenteval eval --json`.

Plan, a get_weather call that times out, a retry with an extra argument, an answer: 8 steps in
every format, and the same verdicts once judged.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agenteval.cli import app

FIXTURES = Path(__file__).parent / "fixtures"
WORKED = [
    ("native", None),
    ("openai-chat", "openai_chat/weather.json"),
    ("otel", "otel/weather_messages.json"),
    ("otel", "otel/weather_span_events.json"),
    ("otel", "otel/weather_base64.json"),
    ("otel", "otel/weather_lines.jsonl"),
    ("openinference", "openinference/weather_otlp.json"),
    ("openinference", "openinference/weather_phoenix.json"),
    ("langsmith", "langsmith/weather_runs.json"),
    ("langfuse", "langfuse/weather_trace.json"),
    ("openai-agents", "openai_agents/weather.json"),
    ("inspect", "inspect/weather.json"),
    ("langsmith", "real/langsmith/weather_ingest.jsonl"),
    ("inspect", "real/inspect/weather.json"),
    ("otel", "real/otel/weather_latest.jsonl"),
]
TYPES = ["PLAN", "TOOLSEL", "PARAMGEN", "EXEC", "TOOLSEL", "PARAMGEN", "EXEC", "SYNTH"]


def native_weather(tmp_path: Path) -> Path:
    """The worked example written in agenteval's own format."""
    steps = [
        {"id": "plan", "type": "PLAN", "output": "Plan: get the forecast for Paris, then answer."},
        {"id": "sel1", "type": "TOOLSEL", "parents": ["plan"], "tool": "get_weather"},
        {"id": "args1", "type": "PARAMGEN", "parents": ["sel1"], "tool": "get_weather", "arguments": {"city": "Paris", "date": "2025-06-12"}},
        {"id": "run1", "type": "EXEC", "parents": ["args1"], "tool": "get_weather", "status": "timeout", "error": {"type": "TimeoutError", "message": "timed out"}},
        {"id": "sel2", "type": "TOOLSEL", "parents": ["run1"], "tool": "get_weather"},
        {"id": "args2", "type": "PARAMGEN", "parents": ["sel2"], "tool": "get_weather", "arguments": {"city": "Paris", "date": "2025-06-12", "units": "metric"}},
        {"id": "run2", "type": "EXEC", "parents": ["args2"], "tool": "get_weather", "output": {"forecast": "sunny", "high_c": 24}},
        {"id": "answer", "type": "SYNTH", "parents": ["run2"], "output": "Sunny in Paris on 12 June, high of 24°C.", "is_final": True},
    ]
    path = tmp_path / "weather.json"
    path.write_text(json.dumps({"id": "weather", "task": "Weather in Paris on 2025-06-12?", "steps": steps}))
    return path


@pytest.mark.parametrize("fmt, name", WORKED, ids=[n or f for f, n in WORKED])
def test_worked_example_parses_and_evaluates_the_same_in_every_format(tmp_path, monkeypatch, fmt, name):
    monkeypatch.chdir(tmp_path)
    path = native_weather(tmp_path) if name is None else FIXTURES / name
    runner = CliRunner()
    parsed = runner.invoke(app, ["parse", str(path), "--json"])
    assert parsed.exit_code == 0, parsed.output
    [trace] = json.loads(parsed.stdout)["traces"]
    assert trace["format"] == fmt
    # transcripts also carry the system prompt and user turn as SYSTEM / USER steps (never judged)
    steps = [s for s in trace["steps"] if s["type"] not in ("USER", "SYSTEM")]
    inputs = {s["id"] for s in trace["steps"]} - {s["id"] for s in steps}
    for s in steps:
        s["parents"] = [p for p in s["parents"] if p not in inputs]
    assert [s["type"] for s in steps] == TYPES
    assert [s["status"] for s in steps] == ["ok", "ok", "ok", "error", "ok", "ok", "ok", "ok"]
    ids = [s["id"] for s in steps]
    assert [s["parents"] for s in steps] == [[]] + [[ids[i]] for i in range(7)]  # a chain, as in §8
    assert {s["tool"] for s in steps if s["type"] != "PLAN" and s["type"] != "SYNTH"} == {"get_weather"}

    judged = runner.invoke(app, ["eval", str(path), "--json", "--db", str(tmp_path / "e.duckdb")])
    assert judged.exit_code == 0, judged.output
    [result] = json.loads(judged.stdout)["traces"]
    verdicts = {s["id"]: (s["verdict"], s["failure_code"]) for s in result["steps"]}
    # the timeout is a direct failure the agent recovered from by retrying: the trace passes
    assert verdicts[ids[3]][0] == "direct" and verdicts[ids[3]][1] in ("E2.1", "E2.2")
    assert [v for sid, (v, _) in verdicts.items() if sid != ids[3]].count("direct") == 0
    assert result["passed"] is True and result["root_cause"] == []
