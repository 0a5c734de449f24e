"""`show --trace`: every step shown whatever the depth or width, content on one line or whole, the
recovered flag, layouts, and trace text that tries to drive the terminal."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from agenteval.cli import app
from agenteval.config import Settings
from agenteval.evaluate import evaluate
from agenteval.judges.rules import RulesJudge
from agenteval.reports.terminal import render_trace

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "traces"
runner = CliRunner()


def long_trace(n: int = 60) -> dict:
    """A 60-step chain: a user message, a plan, then tool rounds, one of which fails and cascades."""
    steps = [{"id": "u1", "type": "USER", "output": "please do the long task"},
             {"id": "p1", "type": "PLAN", "parents": ["u1"], "output": "Plan: " + "step by step " * 30}]
    last = "p1"
    for k in range(1, (n - 3) // 3 + 1):
        steps.append({"id": f"ts{k}", "type": "TOOLSEL", "parents": [last], "tool": "fetch"})
        steps.append({"id": f"pg{k}", "type": "PARAMGEN", "parents": [f"ts{k}"], "tool": "fetch", "arguments": {"page": k}})
        ex = {"id": f"ex{k}", "type": "EXEC", "parents": [f"pg{k}"], "tool": "fetch", "arguments": {"page": k},
              "output": {"page": k, "rows": list(range(40))}}
        if k == 19:
            ex.update(status="error", error={"type": "HTTPError", "message": "503 from upstream"}, output=None)
        steps.append(ex)
        last = f"ex{k}"
    steps.append({"id": "s1", "type": "SYNTH", "parents": [last, "u1"], "output": "All pages fetched.", "is_final": True})
    assert len(steps) == n
    return {"id": "long-chain", "task": "fetch every page", "steps": steps,
            "tools": [{"name": "fetch", "parameters": {"type": "object", "properties": {"page": {"type": "integer"}}}}]}


def evaluated(tmp_path: Path, data: dict):
    path = tmp_path / f"{data['id']}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return evaluate([path], Settings(), judge=RulesJudge(), name="t").results[0]


def render(result, width: int, **options) -> str:
    console = Console(file=StringIO(), width=width, color_system=None)
    render_trace(result, console, **options)
    return console.file.getvalue()


def shown_steps(out: str, result) -> set[str]:
    """Steps that start a line (after any tree guides or depth marker)."""
    ids = {s.id for s in result.trace.steps}
    found = set()
    for line in out.splitlines():
        words = re.sub(r"^[\s│├└─«»0-9]*", "", line).split(" ")
        if words and words[0] in ids and len(words) > 1 and words[1] in ("USER", "PLAN", "TOOLSEL", "PARAMGEN", "EXEC", "SYNTH"):
            found.add(words[0])
    return found


@pytest.mark.parametrize("layout", ["auto", "flat", "tree"])
def test_a_60_step_trace_shows_every_step_at_80_columns(tmp_path, layout):
    result = evaluated(tmp_path, long_trace())
    out = render(result, 80, layout=layout)
    assert shown_steps(out, result) == {s.id for s in result.trace.steps}
    assert all(len(line) <= 80 for line in out.splitlines()), max(out.splitlines(), key=len)
    assert "root cause ex19" in out
    if layout == "auto":
        assert "flat list: the tree would be 60 levels deep" in " ".join(out.split())
    if layout == "tree":
        assert "«59»" in out and "tree indentation capped" in " ".join(out.split())


def test_flat_names_parents_in_topological_order(tmp_path):
    result = evaluated(tmp_path, long_trace())
    out = render(result, 80, layout="flat")
    lines = [line for line in out.splitlines() if re.match(r"^(u1|p1|ts\d+|pg\d+|ex\d+|s1) ", line)]
    order = [line.split()[0] for line in lines]
    assert order.index("ex12") < order.index("ts13") < order.index("ex19") < order.index("s1")
    assert any(line.startswith("s1 SYNTH") and "← ex19, u1" in line for line in lines)


def test_content_is_one_line_with_a_marker_and_full_shows_it_whole(tmp_path):
    result = evaluated(tmp_path, long_trace())
    short = render(result, 80, layout="flat")
    plan_line = next(line for line in short.splitlines() if line.strip().startswith("plan:"))
    assert plan_line.endswith("…") and len(plan_line) <= 80
    assert "args: {\"page\": 3}" in short and "error: HTTPError: 503 from upstream" in short
    whole = render(result, 80, layout="flat", full=True)
    assert " ".join(whole.split()).count("step by step") == 30


def test_the_example_tree_at_100_columns_is_unchanged_in_spirit():
    run = evaluate([EXAMPLES], Settings(), judge=RulesJudge(), name="examples")
    result = next(r for r in run.results if r.trace_id == "ticket-double-charge")
    out = render(result, 100)
    assert "pg2 PARAMGEN create_ticket  1.0  direct E1.1  ◀ root cause" in out
    assert "└── ex2 EXEC create_ticket  1.0  cascade E2.1" in out
    assert "args: {\"customer_id\": \"CUST-20417\", \"priority\": \"critical\"" in out
    assert "answer: Sorry, Lena" in out
    assert shown_steps(out, result) == {s.id for s in result.trace.steps}


def test_recovered_failures_are_shown(tmp_path):
    data = {"id": "retry", "task": "get the weather", "steps": [
        {"id": "u1", "type": "USER", "output": "weather in Paris?"},
        {"id": "ts1", "type": "TOOLSEL", "parents": ["u1"], "tool": "weather"},
        {"id": "ex1", "type": "EXEC", "parents": ["ts1"], "tool": "weather", "status": "timeout", "error": "timed out"},
        {"id": "ex2", "type": "EXEC", "parents": ["ex1"], "tool": "weather", "output": "sunny, 21 C"},
        {"id": "s1", "type": "SYNTH", "parents": ["ex2"], "output": "Sunny, 21 C."},
    ]}
    result = evaluated(tmp_path, data)
    assert result.status == "passed" and next(v for v in result.verdicts if v.step_id == "ex1").recovered
    out = render(result, 100)
    assert "ex1 EXEC weather  1.0  direct E2.2 (recovered)" in out and "1 recovered" in out


def test_trace_text_cannot_drive_the_terminal(tmp_path):
    data = {"id": "evil\x1b]0;pwned\x07", "task": "[bold red]markup[/] \x1b[31mred", "steps": [
        {"id": "u1", "type": "USER", "output": "hi \x1b[2J[link=http://x]click[/link] \u202eevil"},
        {"id": "s1", "type": "SYNTH", "parents": ["u1"], "output": "[red]done[/red]\x07"},
    ]}
    result = evaluated(tmp_path, data)
    console = Console(file=StringIO(), width=100, force_terminal=True, color_system="truecolor")
    render_trace(result, console)
    out = console.file.getvalue()
    assert "\x1b]0;" not in out and "\x1b[2J" not in out and "\x07" not in out and "\u202e" not in out
    plain = render(result, 100)
    assert "[bold red]markup[/]" in plain and "[red]done[/red]" in plain and "[link=http://x]click[/link]" in plain


def test_show_options_through_the_cli(tmp_path):
    path = tmp_path / "long.json"
    path.write_text(json.dumps(long_trace()), encoding="utf-8")
    db = tmp_path / "db.duckdb"
    assert runner.invoke(app, ["eval", str(path), "--db", str(db)]).exit_code == 0
    flat = runner.invoke(app, ["show", "--db", str(db), "--trace", "long-chain", "--layout", "flat"], terminal_width=80)
    assert flat.exit_code == 0 and "ex19 EXEC fetch" in flat.stdout and "← ex19, u1" in flat.stdout
    full = runner.invoke(app, ["show", "--db", str(db), "--trace", "long-chain", "--full"])
    assert full.exit_code == 0 and " ".join(full.stdout.split()).count("step by step") == 30
    as_json = json.loads(runner.invoke(app, ["show", "--db", str(db), "--trace", "long-chain", "--json"]).stdout)
    assert {"recovered", "flags"} <= set(as_json["steps"][0])
    bad = runner.invoke(app, ["show", "--db", str(db), "--trace", "long-chain", "--layout", "sideways"])
    assert bad.exit_code == 2 and "unknown --layout 'sideways'" in bad.output
    bad = runner.invoke(app, ["show", "--db", str(db), "--full"])
    assert bad.exit_code == 2 and "add --trace ID" in bad.output


def test_recovered_is_stored_in_the_verdicts_table(tmp_path):
    import duckdb

    data = {"id": "retry", "steps": [
        {"id": "ex1", "type": "EXEC", "tool": "weather", "status": "timeout", "error": "timed out"},
        {"id": "ex2", "type": "EXEC", "parents": ["ex1"], "tool": "weather", "output": "sunny"},
    ]}
    path, db = tmp_path / "retry.json", tmp_path / "db.duckdb"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert runner.invoke(app, ["eval", str(path), "--db", str(db)]).exit_code == 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT step_id, verdict, recovered FROM verdicts ORDER BY step_id").fetchall()
    finally:
        con.close()
    assert rows == [("ex1", "direct", True), ("ex2", "pass", False)]
