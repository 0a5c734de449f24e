"""The rules judge: every check, its edge cases, and the shipped example traces."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agenteval.dag import StepDAG
from agenteval.judges import rules
from agenteval.judges.base import Judge, StepContext
from agenteval.judges.rules import RUBRIC_VERSION, RulesJudge, build, judge_step_sync
from agenteval.models import Judgment, Step, StepType, Tool, Trace

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "traces"
THRESHOLDS = {"PLAN": 3.0, "TOOLSEL": 3.0, "PARAMGEN": 2.5, "EXEC": 3.0, "SYNTH": 3.0}

REASONS = ["damaged", "late_delivery", "changed_mind"]
CATALOG = [
    Tool(
        name="get_order",
        parameters={
            "type": "object",
            "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
            "required": ["order_id"],
        },
    ),
    Tool(
        name="issue_refund",
        parameters={
            "type": "object",
            "properties": {
                "order_id": {"type": "string"},
                "amount": {"type": "number"},
                "reason": {"type": "string", "enum": REASONS},
                "on": {"type": "string", "format": "date"},
                "items": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]},
                },
            },
            "required": ["order_id", "amount", "reason"],
            "additionalProperties": False,
        },
    ),
    Tool(name="open_search", parameters={"type": "object", "properties": {"q": {}}, "additionalProperties": True}),
    Tool(
        name="tagger",
        parameters={"type": "object", "properties": {"id": {}}, "patternProperties": {"^tag_": {"type": "string"}}},
    ),
    Tool(name="ping", description="No schema at all."),
    Tool(name="broken", parameters={"type": "objekt"}),
]


def st(id: str, type: str, parents: tuple[str, ...] = (), **fields: Any) -> Step:
    return Step(id=id, type=type, parents=list(parents), **fields)


def ok_exec(id: str, output: Any, tool: str = "get_order", **fields: Any) -> Step:
    return st(id, "EXEC", tool=tool, output=output, **fields)


def failed_exec(id: str, tool: str = "issue_refund") -> Step:
    return st(id, "EXEC", tool=tool, status="error", error={"type": "HTTPError", "message": "502 Bad Gateway"})


def trace_of(*steps: Step, tools: list[Tool] | None = None, task: str = "") -> Trace:
    return Trace(id="t", task=task, tools=CATALOG if tools is None else tools, steps=list(steps))


def judge(trace: Trace, step_id: str) -> Judgment:
    """Judge one step through the async protocol and check what every rules judgment promises."""
    dag = StepDAG.from_trace(trace)
    result = asyncio.run(RulesJudge().judge_step(StepContext(trace, dag, dag.step(step_id))))
    assert result.step_id == step_id
    assert result.judge == "rules"
    assert result.rubric_version == RUBRIC_VERSION == "rules-2"
    assert isinstance(result.details["checks"], list)
    assert result.error is None and result.score is not None
    assert "\n" not in result.reason and result.reason
    if not result.assessed:
        assert result.score == 3.0 and result.reason.startswith("not assessed by rules")
        assert result.failure_code is None and not result.decisive
    return result


def judge_one(step: Step, tools: list[Tool] | None = None) -> Judgment:
    return judge(trace_of(step, tools=tools), step.id)


def test_is_a_judge():
    judge_ = build()
    assert isinstance(judge_, RulesJudge) and isinstance(judge_, Judge) and judge_.name == "rules"


# ---------------------------------------------------------------------------------------------- EXEC


@pytest.mark.parametrize(
    ("fields", "score", "code", "decisive", "reason"),
    [
        ({"error": {"type": "KeyError", "message": "no order ORD-9"}}, 1, "E2.1", True,
         "get_order raised KeyError: no order ORD-9"),
        ({"error": "connection refused", "status": "error"}, 1, "E2.1", True, "get_order raised connection refused"),
        ({"status": "error"}, 1, "E2.1", True, "get_order failed (status 'error', no message)"),
        ({"status": "timeout"}, 1, "E2.2", True, "get_order timed out"),
        ({"status": "error", "error": {"type": "TimeoutError", "message": ""}}, 1, "E2.2", True,
         "get_order timed out: TimeoutError"),
        ({"error": "Read timed out after 30s"}, 1, "E2.2", True, "get_order timed out: Read timed out after 30s"),
        ({"error": {"type": "httpx.ReadTimeout", "message": "x"}}, 1, "E2.2", True,
         "get_order timed out: httpx.ReadTimeout: x"),
        ({"output": {"status": "shipped"}}, 5, None, False, "get_order returned a result"),
        ({"output": 0}, 5, None, False, "get_order returned a result"),
        ({"output": False}, 5, None, False, "get_order returned a result"),
    ],
)
def test_exec(fields, score, code, decisive, reason):
    result = judge_one(st("e", "EXEC", tool="get_order", **fields))
    assert (result.score, result.failure_code, result.decisive, result.assessed) == (score, code, decisive, True)
    assert result.details["checks"] == ["exec_timeout", "exec_error", "exec_empty"]
    if reason is not None:
        assert result.reason == reason


@pytest.mark.parametrize("output", [None, "", "  \n", {}, []])
def test_empty_result_where_the_tool_normally_returns_content(output):
    trace = trace_of(ok_exec("e1", {"status": "shipped"}), ok_exec("e2", output))
    result = judge(trace, "e2")
    assert (result.score, result.failure_code, result.decisive) == (2, "E2.3", False)
    assert result.reason.startswith("get_order returned an empty result (")
    assert result.reason.endswith("though it returned content in step(s) e1")


@pytest.mark.parametrize(
    ("steps", "tools", "score", "reason"),
    [
        # the only call: the trace cannot tell an empty lookup from a tool that returns nothing
        ([ok_exec("e", "", tool="think")], [], 3,
         'not assessed by rules (think returned nothing ("") in its only call; the trace cannot tell whether that '
         "is its normal answer)"),
        # every call comes back empty: that is what the tool returns
        ([ok_exec("e0", None, tool="think"), ok_exec("e", "", tool="think")], [], 4,
         'think returned nothing (""), as in all its 2 calls in this trace: that is its normal answer'),
        # a failed call says nothing about what the tool normally returns
        ([failed_exec("e0", tool="think"), ok_exec("e", "", tool="think")], [], 3, None),
        # the catalog says so, whatever name the tool has
        ([ok_exec("e", "", tool="note"), ok_exec("e2", "saved", tool="note")],
         [Tool(name="note", description="Use it to think. It will not obtain new information, just append the "
               "thought to the log.")], 4, 'note returned nothing (""), as its description says it does'),
        ([ok_exec("e", {}, tool="audit")], [Tool(name="audit", description="Records an audit event; returns nothing.")],
         4, "audit returned nothing ({}), as its description says it does"),
    ],
)
def test_empty_result_by_design_is_no_failure(steps, tools, score, reason):
    result = judge(trace_of(*steps, tools=tools), "e")
    assert (result.score, result.failure_code) == (score, None)
    if reason is not None:
        assert result.reason == reason


def test_exec_takes_the_tool_name_from_its_toolsel_parent():
    trace = trace_of(st("t", "TOOLSEL", output="get_order"), st("e", "EXEC", ("t",), output={"a": 1}))
    assert judge(trace, "e").reason == "get_order returned a result"
    nameless = trace_of(st("e", "EXEC", output=[1]))
    assert judge(nameless, "e").reason == "tool returned a result"


# ------------------------------------------------------------------------------------------ PARAMGEN


@pytest.mark.parametrize(
    ("tool", "arguments", "fragments"),
    [
        ("get_order", {}, ["missing required 'order_id'"]),
        ("get_order", {"amount": "12"}, ["missing required 'order_id'; 'amount' is not of type 'number'"]),
        ("get_order", {"order_id": "ORD-1", "memo": "x"}, ["unknown parameter 'memo'"]),
        ("issue_refund", {"order_id": "O", "amount": 5, "reason": "broken"},
         ["""'reason' must be one of "damaged", "late_delivery", "changed_mind" (got "broken")"""]),
        ("issue_refund", {"order_id": "O", "amount": 5, "reason": "damaged", "memo": 1},
         ["issue_refund: unknown parameter 'memo'"]),
        ("issue_refund", {"order_id": "O", "amount": 5, "reason": "damaged", "on": "next friday"},
         ["'on': 'next friday' is not a 'date'"]),
        ("issue_refund", {"order_id": "O", "amount": 5, "reason": "damaged", "items": [{"qty": 1}]},
         ["missing required 'items[0].sku'"]),
        ("get_order", [1, 2], ["arguments is not of type 'object'"]),
        ("get_order", '{"order_id": ', ["arguments are not valid JSON"]),
        ("get_order", "not json at all", ["arguments are not valid JSON"]),
        ("get_order", "", ["missing required 'order_id'"]),
        ("get_order", '{"order_id": 7}', ["'order_id' is not of type 'string'"]),
        ("tagger", {"id": 1, "tag_x": "a", "colour": "red"}, ["unknown parameter 'colour'"]),
        ("issue_refund", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}, ["(+4 more)"]),
    ],
)
def test_paramgen_violations(tool, arguments, fragments):
    result = judge_one(st("p", "PARAMGEN", tool=tool, arguments=arguments))
    assert (result.score, result.failure_code, result.decisive) == (1, "E1.1", True)
    assert result.reason.startswith(f"{tool}: ")
    for fragment in fragments:
        assert fragment in result.reason


def test_paramgen_reports_each_violation_once_in_a_stable_order():
    result = judge_one(st("p", "PARAMGEN", tool="get_order", arguments={"amount": "12"}))
    assert result.reason == "get_order: missing required 'order_id'; 'amount' is not of type 'number'"
    extra = judge_one(st("p", "PARAMGEN", tool="issue_refund", arguments={"order_id": "O", "amount": 1,
                                                                           "reason": "damaged", "memo": "x"}))
    assert extra.reason.count("memo") == 1


@pytest.mark.parametrize(
    ("tool", "fields"),
    [
        ("get_order", {"arguments": {"order_id": "ORD-1"}}),
        ("get_order", {"arguments": '{"order_id": "ORD-1", "amount": 3.5}'}),
        ("get_order", {"output": {"order_id": "ORD-1"}}),  # no arguments field: the output holds them
        ("open_search", {"arguments": {"q": "x", "anything": [1]}}),  # additionalProperties: true
        ("tagger", {"arguments": {"id": 1, "tag_colour": "red"}}),  # matched by patternProperties
        ("issue_refund", {"arguments": {"order_id": "O", "amount": 1, "reason": "damaged", "on": "2024-05-01"}}),
    ],
)
def test_paramgen_valid(tool, fields):
    result = judge_one(st("p", "PARAMGEN", tool=tool, **fields))
    assert (result.score, result.failure_code, result.decisive) == (5, None, False)
    assert result.reason == f"arguments validate against {tool}'s schema"
    assert result.details["checks"] == ["arguments_json", "arguments_schema"]


@pytest.mark.parametrize(
    ("step", "tools", "why"),
    [
        (st("p", "PARAMGEN", tool="ping", arguments="{{garbage"), None, "ping has no parameter schema"),
        (st("p", "PARAMGEN", tool="get_order", arguments={}), [], "no tool catalog"),
        (st("p", "PARAMGEN", tool="book_table", arguments={}), None, "book_table is not in the tool catalog"),
        (st("p", "PARAMGEN", arguments={"order_id": "x"}), None, "no tool name recorded"),
        (st("p", "PARAMGEN", tool="get_order"), None, "no arguments recorded"),
        (st("p", "PARAMGEN", tool="broken", arguments={}), None, "broken's parameter schema is invalid"),
    ],
)
def test_paramgen_not_assessed(step, tools, why):
    result = judge_one(step, tools=tools)
    assert not result.assessed
    assert why in result.reason


def test_paramgen_takes_the_tool_name_from_its_toolsel_parent():
    trace = trace_of(st("t", "TOOLSEL", tool="get_order"), st("p", "PARAMGEN", ("t",), arguments={}))
    assert judge(trace, "p").reason == "get_order: missing required 'order_id'"


def test_invalid_pattern_properties_is_not_assessed():
    tool = Tool(name="x", parameters={"type": "object", "properties": {}, "patternProperties": {"(": {}}})
    assert not judge_one(st("p", "PARAMGEN", tool="x", arguments={"a": 1}), tools=[tool]).assessed


# ------------------------------------------------------------------------------------------- TOOLSEL


@pytest.mark.parametrize(
    ("fields", "tools", "score", "code", "reason"),
    [
        ({"tool": "get_order"}, None, 4, None, "get_order exists in the tool catalog"),
        ({"output": " get_order "}, None, 4, None, "get_order exists in the tool catalog"),
        ({"tool": "refund_order"}, None, 1, "P3.1", "'refund_order' is not in the tool catalog (get_order, "
         "issue_refund, open_search, tagger, ping, broken)"),
        ({"output": "nope"}, [Tool(name=f"t{i}") for i in range(10)], 1, "P3.1",
         "'nope' is not in the tool catalog (t0, t1, t2, t3, t4, t5, t6, t7 (+2 more))"),
    ],
)
def test_toolsel(fields, tools, score, code, reason):
    result = judge_one(st("t", "TOOLSEL", **fields), tools=tools)
    assert (result.score, result.failure_code, result.decisive) == (score, code, code == "P3.1")
    assert result.reason == reason
    assert result.details["checks"] == ["tool_exists", "repeated_call"]


@pytest.mark.parametrize(
    ("step", "tools", "why"),
    [
        (st("t", "TOOLSEL", tool="anything"), [], "no tool catalog to look 'anything' up in"),
        (st("t", "TOOLSEL", output={"weird": 1}), None, "no tool name recorded"),
        (st("t", "TOOLSEL", output="  "), None, "no tool name recorded"),
    ],
)
def test_toolsel_not_assessed(step, tools, why):
    result = judge_one(step, tools=tools)
    assert not result.assessed and why in result.reason


def calls(*arguments: Any, tool: str = "get_order", via: str = "paramgen") -> list[Step]:
    """One TOOLSEL per call, its arguments on a PARAMGEN child (or on the TOOLSEL itself)."""
    steps: list[Step] = []
    for i, args in enumerate(arguments, start=1):
        if via == "paramgen":
            steps.append(st(f"t{i}", "TOOLSEL", tool=tool))
            steps.append(st(f"p{i}", "PARAMGEN", (f"t{i}",), tool=tool, arguments=args))
        else:
            steps.append(st(f"t{i}", "TOOLSEL", tool=tool, arguments=args))
    return steps


@pytest.mark.parametrize(
    ("steps", "tools", "expected"),
    [
        (calls({"order_id": "A"}, {"order_id": "A"}, {"order_id": "A"}, {"order_id": "A"}), None,
         {"t1": 4, "t2": 4, "t3": 2, "t4": 2}),
        (calls({"order_id": "A"}, '{"order_id": "A"}', {"order_id": "A"}), None, {"t3": 2}),  # string == dict
        (calls({"order_id": "A"}, {"order_id": "B"}, {"order_id": "A"}), None, {"t3": 4}),
        (calls({"q": 1}, {"q": 1}, {"q": 1}, via="toolsel"), None, {"t3": 2}),
        (calls(None, None, None), None, {"t3": 4}),  # unknown arguments are never "identical"
        (calls({"q": 1}, {"q": 1}, {"q": 1}, tool="ghost"), None, {"t2": 1, "t3": 1}),
        (calls({"q": 1}, {"q": 1}, {"q": 1}), [], {"t2": 3, "t3": 2}),
    ],
)
def test_toolsel_repeated_calls(steps, tools, expected):
    trace = trace_of(*steps, tools=tools)
    for step_id, score in expected.items():
        assert judge(trace, step_id).score == score, step_id


def test_repeated_call_reason_and_code():
    trace = trace_of(*calls(*[{"order_id": "A"}] * 4))
    third, fourth = judge(trace, "t3"), judge(trace, "t4")
    assert (third.failure_code, third.decisive) == ("P3.3", False)
    assert third.reason == "get_order called with identical arguments for the 3rd time (earlier: t1, t2)"
    assert "4th time (earlier: t1, t2, t3)" in fourth.reason


def test_nonexistent_and_repeated_keeps_the_worst_and_both_reasons():
    result = judge(trace_of(*calls({"q": 1}, {"q": 1}, {"q": 1}, tool="ghost")), "t3")
    assert (result.score, result.failure_code, result.decisive) == (1, "P3.1", True)
    assert "not in the tool catalog" in result.reason and "3rd time" in result.reason


# ---------------------------------------------------------------------------------------------- PLAN


@pytest.mark.parametrize("output", [None, "", "   \n", [], {}])
def test_empty_plan(output):
    result = judge_one(st("p", "PLAN", output=output))
    assert (result.score, result.failure_code, result.reason, result.decisive) == (1, "P2.1", "plan is empty", False)


@pytest.mark.parametrize("output", ["1. look up the order", ["look up", "refund"]])
def test_non_empty_plan_is_not_assessed(output):
    result = judge_one(st("p", "PLAN", output=output))
    assert result.reason == "not assessed by rules (plan is non-empty)"
    assert result.details["checks"] == ["plan_empty"]


@pytest.mark.parametrize("kind", ["USER", "SYSTEM"])
def test_user_and_system_steps_are_not_judged(kind):
    result = judge_one(st("u", kind, output=""))
    assert result.reason == f"not assessed by rules ({kind} steps are not judged)"
    assert result.details["checks"] == []


# --------------------------------------------------------------------------------------------- SYNTH


def synth_trace(answer: Any, *before: Step, task: str = "") -> Trace:
    return trace_of(*before, st("s", "SYNTH", tuple(s.id for s in before), output=answer), task=task)


@pytest.mark.parametrize("answer", [None, "", "  ", {}, []])
def test_empty_answer(answer):
    result = judge(synth_trace(answer), "s")
    assert (result.score, result.failure_code, result.reason) == (1, "I2.1", "answer is empty")


@pytest.mark.parametrize(
    ("answer", "output", "task"),
    [
        ("Order ORD-1042 totals $1,234.50.", {"id": "ORD-1042", "total": 1234.5}, ""),
        ("Revenue grew 12% to $3.0M", {"growth": 0.12, "revenue_musd": 3}, ""),
        ("About 33.3% of orders were late.", {"late_share": 0.33333}, ""),
        ("Conversion was 4.2%.", "conversion: 4.2%", ""),
        ("The balance is -15.75 USD", {"balance": -15.75}, ""),
        # an amount stated as a credit where the tool has it as a debit is the same figure
        ("You will receive a refund of $16.63.", {"difference": -16.63}, ""),
        ("I looked at 3 tables and 10 files, step 2 of 7.", {"ok": True}, ""),
        ("Between 2024-06-11 14:02 and 14:49 UTC 3,812 orders failed.",
         {"text": "On 2024-06-11\n14:02-14:49 UTC,\n3,812 orders failed"}, ""),
        ("As you asked, order 55321 is on its way.", {"status": "shipped"}, "Where is order 55321?"),
        ("Shipping the 250 units now.", ["done"], ""),  # 250 is in the EXEC's arguments (below)
        ("Latency was 1e-05 s.", {"latency": 0.00001}, ""),
    ],
)
def test_grounded_answer(answer, output, task):
    exec_ = ok_exec("e", output, arguments={"units": 250})
    result = judge(synth_trace(answer, exec_, task=task), "s")
    assert (result.score, result.failure_code) == (4, None), result.reason
    assert result.reason == "answer is non-empty and grounded in tool outputs; no unrecovered tool error"
    assert result.details["checks"] == ["answer_empty", "false_success", "ungrounded_numbers"]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("Total revenue was $4,218,350.", "answer states numbers no tool returned: $4,218,350"),
        ("The balance is -16.75 USD", "answer states numbers no tool returned: -16.75"),
        ("Values: 11, 12.5, 13%, 14 and 15", "answer states numbers no tool returned: 11, 12.5, 13% (+2 more)"),
        ("Growth was 18.4%.", "answer states numbers no tool returned: 18.4%"),
    ],
)
def test_ungrounded_numbers(answer, reason):
    trace = synth_trace(answer, ok_exec("e", {"balance": 15.75, "growth": 0.19}))
    result = judge(trace, "s")
    assert (result.score, result.failure_code, result.reason, result.decisive) == (2, "I1.1", reason, False)


def test_numbers_from_other_sources_ground_but_other_answers_do_not():
    steps = [
        st("u", "USER", output="my budget is 420"),
        st("e", "EXEC", tool="get_order", status="error", error="quota of 977 requests exceeded"),
        st("x", "SYNTH", output="Earlier I guessed 31337."),
    ]
    assert judge(synth_trace("Budget 420; quota 977.", *steps), "s").score == 4
    assert "31337" in judge(synth_trace("It is 31337.", *steps), "s").reason


@pytest.mark.parametrize(
    "answer",
    [
        "Your refund has been processed.",
        "Done! The refund is complete.",
        "I've issued the refund to your card.",
        "I\u2019ve issued the refund to your card.",
        "The refund was successfully submitted.",
        "Your table is booked for tonight.",
    ],
)
def test_false_success(answer):
    result = judge(synth_trace(answer, failed_exec("e")), "s")
    assert (result.score, result.failure_code, result.decisive) == (1, "I1.2", False)
    assert result.reason.startswith("answer claims success (")
    assert "issue_refund failed in step e and was not re-run successfully" in result.reason


@pytest.mark.parametrize(
    ("answer", "before"),
    [
        ("Sorry, I couldn't process the refund.", [failed_exec("e")]),
        ("The refund could not be completed because of an error.", [failed_exec("e")]),
        ("Unfortunately the refund service is down.", [failed_exec("e")]),
        ("Your refund has been processed.", [failed_exec("e"), ok_exec("e2", {"ok": 1}, tool="issue_refund")]),
        ("Here is what I found about your order.", [failed_exec("e")]),  # no success claim at all
    ],
)
def test_no_false_success(answer, before):
    result = judge(synth_trace(answer, *before), "s")
    assert (result.score, result.failure_code) == (4, None), result.reason


def test_success_after_a_different_tool_recovered_is_still_false():
    before = [failed_exec("e"), ok_exec("e2", {"ok": 1}, tool="get_order")]
    assert judge(synth_trace("Your refund has been processed.", *before), "s").failure_code == "I1.2"


def test_failures_after_the_answer_do_not_count():
    trace = trace_of(st("s", "SYNTH", output="Your refund has been processed."), failed_exec("e"))
    assert judge(trace, "s").score == 4


def test_false_success_and_ungrounded_numbers_keep_the_worst():
    result = judge(synth_trace("I've successfully refunded $59.00.", failed_exec("e")), "s")
    assert (result.score, result.failure_code) == (1, "I1.2")
    assert result.reason.endswith("; answer states numbers no tool returned: $59.00")


def test_answer_that_acknowledges_a_failure_says_so():
    result = judge(synth_trace("Sorry, that failed.", failed_exec("e")), "s")
    assert result.reason.endswith("does not claim success after issue_refund failed in step e")


# ------------------------------------------------------------------------------------------- plumbing


def test_a_crash_becomes_a_judge_error(monkeypatch):
    def explode(ctx: StepContext) -> Judgment:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setitem(rules._CHECKS, StepType.PLAN, explode)
    trace = trace_of(st("p", "PLAN", output="x"))
    dag = StepDAG.from_trace(trace)
    ctx = StepContext(trace, dag, dag.step("p"))
    result = asyncio.run(RulesJudge().judge_step(ctx))
    assert (result.score, result.error) == (None, "rules judge failed: RuntimeError: boom second line")
    with pytest.raises(RuntimeError):
        judge_step_sync(ctx)


# ------------------------------------------------------------------------------------------- examples

EXPECTED_FAILURES = {
    "refund.json": {},
    "data_analysis.json": {"ex2": "E2.1", "s1": "I1.2"},
    "document_summary.json": {},
    "hallucinated_tool.json": {"ts2": "P3.1", "ex2": "E2.1", "s1": "I1.2"},
    "bad_arguments.json": {"pg2": "E1.1", "ex2": "E2.1"},
}


def test_every_designed_example_ships():
    assert set(EXPECTED_FAILURES) <= {p.name for p in EXAMPLES.glob("*.json")}


@pytest.mark.parametrize("name", sorted(EXPECTED_FAILURES))
def test_example_trace(name):
    trace = Trace.model_validate_json((EXAMPLES / name).read_text())
    dag = StepDAG.from_trace(trace, source=name)
    failures = {}
    for step in trace.steps:
        result = asyncio.run(RulesJudge().judge_step(StepContext(trace, dag, step)))
        assert result.error is None
        if step.type.judged and result.score < THRESHOLDS[step.type.value]:
            failures[step.id] = result.failure_code
    assert failures == EXPECTED_FAILURES[name]
    assert 5 <= len(trace.steps) <= 12
    assert sum(s.is_final for s in trace.steps) == 1


# ------------------------------------------------------------- what the rules no longer cry wolf on


@pytest.mark.parametrize(
    ("answer", "output"),
    [
        # a price difference the answer shows its operands for, and one against a listed price
        ("The new one is $249.01 and yours was $262.47, so you get $13.46 back.", {"price": 249.01, "old": 262.47}),
        ("Yours was $262.47, so you will receive a refund of $13.46.", {"old": 262.47, "new": 249.01}),
        # a total of the items it lists
        ("Keyboard $235.13, headphones $346.97, chair $511.24: $1,093.34 in all.",
         {"items": [235.13, 346.97, 511.24]}),
        # a quantity times a unit price, then times the visits
        ("3 tickets at $8.25 = $24.75 per visit; 4 visits = $99.", {"price": 8.25}),
        # a percentage of an amount
        ("10% off $80.50 saves you $8.05.", {"price": 80.5}),
        # digits of an identifier, quoted on their own
        ("I will charge the PayPal account ending in 7644869.", {"payment": "paypal_7644869"}),
        # a scaled figure
        ("Its revenue was 1080000000 dollars.", {"revenue": "1.08 billion"}),
        # list markers and code locations are not figures
        ("Options:\n11. Blue kettle\n12. Red kettle", {"n": 2}),
        ("scenario.py:94: UserWarning at /workspace/run/1234/x", {"ok": 1}),
    ],
)
def test_grounded_in_what_the_answer_computes_or_quotes(answer, output):
    result = judge(synth_trace(answer, ok_exec("e", output)), "s")
    assert (result.score, result.failure_code) == (4, None), result.reason


@pytest.mark.parametrize(
    ("answer", "listed"),
    [
        # invented figures cannot explain each other
        ("The total is $30 = $20 + $10.", "$30, $20"),
        # a made-up amount next to real ones
        ("The keyboard is $235.13 and shipping is $17.77.", "$17.77"),
        # a difference of two source values the answer does not state is not assumed (with many
        # prices in a trace, some pair would match almost any amount)
        ("You will receive a refund of $13.46.", "$13.46"),
    ],
)
def test_still_ungrounded(answer, listed):
    result = judge(synth_trace(answer, ok_exec("e", {"price": 235.13, "old": 262.47, "new": 249.01})), "s")
    assert result.failure_code == "I1.1" and result.reason.endswith(listed)


def test_a_figure_an_earlier_answer_derived_grounds_its_restatement():
    steps = [
        ok_exec("e", {"old": 262.47, "new": 249.01}),
        st("s1", "SYNTH", ("e",), output="Yours was $262.47, the new one $249.01: a refund of $13.46."),
        st("u", "USER", ("s1",), output="yes"),
        st("s", "SYNTH", ("u",), output="Done: $13.46 is on its way to your card."),
    ]
    assert judge(trace_of(*steps), "s").score == 4
    # an earlier answer's invention does not ground it
    steps[1] = st("s1", "SYNTH", ("e",), output="You get a refund of $13.46.")
    steps[3] = st("s", "SYNTH", ("u",), output="Done: $13.47 is on its way to your card.")
    assert judge(trace_of(*steps), "s").failure_code == "I1.1"


@pytest.mark.parametrize(
    ("before", "answer", "code"),
    [
        # retried with corrected arguments before the answer
        ([failed_exec("e1"), ok_exec("e2", {"ok": 1}, tool="issue_refund", arguments={"order_id": "B"})],
         "Your refund has been processed.", None),
        # the same request made through another tool
        ([st("e1", "EXEC", tool="exchange", arguments={"order_id": "#W9", "item": "111"}, **{"status": "error"}),
          ok_exec("e2", {"ok": 1}, tool="modify", arguments={"order_id": "#W9", "item": "111", "pay": "card"})],
         "Your order has been successfully modified.", None),
        # a failure before the previous answer was that answer's to report
        ([failed_exec("e1"), st("s0", "SYNTH", output="Sorry, the refund failed."),
          ok_exec("e2", {"ok": 1}, tool="get_order")],
         "Your address has been updated.", None),
        # a failure since the previous answer, not made good
        ([st("s0", "SYNTH", output="Let me try."), failed_exec("e1")], "Your refund has been processed.", "I1.2"),
    ],
)
def test_false_success_needs_an_unrecovered_failure_it_reports_on(before, answer, code):
    assert judge(synth_trace(answer, *before), "s").failure_code == code


def test_repeating_a_call_to_a_stateful_tool_is_no_loop():
    steps = calls({"action": "scroll_down"}, {"action": "scroll_down"}, {"action": "scroll_down"}, tool="open_search")
    pages = [st(f"e{i}", "EXEC", (f"p{i}",), tool="open_search", output=f"page {i}") for i in (1, 2, 3)]
    assert judge(trace_of(*steps, *pages), "t3").failure_code is None
    same = [st(f"e{i}", "EXEC", (f"p{i}",), tool="open_search", output="page 1") for i in (1, 2, 3)]
    assert judge(trace_of(*steps, *same), "t3").failure_code == "P3.3"


def test_grounding_is_worked_out_per_trace():
    # the same answer ids in two traces: each is checked against its own trace's sources
    grounded = trace_of(ok_exec("e", {"total": 4218.5}), st("s", "SYNTH", ("e",), output="Total: $4,218.50"))
    invented = trace_of(ok_exec("e", {"total": 17}), st("s", "SYNTH", ("e",), output="Total: $4,218.50"))
    assert judge(grounded, "s").score == 4
    assert judge(invented, "s").failure_code == "I1.1"
    assert judge(grounded, "s").score == 4
