import pytest
from helpers import judgments, trace

from agenteval.attribution import absorbed_failures, dag_root_causes, earliest_root_causes, recovered_failures
from agenteval.dag import StepDAG
from agenteval.propagation import DEFAULT_ROOT_CAUSE, ROOT_CAUSE_ALGORITHMS, classify, root_causes

ERR = {"status": "error"}

CASES = {
    "two failures a passing step separates": (
        [("a", "PLAN", []), ("b", "TOOLSEL", ["a"]), ("c", "PARAMGEN", ["b"])],
        {"a": 1, "b": 5, "c": 1},
        {"greedy": ["a", "c"], "earliest": ["a"], "dag": ["a", "c"]},
    ),
    "chain": (
        [("a", "PLAN", []), ("b", "TOOLSEL", ["a"]), ("c", "PARAMGEN", ["b"])],
        {"a": 1, "b": 2, "c": 1},
        {"greedy": ["a"], "earliest": ["a"], "dag": ["a"]},
    ),
    "several failing parents": (
        [("p1", "PLAN", []), ("p2", "PLAN", []), ("c", "SYNTH", ["p1", "p2"])],
        {"p1": 2, "p2": 1, "c": 1},
        {"greedy": ["p2"], "earliest": ["p1"], "dag": ["p2", "p1"]},
    ),
    "diamond": (
        [("a", "PLAN", []), ("b", "TOOLSEL", ["a"]), ("c", "TOOLSEL", ["a"]), ("d", "SYNTH", ["b", "c"])],
        {"a": 5, "b": 2, "c": 1, "d": 1},
        {"greedy": ["c"], "earliest": ["b"], "dag": ["c", "b"]},
    ),
    "independent failures, the one with more impact first": (
        [
            ("y", "PLAN", []),
            ("y1", "SYNTH", ["y"]),
            ("x", "PLAN", []),
            ("x1", "TOOLSEL", ["x"]),
            ("x2", "PARAMGEN", ["x1"]),
        ],
        {"y": 1, "y1": 1, "x": 2, "x1": 1, "x2": 1},
        {"greedy": ["y", "x"], "earliest": ["y"], "dag": ["x", "y"]},
    ),
    "tool error the agent ignored": (
        [("g", "PARAMGEN", []), ("e", "EXEC", ["g"], ERR), ("s", "SYNTH", ["e"])],
        {"g": 5, "e": 1, "s": 1},
        {"greedy": ["e"], "earliest": ["e"], "dag": ["e"]},
    ),
    "bad tool result the agent believed": (
        [("g", "PARAMGEN", []), ("e", "EXEC", ["g"]), ("s", "SYNTH", ["e"])],
        {"g": 5, "e": 1, "s": 1},
        {"greedy": ["e"], "earliest": ["e"], "dag": ["s"]},
    ),
    "bad arguments break the tool": (
        [("g", "PARAMGEN", []), ("e", "EXEC", ["g"], ERR), ("s", "SYNTH", ["e"])],
        {"g": 1, "e": 1, "s": 5},
        {"greedy": ["g"], "earliest": ["g"], "dag": ["g"]},
    ),
    "recovered failure, later unrecovered one": (
        [
            ("e1", "EXEC", [], {"status": "error", "tool": "w"}),
            ("t2", "TOOLSEL", ["e1"]),
            ("g2", "PARAMGEN", ["t2"]),
            ("e2", "EXEC", ["g2"], {"tool": "w"}),
            ("t3", "TOOLSEL", ["e2"]),
            ("g3", "PARAMGEN", ["t3"]),
            ("e3", "EXEC", ["g3"], {"status": "error", "tool": "v"}),
        ],
        {"e1": 1, "t2": 5, "g2": 5, "e2": 5, "t3": 5, "g3": 5, "e3": 1},
        {"greedy": ["e1"], "earliest": ["e1"], "dag": ["e3"]},
    ),
    "recovered failure alone: the trace passes, nothing to blame": (
        [
            ("e1", "EXEC", [], {"status": "error", "tool": "w"}),
            ("t2", "TOOLSEL", ["e1"]),
            ("e2", "EXEC", ["t2"], {"tool": "w"}),
            ("s", "SYNTH", ["e2"]),
        ],
        {"e1": 1, "t2": 5, "e2": 5, "s": 5},
        {"greedy": [], "earliest": [], "dag": []},
    ),
    "retries until one works: recovered": (
        [
            ("e1", "EXEC", [], {"status": "error", "tool": "w"}),
            ("e2", "EXEC", ["e1"], {"status": "error", "tool": "w"}),
            ("e3", "EXEC", ["e2"], {"tool": "w"}),
        ],
        {"e1": 1, "e2": 1, "e3": 5},
        {"greedy": [], "earliest": [], "dag": []},
    ),
    "retries that all fail are no recovery": (
        [
            ("e1", "EXEC", [], {"status": "error", "tool": "w"}),
            ("e2", "EXEC", ["e1"], {"status": "error", "tool": "w"}),
            ("s", "SYNTH", ["e2"]),
        ],
        {"e1": 1, "e2": 1, "s": 5},
        {"greedy": ["e1"], "earliest": ["e1"], "dag": ["e1"]},
    ),
    "user-caused: the user is never blamed": (
        [("u", "USER", []), ("a", "TOOLSEL", ["u"]), ("b", "PARAMGEN", ["a"])],
        {"u": 1, "a": 1, "b": 5},
        {"greedy": ["a"], "earliest": ["a"], "dag": ["a"]},
    ),
    "user-caused only: nothing to blame": (
        [("u", "USER", []), ("a", "SYNTH", ["u"])],
        {"u": 1, "a": 5},
        {"greedy": [], "earliest": [], "dag": []},
    ),
    "no failure": (
        [("a", "PLAN", []), ("b", "SYNTH", ["a"])],
        {"a": 5, "b": 4},
        {"greedy": [], "earliest": [], "dag": []},
    ),
}


