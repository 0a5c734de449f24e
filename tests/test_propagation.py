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


def verdicts_of(steps, scores, thresholds=None, cascade="reached"):
    dag = StepDAG.from_trace(trace(*steps))
    return dag, classify(dag, judgments(scores), thresholds, cascade=cascade)


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
        # a step judged to pass breaks the chain: a failure after it is direct
        ({"plan": 1, "sel": 4, "args": 4, "run": 4, "answer": 1}, {"plan": "direct", "answer": "direct"}),
        # a failure right under another is its cascade
        ({"plan": 1, "sel": 2, "args": 4, "run": 4, "answer": 4}, {"plan": "direct", "sel": "cascade"}),
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


def test_cascade_lists_the_failures_that_reached_it():
    _, verdicts = verdicts_of(CHAIN, {"plan": 1, "sel": 2, "args": 4, "run": 1, "answer": 1})
    by_id = {v.step_id: v for v in verdicts}
    # args passed, so plan's and sel's bad output stopped there; run's reached the answer
    assert (by_id["answer"].verdict, by_id["answer"].upstream_failures) == ("cascade", ["run"])
    assert (by_id["run"].verdict, by_id["run"].upstream_failures) == ("direct", [])
    assert by_id["sel"].upstream_failures == ["plan"]
    # the earlier rule counted every failing ancestor
    _, verdicts = verdicts_of(CHAIN, {"plan": 1, "sel": 2, "args": 4, "run": 1, "answer": 1}, cascade="ancestor")
    assert (verdicts[-1].verdict, verdicts[-1].upstream_failures) == ("cascade", ["plan", "sel", "run"])
    assert verdicts[4].verdict == "cascade"


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
        (CHAIN, {"plan": 1, "sel": 2, "args": 1, "run": 4, "answer": 4}, ["plan"], ["plan", "sel", "args"]),
        # a passing step in between: two chains, two root causes
        (CHAIN, {"plan": 1, "sel": 2, "args": 4, "run": 4, "answer": 1}, ["plan", "answer"], ["plan", "sel"]),
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
    # a retry that ran but was judged wrong: the timeout is still recovered (the trace shows the
    # retry succeeded), and the trace fails on the retry itself
    dag, verdicts = verdicts_of(steps, {"sel": 4, "run1": 1, "sel2": 4, "run2": 1, "answer": 4})
    assert verdicts[1].recovered and not verdicts[3].recovered and trace_status(verdicts) == "failed"
    assert [rc.step_id for rc in root_causes(dag, verdicts)] == ["run2"]
    # the same failure without a retry fails the trace
    alone = (steps[0], steps[1], ("answer", "SYNTH", ["run1"]))
    dag, verdicts = verdicts_of(alone, {"sel": 4, "run1": 1, "answer": 4})
    assert not verdicts[1].recovered and trace_status(verdicts) == "failed"


# --------------------------------------------------------------------------- cascade: the bad input
# reached the step through failed or unassessed steps, from a failure at least as well evidenced


def J(score=None, **fields):
    """A judgment for the cascade table: score None with error -> judge_error."""
    return fields | {"score": score}


def classify_table(steps, marks, cascade="reached"):
    from agenteval.models import Judgment

    dag = StepDAG.from_trace(trace(*steps))
    built = {
        sid: Judgment(step_id=sid, judge=m.pop("judge", "test"), **m)
        for sid, m in ((sid, dict(m)) for sid, m in marks.items())
    }
    return {v.step_id: v for v in classify(dag, built, cascade=cascade)}


