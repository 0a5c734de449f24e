"""Builds the LLM judge from plain options: tiers, shared client, rubrics, cache, budget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from agenteval.errors import ConfigError
from agenteval.judges.base import Judge, JudgmentCache


def build(
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    fallback: Sequence[Mapping[str, Any]] = (),
    judge_mode: Literal["holistic", "checklist"] = "holistic",
    samples: int = 1,
    concurrency: int = 8,
    timeout: float = 60.0,
    max_retries: int = 3,
    max_cost: float | None = None,
    prices: Mapping[str, tuple[float, float]] | None = None,
    rubrics: Path | None = None,
    llama_slots: int | None = None,
    checklist_batch: bool = True,
    cache: JudgmentCache | None = None,
    **_other_options: Any,
) -> Judge:
    """The model judge (holistic or checklist mode).

    Args:
        model: Judge model of the first tier.
        base_url: Its OpenAI-compatible endpoint; None for OpenAI.
        api_key_env: Environment variable holding its key.
        fallback: Further tiers, each a mapping with ``model`` and optional ``base_url`` and
            ``api_key_env``, tried in order when the first fails.
        judge_mode: "holistic" (one 1-5 call per step) or "checklist" (narrow questions).
        samples: Judgments per step in holistic mode (multi-judge median).
        concurrency: Requests in flight at once, over all tiers.
        timeout: Seconds per HTTP request.
        max_retries: Retries on 429, 5xx, timeouts and connection errors.
        max_cost: Stop new calls once this many USD are spent.
        prices: USD per 1M (input, output) tokens by model, over the built-in table.
        rubrics: Folder of rubric YAML files overriding the bundled ones.
        llama_slots: The first tier is a llama.cpp ``llama-server`` started with this many slots
            (``-np``): pin each step type to one slot so its static prompt prefix stays cached.
        checklist_batch: In checklist mode, ask a step's questions in one request (else one each).
        cache: Where judgments are cached, if anywhere.
        **_other_options: Options meant for other judges (the registry passes every judge the same
            options).

    Raises:
        ConfigError: no judge model.
        RubricError / TaxonomyError: the rubrics or taxonomy do not load.
    """
    from agenteval.judges.llm import LLMClient, Tier
    from agenteval.judges.llm_judge import DEFAULT_PRICES, CostBudget, LLMJudge
    from agenteval.rubrics import load_rubrics
    from agenteval.taxonomy import load_taxonomy

    if not model:
        raise ConfigError("the openai judge needs a model: pass --model or set AGENTEVAL_MODEL")
    tiers = [
        Tier(model=model, base_url=base_url, api_key_env=api_key_env, timeout_s=timeout, max_retries=max_retries,
             llama_slots=llama_slots)
    ] + [
        Tier(model=t["model"], base_url=t.get("base_url"), api_key_env=t.get("api_key_env") or "OPENAI_API_KEY",
             timeout_s=timeout, max_retries=max_retries)
        for t in fallback
    ]
    client = LLMClient(tiers, concurrency=concurrency)
    rubric_set = load_rubrics(rubrics)
    codes = [(c.code, c.name) for c in load_taxonomy().codes()]
    budget = CostBudget(max_cost) if max_cost is not None else None
    price_table = {**DEFAULT_PRICES, **(prices or {})}
    if judge_mode == "checklist":
        from agenteval.judges.checklist import ChecklistJudge

        return ChecklistJudge(client, rubric_set, cache=cache, prices=price_table, budget=budget, taxonomy_codes=codes,
                              batch=checklist_batch)
    return LLMJudge(client, rubric_set, cache=cache, prices=price_table, samples=samples, budget=budget,
                    taxonomy_codes=codes)
