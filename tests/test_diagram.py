"""Mermaid and DOT diagrams of a trace: checked by the real Mermaid parser and renderer in headless
Chromium, capped in size with the left-out steps said, and safe with hostile labels."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from browser import MERMAID_VERSION, mermaid_check
from typer.testing import CliRunner

from agenteval.cli import app
from agenteval.config import Settings
from agenteval.evaluate import evaluate
from agenteval.judges.rules import RulesJudge
from agenteval.models import RootCause, Step, StepVerdict, Trace, TraceResult
from agenteval.reports.diagram import dot_graph, mermaid_flowchart, mermaid_markdown

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "traces"
ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def examples():
    return evaluate([EXAMPLES], Settings(), judge=RulesJudge(), name="examples")


def chain(n: int, failing: str = "s30", ids=None) -> TraceResult:
    """An n-step chain whose step ``failing`` fails directly and the next two cascade."""
    ids = ids or [f"s{i}" for i in range(n)]
    steps = [Step(id=ids[0], type="USER")] + [
        Step(id=ids[i], type="EXEC", parents=[ids[i - 1]], tool="fetch") for i in range(1, n)
    ]
    at = ids.index(failing)
    bad = {ids[at]: "direct", ids[at + 1]: "cascade", ids[at + 2]: "cascade"}
    verdicts = [StepVerdict(step_id=s.id, type=s.type, verdict=bad.get(s.id, "pass"), score=1.0 if s.id in bad else 4.0,
                            failure_code="E2.1" if s.id in bad else None) for s in steps]
    return TraceResult(trace=Trace(id="chain", steps=steps), status="failed", verdicts=verdicts, judge="rules",
                       root_causes=[RootCause(step_id=ids[at], algorithm="dag", chain=ids[at:at + 3])])


def test_the_real_mermaid_parses_and_draws_every_example(examples, tmp_path):
    charts = [mermaid_flowchart(r) for r in examples.results]
    results = mermaid_check(charts, tmp_path)
    for result, chart, outcome in zip(examples.results, charts, results):
        assert outcome["ok"], (result.trace_id, outcome.get("error"), chart)
        assert outcome["nodes"] == len(result.trace.steps)
        assert outcome["edges"] == len({(p, s.id) for s in result.trace.steps for p in s.parents})
    ticket = charts[[r.trace_id for r in examples.results].index("ticket-double-charge")]
    assert re.search(r'\["pg2 PARAMGEN create_ticket<br/>1\.0 direct E1\.1<br/>◀ root cause"\]:::direct', ticket)
    assert re.search(r"n6 ==> n7", ticket) and "linkStyle 12 stroke:#82071e" in ticket and "class n6 rootcause" in ticket


def test_the_checker_fails_on_a_syntax_error(tmp_path):
    broken = ['flowchart TD\n  a --> b[unclosed\n', 'flowchart TD\n  n0["a "quoted" b"]\n']
    assert [r["ok"] for r in mermaid_check(broken, tmp_path)] == [False, False]


def test_a_long_trace_is_collapsed_within_the_cap_and_says_so(tmp_path):
    result = chain(60)
    chart = mermaid_flowchart(result, max_nodes=12)
    drawn = re.findall(r"^  (n\d+|g\d+)\[", chart, re.M)
    assert len(drawn) <= 12
    assert "%% 7 of 60 steps drawn#59; 53 collapsed into 2 groups" in chart
    for step in ("s30", "s31", "s32", "s29", "s33", "s0", "s59"):
        assert f'["{step} ' in chart
    text = mermaid_markdown(result, max_nodes=12)
    assert text.startswith("```mermaid\nflowchart TD\n") and "_7 of 60 steps drawn; 53 collapsed into 2 groups" in text
    outcome = mermaid_check([chart, mermaid_flowchart(chain(400, "s200"))], tmp_path)
    assert outcome[0]["ok"] and outcome[0]["nodes"] == len(drawn), outcome[0].get("error")
    assert outcome[1]["ok"] and outcome[1]["nodes"] <= 30
    assert len(mermaid_flowchart(chain(2000, "s1000"))) < 6000  # far inside GitHub's limits


def test_hostile_labels_stay_labels(tmp_path):
    ids = ["u1"] + ['x"] --> y[', "a<script>alert(1)</script>", "%% c", "`md`", "b|c;d#e", "é ◀ 日本", "z1", "z2", "z3"]
    result = chain(10, failing=ids[4], ids=ids)
    chart = mermaid_flowchart(result)
    outcome = mermaid_check([chart], tmp_path)[0]
    assert outcome["ok"], (outcome.get("error"), chart)
    assert outcome["nodes"] == 10 and outcome["scripts"] == 0
    for name in ('x"] --> y[', "a<script>alert(1)</script>", "b|c;d#e", "é ◀ 日本"):
        assert name in outcome["text"], name


def test_gate_markdown_draws_the_worst_new_failure(tmp_path):
    base, cand = tmp_path / "base", tmp_path / "cand"
    base.mkdir()
    cand.mkdir()
    good = json.loads((EXAMPLES / "refund.json").read_text(encoding="utf-8"))
    (base / "t.json").write_text(json.dumps(dict(good, id="booking-trattoria-lucia")), encoding="utf-8")
    (cand / "t.json").write_text((EXAMPLES / "hallucinated_tool.json").read_text(encoding="utf-8"), encoding="utf-8")
    db, report = tmp_path / "db.duckdb", tmp_path / "report.md"
    assert runner.invoke(app, ["eval", str(base), "--db", str(db), "--run", "base"]).exit_code == 0
    done = runner.invoke(app, ["gate", str(cand), "--baseline", "base", "--db", str(db), "--markdown", str(report)])
    assert done.exit_code in (0, 1), done.output
    text = report.read_text(encoding="utf-8")
    assert "### Worst new failure: `booking-trattoria-lucia`" in text
    block = re.search(r"```mermaid\n(.*?)```", text, re.S)
    assert block is not None
    outcome = mermaid_check([block.group(1)], tmp_path)[0]
    assert outcome["ok"] and outcome["nodes"] == 9, outcome.get("error")


def test_dot_has_every_step_and_edge_and_escapes(examples):
    result = next(r for r in examples.results if r.trace_id == "ticket-double-charge")
    dot = dot_graph(result)
    assert dot.startswith('digraph "ticket-double-charge" {') and dot.rstrip().endswith("}")
    assert all(f'  "{s.id}" [label=' in dot for s in result.trace.steps)
    assert dot.count(" -> ") == sum(len(set(s.parents)) for s in result.trace.steps)
    assert '"pg2" -> "ex2" [color="#82071e", penwidth=3];' in dot
    evil = chain(5, failing='a"b', ids=["u1", 'a"b', "c\\d", "e\nf", "g"])
    text = dot_graph(evil)
    assert '"a\\"b"' in text and '"c\\\\d"' in text and '"e\\nf"' in text


def test_show_dot_through_the_cli(tmp_path):
    db = tmp_path / "db.duckdb"
    assert runner.invoke(app, ["eval", str(EXAMPLES), "--db", str(db)]).exit_code == 0
    done = runner.invoke(app, ["show", "--db", str(db), "--trace", "ticket-double-charge", "--dot"])
    assert done.exit_code == 0 and done.stdout.startswith('digraph "ticket-double-charge"')


def test_ci_installs_the_mermaid_the_tests_use():
    text = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"mermaid@{MERMAID_VERSION}" in text and "apt-get install -y chromium" in text
