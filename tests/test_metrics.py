import pytest
from helpers import trace

from agenteval.dag import StepDAG
from agenteval.datasets.base import LabeledTrace
from agenteval.metrics import TracePrediction, cohen_kappa, evaluate, within_one_hop

# u (USER) -> a -> b -> c ; d hangs off a ; e is unconnected (a second, independent branch)
STEPS = (
    ("u", "USER", []),
    ("a", "PLAN", ["u"]),
    ("b", "TOOLSEL", ["a"]),
    ("c", "SYNTH", ["b"]),
    ("d", "EXEC", ["a"]),
    ("e", "PLAN", []),
)


def gold(tid="t1", failing=None, root=None, agent=None, negatives=None, failed=True):
    return LabeledTrace(
        trace=trace(*[(sid, typ, parents, {"agent": f"ag-{sid}"}) for sid, typ, parents in STEPS], trace_id=tid),
        dataset="test",
        failed=failed,
        failing_steps=failing or {},
        root_cause=root,
        root_cause_agent=agent,
        negatives=negatives,
    )


def pred(tid="t1", failing=None, roots=None, agent=None, failed=None):
    return TracePrediction(trace_id=tid, failing=failing, root_causes=roots, agent=agent, failed=failed)


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([], None),
        ([(1, 1), (0, 0)], 1.0),
        ([(1, 0), (0, 1)], -1.0),
        ([(0, 0), (0, 0)], 1.0),  # one label, perfect agreement
        ([(1, 1), (1, 0), (0, 0), (0, 0)], 0.5),
        ([("x", "x"), ("y", "x"), ("y", "y"), ("none", "none")], pytest.approx(7 / 11)),  # po 3/4, pe 5/16
    ],
)
def test_cohen_kappa(pairs, expected):
    assert cohen_kappa(pairs) == expected


@pytest.mark.parametrize(
    ("predicted", "gold_step", "expected"),
    [("b", "b", True), ("a", "b", True), ("c", "a", False), ("d", "b", False), ("e", "d", True), ("e", "b", False)],
)
def test_within_one_hop(predicted, gold_step, expected):
    dag = StepDAG.from_trace(gold().trace)
    # e is unconnected: fall back to positions (e is 5, d is 4, b is 2).
    assert within_one_hop(dag, predicted, gold_step) is expected


CASES = [
    # name, gold kwargs, prediction kwargs, expected report fields
    (
        "perfect",
        {"failing": {"b": "x"}, "root": "b", "agent": "ag-b", "negatives": ["a", "c"]},
        {"failing": {"b": "E1"}, "roots": ["b"], "agent": "AG-B", "failed": True},
        {
            "fd_recall": 1.0,
            "fpr": 0.0,
            "kappa": 1.0,
            "rca_exact": 1.0,
            "rca_1hop": 1.0,
            "agent_accuracy": 1.0,
            "trace_recall": 1.0,
        },
    ),
    (
        "one hop off, false positive",
        {"failing": {"b": None}, "root": "b", "agent": "ag-b", "negatives": ["a", "c"]},
        {"failing": {"a": None}, "roots": ["a"], "agent": "ag-a", "failed": True},
        {
            "fd_recall": 0.0,
            "fpr": 0.5,
            "kappa": pytest.approx(-0.5),
            "rca_exact": 0.0,
            "rca_1hop": 1.0,
            "agent_accuracy": 0.0,
        },
    ),
    (
        "first listed root cause counts",
        {"failing": {"c": None}, "root": "c"},
        {"failing": {"a": None, "c": None}, "roots": ["a", "c"]},
        {"fd_recall": 1.0, "fpr": None, "kappa": None, "rca_exact": 0.0, "rca_1hop": 0.0, "agent_accuracy": None},
    ),
    (
        "external root cause, nothing blamed",
        {"failing": {"u": "underspecified user intent"}, "root": "u", "agent": "User", "negatives": ["a"]},
        {"failing": {}, "roots": [], "failed": False},
        {
            "fd_recall": 0.0,
            "fpr": 0.0,
            "rca_exact": 1.0,
            "rca_1hop": 1.0,
            "agent_accuracy": 1.0,
            "trace_recall": 0.0,
            "n_external_root_causes": 1,
        },
    ),
    (
        "external root cause, agent blamed",
        {"failing": {"u": None}, "root": "u", "agent": "User"},
        {"failing": {"c": None}, "roots": ["c"], "agent": "ag-c"},
        {"rca_exact": 0.0, "rca_1hop": 0.0, "agent_accuracy": 0.0},
    ),
    (
        "agent root cause, nothing blamed",
        {"failing": {"b": None}, "root": "b", "agent": "ag-b"},
        {"failing": {}, "roots": []},
        {"rca_exact": 0.0, "rca_1hop": 0.0, "agent_accuracy": 0.0},
    ),
    (
        "end-to-end: outcome only",
        {"failing": {"b": None}, "root": "b", "negatives": ["a"], "failed": False},
        {"failed": True},
        {
            "fd_recall": None,
            "fpr": None,
            "kappa": None,
            "rca_exact": None,
            "trace_recall": None,
            "trace_fpr": 1.0,
            "n_traces": 1,
        },
    ),
    (
        "outcome labels only",
        {"failed": False},
        {"failing": {"a": None}, "roots": ["a"], "failed": False},
        {"fd_recall": None, "fpr": None, "rca_exact": None, "trace_fpr": 0.0},
    ),
]


