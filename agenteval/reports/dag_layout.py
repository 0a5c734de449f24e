"""Layered (Sugiyama-style) drawing positions for a step DAG. Pure: plain ids and edges in, boxes out.

Data flows top to bottom: every edge points down to a later layer. The four classic phases:

1. **Layers** by longest path from the sources; a source is then pulled down to just above its
   nearest consumer, so an input that feeds only a late step does not stretch an edge over the graph.
2. **Dummy nodes** split every edge that spans more than one layer, so long edges route between
   boxes instead of through them.
3. **Crossing reduction**: barycenter sweeps down and up, keeping the order with fewest crossings.
4. **Coordinates**: each layer is placed as close as possible to its neighbours' positions (weighted
   isotonic regression under the order and spacing constraints), alternating down and up; dummy
   nodes weigh more, so long edges stay straight.

Computed once in Python when a report is written, so the browser only draws, and the layout is
tested here like any other pure function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

NODE_WIDTH = 176.0
NODE_HEIGHT = 42.0
LAYER_GAP = 30.0
NODE_GAP = 22.0
DUMMY_WIDTH = 8.0
MARGIN = 16.0
#: How strongly a box is pulled towards a long edge's bend, against 1.0 for a box it is wired to.
DUMMY_PULL = 0.3
#: How firmly a long edge's bend holds its place when a layer is packed, against 1.0 for a box.
DUMMY_WEIGHT = 2.0


@dataclass(frozen=True)
class Box:
    """A node's place: centre (x, y), size, layer and order within its layer."""

    id: str
    x: float
    y: float
    width: float
    height: float
    layer: int
    order: int


@dataclass(frozen=True)
class Route:
    """An edge as a polyline from the source's bottom centre to the target's top centre."""

    source: str
    target: str
    points: list[tuple[float, float]]


@dataclass
class Layout:
    """Positions of every node and route of every edge, and the drawing's size."""

    boxes: dict[str, Box] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0
    crossings: int = 0


def layered_layout(
    nodes: Sequence[str],
    edges: Sequence[tuple[str, str]],
    *,
    node_width: float = NODE_WIDTH,
    node_height: float = NODE_HEIGHT,
    layer_gap: float = LAYER_GAP,
    node_gap: float = NODE_GAP,
    sweeps: int = 6,
) -> Layout:
    """Lay out a DAG in layers, top to bottom.

    Args:
        nodes: node ids; their order breaks ties, so the same input always gives the same drawing.
        edges: (source, target) pairs; both ends must be in ``nodes``. Duplicates are ignored.
        node_width, node_height: size of each box.
        layer_gap, node_gap: space between layers and between neighbours in a layer.
        sweeps: crossing-reduction rounds (each one down and one up).

    Raises:
        ValueError: an edge names an unknown node, or the edges form a cycle.
    """
    index = {n: i for i, n in enumerate(nodes)}
    n_real = len(nodes)
    succ: list[list[int]] = [[] for _ in range(n_real)]
    pred: list[list[int]] = [[] for _ in range(n_real)]
    seen: set[tuple[int, int]] = set()
    for source, target in edges:
        if source not in index or target not in index:
            raise ValueError(f"edge {source} -> {target} names an unknown node")
        pair = (index[source], index[target])
        if pair not in seen and pair[0] != pair[1]:
            seen.add(pair)
            succ[pair[0]].append(pair[1])
            pred[pair[1]].append(pair[0])
    layer = _layers(n_real, succ, pred)

    # Phase 2: dummies. Graph over real + dummy node indices, edges only between adjacent layers.
    down: list[list[int]] = [[] for _ in range(n_real)]
    up: list[list[int]] = [[] for _ in range(n_real)]
    chains: list[tuple[int, int, list[int]]] = []
    for u in range(n_real):
        for v in succ[u]:
            path = [u]
            for lay in range(layer[u] + 1, layer[v]):
                d = len(layer)
                layer.append(lay)
                down.append([])
                up.append([])
                path.append(d)
            path.append(v)
            for a, b in zip(path, path[1:]):
                down[a].append(b)
                up[b].append(a)
            chains.append((u, v, path[1:-1]))
    total = len(layer)
    width = [node_width if i < n_real else DUMMY_WIDTH for i in range(total)]
    depth = max(layer, default=-1) + 1
    layers: list[list[int]] = [[] for _ in range(depth)]
    for i in _initial_order(n_real, total, down, layer):
        layers[layer[i]].append(i)

    # Phase 3: crossing reduction.
    layers, crossings = _reduce_crossings(layers, down, up, sweeps)

    # Phase 4: coordinates.
    x = _coordinates(layers, down, up, width, n_real, node_gap)
    left = min((x[i] - width[i] / 2 for i in range(total)), default=0.0)
    shift = MARGIN - left
    step = node_height + layer_gap
    out = Layout(crossings=crossings)
    order = {i: pos for row in layers for pos, i in enumerate(row)}
    for i, name in enumerate(nodes):
        out.boxes[name] = Box(name, x[i] + shift, MARGIN + node_height / 2 + layer[i] * step,
                              node_width, node_height, layer[i], order[i])
    for u, v, dummies in chains:
        top = (x[u] + shift, MARGIN + layer[u] * step + node_height)
        bottom = (x[v] + shift, MARGIN + layer[v] * step)
        middle = [(x[d] + shift, MARGIN + node_height / 2 + layer[d] * step) for d in dummies]
        out.routes.append(Route(nodes[u], nodes[v], [top, *middle, bottom]))
    right = max((x[i] + width[i] / 2 for i in range(total)), default=0.0)
    out.width = right + shift + MARGIN
    out.height = 2 * MARGIN + depth * node_height + max(depth - 1, 0) * layer_gap
    return out


