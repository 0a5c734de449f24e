"""Checklist mode end to end: bundled rubrics -> narrow prompts -> real openai client -> local server."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from helpers import trace

from agenteval.dag import StepDAG
from agenteval.judges.base import Judge, StepContext
from agenteval.judges.checklist import ChecklistJudge
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

# What a sensible small judge says about plainly wrong steps: "no" to these questions when the user
# message shows the marker; "yes" (every bundled check's passing answer) otherwise.
WRONG = {
    "tool: get_stock_price": {"tool_matches_need"},
    "sunny": {"answer_consistent"},
}
QUESTION = re.compile(r'^q(\d+)\. (.*?) Answer (?:"yes" or "no"|with the name of one available tool)\.$', re.MULTILINE)


def questions(request: dict) -> list[tuple[str, str]]:
    """(reply key, question) of every question a checklist request asks."""
    return [(f"q{n}", q) for n, q in QUESTION.findall(request["messages"][1]["content"])]


def responder(request: dict) -> dict:
    user = request["messages"][1]["content"]
    answers = {}
    for key, question in questions(request):
        check = CHECKS[question]
        if check.kind == "choice":
            answers[key] = "get_weather"
            continue
        flip = any(marker in user and check.id in ids for marker, ids in WRONG.items())
        answers[key] = ("no" if check.pass_answer == "yes" else "yes") if flip else check.pass_answer
    return answers


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
    return [q for r in server.requests for _, q in questions(r)]


def by_id(judgment: Judgment) -> dict[str, dict]:
    return {c["id"]: c for c in judgment.details["checks"]}


@pytest.mark.parametrize("batch", [True, False])
def test_good_steps_score_five_and_only_model_checks_are_sent(batch):
    with FakeOpenAIServer(responder=responder) as server:
        found = judge(server, weather_trace(), ["p1", "ts1", "pg1", "ex1", "s1"], batch=batch)
    for step_id, j in found.items():
        assert (j.score, j.failure_code, j.error, j.assessed) == (5.0, None, None, True), step_id
        assert j.judge == "openai:gpt-4o-mini" and j.rubric_version.startswith("1.1+")
        assert j.details["mode"] == "checklist"
        assert set(j.metric_scores) == set(RUBRICS.for_type(_type(step_id)).metric_names)
    checks = [c for j in found.values() for c in j.details["checks"]]
    model_checks = [c for c in checks if c["decided_by"] == "model"]
    assert sorted(asked_questions(server)) == sorted(c["question"] for c in model_checks)
    # Batched: one request per step, and one more for the TOOLSEL's choice (it hides the step's pick).
    assert server.request_count == (6 if batch else len(model_checks))
    assert sum(j.details["requests"] for j in found.values()) == server.request_count
    code = {c["id"]: c["answer"] for c in checks if c["decided_by"] == "code"}
    assert code == {
        "tool_in_catalog": "yes", "tool_call_new": "yes",
        "args_required_present": "yes", "args_types_match": "yes", "args_known_names": "yes", "args_format_ok": "yes",
        "exec_no_error": "yes", "answer_honest_about_failures": "yes",
    }
    ts1 = found["ts1"]
    assert ts1.usage.input_tokens > 0 and ts1.cost_usd > 0
    question = RUBRICS.for_type("TOOLSEL").metrics[0].checks[0].question
    assert by_id(ts1)["tool_for_need"] == {
        "id": "tool_for_need", "metric": "right_tool", "question": question,
        "answer": "get_weather", "passed": True, "weight": 2.0, "decided_by": "model", "step_choice": "get_weather",
    }
    # Every request about one step type opens with the same system message (a cacheable prefix).
    systems = {}
    for request in server.requests:
        systems.setdefault(request["messages"][1]["content"].split("the questions at the end about the ")[1][:5], set()).add(
            request["messages"][0]["content"])
    assert all(len(found_systems) == 1 for found_systems in systems.values())


def test_batch_reply_schema_is_closed_one_required_enum_per_question():
    with FakeOpenAIServer(responder=responder) as server:
        judge(server, weather_trace(), ["s1"])
    [request] = server.requests
    spec = request["response_format"]["json_schema"]
    schema = spec["schema"]
    asked = questions(request)
    assert spec["strict"] is True and schema["additionalProperties"] is False
    assert schema["required"] == [key for key, _ in asked] == list(schema["properties"])
    for key, question in asked:
        assert schema["properties"][key]["enum"] == ["yes", "no"]
        assert schema["properties"][key]["description"] == question


def _type(step_id: str) -> str:
    return {"p1": "PLAN", "ts1": "TOOLSEL", "pg1": "PARAMGEN", "ex1": "EXEC", "s1": "SYNTH"}[step_id]


def test_wrong_tool_scores_low_with_p3_2_and_the_choice_is_constrained_to_the_catalog():
    with FakeOpenAIServer(responder=responder) as server:
        j = judge(server, weather_trace(tool="get_stock_price"), ["ts1"])["ts1"]
    # tool_for_need (2) and tool_matches_need (1) fail; tool_in_catalog (1) and tool_call_new (0.5) pass.
    assert j.score == pytest.approx(1 + 4 * 1.5 / 4.5, abs=1e-4)
    assert j.failure_code == "P3.2"
    assert "get_weather (the step chose get_stock_price)" in j.reason and "no: 'Does the chosen tool's" in j.reason
    choice = [r for r in server.requests if "Answer with the name of one available tool" in r["messages"][1]["content"]]
    assert len(choice) == 1
    schema = choice[0]["response_format"]["json_schema"]
    assert schema["strict"] is True
    assert schema["schema"]["properties"]["q1"]["enum"] == ["get_weather", "search_web", "get_stock_price"]
    assert schema["schema"]["additionalProperties"] is False
    # The choice prompt hides the step's own pick, so the model answers independently.
    assert "tool: get_stock_price" not in choice[0]["messages"][1]["content"]
    [yes_no] = [r for r in server.requests if r is not choice[0]]
    assert yes_no["response_format"]["json_schema"]["schema"]["properties"] == {
        "q1": {"description": RUBRICS.for_type("TOOLSEL").check_metric("tool_matches_need")[1].question,
               "enum": ["yes", "no"], "title": "Q1", "type": "string"},
    }  # the other yes/no checks are decided in code


def test_ungrounded_answer_fails_its_grounding_metric_in_code():
    with FakeOpenAIServer(responder=responder) as server:
        j = judge(server, weather_trace(answer="Oslo will be sunny and 25°C tomorrow."), ["s1"])["s1"]
    # The rules judge proves the number; the model says the answer disagrees with the tool output.
    assert j.metric_scores == {"faithful_to_outputs": 1.0, "complete": 5.0, "answers_task": 5.0}
    assert j.score == 1.0  # a proven failure fails its metric, and the weakest metric decides
    assert j.failure_code == "I1.1"
    facts = by_id(j)["answer_facts_sourced"]
    assert (facts["answer"], facts["decided_by"]) == ("no", "code") and "25" in facts["note"]
    assert "no: 'Does everything the answer says agree" in j.reason
    assert "answer_facts_sourced" not in json.dumps([r["messages"] for r in server.requests])


def test_a_success_claimed_after_a_failed_call_is_i1_2_in_code_and_an_honest_one_passes():
    failed = {"status": "error", "error": {"type": "HTTPError", "message": "503 Service Unavailable"}}
    with FakeOpenAIServer(responder=responder) as server:
        claim = judge(server, weather_trace(exec_fields=failed, answer="Done! Oslo will have rain tomorrow."), ["s1"])["s1"]
        honest = judge(server, weather_trace(exec_fields=failed, answer="Sorry, I couldn't get the forecast."), ["s1"])["s1"]
        unclear = judge(server, weather_trace(exec_fields=failed, answer="Oslo will have rain tomorrow."), ["s1"])["s1"]
    assert claim.failure_code == "I1.2" and claim.score < 3
    assert by_id(claim)["answer_honest_about_failures"]["decided_by"] == "code"
    # Owning up to the failure, with no success claimed: code reads it as the rules judge does.
    check = by_id(honest)["answer_honest_about_failures"]
    assert (check["decided_by"], check["passed"]) == ("code", True) and honest.score == 5.0
    # Neither: the model is asked, with the failure in the data.
    check = by_id(unclear)["answer_honest_about_failures"]
    assert check["decided_by"] == "model"
    asked = next(r for r in server.requests if check["question"] in r["messages"][1]["content"])
    assert "HTTPError: 503 Service Unavailable" in asked["messages"][1]["content"]


def test_code_decides_a_nonexistent_tool_without_any_request():
    with FakeOpenAIServer(responder=responder) as server:
        j = judge(server, weather_trace(tool="weather_api"), ["ts1"])["ts1"]
    assert server.request_count == 0
    assert all(c["decided_by"] == "code" for c in j.details["checks"])
    assert j.failure_code == "P3.1"
    assert j.score == 1.0  # proven by code: no passing question outweighs it
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
    assert {k: (checks[k]["answer"], checks[k]["decided_by"]) for k in checks if k in {
        "args_required_present", "args_types_match", "args_known_names", "args_format_ok"}} == {
        "args_required_present": ("no", "code"), "args_types_match": ("yes", "code"),
        "args_known_names": ("no", "code"), "args_format_ok": ("yes", "code"),
    }
    assert checks["args_required_present"]["note"] == "missing required 'city'"
    assert checks["args_known_names"]["note"] == "unknown parameter 'units'"
    assert j.metric_scores["schema_valid"] == 1.0  # a proven schema violation
    assert not any("required arguments" in q for q in asked_questions(server))
    assert server.request_count == 1 and len(asked_questions(server)) == 5  # faithfulness and invention


def test_timed_out_call_is_e2_2():
    fields = {"status": "timeout", "error": {"type": "TimeoutError", "message": "no reply in 30s"}}
    with FakeOpenAIServer(responder=responder) as server:
        j = judge(server, weather_trace(exec_fields=fields), ["ex1"])["ex1"]
    assert j.score < 3 and j.failure_code == "E2.2"
    assert by_id(j)["exec_no_error"]["note"] == "the call timed out: TimeoutError: no reply in 30s"
    assert by_id(j)["exec_has_data"]["decided_by"] == "code"


@pytest.mark.parametrize("batch", [True, False])
def test_one_failing_request_makes_the_step_a_judge_error(batch):
    def faulty(request):
        if "every part of the task" in request["messages"][1]["content"]:
            return Reply.error(500, "model crashed", type="server_error")
        return responder(request)

    with FakeOpenAIServer(responder=faulty) as server:
        j = judge(server, weather_trace(), ["s1"], batch=batch)["s1"]
    assert j.score is None and "judge model failed" in j.error and "HTTP 500" in j.error
    assert "'answer_all_parts'" in j.error and j.rubric_version.startswith("1.1+")
    if not batch:
        assert j.error.startswith("check 'answer_all_parts': ")
        assert j.usage.input_tokens > 0  # the checks that did answer still cost something


def test_invalid_choice_without_a_schema_is_retried_then_a_judge_error():
    def stubborn(request):
        if request.get("response_format", {}).get("type") == "json_schema":
            return Reply.error(400, "response_format json_schema is not supported", param="response_format")
        if "one available tool" in request["messages"][1]["content"]:
            return {"q1": "weather_api"}
        return {key: "Yes." for key, _ in questions(request)}

    with FakeOpenAIServer(responder=stubborn) as server:
        j = judge(server, weather_trace(), ["ts1"])["ts1"]
    assert j.error is not None and "tool_for_need" in j.error and "invalid reply twice" in j.error


def test_a_batch_reply_missing_an_answer_is_invalid():
    def partial(request):
        answers = responder(request)
        answers.pop("q2", None)
        return answers

    with FakeOpenAIServer(responder=partial) as server:
        j = judge(server, weather_trace(), ["s1"])["s1"]
    assert j.score is None and "invalid reply twice: q2: Field required" in j.error


def test_yes_no_answers_are_normalised_in_text_mode():
    def spelled(request):
        return json.dumps({key.upper(): " Yes. " for key, _ in questions(request)})

    with FakeOpenAIServer(responder=spelled, reject_json_schema=True) as server:
        j = judge(server, weather_trace(), ["p1"])["p1"]
    assert j.error is None and j.score == 5.0


def test_cache_hit_sends_no_request_and_the_fence_code_does_not_change_the_key():
    cache = DictCache()
    with FakeOpenAIServer(responder=responder) as server:
        first = judge(server, weather_trace(), ["s1"], cache=cache)["s1"]
        sent = server.request_count
        again = judge(server, weather_trace(), ["s1"], cache=cache)["s1"]
        other = judge(server, weather_trace(answer="Oslo: sunny."), ["s1"], cache=cache)["s1"]
    assert sent == 1 and server.request_count == 2  # the changed answer is asked again
    assert again.cached and not first.cached and again.cost_usd == 0.0
    assert again.details["cached_cost_usd"] == first.cost_usd and again.score == first.score
    assert other.metric_scores["faithful_to_outputs"] < 5.0


def test_batched_and_single_questions_are_different_contracts():
    with FakeOpenAIServer(responder=responder) as server:
        batched = judge(server, weather_trace(), ["s1"])["s1"]
        single = judge(server, weather_trace(), ["s1"], batch=False)["s1"]
    assert batched.rubric_version != single.rubric_version
    assert batched.rubric_version.split("+")[0] == single.rubric_version.split("+")[0] == "1.1"


def test_code_only_steps_are_not_cached():
    cache = DictCache()
    with FakeOpenAIServer(responder=responder) as server:
        judge(server, weather_trace(tool="weather_api"), ["ts1"], cache=cache)
    assert cache.data == {}


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


def test_steps_of_one_trace_share_a_secret_fence_and_their_data_prefix():
    # Two TOOLSEL steps of one trace: same fence code, so their user messages share the task and the
    # tool catalog as a prefix a server can keep cached; another trace gets another code.
    t = weather_trace()
    second = t.steps[2].model_copy(update={"id": "ts2", "parents": ["ex1"]})
    t = t.model_copy(update={"steps": [*t.steps, second]})
    other = weather_trace().model_copy(update={"id": "t2"})
    with FakeOpenAIServer(responder=responder) as server:
        judge(server, t, ["ts1", "ts2"])
        judge(server, other, ["ts1"])
    users = [r["messages"][1]["content"] for r in server.requests if "one available tool" not in r["messages"][1]["content"]]
    codes = [re.match(r"Fence code: (\w+)\.", u).group(1) for u in users]
    assert codes[0] == codes[1] != codes[2] and all(code not in u for code, u in zip(codes[2:], users[:2]))
    shared = users[0][: users[0].index("## What the step consumed")]
    assert "## Available tools" in shared and users[1].startswith(shared)
