"""The checks of checklist mode that code decides without a model.

A check is decided here when the trace itself settles it: whether the chosen tool is in the catalog,
whether the arguments satisfy the tool's JSON Schema, whether the call recorded an error or timeout,
whether a result, plan or answer is empty, whether the tool was used before, and what the rules
judge proves about an answer (numbers no tool returned, success claimed after a failure). ``decide`` returns
None for the checks only a model can answer; ``agenteval.judges.checklist`` asks those.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from agenteval.judges._arguments import InvalidSchemaError, parse_arguments, schema_violations, summarise
from agenteval.judges._numbers import texts_in
from agenteval.judges.base import StepContext
from agenteval.models import Judgment, Step, StepType
from agenteval.recovery import acknowledges_failure, unrecovered_failures
from agenteval.rubrics import Check


@dataclass(frozen=True)
class Decision:
    """An answer code worked out without a model.

    Attributes:
        answer: The answer (yes/no, or a choice); None when code knows the check fails without one.
        note: What code saw, for the reason and the details.
        code: A failure code more specific than the check's default.
        applies: False when the check cannot apply to this step (it then does not count).
    """

    answer: str | None
    note: str
    code: str | None = None
    applies: bool = True


def decide(check: Check, choices: tuple[str, ...], target: str | None, facts: Facts) -> Decision | None:
    """Code's answer to a check, or None when only a model can answer it."""
    step_type = facts.step.type
    if check.kind == "choice":
        if not choices:
            return Decision(None, "nothing to choose from (the trace lists no tools)", applies=False)
        if target is None:
            return Decision(None, "the step records no tool to compare with", applies=False)
        if target not in choices:
            code = "P3.1" if step_type is StepType.TOOLSEL else None
            return Decision(None, f"the step's tool '{target}' is not one of the choices", code)
        if len(choices) == 1:
            return Decision(choices[0], "the only choice")
        return None
    if step_type in _EMPTY_WORD and facts.empty_output:
        # Questions about an empty plan or answer either fail outright or have nothing to look at.
        answer = _EMPTY.get((step_type, check.id))
        return Decision(answer, f"the {_EMPTY_WORD[step_type]} is empty", applies=answer is not None)
    decider = _DECIDERS.get((step_type, check.id))
    return decider(facts) if decider is not None else None


class Facts:
    """What code can tell about a step, each worked out once."""

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx
        self.step = ctx.step

    @cached_property
    def chosen_tool(self) -> str | None:
        """The step's tool; a TOOLSEL may record it as its output, other steps inherit it from a parent."""
        own = _own_tool(self.step)
        if own is not None or self.step.type is StepType.TOOLSEL:
            return own
        for parent in self.ctx.parents:
            if parent.type in (StepType.TOOLSEL, StepType.PARAMGEN) and parent.tool:
                return parent.tool
        return None

    @cached_property
    def in_catalog(self) -> bool | None:
        """Whether the chosen tool is in the catalog; None when there is no catalog or no tool."""
        if not self.ctx.trace.tools or self.chosen_tool is None:
            return None
        return self.ctx.trace.tool(self.chosen_tool) is not None

    @cached_property
    def _rules(self) -> Judgment:
        from agenteval.judges.rules import judge_step_sync

        return judge_step_sync(self.ctx)

    @property
    def rules_code(self) -> str | None:
        """The failure code the rules judge proves for this step, if any."""
        return self._rules.failure_code if self._rules.assessed else None

    @property
    def rules_reason(self) -> str:
        """The rules judge's reason."""
        return self._rules.reason

    @cached_property
    def empty_output(self) -> bool:
        return not "".join(texts_in(self.step.output)).strip()

    @cached_property
    def schema(self) -> dict[str, list[str]] | str:
        """Schema violations by kind (required, types, unknown, format, unreadable), or why none can be known."""
        if self.chosen_tool is None:
            return "the step records no tool"
        tool = self.ctx.trace.tool(self.chosen_tool)
        if tool is None:
            return "the tool is not in the catalog" if self.ctx.trace.tools else "the trace has no tool catalog"
        if not tool.parameters:
            return f"{tool.name} has no parameter schema"
        raw = self.step.arguments if self.step.arguments is not None else self.step.output
        if raw is None:
            return "no arguments recorded"
        arguments, problem = parse_arguments(raw)
        kinds: dict[str, list[str]] = {"required": [], "types": [], "unknown": [], "format": [], "unreadable": []}
        if problem:
            kinds["unreadable"].append(problem)
            return kinds
        try:
            violations = schema_violations(arguments, tool.parameters)
        except InvalidSchemaError as exc:
            return f"{tool.name}'s parameter schema {exc.phrase}"
        for phrase in violations:
            if phrase.startswith("missing required"):
                kinds["required"].append(phrase)
            elif " is not of type " in phrase:
                kinds["types"].append(phrase)
            elif phrase.startswith("unknown parameter") or "Additional properties" in phrase:
                kinds["unknown"].append(phrase)
            else:
                kinds["format"].append(phrase)
        return kinds


def _schema_check(kind: str, fail_answer: str) -> Callable[[Facts], Decision]:
    pass_answer = "yes" if fail_answer == "no" else "no"

    def decide(facts: Facts) -> Decision:
        report = facts.schema
        if isinstance(report, str):
            return Decision(None, report, applies=False)
        if report["unreadable"]:
            # Unreadable arguments fail every schema check but "unknown names", which cannot be told.
            return Decision(fail_answer, report["unreadable"][0], "E1.1", applies=kind != "unknown")
        found = report[kind]
        if found:
            return Decision(fail_answer, summarise(found), "E1.1")
        return Decision(pass_answer, "schema check passed")

    return decide


