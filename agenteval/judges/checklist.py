"""Checklist mode (``--judge-mode checklist``): narrow questions instead of one holistic 1-5 call.

Small local judges give plainly wrong steps a 5 when asked for a holistic score, yet answer narrow
questions well. Each rubric metric lists atomic checks: yes/no questions, or a choice among names
("which tool fits this need?"). This judge asks each check as its own request, with the answer
constrained by a JSON schema (an enum, so a grammar-capable server can only emit a valid answer),
and lets code do every comparison code can do: the chosen tool against the tool the model picked
with the step's decision hidden, arguments against the tool's JSON Schema, the call's recorded
status. A metric scores ``1 + 4 * weighted pass fraction``; the step scores its weakest metric.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from agenteval.errors import AgentEvalError, JudgeError
from agenteval.judges._arguments import InvalidSchemaError, parse_arguments, schema_violations, summarise
from agenteval.judges._numbers import texts_in
from agenteval.judges.base import JudgmentCache, StepContext
from agenteval.judges.llm import CallNotStarted, JsonReply, LLMClient
from agenteval.judges.llm_judge import DEFAULT_PRICES, NOT_JUDGED_MAX_COST, CostBudget, cost_usd
from agenteval.judges.prompt import build_check_messages, check_choices
from agenteval.models import Judgment, Step, StepType, Usage
from agenteval.rubrics import Check, Metric, Rubric, RubricSet

CHECKLIST_VERSION = "1"
"""Part of every cache key: bump it when the way answers become scores changes."""

#: Failure code of a failing metric of the bundled rubrics.
METRIC_CODES: dict[str, str] = {
    "covers_goal": "P2.1", "feasible_with_tools": "P2.2", "sensible_order": "P2.3",
    "right_tool": "P3.2",
    "schema_valid": "E1.1", "faithful_arguments": "E1.3", "no_invented_values": "E1.2",
    "call_succeeded": "E2.1", "result_usable": "E2.3",
    "faithful_to_outputs": "I1.1", "complete": "I2.1", "answers_task": "I2.2",
}
#: Checks of the bundled rubrics whose failure is more specific than their metric's code.
CHECK_CODES: dict[str, str] = {
    "plan_keeps_constraints": "P1.2", "plan_off_goal": "P1.1",
    "tool_in_catalog": "P3.1", "tool_repeats_call": "P3.3",
    "answer_false_success": "I1.2",
}
_MAX_LISTED = 5  # failed checks named in a reason


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @field_validator("answer", mode="before", check_fields=False)
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        # Without a schema, small models write "Yes." or "`get_weather`"; map those to the option.
        if not isinstance(value, str):
            return value
        text = value.strip().strip("\"'`.").strip()
        options = get_args(cls.model_fields["answer"].annotation)
        return next((o for o in options if o.lower() == text.lower()), value)


class YesNoAnswer(_Answer):
    """The answer to a yes/no question about the step."""

    answer: Literal["yes", "no"] = Field(description="yes or no.")


@lru_cache(maxsize=64)
def choice_model(choices: tuple[str, ...]) -> type[BaseModel]:
    """A reply model whose ``answer`` must be one of ``choices`` (an enum in its JSON schema).

    Cached per choice list, so the client's schema cache is hit for every step of a trace.
    """
    return create_model(
        "ChoiceAnswer",
        __base__=_Answer,
        __doc__="The one choice that answers the question.",
        answer=(Literal[choices], Field(description="Exactly one of the listed choices.")),  # type: ignore[valid-type]
    )


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


@dataclass
class _Item:
    """One check of the step: how it is decided and, once it is, the outcome."""

    metric: Metric
    check: Check
    choices: tuple[str, ...]
    target: str | None  # the step's own decision a choice is compared with
    decided: Decision | None
    messages: list[dict[str, str]] | None
    answer: str | None = None
    passed: bool | None = None
    code: str | None = None

    def settle(self, answer: str | None) -> None:
        self.answer = answer
        if self.decided is not None and not self.decided.applies:
            return
        wanted = self.check.pass_answer if self.check.kind == "yes_no" else self.target
        self.passed = answer is not None and answer == wanted
        self.code = (self.decided.code if self.decided else None) or CHECK_CODES.get(self.check.id)


@dataclass
class _Asked:
    reply: JsonReply | None = None
    error: str | None = None
    cost: float | None = None
    stopped: bool = False  # the budget was reached before the call


@dataclass
class _Spend:
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    models: list[str] = field(default_factory=list)
    unpriced: set[str] = field(default_factory=set)
    latency_s: float = 0.0


class ChecklistJudge:
    """Judges each step by asking its rubric's checks one at a time, and scores them in code.

    Args:
        client: The model client (tiers, concurrency, retries).
        rubrics: Rubrics by step type; their metrics' ``checks`` are asked.
        cache: Where judgments are cached, keyed on models, rubric, mode and every check's prompt.
        prices: USD per 1M (input, output) tokens by model; defaults to ``DEFAULT_PRICES``.
        budget: Stops new calls once reached; later steps come back not judged.
        taxonomy_codes: Failure codes the judge may assign, as codes or (code, slug) pairs; other
            codes are never set. None allows any code.
    """

    def __init__(
        self,
        client: LLMClient,
        rubrics: RubricSet,
        *,
        cache: JudgmentCache | None = None,
        prices: Mapping[str, tuple[float, float]] | None = None,
        budget: CostBudget | None = None,
        taxonomy_codes: Iterable[str | tuple[str, str]] | None = None,
    ) -> None:
        self.client = client
        self.rubrics = rubrics
        self.cache = cache
        self.prices = DEFAULT_PRICES if prices is None else prices
        self.budget = budget
        self._known_codes = (
            frozenset(c if isinstance(c, str) else c[0] for c in taxonomy_codes) if taxonomy_codes is not None else None
        )
        self.name = f"openai:{client.tiers[0].model}"

    async def judge_step(self, ctx: StepContext) -> Judgment:
        """Judge one step. Never raises for a per-step problem: failures come back as judge errors."""
        step_id = ctx.step.id
        try:
            rubric = self.rubrics.for_type(ctx.step.type)
            items = _items(rubric, ctx)
        except AgentEvalError as exc:
            return Judgment(step_id=step_id, judge=self.name, error=str(exc))
        asked = [item for item in items if item.messages is not None]
        key = self.cache_key(rubric, items)
        if self.cache is not None and asked:
            hit = self.cache.cache_get(key)
            if hit is not None:
                details = {**hit.details, "cached_cost_usd": hit.cost_usd}
                return hit.model_copy(update={"step_id": step_id, "cached": True, "cost_usd": 0.0, "details": details})
        if asked and self.budget is not None and self.budget.exhausted:
            return self._not_judged(step_id, rubric, _Spend())

        outcomes = await asyncio.gather(*(self._ask(item) for item in asked))
        spend = self._spend(outcomes)
        errors = [(item, o.error) for item, o in zip(asked, outcomes, strict=True) if o.error is not None]
        if errors:
            item, error = errors[0]
            more = f" (and {len(errors) - 1} more check(s) failed)" if len(errors) > 1 else ""
            return Judgment(
                step_id=step_id, judge=f"openai:{self._model(spend)}", error=f"check '{item.check.id}': {error}{more}",
                rubric_version=rubric.version, model=self._model(spend), usage=spend.usage, cost_usd=spend.cost,
            )
        if any(o.stopped for o in outcomes):
            return self._not_judged(step_id, rubric, spend)
        for item in items:
            if item.messages is None:
                assert item.decided is not None
                item.settle(item.decided.answer)
        for item, outcome in zip(asked, outcomes, strict=True):
            assert outcome.reply is not None
            item.settle(outcome.reply.value.model_dump()["answer"])
        judgment = self._combine(step_id, rubric, items, spend)
        if self.cache is not None and asked:
            self.cache.cache_put(key, judgment)
        return judgment

    def cache_key(self, rubric: Rubric, items: list[_Item]) -> str:
        """The cache key of a step: judge models, rubric version and fingerprint, mode, every check."""
        checks = [
            {"id": i.check.id, "target": i.target, "messages": i.messages,
             "decided": [i.decided.answer, i.decided.note, i.decided.code, i.decided.applies] if i.decided else None}
            for i in items
        ]
        payload = {
            "mode": "checklist",
            "checklist_version": CHECKLIST_VERSION,
            "models": [tier.model for tier in self.client.tiers],
            "rubric_version": rubric.version,
            "rubric_fingerprint": rubric.fingerprint,
            "codes": sorted(self._known_codes) if self._known_codes is not None else None,
            "checks": checks,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    async def aclose(self) -> None:
        """Close the model client's connections."""
        await self.client.aclose()

    # -- internals ---------------------------------------------------------------------------------

    async def _ask(self, item: _Item) -> _Asked:
        if self.budget is not None and self.budget.exhausted:
            return _Asked(stopped=True)
        assert item.messages is not None
        if item.check.kind == "yes_no":
            schema: type[BaseModel] = YesNoAnswer
        else:
            schema = choice_model(item.choices)
        try:
            reply = await self.client.complete_json(
                item.messages, schema, proceed=lambda: self.budget is None or not self.budget.exhausted
            )
        except CallNotStarted:
            return _Asked(stopped=True)
        except JudgeError as exc:
            return _Asked(error=str(exc))
        cost = cost_usd(reply.usage, reply.model, self.prices)
        if self.budget is not None:
            self.budget.add(cost or 0.0)
        return _Asked(reply=reply, cost=cost)

    def _spend(self, outcomes: list[_Asked]) -> _Spend:
        spend = _Spend()
        for outcome in outcomes:
            if outcome.reply is None:
                continue
            spend.usage = spend.usage + outcome.reply.usage
            spend.cost += outcome.cost or 0.0
            spend.latency_s += outcome.reply.latency_s
            if outcome.reply.model not in spend.models:
                spend.models.append(outcome.reply.model)
            if outcome.cost is None:
                spend.unpriced.add(outcome.reply.model)
        return spend

    def _model(self, spend: _Spend) -> str:
        return "+".join(spend.models) or self.client.tiers[0].model

    def _combine(self, step_id: str, rubric: Rubric, items: list[_Item], spend: _Spend) -> Judgment:
        metric_scores: dict[str, float] = {}
        for metric in rubric.metrics:
            counted = [i for i in items if i.metric is metric and i.passed is not None]
            total = sum(i.check.weight for i in counted)
            if counted and total > 0:
                passed = sum(i.check.weight for i in counted if i.passed)
                metric_scores[metric.name] = round(1 + 4 * passed / total, 4)
        details: dict[str, Any] = {"mode": "checklist", "checks": [_detail(i) for i in items]}
        details["latency_s"] = round(spend.latency_s, 3)
        if spend.unpriced:
            details["price_unknown"] = sorted(spend.unpriced)
        common = {
            "step_id": step_id, "judge": f"openai:{self._model(spend)}", "rubric_version": rubric.version,
            "model": self._model(spend), "usage": spend.usage, "cost_usd": spend.cost, "details": details,
        }
        if not metric_scores:
            return Judgment(**common, score=3.0, assessed=False, reason="not assessed: no check applies to this step")
        # The weakest metric decides, as in the holistic judge.
        score = round(min(metric_scores.values()), 4)
        failed = [i for i in items if i.passed is False]
        reason = (
            "; ".join(_describe(i) for i in failed[:_MAX_LISTED])
            + (f" (+{len(failed) - _MAX_LISTED} more)" if len(failed) > _MAX_LISTED else "")
            if failed
            else f"all {sum(i.passed is not None for i in items)} applicable checks passed"
        )
        code = self._failure_code(rubric, items, metric_scores) if score < 3 else None
        return Judgment(**common, score=score, metric_scores=metric_scores, reason=reason, failure_code=code)

    def _failure_code(self, rubric: Rubric, items: list[_Item], metric_scores: dict[str, float]) -> str | None:
        """The code of the worst metric's most telling failed check: proven by code first, then heaviest."""
        order = {m.name: n for n, m in enumerate(rubric.metrics)}
        failed = sorted(
            (i for i in items if i.passed is False),
            key=lambda i: (metric_scores[i.metric.name], order[i.metric.name], i.messages is not None, -i.check.weight),
        )
        for item in failed:
            for code in (item.code, METRIC_CODES.get(item.metric.name)):
                if code and (self._known_codes is None or code in self._known_codes):
                    return code
        return None

    def _not_judged(self, step_id: str, rubric: Rubric, spend: _Spend) -> Judgment:
        return Judgment(
            step_id=step_id, judge=self.name, assessed=False, reason="not judged: --max-cost reached",
            rubric_version=rubric.version, usage=spend.usage, cost_usd=spend.cost,
            details={"not_judged": NOT_JUDGED_MAX_COST, "mode": "checklist"},
        )