LINE = (("a", "PLAN", []), ("b", "TOOLSEL", ["a"]), ("c", "PARAMGEN", ["b"]))
RULES_FINE = {"rules": {"score": 4.0, "reason": "exists in the tool catalog"}}
CASCADE_CASES = {
    "a pass breaks the chain": (LINE, {"a": J(1), "b": J(4), "c": J(1)}, {"c": ("direct", [])}),
    "through a failing step": (LINE, {"a": J(1), "b": J(2), "c": J(2)}, {"b": ("cascade", ["a"]), "c": ("cascade", ["a", "b"])}),
    "through a not_assessable step": (
        LINE, {"a": J(1), "b": J(not_assessable="output not recorded"), "c": J(1)}, {"b": ("not_assessable", []), "c": ("cascade", ["a"])}),
    "through a judge error": (LINE, {"a": J(1), "b": J(error="timeout"), "c": J(1)}, {"c": ("cascade", ["a"])}),
    "through an unassessed agent step": (LINE, {"a": J(1), "b": J(3, assessed=False), "c": J(1)}, {"b": ("skipped", []), "c": ("cascade", ["a"])}),
    "through an agent step nobody judged": (LINE, {"a": J(1), "c": J(1)}, {"b": ("skipped", []), "c": ("cascade", ["a"])}),
    "through a user message": (
        (("s", "SYNTH", []), ("u", "USER", ["s"]), ("t", "TOOLSEL", ["u"])), {"s": J(1), "t": J(1)}, {"t": ("cascade", ["s"])}),
    "an independent timeout after a correct retry is direct": (
        (
            ("e1", "EXEC", [], {"tool": "w", "status": "timeout"}),
            ("t2", "TOOLSEL", ["e1"]),
            ("e2", "EXEC", ["t2"], {"tool": "w", "output": "ok"}),
            ("t3", "TOOLSEL", ["e2"]),
            ("e3", "EXEC", ["t3"], {"tool": "v", "status": "timeout"}),
        ),
        {"e1": J(1, decisive=True), "t2": J(4), "e2": J(5), "t3": J(4), "e3": J(1, decisive=True)},
        {"e1": ("direct", []), "e3": ("direct", [])},
    ),
    "a recovered failure starts no cascade": (
        (
            ("e1", "EXEC", [], {"tool": "w", "status": "error"}),
            ("p", "PLAN", ["e1"]),
            ("e2", "EXEC", ["p"], {"tool": "w", "output": "ok"}),
        ),
        {"e1": J(1, decisive=True), "p": J(1), "e2": J(5)},
        {"e1": ("direct", []), "p": ("direct", [])},
    ),
    "a proven failure is not demoted by a model's assertion upstream": (
        LINE, {"a": J(4), "b": J(1, confidence=0.9), "c": J(1, decisive=True, judge="rules")}, {"b": ("direct", []), "c": ("direct", [])}),
    "a proven failure upstream makes an asserted one a cascade": (
        LINE, {"a": J(4), "b": J(1, decisive=True, judge="rules"), "c": J(1, confidence=0.9)}, {"c": ("cascade", ["b"])}),
    "two proven failures: the later is a cascade": (
        LINE, {"a": J(4), "b": J(1, decisive=True), "c": J(1, decisive=True)}, {"c": ("cascade", ["b"])}),
    "a low-confidence failure does not demote a confident one": (
        LINE, {"a": J(4), "b": J(1, confidence=0.3), "c": J(1, confidence=0.9)}, {"c": ("direct", [])}),
    "a confident failure upstream makes a low-confidence one a cascade": (
        LINE, {"a": J(4), "b": J(1, confidence=0.9), "c": J(2, confidence=0.3)}, {"c": ("cascade", ["b"])}),
    "samples that disagree make a failure doubtful": (
        LINE, {"a": J(4), "b": J(1, details={"disagreement": 2.5}), "c": J(1)}, {"c": ("direct", [])}),
    "a model failure where the rules found the step fine is doubtful": (
        LINE, {"a": J(4), "b": J(1, details=RULES_FINE), "c": J(1)}, {"c": ("direct", [])}),
    "a doubtful failure still passes bad input on from a stronger one above it": (
        LINE, {"a": J(1), "b": J(1, confidence=0.2), "c": J(1)}, {"b": ("cascade", ["a"]), "c": ("cascade", ["a"])}),
}


@pytest.mark.parametrize("case", list(CASCADE_CASES))
def test_cascade_means_the_bad_input_reached_the_step(case):
    steps, marks, expected = CASCADE_CASES[case]
    got = classify_table(steps, marks)
    for sid, (verdict, upstream) in expected.items():
        assert (got[sid].verdict, got[sid].upstream_failures) == (verdict, upstream), sid


def test_the_earlier_rule_is_kept_for_comparison():
    steps, marks, _ = CASCADE_CASES["a pass breaks the chain"]
    got = classify_table(steps, marks, cascade="ancestor")
    assert (got["c"].verdict, got["c"].upstream_failures) == ("cascade", ["a"])
    steps, marks, _ = CASCADE_CASES["a proven failure is not demoted by a model's assertion upstream"]
    assert classify_table(steps, marks, cascade="ancestor")["c"].verdict == "cascade"
    with pytest.raises(ValueError, match="unknown cascade rule 'sideways'"):
        classify_table(steps, marks, cascade="sideways")
