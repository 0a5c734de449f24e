"""Checklist mode end to end: bundled rubrics -> narrow prompts -> real openai client -> local server."""

from __future__ import annotations

import asyncio
import json

import pytest
from helpers import trace

from agenteval.dag import StepDAG
from agenteval.judges.base import Judge, StepContext
from agenteval.judges.checklist import ChecklistJudge, choice_model
from agenteval.judges.llm import LLMClient, Tier
from agenteval.judges.llm_judge import CostBudget
from agenteval.models import Judgment, Tool, Usage
from agenteval.rubrics import load_rubrics
from agenteval.taxonomy import load_taxonomy
from agenteval.testing import FakeOpenAIServer, Reply

RUBRICS = load_rubrics()
CODES = [(c.code, c.name) for c in load_taxonomy().codes()]
CHECKS = {c.question: c for r in RUBRICS.rubrics.values() for m in r.metrics for c in m.checks}

WEATHER = Tool(
    name="get_weather",
    description="Weather forecast for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "day": {"type": "string", "enum": ["today", "tomorrow"]}},
        "required": ["city"],
        "additionalProperties": False,
    },
)
TOOLS = [
    WEATHER,
    Tool(name="search_web", description="Web search."),
    Tool(name="get_stock_price", description="Stock quotes."),
]
TASK = "What will the weather be in Oslo tomorrow?"

# What a sensible small judge says about plainly wrong steps: the opposite of the passing answer
# to these questions when the user message shows the marker.
WRONG = {
    "tool: get_stock_price": {"tool_matches_need"},
    "sunny": {"answer_facts_sourced", "answer_false_success", "answer_contradicts"},
}


def responder(request: dict) -> dict:
    system, user = (m["content"] for m in request["messages"])
    question = system.split("Question: ", 1)[1].split("\n", 1)[0]
    check = CHECKS[question]
    if check.kind == "choice":
        return {"answer": "get_weather"}
    flip = any(marker in user and check.id in ids for marker, ids in WRONG.items())
    return {"answer": ("no" if check.pass_answer == "yes" else "yes") if flip else check.pass_answer}


def weather_trace(*, tool="get_weather", arguments=None, exec_fields=None, answer="Oslo expects rain, 7°C tomorrow."):
    return trace(
        ("u1", "USER", [], {"output": TASK}),
        ("p1", "PLAN", ["u1"], {"output": "1. Call get_weather for Oslo, tomorrow. 2. Tell the user."}),
        ("ts1", "TOOLSEL", ["p1"], {"tool": tool}),
        ("pg1", "PARAMGEN", ["ts1"], {"tool": tool, "arguments": arguments or {"city": "Oslo", "day": "tomorrow"}}),
        ("ex1", "EXEC", ["pg1"], {"tool": tool, **(exec_fields or {"output": {"forecast": "rain", "temp_c": 7}})}),
        ("s1", "SYNTH", ["ex1"], {"output": answer, "is_final": True}),
        task=TASK,
        tools=TOOLS,
    )


class DictCache:
    def __init__(self) -> None:
        self.data: dict[str, Judgment] = {}

    def cache_get(self, key: str) -> Judgment | None:
        return self.data.get(key)

    def cache_put(self, key: str, judgment: Judgment) -> None:
        self.data[key] = judgment


def judge(server, t, step_ids, *, max_retries=0, **options) -> dict[str, Judgment]:
    dag = StepDAG.from_trace(t)
    tier = Tier(model="gpt-4o-mini", base_url=server.base_url, timeout_s=5, max_retries=max_retries)

    async def main():
        checklist = ChecklistJudge(LLMClient([tier], concurrency=4), RUBRICS, taxonomy_codes=CODES, **options)
        try:
            found = await asyncio.gather(*(checklist.judge_step(StepContext(t, dag, dag.step(s))) for s in step_ids))
        finally:
            await checklist.aclose()
        return dict(zip(step_ids, found, strict=True))

    return asyncio.run(main())


def asked_questions(server) -> list[str]:
    return [r["messages"][0]["content"].split("Question: ", 1)[1].split("\n", 1)[0] for r in server.requests]


def by_id(judgment: Judgment) -> dict[str, dict]:
    return {c["id"]: c for c in judgment.details["checks"]}