# ---- planning the checks ---------------------------------------------------------------------

def _items(rubric: Rubric, ctx: StepContext) -> list[_Item]:
    """Every check of the rubric, decided by code where code can, else with its prompt ready."""
    facts = _Facts(ctx)
    items = []
    for metric in rubric.metrics:
        for check in metric.checks:
            choices = tuple(dict.fromkeys(check_choices(check, ctx)))
            target = facts.chosen_tool if check.kind == "choice" else None
            decided = _decide(check, choices, target, facts)
            messages = None if decided else build_check_messages(check, rubric, ctx, choices)
            items.append(_Item(metric, check, choices, target, decided, messages))
    return items


def _decide(check: Check, choices: tuple[str, ...], target: str | None, facts: _Facts) -> Decision | None:
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


class _Facts:
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
            return f"{tool.name}'s parameter schema is invalid: {exc}"
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


def _schema_check(kind: str, fail_answer: str) -> Callable[[_Facts], Decision]:
    pass_answer = "yes" if fail_answer == "no" else "no"

    def decide(facts: _Facts) -> Decision:
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


def _tool_in_catalog(facts: _Facts) -> Decision:
    if facts.in_catalog is None:
        why = "the trace has no tool catalog" if not facts.ctx.trace.tools else "the step records no tool"
        return Decision(None, why, applies=False)
    if facts.in_catalog:
        return Decision("yes", f"'{facts.chosen_tool}' is in the catalog")
    return Decision("no", f"'{facts.chosen_tool}' is not in the catalog", "P3.1")


