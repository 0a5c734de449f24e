"""Whether a trace holds the evidence a step is judged on; every judge asks before it judges.

A step whose evidence is missing (content capture was off, the value was redacted, the span is not
mapped to a step type) is ``not_assessable``: neither a failure nor a pass, and no model is asked about
it. What each step type needs:

* PLAN, SYNTH: the text the model wrote (``output``);
* TOOLSEL: the chosen tool's name (a tool span names it even when the model's content is missing);
* PARAMGEN: the arguments;
* EXEC: the result. A tool the trace records as failed is judged all the same: its status proves it.

A step made from a span no convention or mapping covers (one that recorded an error) is never
assessable; it carries the ``unmapped_error`` flag, and a trace holding one is incomplete.
"""

from __future__ import annotations

from agenteval.models import Judgment, Step, StepType

#: Flag on the judgment of a step made from an unmapped span that recorded an error.
UNMAPPED_ERROR = "unmapped_error"

_NOT_RECORDED = "not recorded (content capture off, or redacted)"
_NEEDS: dict[StepType, tuple[str, str]] = {
    StepType.PLAN: ("output", "the plan text"),
    StepType.SYNTH: ("output", "the answer"),
    StepType.PARAMGEN: ("arguments", "the arguments"),
    StepType.EXEC: ("output", "the tool's result"),
}


def missing_evidence(step: Step) -> str | None:
    """Why the trace lacks the evidence this step is judged on, or None when it has it."""
    span = step.metadata.get("unmapped_span")
    if span is not None:
        return (f"span '{span}' recorded an error but is not mapped to a step type: "
                "map it in agenteval.toml ([mapping])")
    if not step.unrecorded:
        return None
    if step.type is StepType.TOOLSEL:
        named = step.tool or (isinstance(step.output, str) and step.output.strip())
        return None if named else f"the selected tool's name was {_NOT_RECORDED}"
    need = _NEEDS.get(step.type)
    if need is None or need[0] not in step.unrecorded:
        return None
    if step.failed_in_trace:
        return None  # the recorded error is the evidence
    return f"{need[1]} was {_NOT_RECORDED}"


def not_assessable(step: Step, judge: str, *, rubric_version: str | None = None) -> Judgment | None:
    """The judgment for a step without its evidence, or None when the step can be judged."""
    why = missing_evidence(step)
    if why is None:
        return None
    flags = [UNMAPPED_ERROR] if "unmapped_span" in step.metadata else []
    return Judgment(step_id=step.id, judge=judge, not_assessable=why, flags=flags, rubric_version=rubric_version)
