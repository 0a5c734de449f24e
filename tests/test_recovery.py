"""The one definition of "recovered" that the rules judge and propagation share (pure, tables)."""

import pytest
from helpers import trace

from agenteval.dag import StepDAG
from agenteval.recovery import acknowledges_failure, correctable, recovered_steps, recovery, unrecovered_failures, malfunctioned

ERROR = {"status": "error", "error": "502 Bad Gateway"}
REFUSED = {"status": "error", "error": "Error: refund window has closed"}


def call(n, tool, arguments=None, parents=(), **exec_fields):
    """TOOLSEL tN -> PARAMGEN pN -> EXEC eN for one call (the EXEC ok with output "ok" unless told)."""
    exec_fields = {"output": "ok", **exec_fields}
    return [
        (f"t{n}", "TOOLSEL", list(parents), {"tool": tool}),
        (f"p{n}", "PARAMGEN", [f"t{n}"], {"tool": tool, "arguments": arguments}),
        (f"e{n}", "EXEC", [f"p{n}"], {"tool": tool, "arguments": arguments, **exec_fields}),
    ]


def answer(sid, text, parent):
    return [(sid, "SYNTH", [parent], {"output": text})]


ORDER = {"order_id": "#W1", "item_ids": ["111"], "new_item_ids": ["222"]}

