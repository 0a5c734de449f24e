"""Values no serialiser can write (nesting 10,000 deep, a 5,000-digit integer, lone surrogates) are
bounded once, when the trace is masked, so judging, prompts, storage, show and export all survive."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from agenteval.cli import app
from agenteval.config import Settings
from agenteval.dag import StepDAG
from agenteval.evaluate import evaluate_trace
from agenteval.judges.base import StepContext
from agenteval.judges.prompt import build_messages
from agenteval.judges.rules import RulesJudge
from agenteval.models import Run, Step, Tool, Trace
from agenteval.rubrics import load_rubrics
from agenteval.secrets import CUT, MAX_DEPTH, mask_secrets, mask_trace
from agenteval.store import open_store

DEEP = 10_000


def nested(depth: int, leaf: object = "bottom") -> object:
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


def depth_of(value: object) -> int:
    depth = 0
    while isinstance(value, (dict, list)) and value:
        value = next(iter(value.values())) if isinstance(value, dict) else value[0]
        depth += 1
    return depth


HUGE = 10**5000 - 1  # built without str(): Python refuses to print it


def hostile_trace(trace_id: str = "deep") -> Trace:
    return Trace(
        id=trace_id + "-\ud800",
        task="summarise the report \udc00",
        tools=[Tool(name="fetch", description="get \ud83d", parameters={"type": "object", "properties": {"x": nested(DEEP)}})],
        metadata={"deep": nested(DEEP), "huge": HUGE},
        steps=[
            Step(id="u", type="USER", output="look it up"),
            Step(id="p", type="PLAN", parents=["u"], output="call fetch", metadata={"deep": nested(DEEP)}),
            Step(id="g", type="PARAMGEN", parents=["p"], tool="fetch", arguments={"x": nested(DEEP), "n": HUGE}),
            Step(id="e", type="EXEC", parents=["g"], tool="fetch", arguments={"x": 1}, input=nested(DEEP),
                 output={"count": "3,812 rows", "rows": nested(DEEP), "bad": "text \udfff here", "\ud800key": HUGE}),
            Step(id="s", type="SYNTH", parents=["e"], output="There are 3,812 rows.", is_final=True),
        ],
    )


def test_masking_cuts_nesting_at_the_documented_depth_with_a_marker():
    masked = mask_secrets(nested(DEEP))
    assert depth_of(masked) == MAX_DEPTH  # MAX_DEPTH containers, then the marker
    leaf = masked
    while isinstance(leaf, (dict, list)):
        leaf = next(iter(leaf.values())) if isinstance(leaf, dict) else leaf[0]
    assert leaf == CUT
    shallow = nested(MAX_DEPTH - 1)
    assert mask_secrets(shallow) == shallow


def test_huge_integers_and_lone_surrogates_are_replaced():
    masked = mask_trace(hostile_trace())
    assert masked.metadata["huge"] == f"[cut: integer of {HUGE.bit_length()} bits]"
    assert masked.id == "deep-\ufffd"
    assert masked.task == "summarise the report \ufffd"
    assert masked.steps[3].output["bad"] == "text \ufffd here"
    assert masked.steps[3].output["\ufffdkey"].startswith("[cut: integer")
    assert masked.tools[0].description == "get \ufffd"
    json.loads(masked.model_dump_json())  # now writable as JSON


def test_a_trace_nested_10000_deep_is_judged_stored_shown_and_exported(tmp_path):
    assert DEEP > sys.getrecursionlimit()
    result = asyncio.run(evaluate_trace(hostile_trace(), RulesJudge(), Settings()))
    assert result.status in ("passed", "failed")
    assert {v.verdict for v in result.verdicts} <= {"pass", "direct", "cascade", "skipped"}
    # The answer's number is found in the tool output beside the deep value: no direct failure.
    assert next(v for v in result.verdicts if v.step_id == "s").verdict != "direct"
    db = tmp_path / "x.duckdb"
    from datetime import datetime, timezone

    run = Run(id="r1", name="deep", created_at=datetime.now(timezone.utc), judge="rules")
    with open_store(db) as store:
        store.start_run(run)
        store.add_result(run.id, result)
        loaded = store.load_run("r1")
        exported = store.export_run("r1", tmp_path / "deep.jsonl")
    assert loaded.results[0].trace == result.trace
    assert len(exported.results) == 1 and (tmp_path / "deep.jsonl").stat().st_size > 0
    runner = CliRunner()
    for args in (["show", "deep"], ["show", "deep", "--trace", "deep-\ufffd"], ["show", "deep", "--json"]):
        shown = runner.invoke(app, [*args, "--db", str(db)])
        assert shown.exit_code == 0, shown.output


def test_llm_prompts_are_built_from_the_bounded_trace():
    trace = mask_trace(hostile_trace())
    dag = StepDAG.from_trace(trace)
    rubrics = load_rubrics()
    prompts = [
        json.dumps(build_messages(rubrics.for_type(step.type), StepContext(trace, dag, step)))
        for step in trace.steps
        if step.type.judged
    ]
    assert len(prompts) == 4 and any(CUT in prompt for prompt in prompts)


def test_cli_eval_of_a_deeply_nested_file(tmp_path, monkeypatch):
    # The loader reads JSON up to Python's recursion limit (deeper files are the loader's own test);
    # everything after it must survive what the loader hands over.
    monkeypatch.chdir(tmp_path)
    depth = 900
    trace = {
        "id": "deep-file",
        "task": "t",
        "steps": [
            {"id": "u", "type": "USER", "output": "go"},
            {"id": "e", "type": "EXEC", "parents": ["u"], "tool": "f", "output": nested(depth, "3,812")},
            {"id": "s", "type": "SYNTH", "parents": ["e"], "output": "3,812 found", "is_final": True},
        ],
    }
    path = Path(tmp_path / "deep.json")
    path.write_text(json.dumps(trace))
    runner = CliRunner()
    result = runner.invoke(app, ["eval", str(path), "--db", "x.duckdb"])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["show", "--db", "x.duckdb", "--trace", "deep-file", "--json"])
    assert shown.exit_code == 0, shown.output
    exported = runner.invoke(app, ["export", "latest", "run.jsonl", "--db", "x.duckdb"])
    assert exported.exit_code == 0, exported.output
    assert CUT in (tmp_path / "run.jsonl").read_text()
