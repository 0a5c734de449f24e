"""`agenteval compare / gate / export / import` on stored runs of the examples, with faults injected into copies."""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agenteval.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "traces"


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    for name in list(os.environ):
        if name.startswith(("AGENTEVAL_", "GITHUB_")) or name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
            monkeypatch.delenv(name)
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(app, [str(a) for a in args])


def traces_with(tmp_path: Path, name: str, file: str | None = None, step: str | None = None, **changes) -> Path:
    """A copy of the examples, with ``changes`` applied to one step of one file."""
    folder = tmp_path / name
    shutil.copytree(EXAMPLES, folder)
    if file:
        path = folder / file
        data = json.loads(path.read_text(encoding="utf-8"))
        target = next(s for s in data["steps"] if s["id"] == step)
        target.update(changes)
        path.write_text(json.dumps(data), encoding="utf-8")
    return folder


def tool_error(message: str = "payment processor unavailable", kind: str = "PaymentError") -> dict:
    return {"status": "error", "error": {"type": kind, "message": message}, "output": None}


@pytest.fixture
def baseline(runner, tmp_path):
    result = invoke(runner, "eval", traces_with(tmp_path, "base"), "--run", "base")
    assert result.exit_code == 0, result.output
    return "base"


def test_identical_traces_pass(runner, tmp_path, baseline):
    result = invoke(runner, "gate", traces_with(tmp_path, "cand"), "--baseline", baseline)
    assert result.exit_code == 0, result.output
    assert "PASS" in result.stdout


def test_a_new_tool_error_blocks(runner, tmp_path, baseline):
    cand = traces_with(tmp_path, "cand", "refund.json", "ex3", **tool_error())
    result = invoke(runner, "gate", cand, "--baseline", baseline, "--name", "cand")
    assert result.exit_code == 1, result.output
    assert "BLOCK" in result.stdout
    assert "trace failure rate 60.0% -> 80.0%" in result.stdout
    assert "refund-ORD-48213" in result.stdout  # listed as a new failure


