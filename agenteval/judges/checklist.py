"""Checklist mode (``--judge-mode checklist``): narrow questions instead of one holistic 1-5 call.

Small local judges give plainly wrong steps a 5 when asked for a holistic score, yet answer narrow
questions well. Each rubric metric lists atomic checks: yes/no questions, or a choice among names
("which tool fits this need?"). Code decides every check it can (the chosen tool against the
catalog and against the tool the model picked with the step's decision hidden, arguments against
the tool's JSON Schema, the call's recorded status, what the rules judge proves about an answer;
see ``agenteval.judges._checklist_code``). The rest go to the model: by default all of a step's
questions in one request whose reply schema has one required enum property per question (a choice
question, which hides the step's decision, goes in a request of its own); with ``batch=False`` one
request per question. Either way every request about a step type shares one short static system
prompt, and the requests about one step share their data, so a server's prompt cache keeps both.
A metric scores ``1 + 4 * weighted pass fraction``, or 1 when code proves one of its checks failed;
the step scores its weakest metric.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agenteval.errors import AgentEvalError, JudgeError
from agenteval.judges import injection
from agenteval.judges._checklist_code import Decision, Facts, decide
from agenteval.judges._prompt_data import Fence
from agenteval.judges.base import JudgmentCache, StepContext
from agenteval.judges.evidence import not_assessable
from agenteval.judges.llm import CallNotStarted, JsonReply, LLMClient
from agenteval.judges.llm_judge import (
    DEFAULT_PRICES,
    NOT_JUDGED_MAX_COST,
    CostBudget,
    cache_messages,
    cost_usd,
    slot_key,
)
from agenteval.judges.prompt import build_checklist_messages, check_choices
from agenteval.judges.reply import answers_model, contract_version, schema_fingerprint
from agenteval.models import Judgment, StepType, Usage
from agenteval.rubrics import Check, Metric, Rubric, RubricSet

CHECKLIST_VERSION = "2"
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
    "plan_keeps_constraints": "P1.2", "plan_on_goal": "P1.1",
    "tool_in_catalog": "P3.1", "tool_call_new": "P3.3",
    "answer_honest_about_failures": "I1.2",
}
_MAX_LISTED = 5  # failed checks named in a reason


@dataclass
class _Item:
    """One check of the step: how it is decided and, once it is, the outcome."""

    metric: Metric
    check: Check
    choices: tuple[str, ...]
    target: str | None  # the step's own decision a choice is compared with
    decided: Decision | None
    key: str | None = None  # the reply key (q1, q2, ...) of a check the model answers
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
class _Request:
    """One model request about a step: its messages, its reply schema and the checks it answers."""

    messages: list[dict[str, str]]
    schema: type[Any]
    items: list[_Item]


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
    """Judges each step by its rubric's narrow checks, and scores them in code.

    Args:
        client: The model client (tiers, concurrency, retries).
        rubrics: Rubrics by step type; their metrics' ``checks`` are asked.
        cache: Where judgments are cached, keyed on models, rubric, mode and every request's prompt.
        prices: USD per 1M (input, output) tokens by model; defaults to ``DEFAULT_PRICES``.
        budget: Stops new calls once reached; later steps come back not judged.
        taxonomy_codes: Failure codes the judge may assign, as codes or (code, slug) pairs; other
            codes are never set. None allows any code.
        batch: Ask all of a step's model questions in one request (a choice question apart); False
            asks each in its own request.
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
        batch: bool = True,
    ) -> None:
        self.client = client
        self.rubrics = rubrics
        self.cache = cache
        self.prices = DEFAULT_PRICES if prices is None else prices
        self.budget = budget
        self.batch = batch
        self._known_codes = (
            frozenset(c if isinstance(c, str) else c[0] for c in taxonomy_codes) if taxonomy_codes is not None else None
        )
        self._versions: dict[StepType, str] = {}
        self._fence_secret = secrets.token_bytes(16)  # fence codes: unknown to any trace
        self.name = f"openai:{client.tiers[0].model}"

    async def judge_step(self, ctx: StepContext) -> Judgment:
        """Judge one step. Never raises for a per-step problem: failures come back as judge errors.

        A step whose text addresses the judge (see ``agenteval.judges.injection``) is flagged.
        """
        return injection.flag(await self._judge(ctx), ctx)

    def contract(self, rubric: Rubric) -> str:
        """The rubric version judgments record: the rubric's, plus a fingerprint of the rubric, this
        judge's way of asking (batched or not) and the reply schema of all the rubric's checks."""
        if rubric.step_type not in self._versions:
            every = [(c, ("<choice>",) if c.kind == "choice" else ("yes", "no")) for m in rubric.metrics for c in m.checks]
            schema = _schema([(c, options) for c, options in every])
            mode = f"checklist-{CHECKLIST_VERSION}-{'batch' if self.batch else 'single'}"
            self._versions[rubric.step_type] = contract_version(
                rubric.version, rubric.fingerprint, [mode, schema_fingerprint(schema)]
            )
        return self._versions[rubric.step_type]

    def cache_key(self, rubric: Rubric, items: list[_Item], requests: list[_Request], fence: Fence) -> str:
        """The cache key of a step: judge models, rubric contract, every check and every request."""
        checks = [
            {"id": i.check.id, "target": i.target, "key": i.key,
             "decided": [i.decided.answer, i.decided.note, i.decided.code, i.decided.applies] if i.decided else None}
            for i in items
        ]
        asked = [
            {"messages": cache_messages(r.messages, fence), "schema": schema_fingerprint(r.schema)} for r in requests
        ]
        payload = {
            "mode": "checklist",
            "checklist_version": CHECKLIST_VERSION,
            "models": [tier.model for tier in self.client.tiers],
            "rubric_version": self.contract(rubric),
            "rubric_fingerprint": rubric.fingerprint,
            "codes": sorted(self._known_codes) if self._known_codes is not None else None,
            "checks": checks,
            "requests": asked,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    async def aclose(self) -> None:
        """Close the model client's connections."""
        await self.client.aclose()

    # -- internals ---------------------------------------------------------------------------------

    async def _judge(self, ctx: StepContext) -> Judgment:
        missing = not_assessable(ctx.step, self.name)
        if missing is not None:
            return missing  # nothing to show the model
        step_id = ctx.step.id
        fence = Fence.for_trace(self._fence_secret, ctx.trace.id)
        try:
            rubric = self.rubrics.for_type(ctx.step.type)
            items = _items(rubric, ctx)
            requests = _requests(rubric, ctx, items, fence, batch=self.batch)
        except AgentEvalError as exc:
            return Judgment(step_id=step_id, judge=self.name, error=str(exc))
        version = self.contract(rubric)
        key = self.cache_key(rubric, items, requests, fence)
        if self.cache is not None and requests:
            hit = self.cache.cache_get(key)
            if hit is not None:
                details = {**hit.details, "cached_cost_usd": hit.cost_usd}
                return hit.model_copy(update={"step_id": step_id, "cached": True, "cost_usd": 0.0, "details": details})
        if requests and self.budget is not None and self.budget.exhausted:
            return self._not_judged(step_id, version, _Spend())

        slot = slot_key(ctx.step.type)
        outcomes = await asyncio.gather(*(self._ask(request, slot) for request in requests))
        spend = self._spend(outcomes)
        errors = [(r, o.error) for r, o in zip(requests, outcomes, strict=True) if o.error is not None]
        if errors:
            request, error = errors[0]
            ids = ", ".join(f"'{i.check.id}'" for i in request.items)
            more = f" (and {len(errors) - 1} more request(s) failed)" if len(errors) > 1 else ""
            return Judgment(
                step_id=step_id, judge=f"openai:{self._model(spend)}",
                error=f"check{'s' if len(request.items) > 1 else ''} {ids}: {error}{more}",
                rubric_version=version, model=self._model(spend), usage=spend.usage, cost_usd=spend.cost,
            )
        if any(o.stopped for o in outcomes):
            return self._not_judged(step_id, version, spend)
        for item in items:
            if item.decided is not None:
                item.settle(item.decided.answer)
        for request, outcome in zip(requests, outcomes, strict=True):
            assert outcome.reply is not None
            answers = outcome.reply.value.answers()
            for item in request.items:
                item.settle(answers[item.key])
        judgment = self._combine(step_id, rubric, version, items, spend, len(requests))
        if self.cache is not None and requests:
            self.cache.cache_put(key, judgment)
        return judgment

    async def _ask(self, request: _Request, slot: int) -> _Asked:
        if self.budget is not None and self.budget.exhausted:
            return _Asked(stopped=True)
        try:
            reply = await self.client.complete_json(
                request.messages, request.schema, slot=slot,
                proceed=lambda: self.budget is None or not self.budget.exhausted,
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

    def _combine(
        self, step_id: str, rubric: Rubric, version: str, items: list[_Item], spend: _Spend, requests: int
    ) -> Judgment:
        metric_scores: dict[str, float] = {}
        for metric in rubric.metrics:
            counted = [i for i in items if i.metric is metric and i.passed is not None]
            total = sum(i.check.weight for i in counted)
            if counted and total > 0:
                passed = sum(i.check.weight for i in counted if i.passed)
                # A failure the trace proves (code found it and names its code) fails the metric
                # outright: no number of passing questions may outweigh it.
                proven = any(i.passed is False and i.decided is not None and i.decided.code for i in counted)
                metric_scores[metric.name] = 1.0 if proven else round(1 + 4 * passed / total, 4)
        details: dict[str, Any] = {"mode": "checklist", "requests": requests, "checks": [_detail(i) for i in items]}
        details["latency_s"] = round(spend.latency_s, 3)
        if spend.unpriced:
            details["price_unknown"] = sorted(spend.unpriced)
        common = {
            "step_id": step_id, "judge": f"openai:{self._model(spend)}", "rubric_version": version,
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
            key=lambda i: (metric_scores[i.metric.name], order[i.metric.name], i.decided is None, -i.check.weight),
        )
        for item in failed:
            for code in (item.code, METRIC_CODES.get(item.metric.name)):
                if code and (self._known_codes is None or code in self._known_codes):
                    return code
        return None

    def _not_judged(self, step_id: str, version: str, spend: _Spend) -> Judgment:
        return Judgment(
            step_id=step_id, judge=self.name, assessed=False, reason="not judged: --max-cost reached",
            rubric_version=version, usage=spend.usage, cost_usd=spend.cost,
            details={"not_judged": NOT_JUDGED_MAX_COST, "mode": "checklist"},
        )


# ---- planning the checks ---------------------------------------------------------------------

def _items(rubric: Rubric, ctx: StepContext) -> list[_Item]:
    """Every check of the rubric, decided by code where code can."""
    facts = Facts(ctx)
    items = []
    for metric in rubric.metrics:
        for check in metric.checks:
            choices = tuple(dict.fromkeys(check_choices(check, ctx)))
            target = facts.chosen_tool if check.kind == "choice" else None
            items.append(_Item(metric, check, choices, target, decide(check, choices, target, facts)))
    return items


def _requests(rubric: Rubric, ctx: StepContext, items: list[_Item], fence: Fence, *, batch: bool) -> list[_Request]:
    """The model requests for the checks code left open, each item given its reply key."""
    pending = [item for item in items if item.decided is None]
    if batch:
        # A choice hides the step's decision, which the yes/no questions need to see.
        groups = [g for g in ([i for i in pending if i.check.kind != "choice"],
                              [i for i in pending if i.check.kind == "choice"]) if g]
    else:
        groups = [[item] for item in pending]
    requests = []
    for group in groups:
        questions = [(item.check, item.choices) for item in group]
        for index, item in enumerate(group, 1):
            item.key = f"q{index}"
        messages = build_checklist_messages(rubric, ctx, questions, fence=fence)
        requests.append(_Request(messages, _schema(questions), group))
    return requests


def _schema(questions: list[tuple[Check, tuple[str, ...]]]) -> type[Any]:
    return answers_model([(f"q{i}", options, check.question) for i, (check, options) in enumerate(questions, 1)])


# ---- reporting -------------------------------------------------------------------------------


def _detail(item: _Item) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "id": item.check.id,
        "metric": item.metric.name,
        "question": item.check.question,
        "answer": item.answer,
        "passed": item.passed,
        "weight": item.check.weight,
        "decided_by": "model" if item.decided is None else "code",
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
