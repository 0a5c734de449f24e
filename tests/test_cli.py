"""The CLI through typer's runner: exit codes, one-line errors, JSON output, stored runs."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agenteval.cli import app
from agenteval.store import open_store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "traces"
BAD = Path(__file__).parent / "fixtures" / "bad"

#: What the bundled examples were written to contain: failing steps and root causes.
EXPECTED = {
    "refund-ORD-48213": ({}, []),
    "summary-checkout-postmortem": ({}, []),
    "analysis-q3-revenue": ({"ex2": ("direct", "E2.1"), "s1": ("cascade", "I1.2")}, ["ex2"]),
    "booking-trattoria-lucia": (
        {"ts2": ("direct", "P3.1"), "ex2": ("cascade", "E2.1"), "s1": ("cascade", "I1.2")},
        ["ts2"],
    ),
    "ticket-double-charge": ({"pg2": ("direct", "E1.1"), "ex2": ("cascade", "E2.1")}, ["pg2"]),
}


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    for name in list(__import__("os").environ):
        if name.startswith("AGENTEVAL_") or name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
            monkeypatch.delenv(name)
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(app, [str(a) for a in args])


def test_eval_examples_finds_exactly_the_planted_failures(runner, tmp_path):
    result = invoke(runner, "eval", EXAMPLES, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["judge"] == "rules"
    got = {}
    for trace in data["traces"]:
        failing = {s["id"]: (s["verdict"], s["failure_code"]) for s in trace["steps"] if s["verdict"] in ("direct", "cascade")}
        got[trace["trace_id"]] = (failing, trace["root_cause"])
        assert trace["passed"] == (not failing)
    assert got == EXPECTED
    # stored in the default DuckDB file under the working directory
    assert (tmp_path / ".agenteval" / "agenteval.duckdb").is_file()
    with open_store(tmp_path / ".agenteval" / "agenteval.duckdb", must_exist=True) as store:
        run = store.load_run(data["run_id"])
    assert sorted(r.trace_id for r in run.results) == sorted(EXPECTED)


def test_eval_summary_says_which_judge_ran(runner):
    result = invoke(runner, "eval", EXAMPLES)
    assert result.exit_code == 0
    assert "judge: rules" in result.stdout and "no judge model configured" in result.stdout
    assert "5 traces: 2 passed, 3 failed" in result.stdout
    assert "E2.1 tool_error" in result.stdout


def test_fail_on_failures_exits_1(runner):
    assert invoke(runner, "eval", EXAMPLES, "--fail-on-failures").exit_code == 1
    assert invoke(runner, "eval", EXAMPLES / "refund.json", "--fail-on-failures").exit_code == 0


@pytest.mark.parametrize(
    "name, message",
    [
        ("malformed.json", "invalid JSON: Expecting"),
        ("cyclic.json", "trace loop-trace: steps form a cycle: a -> b -> c -> a"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_good_traces_are_still_stored(runner, tmp_path, name, message):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(BAD / name, folder / name)
    shutil.copy(EXAMPLES / "refund.json", folder / "refund.json")
    result = invoke(runner, "eval", folder, "--json")
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert errors == [f"Error: {folder / name}: {message}"] or (
        len(errors) == 1 and errors[0].startswith(f"Error: {folder / name}: ") and message in errors[0]
    )
    assert "Traceback" not in result.output
    data = json.loads(result.stdout)
    assert [t["trace_id"] for t in data["traces"]] == ["refund-ORD-48213"]
    with open_store(".agenteval/agenteval.duckdb", must_exist=True) as store:
        run = store.load_run("latest")
    assert [r.trace_id for r in run.results] == ["refund-ORD-48213"]
    assert [e.source for e in run.input_errors] == [str(folder / name)]


def test_missing_path_is_reported_and_others_still_run(runner):
    result = invoke(runner, "eval", "nope/x.json", EXAMPLES / "refund.json")
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: nope/x.json: no such file or directory"
    assert "1 traces: 1 passed" in result.stdout


def test_run_name_db_option_runs_and_show(runner, tmp_path):
    db = tmp_path / "custom.duckdb"
    assert invoke(runner, "eval", EXAMPLES, "--run", "baseline", "--db", db).exit_code == 0
    listed = invoke(runner, "runs", "--db", db, "--json")
    assert listed.exit_code == 0
    runs = json.loads(listed.stdout)
    assert [(r["name"], r["n_traces"], r["n_failed"]) for r in runs] == [("baseline", 5, 3)]
    shown = invoke(runner, "show", "baseline", "--db", db)
    assert shown.exit_code == 0 and "5 traces: 2 passed, 3 failed" in shown.stdout
    tree = invoke(runner, "show", "baseline", "--db", db, "--trace", "analysis-q3-revenue")
    assert tree.exit_code == 0
    assert "ex2 EXEC run_sql" in tree.stdout and "root cause" in tree.stdout
    assert "permission denied" in tree.stdout  # the judge's reason under the failing step
    as_json = json.loads(invoke(runner, "show", "baseline", "--db", db, "--trace", "analysis-q3-revenue", "--json").stdout)
    assert as_json["root_cause"] == ["ex2"]


@pytest.mark.parametrize(
    "args, message",
    [
        (("show", "nosuchrun"), "no run matches 'nosuchrun'"),
        (("show", "--trace", "ghost"), "has no trace 'ghost'"),
        (("runs", "--db", "missing.duckdb"), "no such store"),
        (("eval", EXAMPLES, "--root-cause", "psychic"), "unknown algorithm 'psychic'"),
        (("eval", EXAMPLES, "--format", "martian"), "unknown format 'martian'"),
    ],
)
def test_user_errors_are_one_line_with_exit_2(runner, args, message):
    invoke(runner, "eval", EXAMPLES / "refund.json")
    result = invoke(runner, *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]


def test_parse_json_shape(runner):
    result = invoke(runner, "parse", EXAMPLES / "data_analysis.json", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    trace = data["traces"][0]
    assert trace["trace_id"] == "analysis-q3-revenue" and trace["format"] == "native"
    step = next(s for s in trace["steps"] if s["id"] == "ex2")
    assert step == {"id": "ex2", "type": "EXEC", "parents": step["parents"], "tool": "run_sql", "status": "error", "unrecorded": []}
    assert set(trace["steps"][0]) == {"id", "type", "parents", "tool", "status", "unrecorded"}


def test_parse_reports_bad_files(runner):
    result = invoke(runner, "parse", BAD / "not_a_trace.json", EXAMPLES / "refund.json", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["errors"][0]["message"].startswith("not a trace")


def test_schema_trace_is_a_json_schema_that_validates_the_examples(runner):
    import jsonschema

    result = invoke(runner, "schema", "trace")
    schema = json.loads(result.stdout)
    assert schema["title"] == "Trace" and "steps" in schema["required"]
    for path in EXAMPLES.glob("*.json"):
        jsonschema.validate(json.loads(path.read_text()), schema)


def test_version_and_formats(runner):
    assert invoke(runner, "--version").stdout.startswith("agenteval ")
    assert "native" in invoke(runner, "formats").stdout