def test_an_ungrounded_answer_blocks(runner, tmp_path, baseline):
    answer = "Your refund of $1,249.00 for order ORD-48213 was issued (refund RF-20931)."
    cand = traces_with(tmp_path, "cand", "refund.json", "s1", output=answer)
    result = invoke(runner, "gate", cand, "--baseline", baseline, "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == "block"
    assert [c["trace_id"] for c in data["comparison"]["new_failures"]] == ["refund-ORD-48213"]
    codes = {c["code"]: c for c in data["comparison"]["codes"]}
    assert codes["I1.1"]["new_in_traces"] == ["refund-ORD-48213"]


def test_a_warn_only_change_exits_0_and_says_warn(runner, tmp_path, baseline):
    # A second tool failure inside a trace that already failed: more EXEC failures, no new failing trace.
    cand = traces_with(tmp_path, "cand", "data_analysis.json", "ex1", **tool_error("connection reset", "Timeout"))
    result = invoke(runner, "gate", cand, "--baseline", baseline)
    assert result.exit_code == 0, result.output
    assert "WARN" in result.stdout and "EXEC failure rate" in result.stdout


def test_baseline_exported_to_a_file_and_used_from_it(runner, tmp_path, baseline):
    for suffix in (".jsonl", ".parquet"):
        exported = tmp_path / f"baseline{suffix}"
        result = invoke(runner, "export", baseline, exported)
        assert result.exit_code == 0, result.output
        assert "exported run base" in result.stdout and exported.is_file()
        cand = traces_with(tmp_path, f"cand{suffix}", "refund.json", "ex3", **tool_error())
        # a fresh store: the baseline comes from the file alone
        result = invoke(runner, "gate", cand, "--baseline", exported, "--db", tmp_path / f"ci{suffix}.duckdb")
        assert result.exit_code == 1, result.output
        assert "BLOCK" in result.stdout


@pytest.mark.parametrize(
    "ref, message",
    [
        ("missing.jsonl", "Error: missing.jsonl: no such file"),
        ("no-such-run", "no run matches 'no-such-run'"),
        ("broken.jsonl", "Error: broken.jsonl: line 1: not an agenteval run export"),
    ],
)
def test_bad_baseline_exits_2_with_one_line(runner, tmp_path, baseline, ref, message):
    (tmp_path / "broken.jsonl").write_text("{}\n", encoding="utf-8")
    result = invoke(runner, "gate", traces_with(tmp_path, "cand"), "--baseline", ref)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_candidate_and_unreadable_candidate(runner, tmp_path, baseline):
    result = invoke(runner, "gate", "--baseline", baseline)
    assert result.exit_code == 2 and "give candidate trace paths" in result.stderr
    result = invoke(runner, "gate", tmp_path / "base", "--run", "base", "--baseline", baseline)
    assert result.exit_code == 2 and "not both" in result.stderr
    result = invoke(runner, "gate", tmp_path / "nowhere", "--baseline", baseline)
    assert result.exit_code == 2 and "no candidate traces could be evaluated" in result.stderr


def test_some_unreadable_candidate_traces_block(runner, tmp_path, baseline):
    cand = traces_with(tmp_path, "cand")
    (cand / "broken.json").write_text("{", encoding="utf-8")
    result = invoke(runner, "gate", cand, "--baseline", baseline)
    assert result.exit_code == 1
    assert "1 candidate input(s) could not be read" in result.stdout


def test_gate_a_stored_run_and_write_reports(runner, tmp_path, baseline, monkeypatch):
    cand = traces_with(tmp_path, "cand", "refund.json", "ex3", **tool_error())
    assert invoke(runner, "eval", cand, "--run", "cand").exit_code == 0
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    result = invoke(runner, "gate", "--run", "cand", "--baseline", baseline, "--junit", "junit.xml", "--markdown", "gate.md")
    assert result.exit_code == 1, result.output
    assert summary.read_text(encoding="utf-8") == (tmp_path / "gate.md").read_text(encoding="utf-8")
    assert summary.read_text(encoding="utf-8").startswith("## agenteval gate: ❌ block")
    assert outputs.read_text(encoding="utf-8") == "verdict=block\nfailure_rate=0.8000\n"
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert suite.get("tests") == "6" and suite.get("failures") == "5"  # 5 traces (4 failing) + the gate
    assert cases["refund-ORD-48213"].find("failure").get("message").startswith("new failure; root cause")
    assert cases["summary-checkout-postmortem"].find("failure") is None
    assert cases["gate"].find("failure").get("message").startswith("gate blocked: ")


def test_gate_policy_from_config_file(runner, tmp_path, baseline):
    config = tmp_path / "ci" / "agenteval.toml"
    config.parent.mkdir()
    config.write_text("[gate.failure_rate]\nwarn = 0.0\nblock = 0.5\n[gate.step_failure_rate]\nwarn = 0.0\nblock = 0.5\n"
                      "[gate]\ncritical_codes = []\n", encoding="utf-8")
    cand = traces_with(tmp_path, "cand", "refund.json", "ex3", **tool_error())
    result = invoke(runner, "gate", cand, "--baseline", baseline, "--config", config)
    assert result.exit_code == 0, result.output
    assert "WARN" in result.stdout
    result = invoke(runner, "gate", cand, "--baseline", baseline, "--config", tmp_path / "ci" / "other.toml")
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_compare_command(runner, tmp_path, baseline):
    cand = traces_with(tmp_path, "cand", "refund.json", "ex3", **tool_error())
    assert invoke(runner, "eval", cand, "--run", "cand").exit_code == 0
    result = invoke(runner, "compare", baseline, "latest", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["base"]["name"], data["candidate"]["name"]) == ("base", "cand")
    assert data["overall"]["status"] == "regression"
    assert data["paired"]["new_failures"] == 1
    markdown = invoke(runner, "compare", baseline, "cand", "--markdown")
    assert markdown.stdout.startswith("## agenteval comparison") and "| EXEC |" in markdown.stdout
    terminal = invoke(runner, "compare", baseline, "cand")
    assert "trace failure rate 60.0% → 80.0%" in terminal.stdout and "new failures (1)" in terminal.stdout


def test_export_and_import_commands(runner, tmp_path, baseline):
    assert invoke(runner, "export", baseline, "base.jsonl").exit_code == 0
    result = invoke(runner, "import", "base.jsonl", "--db", "other.duckdb")
    assert result.exit_code == 0, result.output
    assert "imported run base" in result.stdout
    listed = invoke(runner, "runs", "--db", "other.duckdb", "--json")
    assert [r["name"] for r in json.loads(listed.stdout)] == ["base"]
    again = invoke(runner, "import", "base.jsonl", "--db", "other.duckdb")
    assert again.exit_code == 2 and "is already stored" in again.stderr
    bad = invoke(runner, "import", EXAMPLES / "refund.json")
    assert bad.exit_code == 2 and "refund.json: line 1: not an agenteval run export" in bad.stderr
