"""What the answers of a trace may take figures from, worked out once per trace for the rules
judge's grounding check (I1.1)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from weakref import WeakKeyDictionary

from agenteval.dag import StepDAG
from agenteval.judges._numbers import NumberIndex, grounded_values, texts_in
from agenteval.models import StepType, Trace


class Grounding:
    """What a trace's answers may take figures from, worked out once per trace: the source values,
    and for each answer the values its earlier answers stated and grounded (a figure the agent
    derived and showed before, such as a price difference, grounds a later restatement; an invented
    one does not)."""

    def __init__(self, trace: Trace) -> None:
        self.index = NumberIndex(_sources(trace))
        self._earlier: dict[str, frozenset[Decimal]] = {}
        values: set[Decimal] = set()
        for step in trace.steps:
            if step.type is StepType.SYNTH:
                self._earlier[step.id] = frozenset(values)
                values |= grounded_values("\n".join(texts_in(step.output)), self.index.extended(values))

    def index_for(self, answer_id: str) -> NumberIndex:
        """The index an answer is checked against."""
        return self.index.extended(self._earlier.get(answer_id, frozenset()))


#: One Grounding per DAG, for as long as the DAG lives: every answer of a trace shares it.
_GROUNDINGS: WeakKeyDictionary[StepDAG, Grounding] = WeakKeyDictionary()


def grounding(dag: StepDAG) -> Grounding:
    """The Grounding of a DAG's trace (worked out on first use, kept while the DAG lives)."""
    found = _GROUNDINGS.get(dag)
    if found is None:
        found = _GROUNDINGS[dag] = Grounding(dag.trace)
    return found


def _sources(trace: Trace) -> Iterator[str]:
    """Texts an answer may take numbers from: the task and every step's input, arguments, errors
    and outputs, except answers (one answer's invention must not ground another's)."""
    yield trace.task
    for step in trace.steps:
        yield from texts_in(step.input)
        yield from texts_in(step.arguments)
        if step.error is not None:
            yield step.error.message
        if step.type is not StepType.SYNTH:
            yield from texts_in(step.output)