def verdicts_of(steps, scores):
    dag = StepDAG.from_trace(trace(*steps))
    return dag, classify(dag, judgments(scores))


@pytest.mark.parametrize("algorithm", ["greedy", "earliest", "dag"])
@pytest.mark.parametrize("case", list(CASES))
def test_algorithms_on_hand_built_dags(case, algorithm):
    steps, scores, expected = CASES[case]
    dag, verdicts = verdicts_of(steps, scores)
    found = root_causes(dag, verdicts, algorithm)
    want = expected[algorithm]
    if algorithm == "dag":
        assert [rc.step_id for rc in found] == want
    else:
        assert [rc.step_id for rc in found][: len(want)] == want
    assert all(rc.algorithm == algorithm for rc in found)


def test_registry_and_default():
    assert {"greedy", "earliest", "dag"} <= set(ROOT_CAUSE_ALGORITHMS)
    assert DEFAULT_ROOT_CAUSE == "dag"


def test_chains_run_from_the_root_to_the_last_failure_it_reaches():
    steps, scores, _ = CASES["independent failures, the one with more impact first"]
    dag, verdicts = verdicts_of(steps, scores)
    by_id = {v.step_id: v for v in verdicts}
    first, second = dag_root_causes(dag, by_id)
    assert first.chain == ["x", "x1", "x2"] and second.chain == ["y", "y1"]
    assert first.score == 2 and first.agent is None
    assert [rc.chain for rc in earliest_root_causes(dag, by_id)] == [["y", "y1"]]


def test_absorbed_and_recovered_sets():
    dag, verdicts = verdicts_of(*CASES["bad tool result the agent believed"][:2])
    assert absorbed_failures(dag, {v.step_id: v for v in verdicts}) == {"e"}
    dag, verdicts = verdicts_of(*CASES["tool error the agent ignored"][:2])
    assert absorbed_failures(dag, {v.step_id: v for v in verdicts}) == set()
    dag, verdicts = verdicts_of(*CASES["recovered failure, later unrecovered one"][:2])
    by_id = {v.step_id: v for v in verdicts}
    assert recovered_failures(by_id) == {"e1"} and absorbed_failures(dag, by_id) == set()


def test_semantic_exec_failure_without_recorded_error_is_not_a_recovery():
    # Without an error in the trace, a later passing call of the same tool is not a retry.
    steps = [
        ("e1", "EXEC", [], {"tool": "w"}),
        ("e2", "EXEC", ["e1"], {"tool": "w"}),
        ("e3", "EXEC", ["e2"], {"tool": "v"}),
    ]
    dag, verdicts = verdicts_of(steps, {"e1": 1, "e2": 5, "e3": 1})
    assert not verdicts[0].recovered
    # e2 passed, so e3 is an independent failure; e1, with a failure downstream, comes first
    assert [rc.step_id for rc in root_causes(dag, verdicts, "dag")] == ["e1", "e3"]


# ------------------------------------------------------------------------------ evidence strength

from agenteval.attribution import ASSERTED, DOUBTFUL, PROVEN, evidence  # noqa: E402
from agenteval.models import Judgment  # noqa: E402


