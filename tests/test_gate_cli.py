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


#: The examples' refund trace never fails with I1.1 (an ungrounded answer): made critical, it blocks when new.
CRITICAL_I11 = "[gate]\ncritical_codes = [\"I1.1\"]\n"
#: The refund answer with figures no tool returned: an I1.1 failure new to the suite.
UNGROUNDED = {"output": "Your refund of $1,249.00 for order ORD-48213 was issued (refund RF-20931)."}


def critical_config(tmp_path: Path) -> Path:
    config = tmp_path / "critical" / "agenteval.toml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(CRITICAL_I11, encoding="utf-8")
    return config


def test_one_new_failure_among_five_traces_warns_and_does_not_block(runner, tmp_path, baseline):
    # The case: 0% -> 20% on one trace of five is what chance does; the gate says so and lets it through.
    cand = traces_with(tmp_path, "cand", "refund.json", "ex3", **tool_error())
    result = invoke(runner, "gate", cand, "--baseline", baseline, "--name", "cand")
    assert result.exit_code == 0, result.output
    assert "WARN" in result.stdout
    assert "trace failure rate 60.0% -> 80.0% (+20.0 pts, 5 traces); not significant at 0.05: exact McNemar on 5 paired cases, p = 1" in result.stdout
    assert "new failures (1)" in result.stdout and "refund-ORD-48213" in result.stdout and "root cause ex3 E2.1" in result.stdout


def test_a_new_critical_failure_blocks_however_rare(runner, tmp_path, baseline):
    cand = traces_with(tmp_path, "cand", "refund.json", "s1", **UNGROUNDED)
    result = invoke(runner, "gate", cand, "--baseline", baseline, "--json", "--config", critical_config(tmp_path))
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == "block"
    assert [r["rule"] for r in data["reasons"] if r["level"] == "block"] == ["critical_failure"]
    assert [c["trace_id"] for c in data["comparison"]["new_failures"]] == ["refund-ORD-48213"]
    codes = {c["code"]: c for c in data["comparison"]["codes"]}
    assert codes["I1.1"]["new_in_traces"] == ["refund-ORD-48213"]
    assert data["pairing"]["pairs"] == 5 and data["comparison"]["pairing"]["pairs"] == 5


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
        cand = traces_with(tmp_path, f"cand{suffix}", "refund.json", "s1", **UNGROUNDED)
        # a fresh store: the baseline comes from the file alone
        result = invoke(runner, "gate", cand, "--baseline", exported, "--db", tmp_path / f"ci{suffix}.duckdb",
                        "--config", critical_config(tmp_path))
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
    assert result.exit_code == 2 and "no traces to evaluate: 1 input(s) could not be read" in result.stderr


def test_some_unreadable_candidate_traces_block(runner, tmp_path, baseline):
    cand = traces_with(tmp_path, "cand")
    (cand / "broken.json").write_text("{", encoding="utf-8")
    result = invoke(runner, "gate", cand, "--baseline", baseline)
    assert result.exit_code == 1
    assert "1 candidate input(s) could not be read" in result.stdout


def test_gate_a_stored_run_and_write_reports(runner, tmp_path, baseline, monkeypatch):
    cand = traces_with(tmp_path, "cand", "refund.json", "s1", **UNGROUNDED)
    assert invoke(runner, "eval", cand, "--run", "cand").exit_code == 0
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    result = invoke(runner, "gate", "--run", "cand", "--baseline", baseline, "--junit", "junit.xml", "--markdown", "gate.md",
                    "--config", critical_config(tmp_path))
    assert result.exit_code == 1, result.output
    assert summary.read_text(encoding="utf-8") == (tmp_path / "gate.md").read_text(encoding="utf-8")
    assert summary.read_text(encoding="utf-8").startswith("## agenteval gate: ❌ block")
    run_id = json.loads(invoke(runner, "runs", "--json").stdout)[0]["id"]
    assert outputs.read_text(encoding="utf-8") == f"verdict=block\nfailure-rate=0.8000\npaired-cases=5\nrun-id={run_id}\n"
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert suite.get("tests") == "6" and suite.get("failures") == "5"  # 5 traces (4 failing) + the gate
    assert cases["refund-ORD-48213"].find("failure").get("message").startswith("new failure; root cause")
    assert cases["summary-checkout-postmortem"].find("failure") is None
    assert cases["gate"].find("failure").get("message").startswith("gate blocked: ")


