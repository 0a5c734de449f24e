"""Checklist mode (``--judge-mode checklist``): narrow questions instead of one holistic 1-5 call.

Small local judges give plainly wrong steps a 5 when asked for a holistic score, yet answer narrow
questions well. Each rubric metric lists atomic checks: yes/no questions, or a choice among names
("which tool fits this need?"). This judge asks each check as its own request, with the answer
constrained by a JSON schema (an enum, so a grammar-capable server can only emit a valid answer),
and lets code do every comparison code can do: the chosen tool against the tool the model picked
with the step's decision hidden, arguments against the tool's JSON Schema, the call's recorded
status (those decisions live in ``agenteval.judges._checklist_code``). A metric scores
``1 + 4 * weighted pass fraction``; the step scores its weakest metric.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from agenteval.errors import AgentEvalError, JudgeError
from agenteval.judges._checklist_code import Decision, Facts, decide
from agenteval.judges.base import JudgmentCache, StepContext
from agenteval.judges.evidence import not_assessable
from agenteval.judges.llm import CallNotStarted, JsonReply, LLMClient
from agenteval.judges.llm_judge import DEFAULT_PRICES, NOT_JUDGED_MAX_COST, CostBudget, cost_usd
from agenteval.judges.prompt import build_check_messages, check_choices
from agenteval.models import Judgment, Usage
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
        missing = not_assessable(ctx.step, self.name)
        if missing is not None:
            return missing  # nothing to show the model
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
    facts = Facts(ctx)
    items = []
    for metric in rubric.metrics:
        for check in metric.checks:
            choices = tuple(dict.fromkeys(check_choices(check, ctx)))
            target = facts.chosen_tool if check.kind == "choice" else None
            decided = decide(check, choices, target, facts)
            messages = None if decided else build_check_messages(check, rubric, ctx, choices)
            items.append(_Item(metric, check, choices, target, decided, messages))
    return items


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
