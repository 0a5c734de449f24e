"""What changed for one case between two runs, and which step types the two runs judged differently. Pure.

``case_change`` turns a case into the ``TraceChange`` reports list: its status in each run (a case
passes only when every trial passed), its root causes, and the chain of failures its root cause set
off in the candidate. ``not_comparable_types`` names the step types judged with another judge, judge
model, rubric version or threshold, which a comparison must not call regressions.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agenteval.identity import trace_label
from agenteval.models import JUDGED_TYPES, Run, TraceResult
from agenteval.pairing import Case

#: Characters of a judge's reason kept on a root-cause chain step.
_REASON_CHARS = 300


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChainStep(_Model):
    """One step of a root-cause chain, from the root cause down to the failure it caused."""

    step_id: str = Field(description="The step.")
    type: str = Field(description="Its step type.")
    verdict: str = Field(description="direct, cascade, ...")
    failure_code: str | None = Field(None, description="Taxonomy code, if any.")
    tool: str | None = Field(None, description="Tool of the step, if any.")
    reason: str = Field("", description=f"The judge's reason (first {_REASON_CHARS} characters).")


class TraceChange(_Model):
    """One case whose outcome or root cause changed, shown through one of its candidate traces."""

    trace_id: str = Field(description="The candidate trace shown (the case's first failing trial, if any).")
    case: str = Field("", description="The case key.")
    label: str = Field("", description="Readable name: agent or root span and the start of the task.")
    source: str | None = Field(None, description="File the candidate trace came from.")
    base_status: str = Field(description="passed, failed, incomplete, or unpaired (the case is not in the base run).")
    candidate_status: str = Field(description="passed, failed or incomplete in the candidate run.")
    base_root_causes: list[str] = Field(default_factory=list, description="'step code' of each base root cause.")
    candidate_root_causes: list[str] = Field(default_factory=list, description="'step code' of each candidate root cause.")
    failing_steps: list[str] = Field(default_factory=list, description="'step (verdict code)' failing in the candidate.")
    chain: list[ChainStep] = Field(default_factory=list, description="The candidate's first root cause and the failures it led to.")
    trials: str = Field("", description="Failing trials of the case, 'base -> candidate' (e.g. '0/3 -> 2/3'), when it ran several times.")


def failing_codes(result: TraceResult) -> set[str]:
    """The failure codes of a trace's failing steps ('uncoded' for failures without one)."""
    return {v.failure_code or "uncoded" for v in result.verdicts if v.failed}


def root_labels(result: TraceResult) -> list[str]:
    """'step code' of each root cause of a trace."""
    return [f"{rc.step_id} {rc.failure_code or 'uncoded'}" for rc in result.root_causes]


def _chain(result: TraceResult) -> list[ChainStep]:
    if not result.root_causes:
        return []
    verdicts = {v.step_id: v for v in result.verdicts}
    steps = {s.id: s for s in result.trace.steps}
    root = result.root_causes[0]
    out = []
    for step_id in root.chain or [root.step_id]:
        v = verdicts.get(step_id)
        if v is None:
            continue
        out.append(ChainStep(
            step_id=step_id, type=v.type.value, verdict=v.verdict, failure_code=v.failure_code,
            tool=steps[step_id].tool if step_id in steps else None, reason=" ".join(v.reason.split())[:_REASON_CHARS],
        ))
    return out


def shown_trial(results: list[TraceResult]) -> TraceResult:
    """The trial a report shows for a case: its first that did not pass, else its first."""
    return next((r for r in results if not r.passed), results[0])


def case_status(results: list[TraceResult]) -> str:
    """A case's status over its trials: passed only when every trial passed."""
    if all(r.passed for r in results):
        return "passed"
    return "failed" if any(r.status == "failed" for r in results) else "incomplete"


def _trials(case: Case) -> str:
    if case.trials <= 1:
        return ""
    fails = lambda rs: f"{sum(not r.passed for r in rs)}/{len(rs)}"  # noqa: E731
    return f"{fails(case.base)} -> {fails(case.candidate)}" if case.base else fails(case.candidate)


def case_change(case: Case) -> TraceChange:
    """The change of a case, shown through its first failing candidate trial (or its first)."""
    cand = shown_trial(case.candidate)
    base = shown_trial(case.base) if case.base else None
    return TraceChange(
        trace_id=cand.trace_id, case=case.key, label=trace_label(cand.trace), source=cand.source,
        base_status=case_status(case.base) if case.base else "unpaired", candidate_status=case_status(case.candidate),
        base_root_causes=root_labels(base) if base else [], candidate_root_causes=root_labels(cand),
        failing_steps=[f"{v.step_id} ({v.verdict} {v.failure_code or 'uncoded'})" for v in cand.verdicts if v.failed],
        chain=_chain(cand), trials=_trials(case),
    )


def _judging(run: Run) -> dict[str, tuple[dict[str, set[tuple[str | None, str | None]]], set[float]]]:
    """Per step type: judge -> {(rubric version, model)} and the thresholds used."""
    seen: dict[str, tuple[dict[str, set[tuple[str | None, str | None]]], set[float]]] = {}
    for result in run.results:
        for v in result.verdicts:
            if not v.type.judged:
                continue
            judges, thresholds = seen.setdefault(v.type.value, ({}, set()))
            if v.threshold is not None:
                thresholds.add(v.threshold)
            j = v.judgment
            if j is not None and j.error is None:
                judges.setdefault(j.judge, set()).add((j.rubric_version, j.model))
    return seen


def _describe(values: set) -> str:
    return ", ".join(sorted(str(v) for v in values)) or "-"


def not_comparable_types(base: Run, cand: Run) -> dict[str, str]:
    """Step types judged differently in the two runs, with the reason."""
    base_seen, cand_seen = _judging(base), _judging(cand)
    reasons: dict[str, str] = {}
    for step_type in (t.value for t in JUDGED_TYPES):
        if step_type not in base_seen or step_type not in cand_seen:
            continue
        (base_judges, base_thresholds), (cand_judges, cand_thresholds) = base_seen[step_type], cand_seen[step_type]
        problems = []
        if base.judge != cand.judge:
            problems.append(f"judge {base.judge} in base, {cand.judge} in candidate")
        for judge in sorted(set(base_judges) & set(cand_judges)):
            for index, what in ((0, "rubric version"), (1, "judge model")):
                before, after = {p[index] for p in base_judges[judge]}, {p[index] for p in cand_judges[judge]}
                if before != after:
                    problems.append(f"{judge} {what} {_describe(before)} in base, {_describe(after)} in candidate")
        if base_thresholds and cand_thresholds and base_thresholds != cand_thresholds:
            problems.append(f"threshold {_describe(base_thresholds)} in base, {_describe(cand_thresholds)} in candidate")
        if problems:
            reasons[step_type] = "; ".join(problems)
    return reasons