def test_gate_policy_from_config_file(runner, tmp_path, baseline):
    config = tmp_path / "ci" / "agenteval.toml"
    config.parent.mkdir()
    config.write_text("[gate.failure_rate]\nwarn = 0.5\nblock = 0.6\n[gate.step_failure_rate]\nwarn = 0.5\nblock = 0.6\n"
                      "[gate.score_drop]\nwarn = 1.0\n[gate]\ncritical_codes = []\n", encoding="utf-8")
    cand = traces_with(tmp_path, "cand", "refund.json", "ex3", **tool_error())
    result = invoke(runner, "gate", cand, "--baseline", baseline, "--config", config)
    assert result.exit_code == 0, result.output
    assert "PASS" in result.stdout
    result = invoke(runner, "gate", cand, "--baseline", baseline, "--config", tmp_path / "ci" / "other.toml")
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_compare_command(runner, tmp_path, baseline):
    cand = traces_with(tmp_path, "cand", "refund.json", "s1", **UNGROUNDED)
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


# --- a 60-case suite recorded as exporters record it: fresh trace ids on every run ----------------

from suite import record  # noqa: E402


@pytest.fixture
def suite_baseline(runner, tmp_path):
    result = invoke(runner, "eval", record(tmp_path / "main", failing=range(6)), "--run", "main")
    assert result.exit_code == 0, result.output
    return "main"


def test_compare_pairs_all_60_cases_recorded_with_fresh_trace_ids(runner, tmp_path, suite_baseline):
    assert invoke(runner, "eval", record(tmp_path / "rerun", failing=range(6)), "--run", "rerun").exit_code == 0
    data = json.loads(invoke(runner, "compare", "main", "rerun", "--json").stdout)
    pairing = data["pairing"]
    assert (pairing["pairs"], pairing["base_only"], pairing["candidate_only"], pairing["ambiguous"]) == (60, 0, 0, 0)
    assert pairing["key_sources"] == {"metadata.case_id": 120}
    assert data["paired"]["pairs"] == 60 and data["overall"]["significance"]["tests"][0]["test"] == "exact McNemar"
    terminal = invoke(runner, "compare", "main", "rerun").stdout
    assert "60 cases paired" in terminal and "exact McNemar on 60 paired cases, p = 1" in terminal
    by_trace_id = json.loads(invoke(runner, "compare", "main", "rerun", "--json", "--pair-by", "trace-id").stdout)["pairing"]
    assert by_trace_id["pairs"] == 0 and by_trace_id["base_only"] == 60
    markdown = invoke(runner, "compare", "main", "rerun", "--markdown", "--pair-by", "trace-id").stdout
    assert "No case is in both runs: no paired statistics" in markdown and "Fisher exact on 60 + 60 unpaired traces, p = 1" in markdown


