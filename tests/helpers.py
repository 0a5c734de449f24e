"""Small builders shared by the tests."""

from __future__ import annotations

from agenteval.models import Judgment, Step, Trace


def trace(*steps: tuple, task: str = "do the task", trace_id: str = "t1", tools=None) -> Trace:
    """A trace from (id, type, parents) tuples, with optional extra fields as a 4th dict item."""
    built = []
    for spec in steps:
        step_id, step_type, parents, *extra = spec
        built.append(Step(id=step_id, type=step_type, parents=list(parents), **(extra[0] if extra else {})))
    return Trace(id=trace_id, task=task, steps=built, tools=tools or [])


def judgments(scores: dict[str, float | None]) -> dict[str, Judgment]:
    """Judgments with the given scores; None means a judge error."""
    return {
        sid: Judgment(step_id=sid, judge="test", score=score, error=None if score is not None else "boom")
        for sid, score in scores.items()
    }