def _tool_matches_need(facts: _Facts) -> Decision | None:
    if facts.in_catalog is False:
        return Decision("no", f"'{facts.chosen_tool}' is not in the catalog, so it has no description", "P3.1")
    return None


def _tool_repeats_call(facts: _Facts) -> Decision | None:
    # Only a model can tell "same purpose"; but with no earlier use of the tool the answer is no.
    name = facts.chosen_tool
    if name is None:
        return None
    earlier = facts.ctx.trace.steps[: facts.ctx.dag.position(facts.step.id)]
    if any(_uses(s, name) for s in earlier):
        return None
    return Decision("no", f"no earlier step used {name}")


def _uses(step: Step, name: str) -> bool:
    return step.type in (StepType.TOOLSEL, StepType.EXEC) and _own_tool(step) == name


def _own_tool(step: Step) -> str | None:
    """The tool a step names; a TOOLSEL may record its pick as its output instead."""
    if step.tool:
        return step.tool
    if step.type is StepType.TOOLSEL and isinstance(step.output, str) and step.output.strip():
        return step.output.strip()
    return None


def _exec_no_error(facts: _Facts) -> Decision:
    step = facts.step
    error = ": ".join(p for p in (step.error.type, step.error.message) if p) if step.error else ""
    if step.status == "timeout" or any(w in error.lower() for w in ("timeout", "timed out", "deadline exceeded")):
        return Decision("no", f"the call timed out{': ' + error if error else ''}", "E2.2")
    if step.failed_in_trace:
        return Decision("no", error or f"status '{step.status}'", "E2.1")
    return Decision("yes", "the trace records no error")