@pytest.mark.parametrize(("name", "gold_kw", "pred_kw", "expected"), CASES, ids=[c[0] for c in CASES])
def test_evaluate_one_trace(name, gold_kw, pred_kw, expected):
    report = evaluate({"t1": pred(**pred_kw)}, [gold(**gold_kw)])
    for field, value in expected.items():
        assert getattr(report, field) == value, field


def test_evaluate_pools_steps_across_traces_and_skips_unpredicted():
    golds = [
        gold("t1", failing={"b": None, "c": None}, root="b", negatives=["a", "d"]),
        gold("t2", failing={"d": None}, root="d", negatives=["a"]),
        gold("t3", failing={"a": None}, root="a"),
    ]
    predictions = {
        "t1": pred("t1", failing={"b": None, "a": None}, roots=["b"]),
        "t2": pred("t2", failing={"d": None}, roots=["a"]),
    }
    report = evaluate(predictions, golds)
    assert report.n_traces == 2
    assert report.fd_recall == pytest.approx(2 / 3)
    assert report.fpr == pytest.approx(1 / 3)
    assert report.rca_exact == 0.5 and report.rca_1hop == 1.0 and report.n_root_cause_traces == 2


def test_category_kappa_needs_a_mapping():
    golden = gold(failing={"b": "invalid invocation"}, root="b", negatives=["a", "c"])
    prediction = pred(failing={"b": "E1.1", "c": "I1.1"}, roots=["b"])
    assert evaluate({"t1": prediction}, [golden]).category_kappa is None
    mapping = {"E1.1": "invalid invocation", "I1.1": "invention of new information"}.get
    report = evaluate({"t1": prediction}, [golden], category_of=mapping)
    # pairs: (invalid, invalid), (none, none), (none, invention)
    assert report.category_kappa == pytest.approx(cohen_kappa([("i", "i"), ("n", "n"), ("n", "v")]))


def test_predictions_are_read_at_the_labeled_step_they_are_part_of():
    # The label sits on b (a call); d is the tool's answer to it, so a failing d finds b, and a root
    # cause blamed on d is b's.
    golden = gold(failing={"b": "invalid invocation"}, root="b", negatives=["a", "c"])
    golden.units = {"d": "b"}
    report = evaluate({"t1": pred(failing={"d": "E2.1"}, roots=["d"])}, [golden], category_of={"E2.1": "invalid invocation"}.get)
    assert (report.fd_recall, report.fpr, report.kappa, report.rca_exact) == (1.0, 0.0, 1.0, 1.0)
    assert report.category_kappa == 1.0
    # without the unit, d is neither the labeled step nor a known-correct one
    report = evaluate({"t1": pred(failing={"d": "E2.1"}, roots=["d"])}, [gold(failing={"b": None}, root="b", negatives=["a", "c"])])
    assert (report.fd_recall, report.fpr, report.rca_exact) == (0.0, 0.0, 0.0)
