"""The layered layout of a step DAG: edges point down, boxes never overlap, crossings are reduced."""

from __future__ import annotations

import random

import pytest

from agenteval.reports.dag_layout import layered_layout

CASES = {
    "chain": (["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("c", "d")], {"a": 0, "b": 1, "c": 2, "d": 3}),
    "diamond": (["a", "b", "c", "d"], [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")], {"a": 0, "b": 1, "c": 1, "d": 2}),
    # A source feeding only a late step sits just above it, not at the top.
    "late input": (["a", "b", "c", "x"], [("a", "b"), ("b", "c"), ("x", "c")], {"a": 0, "b": 1, "c": 2, "x": 1}),
    "long edge": (["a", "b", "c"], [("a", "b"), ("b", "c"), ("a", "c")], {"a": 0, "b": 1, "c": 2}),
    "disconnected": (["a", "b"], [], {"a": 0, "b": 0}),
}


@pytest.mark.parametrize("name", CASES)
def test_layers(name):
    nodes, edges, layers = CASES[name]
    layout = layered_layout(nodes, edges)
    assert {n: b.layer for n, b in layout.boxes.items()} == layers


def check(layout, edges) -> None:
    for source, target in edges:
        assert layout.boxes[source].y < layout.boxes[target].y
    rows: dict[int, list] = {}
    for box in layout.boxes.values():
        rows.setdefault(box.layer, []).append(box)
        assert box.x - box.width / 2 >= 0 and box.x + box.width / 2 <= layout.width
        assert box.y + box.height / 2 <= layout.height
    for row in rows.values():
        row.sort(key=lambda b: b.x)
        for left, right in zip(row, row[1:]):
            assert right.x - right.width / 2 >= left.x + left.width / 2, (left, right)
    for route in layout.routes:
        ys = [p[1] for p in route.points]
        assert ys == sorted(ys) and len(route.points) == 2 + layout.boxes[route.target].layer - layout.boxes[route.source].layer - 1


def test_random_dags_are_drawn_downward_without_overlap():
    rng = random.Random(3)
    for _ in range(200):
        n = rng.randint(1, 30)
        nodes = [f"n{i}" for i in range(n)]
        edges = [(nodes[j], nodes[i]) for i in range(1, n) for j in rng.sample(range(i), min(i, rng.randint(0, 3)))]
        layout = layered_layout(nodes, edges)
        check(layout, edges)
        assert len(layout.routes) == len(set(edges))


def test_a_chain_is_drawn_straight():
    nodes = [f"s{i}" for i in range(10)]
    layout = layered_layout(nodes, list(zip(nodes, nodes[1:])))
    assert len({round(b.x, 3) for b in layout.boxes.values()}) == 1 and layout.crossings == 0


def test_crossings_are_removed_where_possible():
    # Drawn in input order the two edges cross (a->d, b->c with c before d); reordering removes it.
    layout = layered_layout(["a", "b", "c", "d"], [("a", "d"), ("b", "c")])
    assert layout.crossings == 0


def test_same_input_same_drawing_and_bad_input():
    nodes, edges, _ = CASES["diamond"]
    assert layered_layout(nodes, edges) == layered_layout(nodes, edges)
    with pytest.raises(ValueError, match="cycle"):
        layered_layout(["a", "b"], [("a", "b"), ("b", "a")])
    with pytest.raises(ValueError, match="unknown node"):
        layered_layout(["a"], [("a", "z")])
