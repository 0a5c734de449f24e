"""Orchestration: per-trace failures are data, results reach the sink trace by trace, in input order."""

import asyncio
import json
from pathlib import Path

from agenteval.config import Settings
from agenteval.evaluate import Progress, evaluate, evaluate_async
from agenteval.judges.rules import RulesJudge
from agenteval.models import Judgment

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "traces"


class Sink:
    def __init__(self):
        self.events = []

    def start_run(self, run):
        self.events.append(("start", run.id))

    def add_result(self, run_id, result):
        self.events.append(("result", result.trace_id))

    def add_input_error(self, run_id, error):
        self.events.append(("error", error.message))


def test_results_in_input_order_and_sink_sees_each_trace():
    sink = Sink()
    seen = []
    run = evaluate([EXAMPLES], Settings(), judge=RulesJudge(), sink=sink, name="n",
                   progress=Progress(on_start=seen.append))
    assert seen == [5]
    assert [r.source for r in run.results] == sorted(str(p) for p in EXAMPLES.glob("*.json"))
    assert sink.events[0] == ("start", run.id)
    assert sorted(e[1] for e in sink.events[1:]) == sorted(r.trace_id for r in run.results)
    assert run.name == "n" and run.judge == "rules"


def test_a_cyclic_trace_in_a_multi_trace_file_does_not_lose_the_others(tmp_path):
    good = json.loads((EXAMPLES / "refund.json").read_text())
    bad = {"id": "cyc", "steps": [{"id": "a", "type": "PLAN", "parents": ["b"]}, {"id": "b", "type": "SYNTH", "parents": ["a"]}]}
    path = tmp_path / "two.json"
    path.write_text(json.dumps([bad, good]))
    run = evaluate([path], Settings(), judge=RulesJudge())
    assert [r.trace_id for r in run.results] == ["refund-ORD-48213"]
    assert [(e.source, e.message) for e in run.input_errors] == [(str(path), "trace cyc: steps form a cycle: a -> b -> a")]


class ErrorJudge:
    name = "broken"

    async def judge_step(self, ctx):
        return Judgment(step_id=ctx.step.id, judge=self.name, error="endpoint unreachable")


def test_judge_errors_make_the_trace_incomplete_never_passed():
    run = evaluate([EXAMPLES / "refund.json"], Settings(), judge=ErrorJudge())
    result = run.results[0]
    assert result.status == "incomplete" and not result.passed
    judged = [v for v in result.verdicts if v.type.judged]
    assert judged and all(v.verdict == "judge_error" for v in judged)
    assert all(v.verdict == "skipped" for v in result.verdicts if not v.type.judged)


def test_secrets_are_masked_before_judging(tmp_path):
    trace = json.loads((EXAMPLES / "refund.json").read_text())
    trace["steps"][0]["input"] = "my key is sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
    path = tmp_path / "t.json"
    path.write_text(json.dumps(trace))
    seen = []

    class Spy(RulesJudge):
        async def judge_step(self, ctx):
            seen.append(json.dumps(ctx.trace.model_dump(mode="json")))
            return await super().judge_step(ctx)

    run = asyncio.run(evaluate_async([path], Settings(), judge=Spy()))
    assert seen and all("sk-proj-abc" not in s for s in seen)
    assert "sk-proj-abc" not in run.results[0].model_dump_json()
