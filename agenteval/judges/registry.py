"""Judge name -> lazy factory. Built-ins and entry-point plugins (group ``agenteval.judges``) load alike.

A factory is called with keyword options only: ``factory(cache=..., **options)``, where ``options``
are the judge options of a run (``model``, ``base_url``, ``judge_mode``, ``concurrency``, ...; see
``agenteval.judges.llm_factory.build`` for the full list). Every factory gets the same options and
ignores those it has no use for, so a plugin needs no knowledge of agenteval's settings. Only
``agenteval.evaluate`` and the CLI turn settings into these options.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from agenteval.errors import ConfigError
from agenteval.judges.base import Judge, JudgmentCache

JudgeFactory = Callable[..., Judge]
"""``factory(*, cache: JudgmentCache | None, **options) -> Judge``."""

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


def build_judge(
    judge: str = "auto",
    *,
    model: str | None = None,
    judge_all: bool = False,
    cache: JudgmentCache | None = None,
    **options: Any,
) -> Judge:
    """The judge a run uses.

    Args:
        judge: "auto" (the model judge when ``model`` is set, else rules), "rules", "openai", or the
            name of a judge registered through entry points (used alone).
        model: The judge model; with "auto" it switches the model judge on.
        judge_all: Ask the model judge even where the rules proved a hard failure.
        cache: Where judgments are cached, if anywhere.
        **options: Passed to every factory (see ``agenteval.judges.llm_factory.build``).

    Returns:
        The rules judge alone offline; else the rules first and then the model judge.

    Raises:
        ConfigError: an unknown judge name, or the model judge without a model.
    """
    if judge not in ("auto", "rules", "openai"):
        return _factory(judge)(cache=cache, model=model, **options)
    rules = _factory("rules")(cache=cache, model=model, **options)
    if judge == "rules" or (judge == "auto" and not model):
        return rules
    from agenteval.judges.ensemble import RulesFirstJudge

    chosen = _factory("openai")(cache=cache, model=model, **options)
    return RulesFirstJudge(rules, chosen, judge_all=judge_all)
