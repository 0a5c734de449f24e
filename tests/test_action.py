"""The composite GitHub Action: its run steps executed as bash with GitHub's variables, and actionlint on the workflows.

The setup-python and pip-install steps are skipped (agenteval is installed already); every other step
runs as GitHub runs it (``bash --noprofile --norc -eo pipefail``), with its ``env:`` expressions filled
in from the inputs the test gives or the action's defaults.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agenteval.config import load_settings
from agenteval.evaluate import run_evaluation
from agenteval.portable import write_jsonl

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "traces"
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8")) if (ROOT / "action.yml").is_file() else None
_EXPRESSION = re.compile(r"\$\{\{\s*([a-z]+)\.([A-Za-z0-9_-]+)\s*\}\}")


def _expand(value: str, inputs: dict[str, str], github: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        scope, name = match.groups()
        if scope == "inputs":
            return inputs.get(name, str(ACTION["inputs"][name].get("default", "")))
        if scope == "github":
            return github[name]
        raise AssertionError(f"action.yml uses ${{{{ {scope}.{name} }}}}, which this test cannot fill in")

    return _EXPRESSION.sub(one, str(value))


def _executables_dir() -> str:
    return str(Path(shutil.which("agenteval") or Path(sys.executable).parent / "agenteval").parent)


def run_action(tmp_path: Path, inputs: dict[str, str]) -> tuple[int, str, dict[str, str], str]:
    """Run the action's steps; return the last exit status, the step summary, the outputs and the log."""
    for name, spec in ACTION["inputs"].items():
        assert not spec.get("required") or name in inputs, f"required input {name} missing"
    summary, outputs = tmp_path / "step_summary.md", tmp_path / "github_output"
    summary.touch()
    outputs.touch()
    github = {"action_path": str(ROOT)}
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTEVAL_", "OPENAI_", "GITHUB_", "INPUT_"))}
    environ.update(
        PATH=_executables_dir() + os.pathsep + environ.get("PATH", ""),
        GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(outputs), GITHUB_ACTION_PATH=str(ROOT),
        GITHUB_SHA="0123abcd", RUNNER_TEMP=str(tmp_path), COLUMNS="160",
    )
    status, log = 0, ""
    for step in ACTION["runs"]["steps"]:
        if "run" not in step or "pip install" in step["run"]:
            continue  # actions/setup-python and the install step: agenteval is installed already
        assert step.get("shell") == "bash"
        env = {**environ, **{k: _expand(v, inputs, github) for k, v in step.get("env", {}).items()}}
        assert "${{" not in step["run"], "expressions must reach scripts through env:, never inline"
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )
        status, log = done.returncode, log + done.stdout + done.stderr
        if status:
            break
    parsed = dict(line.split("=", 1) for line in outputs.read_text(encoding="utf-8").splitlines() if "=" in line)
    return status, summary.read_text(encoding="utf-8"), parsed, log


@pytest.fixture
def baseline(tmp_path) -> Path:
    settings = load_settings({"db": tmp_path / "base.duckdb"}, directory=tmp_path, environ={})
    path = tmp_path / "baseline.jsonl"
    write_jsonl(run_evaluation([EXAMPLES], settings, name="baseline"), path)
    return path


def test_action_runs_are_bash_steps_with_inputs_through_env():
    assert ACTION is not None and ACTION["runs"]["using"] == "composite"
    for step in ACTION["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"]
    assert not any("key" in name and name != "api-key-env" for name in ACTION["inputs"]), "keys come from secrets, not inputs"
    outputs = {name: spec["value"] for name, spec in ACTION["outputs"].items()}
    assert outputs == {
        "verdict": "${{ steps.gate.outputs.verdict }}",
        "failure-rate": "${{ steps.gate.outputs.failure_rate }}",
    }


def test_action_passes_identical_traces(tmp_path, baseline):
    status, summary, outputs, log = run_action(tmp_path, {"traces": str(EXAMPLES), "baseline": str(baseline)})
    assert status == 0, log
    assert outputs == {"verdict": "pass", "failure_rate": "0.6000"}
    assert summary.startswith("## agenteval gate: ✅ pass")
    assert "PASS" in log


def test_action_blocks_a_regression_and_explains_it(tmp_path, baseline):
    traces = tmp_path / "traces"
    shutil.copytree(EXAMPLES, traces)
    refund = json.loads((traces / "refund.json").read_text(encoding="utf-8"))
    step = next(s for s in refund["steps"] if s["id"] == "ex3")
    step.update(status="error", error={"type": "PaymentError", "message": "processor down"}, output=None)
    (traces / "refund.json").write_text(json.dumps(refund), encoding="utf-8")
    config = tmp_path / "agenteval.toml"
    config.write_text("[gate]\nnot_comparable = 'block'\n", encoding="utf-8")
    # two inputs on separate lines and a glob, as a workflow would write them
    inputs = {"traces": f"{traces}/*.json\n", "baseline": str(baseline), "config": str(config), "judge": "rules"}
    status, summary, outputs, log = run_action(tmp_path, inputs)
    assert status == 1, log
    assert outputs == {"verdict": "block", "failure_rate": "0.8000"}
    assert summary.startswith("## agenteval gate: ❌ block")
    assert "| ❌ block | failure_rate | trace failure rate 60.0% -> 80.0%" in summary
    assert "`refund-ORD-48213`" in summary


def test_action_bad_baseline_exits_2(tmp_path):
    status, summary, outputs, log = run_action(tmp_path, {"traces": str(EXAMPLES), "baseline": "missing.jsonl"})
    assert status == 2
    assert "Error: missing.jsonl: no such file" in log
    assert outputs == {} and summary == ""


def test_actionlint_passes_on_the_workflows():
    actionlint = shutil.which("actionlint") or shutil.which("actionlint", path=_executables_dir())
    assert actionlint, "actionlint is not installed (it comes with the [test] extra)"
    workflows = sorted(str(p.relative_to(ROOT)) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    done = subprocess.run([actionlint, "-no-color", *workflows], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
