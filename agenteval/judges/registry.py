"""Judge name -> lazy factory. Built-ins and entry-point plugins (group ``agenteval.judges``) load alike."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points

from agenteval.config import Settings
from agenteval.errors import ConfigError
from agenteval.judges.base import Judge, JudgmentCache

JudgeFactory = Callable[[Settings, "JudgmentCache | None"], Judge]

BUILTIN_JUDGES: dict[str, str] = {
    "rules": "agenteval.judges.rules:build",
    "openai": "agenteval.judges.llm_factory:build",
}


def available_judges() -> dict[str, str]:
    """Judge name -> "module:factory", built-ins first."""
    return {**BUILTIN_JUDGES, **{ep.name: ep.value for ep in entry_points(group="agenteval.judges")}}


def _factory(name: str) -> JudgeFactory:
    judges = available_judges()
    if name not in judges:
        raise ConfigError(f"unknown judge '{name}' (choose from: auto, {', '.join(judges)})")
    module, _, attr = judges[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def build_judge(settings: Settings, cache: JudgmentCache | None = None) -> Judge:
    """The judge a run uses: rules alone offline, else rules first and then the model judge."""
    rules = _factory("rules")(settings, cache)
    if not settings.uses_llm:
        return rules
    from agenteval.judges.ensemble import RulesFirstJudge

    model = _factory("openai")(settings, cache)
    return RulesFirstJudge(rules, model, judge_all=settings.judge_all)
