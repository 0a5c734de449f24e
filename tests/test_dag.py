import pytest

from agenteval.dag import StepDAG
from agenteval.errors import DagError
from helpers import trace


def diamond():
    return trace(
        ("u", "USER", []),
        ("p", "PLAN", ["u"]),
        ("a", "TOOLSEL", ["p"]),
        ("b", "TOOLSEL", ["p"]),
        ("s", "SYNTH", ["a", "b"]),
    )


def test_order_parents_children_ancestors():
    dag = StepDAG.from_trace(diamond())
    assert [s.id for s in dag.steps()] == ["u", "p", "a", "b", "s"]
    assert dag.parents("s") == ["a", "b"]
    assert dag.children("p") == ["a", "b"]
    assert dag.ancestors("s") == ["u", "p", "a", "b"]
    assert dag.descendants("p") == ["a", "b", "s"]
    assert dag.sinks() == ["s"]
    assert dag.path("u", "s") in (["u", "p", "a", "s"], ["u", "p", "b", "s"])
    assert dag.hops("a", "b") == 2
    assert dag.hops("s", "u") == 3


def test_topological_order_follows_edges_not_file_order():
    dag = StepDAG.from_trace(trace(("late", "SYNTH", ["early"]), ("early", "PLAN", [])))
    assert [s.id for s in dag.steps()] == ["early", "late"]


def test_unconnected_steps_have_no_hops():
    dag = StepDAG.from_trace(trace(("a", "PLAN", []), ("b", "PLAN", [])))
    assert dag.hops("a", "b") is None
    assert dag.path("a", "b") is None


@pytest.mark.parametrize(
    "steps, message",
    [
        ((("a", "PLAN", []), ("a", "SYNTH", [])), "trace t1: duplicate step ids: a"),
        ((("a", "PLAN", ["ghost"]),), "trace t1: step a has unknown parent(s): ghost"),
        ((("a", "PLAN", ["b"]), ("b", "SYNTH", ["a"])), "trace t1: steps form a cycle: a -> b -> a"),
        ((("a", "PLAN", ["a"]),), "trace t1: steps form a cycle: a -> a"),
    ],
)
def test_invalid_graphs_name_the_trace_and_steps(steps, message):
    with pytest.raises(DagError) as info:
        StepDAG.from_trace(trace(*steps), source="traces/x.json")
    assert str(info.value) == f"traces/x.json: {message}"
