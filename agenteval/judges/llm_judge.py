"""The LLM judge: a rubric prompt per step, a structured model reply, a Judgment with its cost.

The model call itself (tiers, retries, structured outputs) lives in ``agenteval.judges.llm``; this
module decides what to ask, what a valid answer is, how several samples are combined, what is cached,
and when the cost budget stops new calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import mean, median
from typing import Any, Protocol

from agenteval.errors import AgentEvalError, ConfigError, JudgeError
from agenteval.judges import injection
from agenteval.judges._prompt_data import Fence
from agenteval.judges.base import JudgmentCache, StepContext
from agenteval.judges.evidence import not_assessable
from agenteval.judges.llm import CallNotStarted, LLMClient
from agenteval.judges.reply import contract_version, judgment_model, schema_fingerprint
from agenteval.models import JUDGED_TYPES, Judgment, StepType, Usage

# USD per 1M (input, output) tokens: list prices when this was written. Pass ``prices=`` to override.
# Snapshots such as gpt-4o-2024-08-06 match their family by prefix.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-2024-05-13": (5.00, 15.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
}

NOT_JUDGED_MAX_COST = "max_cost"
FENCE_PLACEHOLDER = "<fence>"
"""Stands for a prompt's random fence code in cache keys, so an unchanged step still hits the cache."""
_CODE = re.compile(r"^\s*([A-Z]\d+\.\d+)")


class MetricLike(Protocol):
    """What the judge needs of a rubric metric."""

    name: str


class RubricLike(Protocol):
    """What the judge needs of a rubric (``agenteval.rubrics.Rubric`` provides it)."""

    version: str
    fingerprint: str
    metrics: Sequence[MetricLike]


class RubricSetLike(Protocol):
    """Rubrics by step type (``agenteval.rubrics.RubricSet`` provides it)."""

    def for_type(self, step_type: StepType) -> RubricLike:
        """The rubric for a step type; raises RubricError when there is none."""
        ...


BuildMessages = Callable[..., list[dict[str, Any]]]


def price_for(model: str, prices: Mapping[str, tuple[float, float]] = DEFAULT_PRICES) -> tuple[float, float] | None:
    """USD per 1M (input, output) tokens for a model: exact name, else its longest listed family prefix."""
    name = model.rsplit("/", 1)[-1].lower()  # "openai/gpt-4o" as some gateways spell it
    if name in prices:
        return prices[name]
    families = [key for key in prices if name.startswith(f"{key}-")]
    return prices[max(families, key=len)] if families else None


def cost_usd(usage: Usage, model: str, prices: Mapping[str, tuple[float, float]] = DEFAULT_PRICES) -> float | None:
    """What ``usage`` cost on ``model``, or None when its price is unknown (cached tokens at full price)."""
    price = price_for(model, prices)
    if price is None:
        return None
    return (usage.input_tokens * price[0] + usage.output_tokens * price[1]) / 1_000_000


class CostBudget:
    """A ceiling on judge spending (``--max-cost``): once reached, no new model call starts.

    Calls already in flight finish, so the spend can pass the ceiling by at most the cost of the
    calls running concurrently. Calls to models with unknown prices count as free.
    """

    def __init__(self, max_usd: float) -> None:
        if max_usd < 0:
            raise ConfigError(f"max cost must be 0 or more, got {max_usd}")
        self.max_usd = max_usd
        self.spent_usd = 0.0

    @property
    def exhausted(self) -> bool:
        """Whether the ceiling is reached."""
        return self.spent_usd >= self.max_usd

    def add(self, usd: float) -> None:
        """Record money spent."""
        self.spent_usd += usd


def slot_key(step_type: StepType) -> int:
    """The llama-server slot key of a step type: its prompts share a static prefix."""
    return JUDGED_TYPES.index(step_type) if step_type in JUDGED_TYPES else len(JUDGED_TYPES)


def cache_messages(messages: list[dict[str, Any]], fence: Fence) -> list[dict[str, Any]]:
    """The messages as a cache key sees them: the random fence code replaced by a placeholder."""
    return [{**m, "content": str(m.get("content", "")).replace(fence.token, FENCE_PLACEHOLDER)} for m in messages]


@dataclass(frozen=True)
class _Sample:
    reply: Any
    scores: dict[str, int]
    model: str
    usage: Usage
    cost: float | None
    latency_s: float

    @property
    def overall(self) -> float:
        # A step is as good as its weakest required quality: an unfaithful answer that is
        # otherwise complete must not average its way to a pass.
        return min(self.scores.values())


