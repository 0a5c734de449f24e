"""Rules first: deterministic checks decide where they prove a hard failure; the LLM judges the rest."""

from __future__ import annotations

from agenteval.judges.base import Judge, StepContext
from agenteval.judges.injection import FLAG
from agenteval.judges.rules import NEUTRAL_SCORE
from agenteval.models import Judgment


class RulesFirstJudge:
    """Runs the rules judge, and calls the model judge only where the rules did not prove a failure.

    A decisive rules verdict (a tool raised, a tool that does not exist, arguments that violate the
    schema) stands without a model call unless ``judge_all`` is set; such judgments carry
    ``details["llm_call_saved"] = True`` so reports can count the calls saved. On a step flagged for
    judge injection, any failure the rules found stands too: the model's word alone, read from text
    that tried to steer it, never turns it into a pass.
    """

    def __init__(self, rules: Judge, model: Judge, *, judge_all: bool = False) -> None:
        self.rules = rules
        self.model = model
        self.judge_all = judge_all
        self.name = model.name

    async def judge_step(self, ctx: StepContext) -> Judgment:
        """Judge one step: the rules' decisive verdict, or the model's judgment."""
        ruled = await self.rules.judge_step(ctx)
        if ruled.not_assessable:
            return ruled  # the evidence is missing for any judge: no model call
        if ruled.decisive and not self.judge_all:
            return ruled.model_copy(update={"details": {**ruled.details, "llm_call_saved": True}})
        judged = await self.model.judge_step(ctx)
        flags = list(dict.fromkeys([*ruled.flags, *judged.flags]))
        kept = _rules_stand(ruled, judged, flagged=FLAG in flags)
        if kept is not None:
            details = {**ruled.details, "model_judgment": judged.model_dump(mode="json")}
            if kept:
                details["kept_because"] = kept
            return ruled.model_copy(update={"flags": flags, "details": details})
        details = {**judged.details, "rules": {"score": ruled.score, "reason": ruled.reason, "assessed": ruled.assessed}}
        return judged.model_copy(update={"flags": flags, "details": details})

    async def aclose(self) -> None:
        """Close the judges it wraps (the model judge holds HTTP connections)."""
        for judge in (self.rules, self.model):
            close = getattr(judge, "aclose", None)
            if close is not None:
                await close()


def _rules_stand(ruled: Judgment, judged: Judgment, *, flagged: bool) -> str | None:
    """Why the rules' verdict stands over the model's ("" for a decisive one), or None if it does not."""
    if ruled.score is None or ruled.error is not None or (judged.score is not None and judged.score < ruled.score):
        return None
    if ruled.decisive:
        # --judge-all asked the model too, but a proven hard failure is never overturned.
        return ""
    if flagged and ruled.assessed and ruled.score < NEUTRAL_SCORE:
        return "the step is flagged for judge injection: the rules' failure stands over the model's score"
    return None
