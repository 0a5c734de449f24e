"""The LLM judge end to end: prompt -> real openai client -> scripted local server -> Judgment."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest
from helpers import trace

from agenteval.dag import StepDAG
from agenteval.errors import ConfigError, RubricError
from agenteval.judges.base import Judge, StepContext
from agenteval.judges.llm import LLMClient, Tier
from agenteval.judges.llm_judge import DEFAULT_PRICES, CostBudget, LLMJudge, cost_usd, price_for
from agenteval.models import Judgment, StepType, Usage
from agenteval.testing import FakeOpenAIServer, Reply

METRICS = ("correctness", "completeness")
CODES = (("E2.1", "tool_error"), ("I1.1", "ungrounded_claim"), ("I2.1", "incomplete_answer"), ("P2.1", "incomplete_plan"))


# Tiny stand-ins for agenteval.rubrics and agenteval.judges.prompt, so these tests pin the judge alone.
@dataclass(frozen=True)
class FakeMetric:
    name: str


@dataclass(frozen=True)
class FakeRubric:
    version: str = "1.0"
    fingerprint: str = "abc123"
    metrics: tuple[FakeMetric, ...] = tuple(FakeMetric(m) for m in METRICS)


class FakeRubrics:
    def __init__(self, rubric: FakeRubric | None = None) -> None:
        self.rubric = rubric or FakeRubric()

    def for_type(self, step_type: StepType) -> FakeRubric:
        if step_type == StepType.EXEC:
            raise RubricError("no rubric for step type EXEC", source="rubrics/")
        return self.rubric


def build_messages(rubric, ctx, taxonomy_codes=None, budget_tokens=None, fence=None):
    step = {"id": ctx.step.id, "type": ctx.step.type.value, "output": ctx.step.output}
    return [
        {"role": "system", "content": f"Judge with rubric {rubric.version}. Codes: {dict(taxonomy_codes or [])}. JSON."},
        {"role": "user", "content": json.dumps(step)},
    ]


class DictCache:
    def __init__(self) -> None:
        self.data: dict[str, Judgment] = {}

    def cache_get(self, key: str) -> Judgment | None:
        return self.data.get(key)

    def cache_put(self, key: str, judgment: Judgment) -> None:
        self.data[key] = judgment


def contexts(*outputs: str) -> list[StepContext]:
    """SYNTH steps with the given outputs (one trace each), plus nothing else."""
    found = []
    for i, output in enumerate(outputs):
        t = trace(("p", "PLAN", []), (f"s{i}", "SYNTH", ["p"], {"output": output}), trace_id=f"t{i}")
        dag = StepDAG.from_trace(t)
        found.append(StepContext(t, dag, dag.step(f"s{i}")))
    return found


def scores(correctness: int, completeness: int, **kwargs) -> Reply:
    content = {
        "reasoning": kwargs.pop("reasoning", f"scored {correctness}/{completeness}"),
        "metric_scores": {"correctness": correctness, "completeness": completeness, **kwargs.pop("extra", {})},
        "failure_code": kwargs.pop("failure_code", None),
        "confidence": kwargs.pop("confidence", 0.8),
    }
    return Reply(content=content, **kwargs)


def judge_all(servers, ctxs, *, models=None, tier_options=None, concurrency=4, **options) -> list[Judgment]:
    """Judge ``ctxs`` one after the other with one judge over ``servers`` (one tier each)."""
    models = models or ["gpt-4o-mini" if i == 0 else f"judge-{i}" for i in range(len(servers))]
    options_per_tier = {"timeout_s": 2, "max_retries": 1, **(tier_options or {})}
    tiers = [Tier(model=m, base_url=s.base_url, **options_per_tier) for s, m in zip(servers, models)]

    async def main():
        judge = LLMJudge(
            LLMClient(tiers, concurrency=concurrency),
            FakeRubrics(),
            build_messages=build_messages,
            **{"taxonomy_codes": CODES, **options},
        )
        try:
            return [await judge.judge_step(ctx) for ctx in ctxs]
        finally:
            await judge.aclose()

    return asyncio.run(main())


def test_valid_reply_becomes_a_judgment_with_usage_and_cost():
    with FakeOpenAIServer([scores(4, 2, usage=(1000, 200), confidence=0.7)]) as server:
        [j] = judge_all([server], contexts("The answer is 42."))
    assert j.score == 2.0 and j.metric_scores == {"correctness": 4.0, "completeness": 2.0}  # weakest metric
    assert (j.reason, j.confidence, j.error, j.assessed) == ("scored 4/2", 0.7, None, True)
    assert (j.judge, j.model, j.step_id) == ("openai:gpt-4o-mini", "gpt-4o-mini", "s0")
    assert j.rubric_version.startswith("1.0+")  # the rubric's version and a fingerprint of its reply schema
    assert j.usage == Usage(input_tokens=1000, output_tokens=200)
    assert j.cost_usd == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1e6)
    assert j.details["latency_s"] >= 0 and "price_unknown" not in j.details
    [request] = server.requests
    assert json.loads(request["messages"][1]["content"])["output"] == "The answer is 42."
    assert "E2.1" in request["messages"][0]["content"]  # taxonomy codes reach the prompt builder


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (scores(2, 1, failure_code="I1.1"), "I1.1"),
        (scores(2, 1, failure_code="I1.1 ungrounded_claim"), "I1.1"),
        (scores(2, 1, failure_code="i1.1"), "I1.1"),
        (scores(2, 1, failure_code="tool error"), None),  # names no code: null
        (scores(4, 3, failure_code="I1.1"), None),  # passing score: no failure code
    ],
)
def test_failure_code_only_for_low_scores(reply, code):
    with FakeOpenAIServer([reply]) as server:
        [j] = judge_all([server], contexts("x"))
    assert j.failure_code == code


@pytest.mark.parametrize("code", ["E2.1", "Z9.9"])  # an EXEC code on a SYNTH step; a code of no taxonomy
def test_a_code_outside_the_step_types_enum_is_an_invalid_reply(code):
    with FakeOpenAIServer(responder=lambda request: scores(2, 1, failure_code=code)) as server:
        [j] = judge_all([server], contexts("x"))
    assert server.request_count == 2 and j.score is None
    assert "invalid reply twice: failure_code" in j.error
    schema = server.requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["failure_code"]["anyOf"][0]["enum"] == ["I1.1", "I2.1"]  # SYNTH's codes only


def test_unknown_model_price_costs_nothing_and_is_flagged():
    with FakeOpenAIServer([scores(5, 5)]) as server:
        [j] = judge_all([server], contexts("x"), models=["llama-3-70b"])
    assert j.cost_usd == 0.0 and j.details["price_unknown"] == ["llama-3-70b"]
    assert j.judge == "openai:llama-3-70b"


def test_prices_by_family_and_overrides():
    assert price_for("gpt-4o-2024-08-06") == DEFAULT_PRICES["gpt-4o"]
    assert price_for("gpt-4o-mini-2024-07-18") == DEFAULT_PRICES["gpt-4o-mini"]
    assert price_for("openai/gpt-4.1-mini") == DEFAULT_PRICES["gpt-4.1-mini"]
    assert price_for("gpt-4o-2024-05-13") == (5.00, 15.00)
    assert price_for("llama3") is None
    assert cost_usd(Usage(input_tokens=2_000_000), "mine", {"mine": (1.0, 9.0)}) == 2.0


def test_extra_metrics_are_ignored_and_missing_ones_are_retried_then_a_judge_error():
    with FakeOpenAIServer([scores(3, 3, extra={"style": 1})]) as server:
        [j] = judge_all([server], contexts("x"))
    assert j.metric_scores == {"correctness": 3.0, "completeness": 3.0} and j.score == 3.0

    only_one = Reply(content={"reasoning": "r", "metric_scores": [{"metric": "correctness", "score": 5}], "confidence": 1})
    with FakeOpenAIServer([only_one, only_one]) as server:
        [j] = judge_all([server], contexts("x"))
    assert server.request_count == 2
    assert j.score is None and "metric_scores.completeness: Field required" in j.error


FAULTS = {
    "hang": lambda r: Reply.hang(30),
    "rate_limited": lambda r: Reply.rate_limited(0.01),
    "server_error": lambda r: Reply.server_error(500),
    "malformed": lambda r: Reply.malformed(),
    "out_of_range": lambda r: scores(6, 0),
    "missing_field": lambda r: Reply.missing_field("metric_scores"),
    "prose": lambda r: Reply.text("The step looks fine, I would give it a 5."),
    "bad_request": lambda r: Reply.error(400, "context length exceeded"),
    "unauthorized": lambda r: Reply.error(401, "bad key"),
    "not_found": lambda r: Reply.error(404, "model not found"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_no_fault_ever_yields_a_score(fault):
    with FakeOpenAIServer(responder=FAULTS[fault]) as server:
        [j] = judge_all([server], contexts("x"), tier_options={"timeout_s": 0.2, "max_retries": 0} if fault == "hang" else None)
    assert j.score is None and j.error and "\n" not in j.error
    assert j.error.startswith("judge model failed on 1 tier(s): gpt-4o-mini@127.0.0.1:")
    assert j.judge == "openai:gpt-4o-mini" and j.rubric_version.startswith("1.0+") and not j.cached


def test_tier_fallback_when_the_first_tier_is_down():
    with FakeOpenAIServer([scores(5, 4)]) as second:
        down = FakeOpenAIServer().start()
        down.close()  # a port nothing listens on any more
        [j] = judge_all([down, second], contexts("x"), models=["gpt-4o", "gpt-4o-mini"], tier_options={"max_retries": 0})
    assert j.score == 4.0 and j.model == "gpt-4o-mini" and j.judge == "openai:gpt-4o-mini"


def test_multi_judge_takes_metric_medians_and_reports_disagreement():
    replies = [scores(2, 2, reasoning="low"), scores(4, 3, reasoning="mid"), scores(5, 5, reasoning="high")]
    with FakeOpenAIServer(replies) as server:
        [j] = judge_all([server], contexts("x"), samples=3)
    assert server.request_count == 3
    assert j.metric_scores == {"correctness": 4.0, "completeness": 3.0} and j.score == 3.0
    assert j.reason == "mid"  # the sample closest to the combined score
    assert sorted(s["score"] for s in j.details["samples"]) == [2.0, 3.0, 5.0]
    assert j.details["disagreement"] == 3.0


def test_multi_judge_spreads_samples_over_tiers():
    with FakeOpenAIServer([scores(1, 1, failure_code="I1.1")]) as a, FakeOpenAIServer([scores(3, 1, failure_code="I2.1")]) as b:
        [j] = judge_all([a, b], contexts("x"), models=["gpt-4o", "gpt-4o-mini"], samples=2)
    assert (a.request_count, b.request_count) == (1, 1)
    assert j.model == "gpt-4o+gpt-4o-mini" and j.score == 1.0 and j.details["disagreement"] == 0
    assert j.failure_code == "I1.1"  # a tie between the samples' codes goes to the representative sample
    assert j.cost_usd > 0 and "price_unknown" not in j.details


def test_cache_hit_makes_no_request():
    cache = DictCache()
    [ctx] = contexts("same output")
    with FakeOpenAIServer([scores(2, 3)], metrics=METRICS) as server:
        first, second = judge_all([server], [ctx, ctx], cache=cache)
        assert server.request_count == 1 and len(cache.data) == 1
        assert not first.cached and second.cached
        assert second.score == first.score == 2.0 and second.cost_usd == 0.0
        assert second.details["cached_cost_usd"] == first.cost_usd

        # A different step whose prompt renders differently is a miss.
        [other] = judge_all([server], contexts("another output"), cache=cache)
        assert server.request_count == 2 and not other.cached


def test_cache_key_changes_with_rubric_version_and_models():
    client = LLMClient([Tier(model="a", base_url="http://127.0.0.1:1/v1")])
    judge = LLMJudge(client, FakeRubrics(), build_messages=build_messages)
    messages = [{"role": "user", "content": "x"}]
    key = judge.cache_key(FakeRubric(), messages)
    assert key == judge.cache_key(FakeRubric(), messages)
    assert key != judge.cache_key(FakeRubric(version="2.0"), messages)
    assert key != judge.cache_key(FakeRubric(fingerprint="edited"), messages)
    other = LLMJudge(LLMClient([Tier(model="b", base_url="http://127.0.0.1:1/v1")]), FakeRubrics(), build_messages=build_messages)
    assert key != other.cache_key(FakeRubric(), messages)


def test_max_cost_budget_stops_new_calls():
    budget = CostBudget(max_usd=1e-9)  # the first judgment already spends more
    with FakeOpenAIServer(metrics=METRICS) as server:
        judged, skipped = judge_all([server], contexts("a", "b"), budget=budget)
    assert server.request_count == 1
    assert judged.score == 4.0 and budget.spent_usd == judged.cost_usd > 0 and budget.exhausted
    assert skipped.score is None and skipped.error is None and skipped.assessed is False
    assert skipped.details == {"not_judged": "max_cost"}

    with FakeOpenAIServer() as server:
        [j] = judge_all([server], contexts("a"), budget=CostBudget(0))
    assert server.request_count == 0 and j.details["not_judged"] == "max_cost"


def test_rubric_problem_is_a_judge_error_without_a_request():
    t = trace(("p", "PLAN", []), ("e", "EXEC", ["p"]))
    dag = StepDAG.from_trace(t)
    with FakeOpenAIServer() as server:
        [j] = judge_all([server], [StepContext(t, dag, dag.step("e"))])
    assert server.request_count == 0
    assert j.score is None and j.error == "rubrics/: no rubric for step type EXEC"


def test_concurrent_steps_share_the_bound():
    async def main(server):
        tiers = [Tier(model="gpt-4o-mini", base_url=server.base_url)]
        judge = LLMJudge(LLMClient(tiers, concurrency=2), FakeRubrics(), build_messages=build_messages)
        try:
            return await asyncio.gather(*(judge.judge_step(ctx) for ctx in contexts(*"abcdef")))
        finally:
            await judge.aclose()

    with FakeOpenAIServer(latency=0.1, metrics=METRICS) as server:
        judged = asyncio.run(main(server))
    assert [j.score for j in judged] == [4.0] * 6
    assert server.max_in_flight == 2


def test_is_a_judge_and_rejects_bad_samples():
    client = LLMClient([Tier(model="gpt-4o", base_url="http://127.0.0.1:1/v1")])
    judge = LLMJudge(client, FakeRubrics(), build_messages=build_messages)
    assert isinstance(judge, Judge) and judge.name == "openai:gpt-4o"
    with pytest.raises(ConfigError, match="samples"):
        LLMJudge(client, FakeRubrics(), samples=0)
    with pytest.raises(ConfigError, match="max cost"):
        CostBudget(-1)


def test_the_recorded_version_and_the_cache_key_cover_the_reply_schema():
    # Another set of failure codes changes the reply schema (its enum), so judgments made under it
    # record another rubric version and never share a cache entry with the first.
    cache = DictCache()
    with FakeOpenAIServer(responder=lambda request: scores(4, 4)) as server:
        [first] = judge_all([server], contexts("x"), cache=cache)
        [again] = judge_all([server], contexts("x"), cache=cache)
        [other] = judge_all([server], contexts("x"), cache=cache, taxonomy_codes=CODES[:2])
    assert again.cached and not other.cached and server.request_count == 2
    assert first.rubric_version == again.rubric_version != other.rubric_version
    assert other.rubric_version.startswith("1.0+")


# -- judges from plain options, built-in or plugged in ------------------------------------------


class PluginJudge:
    """A third-party judge as an entry point would load it."""

    name = "plugin"

    def __init__(self, **options) -> None:
        self.options = options

    async def judge_step(self, ctx: StepContext) -> Judgment:
        return Judgment(step_id=ctx.step.id, judge=self.name, score=5)


def build_plugin(*, cache=None, **options):
    return PluginJudge(cache=cache, **options)


def test_registry_builds_judges_from_plain_options_and_loads_entry_point_plugins(monkeypatch):
    from importlib.metadata import EntryPoint

    from agenteval.judges import registry
    from agenteval.judges.ensemble import RulesFirstJudge
    from agenteval.judges.rules import RulesJudge

    assert isinstance(registry.build_judge(), RulesJudge)  # no model: the offline rules judge
    assert isinstance(registry.build_judge(model="m", base_url="http://127.0.0.1:9/v1"), RulesFirstJudge)
    checklist = registry.build_judge(model="m", base_url="http://127.0.0.1:9/v1", judge_mode="checklist",
                                     llama_slots=5, checklist_batch=False, concurrency=3)
    assert checklist.model.batch is False and checklist.model.client.concurrency == 3
    assert checklist.model.client.tiers[0].llama_slots == 5
    with pytest.raises(ConfigError, match="the openai judge needs a model"):
        registry.build_judge("openai")

    plugin = EntryPoint(name="mine", value=f"{__name__}:build_plugin", group="agenteval.judges")
    monkeypatch.setattr(registry, "entry_points", lambda group: [plugin] if group == "agenteval.judges" else [])
    assert registry.available_judges()["mine"] == f"{__name__}:build_plugin"
    built = registry.build_judge("mine", model="m", judge_mode="checklist", cache=None)
    assert isinstance(built, PluginJudge) and built.options == {"cache": None, "model": "m", "judge_mode": "checklist"}
    with pytest.raises(ConfigError, match="unknown judge 'nope'"):
        registry.build_judge("nope")


def test_only_cli_and_evaluate_read_settings():
    import ast
    from pathlib import Path

    judges = Path(__file__).resolve().parents[1] / "agenteval" / "judges"
    for path in judges.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "agenteval.config" not in imported, path.name