def test_good_steps_score_five_and_only_model_checks_are_sent():
    with FakeOpenAIServer(responder=responder) as server:
        found = judge(server, weather_trace(), ["p1", "ts1", "pg1", "ex1", "s1"])
    for step_id, j in found.items():
        assert (j.score, j.failure_code, j.error, j.assessed) == (5.0, None, None, True), step_id
        assert j.judge == "openai:gpt-4o-mini" and j.rubric_version == "1.0" and j.details["mode"] == "checklist"
        assert set(j.metric_scores) == set(RUBRICS.for_type(_type(step_id)).metric_names)
    checks = [c for j in found.values() for c in j.details["checks"]]
    model_checks = [c for c in checks if c["decided_by"] == "model"]
    assert server.request_count == len(model_checks)
    assert sorted(asked_questions(server)) == sorted(c["question"] for c in model_checks)
    code = {c["id"]: c["answer"] for c in checks if c["decided_by"] == "code"}
    assert code == {
        "tool_in_catalog": "yes", "tool_repeats_call": "no",
        "args_required_present": "yes", "args_types_match": "yes", "args_unknown_name": "no", "args_format_ok": "yes",
        "exec_no_error": "yes",
    }
    ts1 = found["ts1"]
    assert ts1.usage.input_tokens > 0 and ts1.cost_usd > 0
    question = RUBRICS.for_type("TOOLSEL").metrics[0].checks[0].question
    assert by_id(ts1)["tool_for_need"] == {
        "id": "tool_for_need", "metric": "right_tool", "question": question,
        "answer": "get_weather", "passed": True, "weight": 2.0, "decided_by": "model", "step_choice": "get_weather",
    }


def _type(step_id: str) -> str:
    return {"p1": "PLAN", "ts1": "TOOLSEL", "pg1": "PARAMGEN", "ex1": "EXEC", "s1": "SYNTH"}[step_id]


def test_wrong_tool_scores_low_with_p3_2_and_the_choice_is_constrained_to_the_catalog():
    with FakeOpenAIServer(responder=responder) as server:
        j = judge(server, weather_trace(tool="get_stock_price"), ["ts1"])["ts1"]
    # tool_for_need (2) and tool_matches_need (1) fail; tool_in_catalog (1) and no repeat (0.5) pass.
    assert j.score == pytest.approx(1 + 4 * 1.5 / 4.5, abs=1e-4)
    assert j.failure_code == "P3.2"
    assert "get_weather (the step chose get_stock_price)" in j.reason and "no: 'Does the chosen tool's" in j.reason
    choice = [r for r in server.requests if r["response_format"]["json_schema"]["name"] == "ChoiceAnswer"]
    assert len(choice) == 1
    schema = choice[0]["response_format"]["json_schema"]
    assert schema["strict"] is True
    assert schema["schema"]["properties"]["answer"]["enum"] == ["get_weather", "search_web", "get_stock_price"]
    assert schema["schema"]["additionalProperties"] is False
    # The choice prompt hides the step's own pick, so the model answers independently.
    assert "tool: get_stock_price" not in choice[0]["messages"][1]["content"]
    yes_no = [r for r in server.requests if r is not choice[0]]
    enums = [r["response_format"]["json_schema"]["schema"]["properties"]["answer"]["enum"] for r in yes_no]
    assert enums == [["yes", "no"]]  # tool_matches_need; the other yes/no checks are decided in code


def test_ungrounded_answer_fails_its_grounding_metric():
    with FakeOpenAIServer(responder=responder) as server:
        j = judge(server, weather_trace(answer="Oslo will be sunny and 25°C tomorrow."), ["s1"])["s1"]
    assert j.metric_scores == {"faithful_to_outputs": 1.0, "complete": 5.0, "answers_task": 5.0}
    assert j.score == 1.0  # the weakest metric decides: an ungrounded answer fails
    assert j.failure_code == "I1.1"
    assert j.reason.startswith("no: 'Is every fact and number in the answer found")
    assert "yes: 'Does the answer say something worked" in j.reason


def test_code_decides_a_nonexistent_tool_without_any_request():
    with FakeOpenAIServer(responder=responder) as server:
        j = judge(server, weather_trace(tool="weather_api"), ["ts1"])["ts1"]
    assert server.request_count == 0
    assert all(c["decided_by"] == "code" for c in j.details["checks"])
    assert j.failure_code == "P3.1"
    assert j.score == pytest.approx(1 + 4 * 0.5 / 4.5, abs=1e-4)  # only "no repeated call" passes
    assert by_id(j)["tool_for_need"]["note"] == "the step's tool 'weather_api' is not one of the choices"
    assert j.usage == Usage() and j.cost_usd == 0.0 and j.model == "gpt-4o-mini"


def test_empty_answer_is_decided_in_code_as_incomplete():
    with FakeOpenAIServer(responder=responder) as server:
        j = judge(server, weather_trace(answer="  "), ["s1"])["s1"]
    assert server.request_count == 0
    assert (j.score, j.failure_code) == (1.0, "I2.1")
    assert j.metric_scores == {"complete": 1.0, "answers_task": 1.0}  # grounding has nothing to check
    assert by_id(j)["answer_facts_sourced"]["passed"] is None