def _exec_has_data(facts: _Facts) -> Decision | None:
    # Whether a non-empty output is data or an error payload is for the model to read.
    if facts.empty_output:
        return Decision("no", f"the call returned nothing ({json.dumps(facts.step.output, default=str)})", "E2.3")
    return None


_DECIDERS: dict[tuple[StepType, str], Callable[[_Facts], Decision | None]] = {
    (StepType.TOOLSEL, "tool_in_catalog"): _tool_in_catalog,
    (StepType.TOOLSEL, "tool_matches_need"): _tool_matches_need,
    (StepType.TOOLSEL, "tool_repeats_call"): _tool_repeats_call,
    (StepType.PARAMGEN, "args_required_present"): _schema_check("required", "no"),
    (StepType.PARAMGEN, "args_types_match"): _schema_check("types", "no"),
    (StepType.PARAMGEN, "args_unknown_name"): _schema_check("unknown", "yes"),
    (StepType.PARAMGEN, "args_format_ok"): _schema_check("format", "no"),
    (StepType.EXEC, "exec_no_error"): _exec_no_error,
    (StepType.EXEC, "exec_has_data"): _exec_has_data,
}

_EMPTY_WORD = {StepType.PLAN: "plan", StepType.SYNTH: "answer"}
#: Answers code gives for an empty plan or answer; other checks of such a step do not apply.
_EMPTY: dict[tuple[StepType, str], str] = {
    (StepType.PLAN, "plan_has_actions"): "no",
    (StepType.PLAN, "plan_covers_all_requests"): "no",
    (StepType.SYNTH, "answer_empty_or_promise"): "yes",
    (StepType.SYNTH, "answer_all_parts"): "no",
    (StepType.SYNTH, "answer_on_task"): "no",
}


# ---- reporting -------------------------------------------------------------------------------


def _detail(item: _Item) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "id": item.check.id,
        "metric": item.metric.name,
        "question": item.check.question,
        "answer": item.answer,
        "passed": item.passed,
        "weight": item.check.weight,
        "decided_by": "model" if item.messages is not None else "code",
    }
    if item.check.kind == "choice":
        detail["step_choice"] = item.target
    if item.decided is not None:
        detail["note"] = item.decided.note
    return detail


def _describe(item: _Item) -> str:
    """One failed check, e.g. ``no: 'Is every fact ... in the tool outputs?'``."""
    question = f"'{item.check.question}'"
    if item.answer is None:  # decided in code without an answer; the note says why
        text = question
    elif item.check.kind == "choice":
        text = f"{item.answer} (the step chose {item.target}): {question}"
    else:
        text = f"{item.answer}: {question}"
    if item.decided is not None and item.decided.note:
        text += f" ({item.decided.note})"
    return text
