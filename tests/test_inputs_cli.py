"""Inputs a CI job can live with, and runs and traces one can tell apart: globs, stray files, empty
input, progress lines in logs, duplicate trace ids, reused run names, id prefixes, the runs table."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import agenteval.cli as cli
from agenteval.cli import ProgressLines, app
from agenteval.store import open_store

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "traces"


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    for name in list(os.environ):
        if name.startswith(("AGENTEVAL_", "GITHUB_")) or name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
            monkeypatch.delenv(name)
    return CliRunner()


def invoke(runner, *args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def stored(name: str = "latest"):
    with open_store(".agenteval/agenteval.duckdb", must_exist=True) as store:
        return store.load_run(name)


def test_include_and_exclude_globs(runner, tmp_path):
    shutil.copytree(EXAMPLES, tmp_path / "agent-traces" / "nightly")
    result = invoke(runner, "eval", "--include", "agent-traces/**/*.json", "--exclude", "**/hallucinated_tool.json")
    assert result.exit_code == 0, result.output
    assert "4 traces" in result.stdout
    result = invoke(runner, "eval", "--include", "nope/**/*.json")
    assert result.exit_code == 2 and "--include 'nope/**/*.json' matches no file" in result.stderr
    result = invoke(runner, "eval")
    assert result.exit_code == 2 and "give trace files or folders to evaluate, or --include globs" in result.stderr


def test_a_file_that_is_not_a_trace_is_skipped_and_said_so_unless_strict(runner, tmp_path):
    folder = tmp_path / "traces"
    folder.mkdir()
    shutil.copy(EXAMPLES / "refund.json", folder)
    (folder / "package.json").write_text('{"name": "my-agent", "version": "1.0.0"}', encoding="utf-8")
    result = invoke(runner, "eval", folder)
    assert result.exit_code == 0, result.output
    assert f"Warning: skipped {folder / 'package.json'}: not a trace in any known format" in result.stderr
    assert stored().input_errors == [] and "1 traces: 1 passed" in result.stdout
    strict = invoke(runner, "eval", folder, "--strict")
    assert strict.exit_code == 2 and f"Error: {folder / 'package.json'}: not a trace in any known format" in strict.stderr
    broken = folder / "broken.json"
    broken.write_text("{", encoding="utf-8")
    assert invoke(runner, "eval", folder).exit_code == 2  # a broken trace file is an error, strict or not


def test_an_empty_input_is_an_error_not_an_empty_run(runner, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "only-config").mkdir()
    (tmp_path / "only-config" / "settings.json").write_text('{"debug": true}', encoding="utf-8")
    for folder, message in (("empty", "no traces to evaluate: 1 input(s) could not be read"),
                            ("only-config", "no traces to evaluate: 1 file(s) are not traces")):
        result = invoke(runner, "eval", tmp_path / folder)
        assert result.exit_code == 2 and f"Error: {message}" in result.stderr, result.output
    assert json.loads(invoke(runner, "runs", "--json").stdout) == []


def test_progress_lines_for_logs_have_count_rate_and_eta():
    now = [0.0]
    lines: list[str] = []
    progress = ProgressLines(lines.append, every=5.0, clock=lambda: now[0])
    progress.start(100)
    for step in range(1, 100):
        now[0] = step * 0.5  # two traces a second
        progress.advance()
    assert len(lines) == 9  # every 5 s over 49.5 s, never more often
    assert lines[0] == "judged 10/100 traces (10%), 2.0 traces/s, 0m05s elapsed, ETA 0m45s"


def test_eval_prints_progress_lines_when_stderr_is_a_log(runner, monkeypatch):
    monkeypatch.setattr(cli, "PROGRESS_EVERY", 0.0)
    result = invoke(runner, "eval", EXAMPLES)
    assert result.exit_code == 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("judged ")]
    assert lines and lines[0].startswith("judged 1/5 traces (20%)") and "ETA" in lines[0]


def test_duplicate_trace_ids_in_one_run_are_kept_and_counted(runner, tmp_path):
    for folder in ("export-a", "export-b"):
        (tmp_path / folder).mkdir()
        shutil.copy(EXAMPLES / "refund.json", tmp_path / folder / "refund.json")
    shutil.copy(EXAMPLES / "refund.json", tmp_path / "export-b" / "again.json")
    result = invoke(runner, "eval", tmp_path / "export-a", tmp_path / "export-b")
    assert result.exit_code == 0, result.output
    assert "Warning: 2 trace(s) repeated an id already read in this run: kept, renamed <id>@<file>" in result.stderr
    ids = [r.trace_id for r in stored().results]
    assert sorted(ids) == ["refund-ORD-48213", "refund-ORD-48213@again.json", "refund-ORD-48213@refund.json"]
    shown = invoke(runner, "show", "--trace", "refund-ORD-48213@again")
    assert shown.exit_code == 0 and "refund-ORD-48213@again.json passed" in shown.stdout


def test_a_reused_run_name_warns_and_show_says_which_run_it_picked(runner):
    assert invoke(runner, "eval", EXAMPLES / "refund.json", "--run", "nightly").exit_code == 0
    first = stored("nightly").id
    again = invoke(runner, "eval", EXAMPLES, "--run", "nightly")
    assert again.exit_code == 0
    assert f"Warning: run name 'nightly' is already used by run {first}" in again.stderr
    second = stored("nightly").id
    shown = invoke(runner, "show", "nightly")
    assert shown.exit_code == 0 and "5 traces" in shown.stdout
    assert f"Note: 2 runs are named 'nightly': using the newest, {second}" in shown.stderr and first in shown.stderr
    compared = invoke(runner, "compare", first, "nightly")
    assert compared.exit_code == 0 and "2 runs are named 'nightly'" in compared.stderr
    listed = invoke(runner, "runs").stdout
    assert listed.count("nightly (name reused)") == 2


def test_trace_ids_take_unique_prefixes(runner):
    assert invoke(runner, "eval", EXAMPLES).exit_code == 0
    shown = invoke(runner, "show", "--trace", "analysis")
    assert shown.exit_code == 0 and "analysis-q3-revenue failed" in shown.stdout
    as_json = json.loads(invoke(runner, "show", "--trace", "ticket", "--json").stdout)
    assert as_json["trace_id"] == "ticket-double-charge" and as_json["label"].startswith("customer: Open a high-priority")
    missing = invoke(runner, "show", "--trace", "zzz")
    assert missing.exit_code == 2 and "has no trace 'zzz', and no trace id starts with it" in missing.stderr


def test_an_ambiguous_trace_prefix_lists_the_candidates(runner, tmp_path):
    (tmp_path / "t").mkdir()
    for name in ("a", "b"):
        data = json.loads((EXAMPLES / "refund.json").read_text(encoding="utf-8"))
        data["id"] = f"3fa9c2e1{name}"
        (tmp_path / "t" / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")
    assert invoke(runner, "eval", tmp_path / "t").exit_code == 0
    result = invoke(runner, "show", "--trace", "3fa9")
    assert result.exit_code == 2 and "trace id prefix '3fa9' is ambiguous (2 match: 3fa9c2e1a, 3fa9c2e1b)" in result.stderr


def test_runs_fits_80_columns(runner, monkeypatch):
    assert invoke(runner, "eval", EXAMPLES, "--run", "a-rather-long-run-name-for-the-nightly-suite").exit_code == 0
    monkeypatch.setenv("COLUMNS", "80")
    result = invoke(runner, "runs")
    run_id = stored().id
    assert result.exit_code == 0
    assert all(len(line) <= 80 for line in result.stdout.splitlines()), result.stdout
    assert run_id in result.stdout  # the full id, never cut: it is what `show` takes