def test_schema_violations_are_decided_in_code():
    with FakeOpenAIServer(responder=responder) as server:
        j = judge(server, weather_trace(arguments={"day": "tomorrow", "units": "C"}), ["pg1"])["pg1"]
    checks = by_id(j)
    assert {k: (checks[k]["answer"], checks[k]["decided_by"]) for k in checks if k.startswith("args_") and k in {
        "args_required_present", "args_types_match", "args_unknown_name", "args_format_ok"}} == {
        "args_required_present": ("no", "code"), "args_types_match": ("yes", "code"),
        "args_unknown_name": ("yes", "code"), "args_format_ok": ("yes", "code"),
    }
    assert checks["args_required_present"]["note"] == "missing required 'city'"
    assert checks["args_unknown_name"]["note"] == "unknown parameter 'units'"
    assert j.metric_scores["schema_valid"] == pytest.approx(1 + 4 * 2.0 / 4.5, abs=1e-4)
    assert not any("required arguments" in q for q in asked_questions(server))
    assert server.request_count == 5  # the faithfulness and invention checks only


def test_timed_out_call_is_e2_2():
    fields = {"status": "timeout", "error": {"type": "TimeoutError", "message": "no reply in 30s"}}
    with FakeOpenAIServer(responder=responder) as server:
        j = judge(server, weather_trace(exec_fields=fields), ["ex1"])["ex1"]
    assert j.score < 3 and j.failure_code == "E2.2"
    assert by_id(j)["exec_no_error"]["note"] == "the call timed out: TimeoutError: no reply in 30s"
    assert by_id(j)["exec_has_data"]["decided_by"] == "code"


def test_one_failing_check_makes_the_step_a_judge_error():
    def faulty(request):
        if "every part of the task" in request["messages"][0]["content"]:
            return Reply.error(500, "model crashed", type="server_error")
        return responder(request)

    with FakeOpenAIServer(responder=faulty) as server:
        j = judge(server, weather_trace(), ["s1"])["s1"]
    assert j.score is None and j.error.startswith("check 'answer_all_parts': judge model failed")
    assert "HTTP 500" in j.error and j.rubric_version == "1.0"
    assert j.usage.input_tokens > 0  # the checks that did answer still cost something


def test_invalid_choice_without_a_schema_is_retried_then_a_judge_error():
    def stubborn(request):
        if request.get("response_format", {}).get("type") == "json_schema":
            return Reply.error(400, "response_format json_schema is not supported", param="response_format")
        return {"answer": "weather_api"} if "<choice>" in request["messages"][0]["content"] else {"answer": "Yes."}

    with FakeOpenAIServer(responder=stubborn) as server:
        j = judge(server, weather_trace(), ["ts1"])["ts1"]
    assert j.error is not None and "tool_for_need" in j.error and "invalid reply twice" in j.error


def test_yes_no_answers_are_normalised_in_text_mode():
    with FakeOpenAIServer(responder=lambda r: json.dumps({"answer": " Yes. "}), reject_json_schema=True) as server:
        j = judge(server, weather_trace(), ["p1"])["p1"]
    # Every PLAN check is now answered "yes": the "no"-passing ones fail.
    assert j.error is None and j.metric_scores["covers_goal"] == pytest.approx(1 + 4 * 4 / 5, abs=1e-4)


def test_cache_hit_sends_no_request():
    cache = DictCache()
    with FakeOpenAIServer(responder=responder) as server:
        first = judge(server, weather_trace(), ["s1"], cache=cache)["s1"]
        sent = server.request_count
        again = judge(server, weather_trace(), ["s1"], cache=cache)["s1"]
        other = judge(server, weather_trace(answer="Oslo: sunny."), ["s1"], cache=cache)["s1"]
    assert sent == 7 and server.request_count == 14  # the changed answer is asked again
    assert again.cached and not first.cached and again.cost_usd == 0.0
    assert again.details["cached_cost_usd"] == first.cost_usd and again.score == first.score
    assert other.metric_scores["faithful_to_outputs"] == 1.0


def test_code_only_steps_are_not_cached_and_choice_models_are_reused():
    cache = DictCache()
    with FakeOpenAIServer(responder=responder) as server:
        judge(server, weather_trace(tool="weather_api"), ["ts1"], cache=cache)
    assert cache.data == {}
    assert choice_model(("a", "b")) is choice_model(("a", "b"))


def test_budget_reached_means_not_judged():
    with FakeOpenAIServer(responder=responder) as server:
        j = judge(server, weather_trace(), ["s1"], budget=CostBudget(0))["s1"]
    assert server.request_count == 0
    assert (j.assessed, j.score, j.details["not_judged"]) == (False, None, "max_cost")


def test_is_a_judge_and_a_non_judged_type_is_a_judge_error():
    with FakeOpenAIServer(responder=responder) as server:
        j = judge(server, weather_trace(), ["u1"])["u1"]
        assert isinstance(ChecklistJudge(LLMClient([Tier(model="m", base_url=server.base_url)]), RUBRICS), Judge)
    assert j.error is not None and server.request_count == 0
