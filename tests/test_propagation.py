import pytest

from agenteval.dag import StepDAG
from agenteval.models import StepType
from agenteval.attribution import failing_sinks, greedy_root_causes
from agenteval.propagation import classify, root_causes, trace_status
from helpers import judgments, trace

CHAIN = (
    ("u", "USER", []),
    ("plan", "PLAN", ["u"]),
    ("sel", "TOOLSEL", ["plan"]),
    ("args", "PARAMGEN", ["sel"]),
    ("run", "EXEC", ["args"]),
    ("answer", "SYNTH", ["run"]),
)


def verdicts_of(steps, scores, thresholds=None):
    dag = StepDAG.from_trace(trace(*steps))
    return dag, classify(dag, judgments(scores), thresholds)


@pytest.mark.parametrize(
    "scores, expected",
    [
        # all good
        ({"plan": 4, "sel": 4, "args": 4, "run": 5, "answer": 4},
         {"u": "skipped", "plan": "pass", "sel": "pass", "args": "pass", "run": "pass", "answer": "pass"}),
        # a tool error cascades into the answer
        ({"plan": 4, "sel": 4, "args": 4, "run": 1, "answer": 2},
         {"run": "direct", "answer": "cascade", "args": "pass"}),
        # PARAMGEN threshold is 2.5: 2.5 passes, 2.4 fails
        ({"plan": 4, "sel": 4, "args": 2.5, "run": 5, "answer": 4}, {"args": "pass"}),
        ({"plan": 4, "sel": 4, "args": 2.4, "run": 5, "answer": 4}, {"args": "direct", "run": "pass"}),
        # a failure below a passing step still makes the later failure a cascade
        ({"plan": 1, "sel": 4, "args": 4, "run": 4, "answer": 1}, {"plan": "direct", "answer": "cascade"}),
        # judge errors are never passes, and not failures either
        ({"plan": 4, "sel": None, "args": 4, "run": 4, "answer": 4}, {"sel": "judge_error", "args": "pass"}),
        # a missing judgment is skipped
        ({"plan": 4}, {"sel": "skipped", "answer": "skipped"}),
    ],
)
def test_classify(scores, expected):
    _, verdicts = verdicts_of(CHAIN, scores)
    got = {v.step_id: v.verdict for v in verdicts}
    for step_id, verdict in expected.items():
        assert got[step_id] == verdict, step_id


def test_unassessed_judgment_is_skipped_not_pass():
    dag = StepDAG.from_trace(trace(*CHAIN))
    marks = judgments({"plan": 3})
    marks["plan"] = marks["plan"].model_copy(update={"assessed": False, "reason": "not assessed by rules"})
    verdict = classify(dag, marks)[1]
    assert verdict.verdict == "skipped" and verdict.reason == "not assessed by rules"


def test_configurable_thresholds():
    _, verdicts = verdicts_of(CHAIN, {"plan": 3.5}, {StepType.PLAN: 4.0})
    assert verdicts[1].verdict == "direct" and verdicts[1].threshold == 4.0


def test_cascade_lists_upstream_failures():
    _, verdicts = verdicts_of(CHAIN, {"plan": 1, "sel": 2, "args": 4, "run": 1, "answer": 1})
    answer = verdicts[-1]
    assert answer.verdict == "cascade"
    assert answer.upstream_failures == ["plan", "sel", "run"]


@pytest.mark.parametrize(
    "verdict_scores, status",
    [
        ({"plan": 4, "sel": 4, "args": 4, "run": 4, "answer": 4}, "passed"),
        ({"plan": 4, "sel": None, "args": 4, "run": 4, "answer": 4}, "incomplete"),
        ({"plan": 1, "sel": None, "args": 4, "run": 4, "answer": 4}, "failed"),
    ],
)
def test_trace_status(verdict_scores, status):
    _, verdicts = verdicts_of(CHAIN, verdict_scores)
    assert trace_status(verdicts) == status


DIAMOND = (
    ("plan", "PLAN", []),
    ("a", "EXEC", ["plan"]),
    ("b", "EXEC", ["plan"]),
    ("answer", "SYNTH", ["a", "b"]),
)


@pytest.mark.parametrize(
    "steps, scores, expected_roots, expected_chain",
    [
        (CHAIN, {"plan": 4, "sel": 4, "args": 4, "run": 1, "answer": 2}, ["run"], ["run", "answer"]),
        # several failing parents: greedy picks the lowest-scoring one
        (DIAMOND, {"plan": 4, "a": 2, "b": 1, "answer": 1}, ["b"], ["b", "answer"]),
        (DIAMOND, {"plan": 4, "a": 1, "b": 2, "answer": 1}, ["a"], ["a", "answer"]),
        # the walk continues through cascades to the direct failure
        (CHAIN, {"plan": 1, "sel": 2, "args": 4, "run": 4, "answer": 1}, ["plan"], ["plan", "sel", "answer"]),
        # no failure, no root cause
        (CHAIN, {"plan": 4, "sel": 4, "args": 4, "run": 4, "answer": 4}, [], None),
    ],
)
def test_greedy_root_cause(steps, scores, expected_roots, expected_chain):
    dag, verdicts = verdicts_of(steps, scores)
    found = root_causes(dag, verdicts, "greedy")
    assert [rc.step_id for rc in found] == expected_roots
    if expected_chain:
        assert found[0].chain == expected_chain and found[0].algorithm == "greedy"


def test_independent_failures_each_get_a_root_cause():
    steps = (("x", "EXEC", []), ("y", "EXEC", []), ("sx", "SYNTH", ["x"]), ("sy", "SYNTH", ["y"]))
    dag, verdicts = verdicts_of(steps, {"x": 1, "y": 1, "sx": 1, "sy": 4})
    by_id = {v.step_id: v for v in verdicts}
    assert sorted(failing_sinks(dag, by_id)) == ["sx", "y"]
    assert [rc.step_id for rc in greedy_root_causes(dag, by_id)] == ["x", "y"]


def test_a_tool_failure_the_agent_recovered_from_does_not_fail_the_trace():
    steps = (
        ("sel", "TOOLSEL", []),
        ("run1", "EXEC", ["sel"], {"tool": "w", "status": "timeout"}),
        ("sel2", "TOOLSEL", ["run1"]),
        ("run2", "EXEC", ["sel2"], {"tool": "w"}),
        ("answer", "SYNTH", ["run2"]),
    )
    dag, verdicts = verdicts_of(steps, {"sel": 4, "run1": 1, "sel2": 4, "run2": 5, "answer": 4})
    run1 = verdicts[1]
    assert run1.verdict == "direct" and run1.recovered
    assert trace_status(verdicts) == "passed" and root_causes(dag, verdicts) == []
    # the same failure without a successful retry fails the trace
    dag, verdicts = verdicts_of(steps, {"sel": 4, "run1": 1, "sel2": 4, "run2": 1, "answer": 4})
    assert not verdicts[1].recovered and trace_status(verdicts) == "failed"