def mark(**fields):
    return Judgment(step_id="s", judge=fields.pop("judge", "openai:m"), score=fields.pop("score", 1.0), **fields)


@pytest.mark.parametrize(
    ("judgment", "tier"),
    [
        (mark(decisive=True, judge="rules"), PROVEN),
        (mark(decisive=True, confidence=0.1), PROVEN),  # proof does not need confidence
        (mark(judge="rules", score=2.0), ASSERTED),  # a rules finding short of proof
        (mark(), ASSERTED),  # no confidence given
        (mark(confidence=0.6), ASSERTED),
        (mark(confidence=0.59), DOUBTFUL),
        (mark(confidence=0.9, details={"disagreement": 1.0}), ASSERTED),
        (mark(confidence=0.9, details={"disagreement": 1.5}), DOUBTFUL),
        (mark(confidence=0.9, details={"rules": {"score": 4.0, "reason": "exists"}}), DOUBTFUL),
        (mark(confidence=0.9, details={"rules": {"score": 5.0, "reason": "validates"}}), DOUBTFUL),
        (mark(confidence=0.9, details={"rules": {"score": 3.0, "reason": "not assessed by rules"}}), ASSERTED),
        (mark(confidence=0.9, details={"rules": {"score": 4.0, "assessed": False}}), ASSERTED),
        (mark(confidence=0.9, details={"rules": {"score": 2.0, "reason": "empty"}}), ASSERTED),
        (None, ASSERTED),
    ],
)
def test_evidence_tiers(judgment, tier):
    assert evidence(judgment) == tier


def test_a_model_cannot_take_the_root_cause_from_a_proven_failure():
    """Seen from outside with a small model on examples/traces/bad_arguments.json: it failed the
    correct TOOLSEL steps ("nonexistent tool" for tools in the catalog), which made the proven schema
    violation pg2 a cascade and took its root cause."""
    steps = [
        ("u1", "USER", []),
        ("p1", "PLAN", ["u1"]),
        ("ts1", "TOOLSEL", ["p1"]),
        ("pg1", "PARAMGEN", ["ts1"]),
        ("ex1", "EXEC", ["ts1", "pg1"], {"tool": "lookup_customer", "output": {"name": "Lena"}}),
        ("ts2", "TOOLSEL", ["p1", "ex1"]),
        ("pg2", "PARAMGEN", ["ts2", "ex1"], {"tool": "create_ticket"}),
        ("ex2", "EXEC", ["ts2", "pg2"], {"tool": "create_ticket", "status": "error"}),
        ("s1", "SYNTH", ["ex2"]),
    ]
    catalog_says_fine = {"rules": {"score": 4.0, "reason": "exists in the tool catalog"}}
    model = {"judge": "openai:qwen", "confidence": 0.9, "failure_code": "P3.1", "details": catalog_says_fine}
    marks = {
        "p1": {"score": 4.0}, "ts1": {"score": 1.0, **model}, "pg1": {"score": 5.0}, "ex1": {"score": 5.0},
        "ts2": {"score": 1.0, **model},
        "pg2": {"score": 1.0, "judge": "rules", "decisive": True, "failure_code": "E1.1"},
        "ex2": {"score": 1.0, "judge": "rules", "decisive": True, "failure_code": "E2.1"},
        "s1": {"score": 4.0},
    }
    dag = StepDAG.from_trace(trace(*steps))
    verdicts = classify(dag, {sid: Judgment(step_id=sid, **{"judge": "test", **m}) for sid, m in marks.items()})
    by_id = {v.step_id: v for v in verdicts}
    assert (by_id["pg2"].verdict, by_id["pg2"].upstream_failures) == ("direct", [])
    assert (by_id["ex2"].verdict, by_id["ex2"].upstream_failures) == ("cascade", ["pg2"])
    for algorithm in ("dag", "greedy"):
        assert root_causes(dag, verdicts, algorithm)[0].step_id == "pg2", algorithm
    # under the earlier rule the model's TOOLSEL failure took it
    verdicts = classify(dag, {sid: Judgment(step_id=sid, **{"judge": "test", **m}) for sid, m in marks.items()},
                        cascade="ancestor")
    assert {v.step_id: v.verdict for v in verdicts}["pg2"] == "cascade"


def test_attribution_does_not_import_propagation():
    """The registry lives in propagation, the algorithms here: imports point one way."""
    import ast
    from pathlib import Path

    import agenteval.attribution as attribution

    tree = ast.parse(Path(attribution.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert not {name for name in imported if name and name.startswith("agenteval.propagation")}