class LLMJudge:
    """Judges each step with a model, against the rubric of the step's type.

    Args:
        client: The model client (tiers, concurrency, retries).
        rubrics: Rubrics by step type.
        build_messages: ``build_messages(rubric, ctx, taxonomy_codes=..., fence=..., budget_tokens=...)``
            returning chat messages; defaults to ``agenteval.judges.prompt.build_messages``.
        cache: Where judgments are cached by a key over model(s), rubric version and prompt.
        prices: USD per 1M (input, output) tokens by model; defaults to ``DEFAULT_PRICES``.
        samples: Judgments per step (multi-judge). Sample ``i`` starts at tier ``i`` (so N tiers give N
            different judges); the step's metric scores are the medians over samples.
        budget: Stops new calls once reached; later steps come back not judged.
        taxonomy_codes: Failure codes the judge may assign, as codes or (code, slug) pairs; passed to
            ``build_messages`` as given. Other codes in replies are dropped; None keeps any code.
        prompt_budget_tokens: Passed to ``build_messages`` as ``budget_tokens`` when set.

    Raises:
        ConfigError: ``samples`` below 1.
    """

    def __init__(
        self,
        client: LLMClient,
        rubrics: RubricSetLike,
        *,
        build_messages: BuildMessages | None = None,
        cache: JudgmentCache | None = None,
        prices: Mapping[str, tuple[float, float]] | None = None,
        samples: int = 1,
        budget: CostBudget | None = None,
        taxonomy_codes: Iterable[str | tuple[str, str]] | None = None,
        prompt_budget_tokens: int | None = None,
    ) -> None:
        if samples < 1:
            raise ConfigError(f"judge samples must be at least 1, got {samples}")
        self.client = client
        self.rubrics = rubrics
        self.cache = cache
        self.prices = DEFAULT_PRICES if prices is None else prices
        self.samples = samples
        self.budget = budget
        self.taxonomy_codes = tuple(taxonomy_codes) if taxonomy_codes is not None else None
        self._known_codes = (
            frozenset(c if isinstance(c, str) else c[0] for c in self.taxonomy_codes)
            if self.taxonomy_codes is not None
            else None
        )
        self.prompt_budget_tokens = prompt_budget_tokens
        self.name = f"openai:{client.tiers[0].model}"
        self._build_messages = build_messages
        self._fence_secret = secrets.token_bytes(16)  # fence codes: unknown to any trace

    async def judge_step(self, ctx: StepContext) -> Judgment:
        """Judge one step. Never raises for a per-step problem: failures come back as judge errors.

        A step whose text addresses the judge (see ``agenteval.judges.injection``) is flagged.
        """
        return injection.flag(await self._judge(ctx), ctx)

    def reply_model(self, step_type: StepType, rubric: RubricLike) -> type[Any]:
        """The reply schema of a step type: every metric a required 1-5 property, codes an enum."""
        names = [metric.name for metric in rubric.metrics]
        if self.taxonomy_codes is None:
            return judgment_model(step_type, names, None)
        from agenteval.judges.prompt import codes_for_type

        return judgment_model(step_type, names, [code for code, _ in codes_for_type(step_type, self.taxonomy_codes)])

    def cache_key(self, rubric: RubricLike, messages: list[dict[str, Any]], version: str | None = None) -> str:
        """The cache key of a prompt: judge models, samples, rubric and reply-schema version, messages."""
        payload = {
            "models": [tier.model for tier in self.client.tiers],
            "samples": self.samples,
            "rubric_version": version or rubric.version,
            "rubric_fingerprint": rubric.fingerprint,
            "messages": messages,
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
            messages = self._render(rubric, ctx, fence)
            schema = self.reply_model(ctx.step.type, rubric)
        except AgentEvalError as exc:
            return Judgment(step_id=step_id, judge=self.name, error=str(exc))
        version = contract_version(rubric.version, rubric.fingerprint, [schema_fingerprint(schema)])
        key = self.cache_key(rubric, cache_messages(messages, fence), version)
        if self.cache is not None:
            hit = self.cache.cache_get(key)
            if hit is not None:
                # Nothing was spent this time; the original cost stays in the details.
                details = {**hit.details, "cached_cost_usd": hit.cost_usd}
                return hit.model_copy(update={"step_id": step_id, "cached": True, "cost_usd": 0.0, "details": details})
        if self.budget is not None and self.budget.exhausted:
            return self._not_judged(step_id, version)

        names = [metric.name for metric in rubric.metrics]
        slot = slot_key(ctx.step.type)
        outcomes = await asyncio.gather(*(self._sample(i, messages, schema, names, slot) for i in range(self.samples)))
        done = [o for o in outcomes if isinstance(o, _Sample)]
        errors = [o for o in outcomes if isinstance(o, str)]
        if not done:
            if not errors:
                return self._not_judged(step_id, version)
            error = errors[0] if self.samples == 1 else f"all {len(errors)} judge samples failed: {errors[0]}"
            return Judgment(step_id=step_id, judge=self.name, error=error, rubric_version=version)
        judgment = self._combine(step_id, version, names, done, errors)
        if self.cache is not None and len(done) == self.samples:
            self.cache.cache_put(key, judgment)
        return judgment

    def _render(self, rubric: RubricLike, ctx: StepContext, fence: Fence) -> list[dict[str, Any]]:
        if self._build_messages is None:
            from agenteval.judges.prompt import build_messages

            self._build_messages = build_messages
        kwargs: dict[str, Any] = {"taxonomy_codes": self.taxonomy_codes, "fence": fence}
        if self.prompt_budget_tokens is not None:
            kwargs["budget_tokens"] = self.prompt_budget_tokens
        return self._build_messages(rubric, ctx, **kwargs)

    async def _sample(
        self, index: int, messages: list[dict[str, Any]], schema: type[Any], names: list[str], slot: int
    ) -> _Sample | str | None:
        """One judgment: a _Sample, an error message, or None when the budget stopped it."""
        if self.budget is not None and self.budget.exhausted:
            return None
        try:
            answer = await self.client.complete_json(
                messages, schema, first_tier=index, proceed=self._within_budget, slot=slot
            )
        except CallNotStarted:
            return None
        except JudgeError as exc:
            return str(exc)
        reply = answer.value
        # The schema requires every metric by name: a valid reply scores them all.
        scores = reply.scores()
        cost = cost_usd(answer.usage, answer.model, self.prices)
        if self.budget is not None:
            self.budget.add(cost or 0.0)
        return _Sample(reply, scores, answer.model, answer.usage, cost, answer.latency_s)

    def _combine(self, step_id: str, version: str, names: list[str], done: list[_Sample], errors: list[str]) -> Judgment:
        metrics = names or list(done[0].scores)
        medians = {name: float(median(s.scores[name] for s in done if name in s.scores)) for name in metrics}
        score = round(min(medians.values()), 4)
        # The reason is that of the sample closest to the combined score.
        representative = min(done, key=lambda s: abs(s.overall - score))
        codes = Counter(code for s in done if (code := self._code(s.reply.failure_code)))
        lead = self._code(representative.reply.failure_code)
        models = list(dict.fromkeys(s.model for s in done))
        model = "+".join(models)
        usage = sum((s.usage for s in done), Usage())
        details: dict[str, Any] = {"latency_s": round(sum(s.latency_s for s in done), 3)}
        unpriced = sorted({s.model for s in done if s.cost is None})
        if unpriced:
            details["price_unknown"] = unpriced
        if self.samples > 1:
            overall = [round(s.overall, 4) for s in done]
            details["samples"] = [{"model": s.model, "score": o} for s, o in zip(done, overall)]
            details["disagreement"] = round(max(overall) - min(overall), 4)
        if errors:
            details["failed_samples"] = errors
        return Judgment(
            step_id=step_id,
            judge=f"openai:{model}",
            score=score,
            metric_scores=medians,
            reason=representative.reply.reasoning,
            # The most frequent code; the representative sample's breaks a tie.
            failure_code=max(codes, key=lambda c: (codes[c], c == lead)) if codes and score < 3 else None,
            confidence=round(mean(s.reply.confidence for s in done), 4),
            rubric_version=version,
            model=model,
            usage=usage,
            cost_usd=sum(s.cost or 0.0 for s in done),
            details=details,
        )

    def _code(self, raw: str | None) -> str | None:
        """The taxonomy code a reply names ("E2.1", "E2.1 tool_error"), if it is a known one."""
        match = _CODE.match(raw or "")
        if match is None:
            return None
        code = match.group(1)
        return code if self._known_codes is None or code in self._known_codes else None

    def _within_budget(self) -> bool:
        """Whether a new model call may start (checked when a request slot is free)."""
        return self.budget is None or not self.budget.exhausted

    def _not_judged(self, step_id: str, version: str) -> Judgment:
        return Judgment(
            step_id=step_id,
            judge=self.name,
            assessed=False,
            reason="not judged: --max-cost reached",
            rubric_version=version,
            details={"not_judged": NOT_JUDGED_MAX_COST},
        )
