"""Builds the LLM judge a run's settings describe: tiers, shared client, rubrics, cache, budget."""

from __future__ import annotations

from agenteval.config import Settings
from agenteval.errors import ConfigError
from agenteval.judges.base import Judge, JudgmentCache


def build(settings: Settings, cache: JudgmentCache | None = None) -> Judge:
    """The model judge for these settings (holistic or checklist mode).

    Raises:
        ConfigError: no judge model is configured.
        RubricError / TaxonomyError: the rubrics or taxonomy do not load.
    """
    from agenteval.judges.llm import LLMClient, Tier
    from agenteval.judges.llm_judge import DEFAULT_PRICES, CostBudget, LLMJudge
    from agenteval.rubrics import load_rubrics
    from agenteval.taxonomy import load_taxonomy

    if not settings.model:
        raise ConfigError("the openai judge needs a model: pass --model or set AGENTEVAL_MODEL")
    tiers = [
        Tier(model=settings.model, base_url=settings.base_url, api_key_env=settings.api_key_env,
             timeout_s=settings.timeout, max_retries=settings.max_retries)
    ] + [
        Tier(model=t.model, base_url=t.base_url, api_key_env=t.api_key_env,
             timeout_s=settings.timeout, max_retries=settings.max_retries)
        for t in settings.fallback
    ]
    client = LLMClient(tiers, concurrency=settings.concurrency)
    rubrics = load_rubrics(settings.rubrics)
    codes = [(c.code, c.name) for c in load_taxonomy().codes()]
    budget = CostBudget(settings.max_cost) if settings.max_cost is not None else None
    prices = {**DEFAULT_PRICES, **settings.prices}
    if settings.judge_mode == "checklist":
        from agenteval.judges.checklist import ChecklistJudge

        return ChecklistJudge(client, rubrics, cache=cache, prices=prices, budget=budget, taxonomy_codes=codes)
    return LLMJudge(
        client, rubrics, cache=cache if settings.cache else None, prices=prices,
        samples=settings.samples, budget=budget, taxonomy_codes=codes,
    )