def _tool_in_catalog(facts: Facts) -> Decision:
    if facts.in_catalog is None:
        why = "the trace has no tool catalog" if not facts.ctx.trace.tools else "the step records no tool"
        return Decision(None, why, applies=False)
    if facts.in_catalog:
        return Decision("yes", f"'{facts.chosen_tool}' is in the catalog")
    return Decision("no", f"'{facts.chosen_tool}' is not in the catalog", "P3.1")


def _tool_matches_need(facts: Facts) -> Decision | None:
    if facts.in_catalog is False:
        return Decision("no", f"'{facts.chosen_tool}' is not in the catalog, so it has no description", "P3.1")
    return None


def _tool_call_new(facts: Facts) -> Decision | None:
    # Only a model can tell "same purpose"; but with no earlier use of the tool the call is new.
    name = facts.chosen_tool
    if name is None:
        return None
    earlier = facts.ctx.trace.steps[: facts.ctx.dag.position(facts.step.id)]
    if any(_uses(s, name) for s in earlier):
        return None
    return Decision("yes", f"no earlier step used {name}")


def _plan_uses_listed_tools(facts: Facts) -> Decision | None:
    if not facts.ctx.trace.tools:
        return Decision(None, "the trace lists no tools", applies=False)
    return None


def _answer_facts_sourced(facts: Facts) -> Decision | None:
    # The rules judge proves numbers no tool returned; anything else is the model's to read.
    if facts.rules_code == "I1.1":
        return Decision("no", facts.rules_reason, "I1.1")
    return None


def _answer_honest_about_failures(facts: Facts) -> Decision | None:
    # Failures and their acknowledgement read as the rules judge reads them (agenteval.recovery):
    # an answer speaks for the calls since the agent's previous answer that it had not recovered from.
    if facts.rules_code == "I1.2":
        return Decision("no", facts.rules_reason, "I1.2")
    dag, position = facts.ctx.dag, facts.ctx.dag.position(facts.step.id)
    previous = max((i for i, s in enumerate(facts.ctx.trace.steps[:position]) if s.type is StepType.SYNTH), default=-1)
    if not [s for s in unrecovered_failures(dag, position) if dag.position(s.id) > previous]:
        return Decision("yes", "no tool call failed before this answer that the agent did not recover from")
    if acknowledges_failure(" ".join(texts_in(facts.step.output))):
        return Decision("yes", "the answer says that something did not work")
    return None


def _uses(step: Step, name: str) -> bool:
    return step.type in (StepType.TOOLSEL, StepType.EXEC) and _own_tool(step) == name


def _own_tool(step: Step) -> str | None:
    """The tool a step names; a TOOLSEL may record its pick as its output instead."""
    if step.tool:
        return step.tool
    if step.type is StepType.TOOLSEL and isinstance(step.output, str) and step.output.strip():
        return step.output.strip()
    return None


def _exec_no_error(facts: Facts) -> Decision:
    step = facts.step
    error = ": ".join(p for p in (step.error.type, step.error.message) if p) if step.error else ""
    if step.status == "timeout" or any(w in error.lower() for w in ("timeout", "timed out", "deadline exceeded")):
        return Decision("no", f"the call timed out{': ' + error if error else ''}", "E2.2")
    if step.failed_in_trace:
        return Decision("no", error or f"status '{step.status}'", "E2.1")
    return Decision("yes", "the trace records no error")


def _exec_has_data(facts: Facts) -> Decision | None:
    # Whether a non-empty output is data or an error payload is for the model to read.
    if facts.empty_output:
        return Decision("no", f"the call returned nothing ({json.dumps(facts.step.output, default=str)})", "E2.3")
    return None


_DECIDERS: dict[tuple[StepType, str], Callable[[Facts], Decision | None]] = {
    (StepType.TOOLSEL, "tool_in_catalog"): _tool_in_catalog,
    (StepType.TOOLSEL, "tool_matches_need"): _tool_matches_need,
    (StepType.TOOLSEL, "tool_call_new"): _tool_call_new,
    (StepType.PLAN, "plan_uses_listed_tools"): _plan_uses_listed_tools,
    (StepType.PARAMGEN, "args_required_present"): _schema_check("required", "no"),
    (StepType.PARAMGEN, "args_types_match"): _schema_check("types", "no"),
    (StepType.PARAMGEN, "args_known_names"): _schema_check("unknown", "no"),
    (StepType.PARAMGEN, "args_format_ok"): _schema_check("format", "no"),
    (StepType.EXEC, "exec_no_error"): _exec_no_error,
    (StepType.EXEC, "exec_has_data"): _exec_has_data,
    (StepType.SYNTH, "answer_facts_sourced"): _answer_facts_sourced,
    (StepType.SYNTH, "answer_honest_about_failures"): _answer_honest_about_failures,
}

_EMPTY_WORD = {StepType.PLAN: "plan", StepType.SYNTH: "answer"}
#: Answers code gives for an empty plan or answer; other checks of such a step do not apply.
_EMPTY: dict[tuple[StepType, str], str] = {
    (StepType.PLAN, "plan_has_actions"): "no",
    (StepType.PLAN, "plan_covers_all_requests"): "no",
    (StepType.SYNTH, "answer_gives_result"): "no",
    (StepType.SYNTH, "answer_all_parts"): "no",
    (StepType.SYNTH, "answer_on_task"): "no",
}
