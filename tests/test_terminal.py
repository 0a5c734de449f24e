"""Terminal renderers, rendered to a string."""

from io import StringIO
from pathlib import Path

from rich.console import Console

from agenteval.config import Settings
from agenteval.evaluate import evaluate
from agenteval.judges.rules import RulesJudge
from agenteval.reports.json_report import run_json
from agenteval.reports.summary import summarize
from agenteval.reports.terminal import render_run, render_trace

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "traces"


def render(fn, *args):
    console = Console(file=StringIO(), width=120, color_system=None)
    fn(*args, console)
    return console.file.getvalue()


def example_run():
    return evaluate([EXAMPLES], Settings(), judge=RulesJudge(), name="examples")


def test_summary_counts():
    s = summarize(example_run())
    assert (s.traces, s.passed, s.failed, s.incomplete) == (5, 2, 3, 0)
    assert (s.direct, s.cascade) == (3, 4)
    assert s.failures_by_code == {"E2.1": 3, "I1.2": 2, "E1.1": 1, "P3.1": 1}
    assert s.root_causes_by_code == {"E2.1": 1, "E1.1": 1, "P3.1": 1}


def test_render_run_mentions_judge_counts_and_codes():
    out = render(render_run, example_run())
    assert "judge: rules (deterministic, offline: no judge model configured)" in out
    assert "5 traces: 2 passed, 3 failed" in out
    assert "43 agent steps: 37 judged, 3 direct and 4 cascade failures, 0 not assessable, 0 judge errors, 6 not assessed" in out
    assert "E1.1 schema_violation" in out and "P3.1 nonexistent_tool" in out


def test_render_trace_tree_marks_root_cause_and_reasons():
    run = example_run()
    result = next(r for r in run.results if r.trace_id == "booking-trattoria-lucia")
    out = render(render_trace, result)
    assert "ts2 TOOLSEL book_table  1.0  direct P3.1  ◀ root cause" in out
    assert "ex2 EXEC book_table  1.0  cascade E2.1" in out
    assert "root cause ts2 (P3.1) via dag: ts2 -> ex2 -> s1" in out
    assert "'book_table' is not in the tool catalog" in out


def test_no_colour_codes_when_not_a_terminal():
    console = Console(file=StringIO(), width=100)
    render_run(example_run(), console)
    assert "\x1b[" not in console.file.getvalue()


def test_run_json_shape():
    data = run_json(example_run())
    assert set(data) == {"run_id", "run_name", "judge", "traces", "errors"}
    trace = next(t for t in data["traces"] if t["trace_id"] == "analysis-q3-revenue")
    assert trace["root_cause"] == ["ex2"] and trace["passed"] is False
    assert set(trace["steps"][0]) == {"id", "type", "score", "verdict", "failure_code", "recovered", "flags",
                                      "not_assessable"}
