"""Per-type failure thresholds fitted to human labels: maximise Cohen's kappa under a false-positive ceiling.

Pure: takes judgments already made on labeled traces. A step's binary verdict depends only on its
own type's threshold, so the search is coordinate descent over the five types on a fixed grid,
which finds the joint optimum of this separable objective in a few passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from agenteval.datasets.base import LabeledTrace
from agenteval.metrics import cohen_kappa
from agenteval.models import JUDGED_TYPES, Judgment, StepType
from agenteval.propagation import DEFAULT_THRESHOLDS

#: Candidate thresholds: fail when score < t.
GRID: tuple[float, ...] = tuple(1.0 + 0.25 * i for i in range(17))  # 1.0 .. 5.0


class Calibration(BaseModel):
    """Fitted thresholds and the agreement they reach, next to the defaults'."""

    thresholds: dict[StepType, float] = Field(description="Fitted threshold per step type.")
    kappa: float | None = Field(description="Cohen's kappa with the fitted thresholds.")
    fpr: float | None = Field(description="False positive rate with the fitted thresholds.")
    default_kappa: float | None = Field(description="Kappa with the paper's thresholds.")
    default_fpr: float | None = Field(description="False positive rate with the paper's thresholds.")
    n_steps: int = Field(description="Labeled steps with a judge score.")


def _labeled_scores(
    labeled: Sequence[LabeledTrace], judgments: Mapping[str, Mapping[str, Judgment]]
) -> list[tuple[StepType, float, bool]]:
    rows = []
    for gold in labeled:
        marks = judgments.get(gold.trace.id, {})
        types = {s.id: s.type for s in gold.trace.steps}
        known = [(sid, True) for sid in gold.failing_steps] + [(sid, False) for sid in gold.negatives or []]
        for step_id, failing in known:
            judgment = marks.get(step_id)
            if judgment is None or judgment.score is None or not judgment.assessed or judgment.error:
                continue
            rows.append((types[step_id], judgment.score, failing))
    return rows


def _agreement(rows, thresholds: Mapping[StepType, float]) -> tuple[float | None, float | None]:
    pairs = [(gold, score < thresholds[step_type]) for step_type, score, gold in rows]
    negatives = [predicted for gold, predicted in pairs if not gold]
    fpr = sum(negatives) / len(negatives) if negatives else None
    return cohen_kappa(pairs), fpr


def calibrate(
    labeled: Sequence[LabeledTrace],
    judgments: Mapping[str, Mapping[str, Judgment]],
    *,
    max_fpr: float = 0.10,
    passes: int = 3,
) -> Calibration:
    """Fit per-type thresholds on labeled traces.

    Args:
        labeled: traces with gold failing steps and known-correct steps.
        judgments: trace id -> step id -> judgment, from the judge being calibrated.
        max_fpr: the false-positive ceiling a solution must respect.
        passes: rounds of coordinate descent over the step types.
    """
    rows = _labeled_scores(labeled, judgments)
    current = dict(DEFAULT_THRESHOLDS)
    default_kappa, default_fpr = _agreement(rows, current)

    def objective(thresholds) -> float:
        kappa, fpr = _agreement(rows, thresholds)
        if kappa is None or (fpr is not None and fpr > max_fpr):
            return float("-inf")
        return kappa

    best = objective(current)
    for _ in range(passes):
        improved = False
        for step_type in JUDGED_TYPES:
            for candidate in GRID:
                trial = {**current, step_type: candidate}
                value = objective(trial)
                if value > best + 1e-12:
                    best, current, improved = value, trial, True
        if not improved:
            break
    kappa, fpr = _agreement(rows, current)
    return Calibration(
        thresholds=current, kappa=kappa, fpr=fpr,
        default_kappa=default_kappa, default_fpr=default_fpr, n_steps=len(rows),
    )
