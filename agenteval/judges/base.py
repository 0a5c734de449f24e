"""The Judge protocol the evaluation core depends on, and the context a judge sees for a step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from agenteval.dag import StepDAG
from agenteval.models import Judgment, Step, Tool, Trace


@dataclass(frozen=True)
class StepContext:
    """Everything a judge may look at to judge one step."""

    trace: Trace
    dag: StepDAG
    step: Step

    @property
    def parents(self) -> list[Step]:
        """The steps whose output this step consumed, in trace order."""
        return [self.dag.step(p) for p in self.dag.parents(self.step.id)]

    @property
    def tool(self) -> Tool | None:
        """The catalog entry of the step's tool, if the catalog has it."""
        return self.trace.tool(self.step.tool)


@runtime_checkable
class Judge(Protocol):
    """Scores one step at a time. Implementations must never raise for a per-step problem:
    they return a Judgment with ``error`` set (a judge_error), which is never a pass."""

    name: str

    async def judge_step(self, ctx: StepContext) -> Judgment:
        """Judge one step of a trace."""
        ...


class JudgmentCache(Protocol):
    """Where judgments are cached by key (the store implements it)."""

    def cache_get(self, key: str) -> Judgment | None:
        """The cached judgment for key, or None."""
        ...

    def cache_put(self, key: str, judgment: Judgment) -> None:
        """Cache a judgment under key."""
        ...