def test_the_same_failure_rate_on_other_cases_does_not_block(runner, tmp_path, suite_baseline):
    result = invoke(runner, "gate", record(tmp_path / "cand", failing=range(6, 12)), "--baseline", "main", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == "pass" and data["comparison"]["paired"]["new_failures"] == 6
    assert data["comparison"]["paired"]["fixed"] == 6 and data["comparison"]["paired"]["mcnemar_p"] == 1.0


def test_a_small_noisy_rise_does_not_block(runner, tmp_path, suite_baseline):
    result = invoke(runner, "gate", record(tmp_path / "cand", failing=[*range(6), 20, 21]), "--baseline", "main", "--markdown", "gate.md")
    assert result.exit_code == 0, result.output
    assert "WARN" in result.stdout
    line = "trace failure rate 10.0% -> 13.3% (+3.3 pts, 60 traces); not significant at 0.05: exact McNemar on 60 paired cases, p = 0.5"
    assert line in result.stdout and line in (tmp_path / "gate.md").read_text(encoding="utf-8")


def test_a_large_rise_blocks_with_its_test_and_p_value_in_every_report(runner, tmp_path, suite_baseline):
    cand = record(tmp_path / "cand", failing=[*range(6), *range(20, 32)])
    result = invoke(runner, "gate", cand, "--baseline", "main", "--markdown", "gate.md", "--junit", "junit.xml")
    assert result.exit_code == 1, result.output
    why = "exact McNemar on 60 paired cases, p = 0.000488"
    assert "BLOCK" in result.stdout and why in result.stdout
    markdown = (tmp_path / "gate.md").read_text(encoding="utf-8")
    assert markdown.startswith("## agenteval gate: ❌ block") and why in markdown
    assert "| ❌ block | significant_regression | trace failure rate 10.0% -> 30.0% is more than noise at 0.05: " + why in markdown
    assert "### New failures (12)" in markdown and "cand/case-020.json`" in markdown and "`ex1` E2.1 tool\\_error" in markdown
    assert why in ET.parse(tmp_path / "junit.xml").getroot().find("testsuite/testcase[@name='gate']/failure").get("message")
    data = json.loads(invoke(runner, "gate", cand, "--baseline", "main", "--json").stdout)
    test = data["comparison"]["overall"]["significance"]["tests"][0]
    assert (test["test"], test["base_n"], test["worse"], test["better"]) == ("exact McNemar", 60, 12, 0)
    assert test["p_value"] == pytest.approx(2 / 4096)


def test_repeated_trials_are_tested_per_case(runner, tmp_path):
    # 20 cases, 3 trials each. Flaky trials moving both ways are noise; cases failing every trial are not.
    base = record(tmp_path / "base", n=20, failing=[(i, 0) for i in range(10)], trials=3)
    assert invoke(runner, "eval", base, "--run", "base").exit_code == 0
    flaky = record(tmp_path / "flaky", n=20, failing=[(i, 1) for i in range(10)], trials=3)
    data = json.loads(invoke(runner, "gate", flaky, "--baseline", "base", "--json").stdout)
    assert data["verdict"] in ("pass", "warn") and data["pairing"]["trials"] == 3
    test = data["comparison"]["overall"]["significance"]["tests"][0]
    assert test["test"] == "exact sign test over cases" and (test["worse"], test["better"]) == (0, 0)
    broken = record(tmp_path / "broken", n=20, failing=[*range(10, 20), *((i, 0) for i in range(10))], trials=3)
    result = invoke(runner, "gate", broken, "--baseline", "base", "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and data["verdict"] == "block"
    test = data["comparison"]["overall"]["significance"]["tests"][0]
    assert (test["worse"], test["better"], test["p_value"]) == (10, 0, pytest.approx(2 / 1024))
    pass_k = data["comparison"]["pass_k"]
    assert (pass_k["k"], pass_k["base"], pass_k["candidate"]) == (3, 0.5, 0.0)


def test_gate_takes_every_judge_option_eval_takes():
    import typer.main

    command = typer.main.get_command(app)
    params = lambda name: {p.name for p in command.commands[name].params if p.param_type_name == "option"}  # noqa: E731
    judge = {"judge", "model", "base_url", "format", "root_cause", "api_key_env", "judge_mode", "judge_all", "samples",
             "concurrency", "timeout", "max_retries", "max_cost", "no_cache", "rubrics", "include", "exclude", "strict"}
    assert judge <= params("eval") and params("eval") - {"run", "json", "fail_on_failures"} <= params("gate")


def test_gate_with_a_judge_option_reaches_the_judge(runner, tmp_path, baseline):
    result = invoke(runner, "gate", traces_with(tmp_path, "cand"), "--baseline", baseline, "--root-cause", "psychic")
    assert result.exit_code == 2 and "unknown algorithm 'psychic'" in result.stderr
