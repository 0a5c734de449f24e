"""Settings of the regression comparison and the deploy gate: tolerances, warn/block levels.

Plain data at the config layer, so settings can hold a gate policy without depending on the
comparison or gate logic that applies it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Level = Literal["pass", "warn", "block"]
_EPS = 1e-9
#: ``--pair-by`` rules (see ``agenteval.cases``); ``metadata:FIELD`` and ``attr:NAME`` take a name.
PAIR_BY_RULES = ("auto", "trace-id", "task")
PAIR_BY_PREFIXES = ("metadata:", "attr:")


def check_pair_by(rule: str) -> str:
    """``rule`` stripped, when it is a pairing rule.

    Raises:
        ValueError: any other text (pydantic reports it against the setting).
    """
    rule = rule.strip()
    if rule in PAIR_BY_RULES:
        return rule
    for prefix in PAIR_BY_PREFIXES:
        name = rule[len(prefix):].strip()
        if rule.startswith(prefix) and name:
            return prefix + name
    raise ValueError(f"unknown pairing rule '{rule}' (choose from: auto, trace-id, task, metadata:FIELD, attr:NAME)")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tolerance(_Model):
    """How big a change must be to count: both the absolute and the relative bound must be exceeded."""

    abs_tol: float = Field(0.02, ge=0, description="Failure rates: absolute change allowed (0.02 = 2 points).")
    rel_tol: float = Field(0.10, ge=0, description="Failure rates: change allowed relative to the base value.")
    score_abs_tol: float = Field(0.10, ge=0, description="Mean 1-5 scores: absolute change allowed.")
    score_rel_tol: float = Field(0.02, ge=0, description="Mean 1-5 scores: change allowed relative to the base.")

    def exceeded(self, delta: float, base: float, *, score: bool = False) -> bool:
        """Whether ``delta`` (from ``base``) is outside both tolerances."""
        abs_tol, rel_tol = (self.score_abs_tol, self.score_rel_tol) if score else (self.abs_tol, self.rel_tol)
        size = abs(delta)
        return size > abs_tol + _EPS and size > rel_tol * abs(base) + _EPS


class Thresholds(BaseModel):
    """Warn and block levels for how much a metric got worse (beyond tolerance)."""

    model_config = ConfigDict(extra="forbid")

    warn: float | None = Field(0.0, ge=0, description="Warn when it got worse by more than this; None: never.")
    block: float | None = Field(None, ge=0, description="Block when it got worse by more than this; None: never.")

    @model_validator(mode="after")
    def _block_above_warn(self) -> Thresholds:
        if self.warn is not None and self.block is not None and self.block < self.warn:
            raise ValueError(f"block ({self.block}) is below warn ({self.warn})")
        return self

    def level(self, worse_by: float) -> Level:
        """The level a change that made the metric worse by ``worse_by`` reaches."""
        if self.block is not None and worse_by > self.block:
            return "block"
        if self.warn is not None and worse_by > self.warn:
            return "warn"
        return "pass"


class GatePolicy(BaseModel):
    """When a candidate run warns or blocks; the ``[gate]`` table of agenteval.toml."""

    model_config = ConfigDict(extra="forbid")

    tolerance: Tolerance = Field(default_factory=Tolerance, description="Changes inside it never count.")
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level: a change that may be noise (p >= alpha) never blocks.")
    pair_by: str = Field("auto", description="How traces of two runs are matched by case: auto, trace-id, task, metadata:FIELD, attr:NAME.")
    failure_rate: Thresholds = Field(
        default_factory=lambda: Thresholds(warn=0.0, block=0.10),
        description="Increase of the overall trace failure rate (0.10 = 10 points).",
    )
    step_failure_rate: Thresholds = Field(
        default_factory=lambda: Thresholds(warn=0.0, block=0.15),
        description="Increase of the failure rate of any step type.",
    )
    score_drop: Thresholds = Field(
        default_factory=lambda: Thresholds(warn=0.0, block=None),
        description="Drop of the mean 1-5 score of any step type.",
    )
    significant_regression: Level = Field(
        "block", description="When the trace failure rate rose beyond tolerance and significantly (p < alpha)."
    )
    critical_failure: Level = Field(
        "block",
        description="When a critical failure code appears that the base run did not have, or got more frequent "
        "(beyond tolerance and, with paired traces, significantly by McNemar).",
    )
    critical_codes: list[str] | None = Field(
        None, description="Codes that are critical; None: those with severity 'critical' in the taxonomy."
    )
    not_comparable: Level = Field("warn", description="When a step type was judged differently in the two runs.")
    unreadable_traces: Level = Field("block", description="When candidate traces could not be read.")

    @field_validator("pair_by")
    @classmethod
    def _known_rule(cls, value: str) -> str:
        return check_pair_by(value)