def _layers(n: int, succ: list[list[int]], pred: list[list[int]]) -> list[int]:
    """Longest-path layers; then each source sits just above its nearest consumer."""
    indegree = [len(p) for p in pred]
    queue = [i for i in range(n) if indegree[i] == 0]
    layer = [0] * n
    done = 0
    while done < len(queue):
        u = queue[done]
        done += 1
        for v in succ[u]:
            layer[v] = max(layer[v], layer[u] + 1)
            indegree[v] -= 1
            if indegree[v] == 0:
                queue.append(v)
    if done != n:
        raise ValueError("the edges form a cycle")
    for u in range(n):
        if not pred[u] and succ[u]:
            layer[u] = min(layer[v] for v in succ[u]) - 1
    return layer


def _initial_order(n_real: int, total: int, down: list[list[int]], layer: list[int]) -> list[int]:
    """Depth-first from the real nodes in input order: related nodes start side by side."""
    seen = [False] * total
    out: list[int] = []
    for start in range(n_real):
        stack = [start]
        while stack:
            u = stack.pop()
            if seen[u]:
                continue
            seen[u] = True
            out.append(u)
            stack.extend(reversed(down[u]))
    rank = {node: pos for pos, node in enumerate(out)}
    return sorted(out, key=lambda i: (layer[i], rank[i]))


def _reduce_crossings(
    layers: list[list[int]], down: list[list[int]], up: list[list[int]], sweeps: int
) -> tuple[list[list[int]], int]:
    best = [row[:] for row in layers]
    best_count = _count_all(best, down)
    current = [row[:] for row in layers]
    for _ in range(sweeps):
        if best_count == 0:
            break
        for i in range(1, len(current)):
            current[i] = _barycenter_sort(current[i], current[i - 1], up)
        for i in range(len(current) - 2, -1, -1):
            current[i] = _barycenter_sort(current[i], current[i + 1], down)
        count = _count_all(current, down)
        if count < best_count:
            best, best_count = [row[:] for row in current], count
    return best, best_count


def _barycenter_sort(row: list[int], fixed: list[int], neighbours: list[list[int]]) -> list[int]:
    pos = {node: i for i, node in enumerate(fixed)}
    keyed = []
    for i, node in enumerate(row):
        near = [pos[m] for m in neighbours[node] if m in pos]
        keyed.append((sum(near) / len(near) if near else float(i), i, node))
    keyed.sort()
    return [node for _, _, node in keyed]


def _count_all(layers: list[list[int]], down: list[list[int]]) -> int:
    return sum(_count_between(layers[i], layers[i + 1], down) for i in range(len(layers) - 1))


def _count_between(upper: list[int], lower: list[int], down: list[list[int]]) -> int:
    """Edge crossings between two adjacent layers (inversions of the lower ends)."""
    pos = {node: i for i, node in enumerate(lower)}
    ends = [pos[v] for u in upper for v in sorted(down[u], key=pos.__getitem__)]
    crossings = 0
    tree = [0] * (len(lower) + 1)
    for seen, p in enumerate(ends):
        # Fenwick tree: how many earlier edges end strictly right of p.
        i, smaller_or_equal = p + 1, 0
        while i > 0:
            smaller_or_equal += tree[i]
            i -= i & -i
        crossings += seen - smaller_or_equal
        i = p + 1
        while i <= len(lower):
            tree[i] += 1
            i += i & -i
    return crossings


def _coordinates(
    layers: list[list[int]], down: list[list[int]], up: list[list[int]], width: list[float],
    n_real: int, gap: float,
) -> list[float]:
    x = [0.0] * len(width)
    for row in layers:
        cursor = 0.0
        for node in row:
            x[node] = cursor + width[node] / 2
            cursor += width[node] + gap
    rounds = [(up, range(1, len(layers))), (down, range(len(layers) - 2, -1, -1))] * 4
    for neighbours, indices in rounds:
        for i in indices:
            _place(layers[i], neighbours, x, width, n_real, gap)
    for i in range(len(layers)):  # a last pass balances each node between both sides
        _place(layers[i], None, x, width, n_real, gap, both=(up, down))
    return x


def _place(
    row: list[int], neighbours: list[list[int]] | None, x: list[float], width: list[float], n_real: int,
    gap: float, both: tuple[list[list[int]], list[list[int]]] | None = None,
) -> None:
    """Move a layer's nodes towards their neighbours' mean x, keeping order and spacing (weighted PAVA)."""
    if not row:
        return
    targets, weights, offsets = [], [], []
    offset = 0.0
    for k, node in enumerate(row):
        if k:
            offset += (width[row[k - 1]] + width[node]) / 2 + gap
        near = neighbours[node] if neighbours is not None else [m for side in both for m in side[node]]
        # A box follows the boxes it is wired to more than the bends of long edges passing by.
        pull = [1.0 if m < n_real else DUMMY_PULL for m in near]
        total = sum(pull)
        targets.append((sum(x[m] * w for m, w in zip(near, pull)) / total if near else x[node]) - offset)
        weights.append((DUMMY_WEIGHT if node >= n_real else 1.0) * (1.0 if near else 0.25))
        offsets.append(offset)
    # Pool adjacent violators: non-decreasing z closest (weighted) to the targets.
    blocks: list[list[float]] = []  # [value, weight, count]
    for t, w in zip(targets, weights):
        blocks.append([t, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop()
            v1, w1, c1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    k = 0
    for value, _, count in blocks:
        for _ in range(count):
            x[row[k]] = value + offsets[k]
            k += 1
