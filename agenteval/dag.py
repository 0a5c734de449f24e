"""The evaluation DAG of a trace: steps as nodes, "consumed the output of" as edges.

networkx lives here and nowhere else. Pure: no files, network or clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import networkx as nx

from agenteval.errors import DagError
from agenteval.models import Step, Trace


class StepDAG:
    """A validated, acyclic graph of a trace's steps.

    Build it with ``StepDAG.from_trace``; the constructor does no validation.
    """

    def __init__(self, trace: Trace, graph: nx.DiGraph) -> None:
        self.trace = trace
        self._g = graph
        self._steps = {s.id: s for s in trace.steps}
        self._position = {s.id: i for i, s in enumerate(trace.steps)}

    @classmethod
    def from_trace(cls, trace: Trace, *, source: str | None = None) -> StepDAG:
        """Build and validate the DAG of a trace.

        Raises:
            DagError: duplicate step ids, parents that do not exist, or a cycle; the message names
                the trace and the steps involved.
        """
        seen: set[str] = set()
        duplicates = sorted({s.id for s in trace.steps if s.id in seen or seen.add(s.id)})
        if duplicates:
            raise DagError(f"trace {trace.id}: duplicate step ids: {', '.join(duplicates)}", source=source)
        graph = nx.DiGraph()
        graph.add_nodes_from(s.id for s in trace.steps)
        for step in trace.steps:
            missing = [p for p in step.parents if p not in seen]
            if missing:
                raise DagError(
                    f"trace {trace.id}: step {step.id} has unknown parent(s): {', '.join(missing)}",
                    source=source,
                )
            graph.add_edges_from((p, step.id) for p in step.parents)
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
            raise DagError(f"trace {trace.id}: steps form a cycle: {path}", source=source)
        return cls(trace, graph)

    def __len__(self) -> int:
        return len(self._steps)

    def __contains__(self, step_id: object) -> bool:
        return step_id in self._steps

    def step(self, step_id: str) -> Step:
        """The step with this id."""
        return self._steps[step_id]

    def steps(self) -> Iterator[Step]:
        """Steps in a topological order, ties broken by their order in the trace."""
        for step_id in nx.lexicographical_topological_sort(self._g, key=self._position.__getitem__):
            yield self._steps[step_id]

    def parents(self, step_id: str) -> list[str]:
        """Direct parents, in trace order."""
        return self._sorted(self._g.predecessors(step_id))

    def children(self, step_id: str) -> list[str]:
        """Direct children, in trace order."""
        return self._sorted(self._g.successors(step_id))

    def ancestors(self, step_id: str) -> list[str]:
        """Every step upstream of this one, in trace order."""
        return self._sorted(nx.ancestors(self._g, step_id))

    def descendants(self, step_id: str) -> list[str]:
        """Every step downstream of this one, in trace order."""
        return self._sorted(nx.descendants(self._g, step_id))

    def sinks(self) -> list[str]:
        """Steps nothing consumed, in trace order."""
        return self._sorted(n for n in self._g if self._g.out_degree(n) == 0)

    def path(self, source: str, target: str) -> list[str] | None:
        """A shortest directed path from source to target, or None."""
        try:
            return nx.shortest_path(self._g, source, target)
        except nx.NetworkXNoPath:
            return None

    def hops(self, a: str, b: str) -> int | None:
        """Edges between two steps ignoring direction, or None when unconnected."""
        try:
            return nx.shortest_path_length(self._g.to_undirected(as_view=True), a, b)
        except nx.NetworkXNoPath:
            return None

    def position(self, step_id: str) -> int:
        """Index of the step in the trace's own order."""
        return self._position[step_id]

    def _sorted(self, ids: Iterable[str]) -> list[str]:
        return sorted(ids, key=self._position.__getitem__)