CASES = {
    # name: (steps, step asked about, failure code, expected (how, step) or None)
    "a plain retry": (
        call(1, "lookup", {"id": "A1"}, **ERROR) + call(2, "lookup", {"id": "A1"}, ["e1"]),
        "e1", "E2.1", ("retried", "e2")),
    "a retry with corrected arguments": (
        call(1, "lookup", {"email": "x@y.z"}, **ERROR) + call(2, "lookup", {"email": "x@y.com"}, ["e1"]),
        "e1", "E2.1", ("retried", "e2")),
    "a retry that also fails is none": (
        call(1, "lookup", {"id": "A1"}, **ERROR) + call(2, "lookup", {"id": "A1"}, ["e1"], **ERROR),
        "e1", "E2.1", None),
    "another tool with the same request": (
        call(1, "exchange_items", ORDER, **ERROR) + call(2, "modify_items", {**ORDER, "payment": "card_9"}, ["e1"]),
        "e1", "E2.1", ("replaced", "e2")),
    "another tool on only part of the request is none": (
        call(1, "modify_address", {"user_id": "u_77", "city": "Seattle"}, **ERROR)
        + call(2, "get_user", {"user_id": "u_77"}, ["e1"]),
        "e1", "E2.1", None),
    "telling the user it failed": (
        call(1, "refund", {"id": "A1"}, **REFUSED) + answer("s", "Sorry, I couldn't issue the refund.", "e1"),
        "e1", "E2.1", ("acknowledged", "s")),
    "telling the user about an outage does not reach the goal": (
        call(1, "refund", {"id": "A1"}, **ERROR) + answer("s", "Sorry, the refund service is down; try later.", "e1"),
        "e1", "E2.1", None),
    "a timeout reported in the final answer stays a failure": (
        call(1, "refund", {"id": "A1"}, status="timeout") + answer("s", "Sorry, the refund timed out.", "e1"),
        "e1", "E2.2", None),
    "telling the user it is not possible": (
        call(1, "modify_items", ORDER, **REFUSED)
        + answer("s", "It seems the system doesn't allow partial cancellations.", "e1"),
        "e1", "E2.1", ("acknowledged", "s")),
    "the agent's next step notes the failure and replans": (
        call(1, "run_code", {"code": "import pytesseract"}, **ERROR)
        + [("n", "PLAN", ["e1"], {"output": "It appears that the OCR tool is not installed; let's assume the shape instead."})]
        + answer("s", "Assuming a regular hexagon, the area is 259.81.", "n"),
        "e1", "E2.1", ("acknowledged", "n")),
    "noting a crash in a step nothing builds on does not go on another way": (
        call(1, "run_code", {"code": "import pytesseract"}, **ERROR)
        + [("n", "PLAN", ["e1"], {"output": "It appears that the OCR tool is not installed."})],
        "e1", "E2.1", None),
    "a next step that reads on as if nothing failed is no acknowledgement": (
        call(1, "run_code", {"code": "search()"}, **ERROR)
        + [("n", "PLAN", ["e1"], {"output": "We have obtained some search results; the first looks reliable."})],
        "e1", "E2.1", None),
    "a plan noting the failure acknowledges it only for the EXEC, not for a wrong argument": (
        call(1, "lookup", {"id": "A1"}, **ERROR)
        + [("n", "PLAN", ["e1"], {"output": "The lookup failed, so let's ask the user for the id."})],
        "p1", "E1.1", None),
    "an answer that claims success is no acknowledgement": (
        call(1, "refund", {"id": "A1"}, **ERROR) + answer("s", "Your refund has been issued.", "e1"),
        "e1", "E2.1", None),
    "only the first answer after the failure counts": (
        call(1, "refund", {"id": "A1"}, **ERROR) + answer("s1", "All set!", "e1")
        + answer("s2", "Sorry, that failed.", "s1"),
        "e1", "E2.1", None),
    "an empty result is made good only by content": (
        call(1, "search", {"q": "kettle"}, output=[]) + call(2, "search", {"q": "red kettle"}, ["e1"], output=[])
        + call(3, "search", {"q": "red kettle"}, ["e2"], output=[{"sku": "K1"}]),
        "e1", "E2.3", ("retried", "e3")),
    "a call whose execution did not fail has nothing to recover from": (
        call(1, "lookup", {"id": "A1"}) + call(2, "lookup", {"id": "A1"}, ["e1"]),
        "e1", None, None),
    # the decision steps of a failed call
    "bad arguments, corrected on the same target": (
        call(1, "create_ticket", {"customer": "CUST-1", "priority": "critical"}, **ERROR)
        + call(2, "create_ticket", {"customer": "CUST-1", "priority": "high"}, ["e1"]),
        "p1", "E1.1", ("retried", "e2")),
    "a nonexistent tool, replaced by the right one": (
        call(1, "book_table", {"restaurant": "rst_5521", "time": "19:30"}, **ERROR)
        + call(2, "reserve", {"restaurant": "rst_5521", "time": "19:30"}, ["e1"]),
        "t1", "P3.1", ("replaced", "e2")),
    "a general tool run on something else is another decision": (
        call(1, "terminal", {"code": "import pandas; analyse('a.csv')"}, **ERROR)
        + call(2, "terminal", {"code": "print('mock data')"}, ["e1"]),
        "p1", "E1.1", None),
    "acknowledging does not undo a wrong call": (
        call(1, "create_ticket", {"customer": "CUST-1"}, **ERROR) + answer("s", "Sorry, I couldn't open it.", "e1"),
        "p1", "E1.1", None),
    "a finding about the decision, not the call, is not undone by a later call": (
        call(1, "terminal", {"code": "x = 1"}, **ERROR) + call(2, "terminal", {"code": "x = 1"}, ["e1"]),
        "p1", None, None),
    "a goal misread is not undone by a later call": (
        call(1, "terminal", {"code": "x = 1"}, **ERROR) + call(2, "terminal", {"code": "x = 1"}, ["e1"]),
        "t1", "P1.1", None),
    "a step that is no call": ([("a", "PLAN", []), ("b", "SYNTH", ["a"], {"output": "Sorry, failed."})], "a", None, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_recovery(case):
    steps, step_id, code, expected = CASES[case]
    dag = StepDAG.from_trace(trace(*steps))
    found = recovery(dag, step_id, code=code)
    assert (None if found is None else (found.how, found.step_id)) == expected


def test_recovery_before_a_position_ignores_later_steps():
    steps = call(1, "refund", {"id": "A1"}, **ERROR) + answer("s", "Done!", "e1") + call(2, "refund", {"id": "A1"}, ["s"])
    dag = StepDAG.from_trace(trace(*steps))
    assert recovery(dag, "e1").how == "retried"
    assert recovery(dag, "e1", before=dag.position("s")) is None
    assert [s.id for s in unrecovered_failures(dag, dag.position("s"))] == ["e1"]
    assert unrecovered_failures(dag, len(steps)) == []


def test_recovered_steps_and_descriptions():
    steps, *_ = CASES["a retry with corrected arguments"]
    dag = StepDAG.from_trace(trace(*steps))
    found = recovered_steps(dag, {"e1": "E2.1", "p1": None})
    assert set(found) == {"e1"}
    assert found["e1"].describe() == "retried: lookup succeeded in step e2"
    steps, *_ = CASES["telling the user it failed"]
    dag = StepDAG.from_trace(trace(*steps))
    assert recovery(dag, "e1").describe() == "acknowledged in step s"


@pytest.mark.parametrize(
    ("text", "acknowledges"),
    [
        ("Sorry, I couldn't find a user with that email.", True),
        ("The exact variant is currently unavailable.", True),
        ("Unfortunately, the order cannot be exchanged.", True),
        ("That item was not found.", True),
        ("Your refund has been processed.", False),
        ("I'm sorry your blender arrived damaged; I've issued a full refund.", False),  # courtesy is no failure
        ("Unfortunately the item is back in stock only next week, and it is available then.", False),
        ("Here are the options for your keyboard.", False),
    ],
)
def test_acknowledges_failure(text, acknowledges):
    assert acknowledges_failure(text) is acknowledges


@pytest.mark.parametrize(("code", "ok"), [("E1.1", True), ("E1.3", True), ("P3.1", True), ("P3.2", True),
                                          ("P3.3", False), ("P1.1", False), ("I1.1", False), (None, False)])
def test_correctable(code, ok):
    assert correctable(code) is ok


def test_an_output_the_trace_did_not_record_is_unknown_not_empty():
    steps = call(1, "search", {"q": "kettle"}, output=[]) + call(2, "search", {"q": "kettle"}, ["e1"], output=None)
    steps[-1][3]["unrecorded"] = ["output"]
    dag = StepDAG.from_trace(trace(*steps))
    # the retry completed as far as the trace shows: the empty lookup counts as made good
    assert recovery(dag, "e1", code="E2.3").how == "retried"
    # and an unrecorded result is no empty result to recover from
    assert recovery(dag, "e2", code="E2.3") is None


@pytest.mark.parametrize(
    ("fields", "broke"),
    [
        ({"status": "timeout"}, True),
        ({"status": "error", "error": "503 from the stock service"}, True),
        ({"status": "error", "error": {"type": "ConnectionError", "message": "reset by peer"}}, True),
        ({"status": "error", "error": "exitcode: 1 (execution failed)\nCode output: Traceback ..."}, True),
        ({"status": "error"}, True),  # a bare error status says nothing of a refusal
        ({"status": "error", "error": "Error: user not found"}, False),
        ({"status": "error", "error": {"type": "ValueError", "message": "unknown city 'Pariss'"}}, False),
        ({"status": "error", "error": "Error: non-pending order cannot be cancelled"}, False),
    ],
)
def test_malfunction_versus_refusal(fields, broke):
    step = trace(("e", "EXEC", [], {"tool": "t", **fields})).steps[0]
    assert malfunctioned(step) is broke
