"""Typed domain of agenteval: traces and steps in, judgments and verdicts out.

Everything written to disk carries a format ``version`` so later releases can read older files.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TRACE_FORMAT_VERSION = "1"
RESULT_FORMAT_VERSION = "1"
JUDGE_INJECTION = "judge_injection"
"""The step flag for trace text that addresses the judge (see ``agenteval.judges.injection``)."""


class StepType(str, Enum):
    """What a step does in the agent run."""

    PLAN = "PLAN"
    TOOLSEL = "TOOLSEL"
    PARAMGEN = "PARAMGEN"
    EXEC = "EXEC"
    SYNTH = "SYNTH"
    USER = "USER"
    SYSTEM = "SYSTEM"

    @property
    def judged(self) -> bool:
        """Whether steps of this type are agent work that a judge scores."""
        return self in JUDGED_TYPES


JUDGED_TYPES: tuple[StepType, ...] = (
    StepType.PLAN,
    StepType.TOOLSEL,
    StepType.PARAMGEN,
    StepType.EXEC,
    StepType.SYNTH,
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class Tool(_Model):
    """A tool the agent could call."""

    name: str = Field(description="Tool name as the agent calls it.")
    description: str = Field("", description="What the tool does.")
    parameters: dict[str, Any] | None = Field(
        None, description="JSON Schema of the tool's arguments (an object schema)."
    )


class Usage(_Model):
    """Token usage of one model call."""

    input_tokens: int = Field(0, ge=0, description="Prompt tokens.")
    output_tokens: int = Field(0, ge=0, description="Completion tokens.")
    cached_input_tokens: int = Field(0, ge=0, description="Prompt tokens served from cache.")

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
        )


class ErrorInfo(_Model):
    """An error a step raised or returned."""

    type: str | None = Field(None, description="Error class or kind, e.g. TimeoutError.")
    message: str = Field("", description="Error message.")


class Step(_Model):
    """One step of an agent run: a node of the evaluation DAG."""

    id: str = Field(description="Unique id of the step within its trace.")
    type: StepType = Field(description="PLAN, TOOLSEL, PARAMGEN, EXEC, SYNTH; USER/SYSTEM are not judged.")
    parents: list[str] = Field(default_factory=list, description="Ids of the steps whose output this step consumed.")
    agent: str | None = Field(None, description="Name of the agent that took the step.")
    input: Any = Field(None, description="What the step received (messages, arguments, ...).")
    output: Any = Field(None, description="What the step produced (plan text, tool name, arguments, result, answer).")
    tool: str | None = Field(None, description="Tool chosen, parameterised or executed by this step.")
    arguments: Any = Field(None, description="Tool arguments (PARAMGEN output or EXEC input), parsed JSON when possible.")
    tool_call_id: str | None = Field(None, description="Id tying a tool call to its execution.")
    status: Literal["ok", "error", "timeout"] = Field("ok", description="Outcome reported by the trace.")
    error: ErrorInfo | None = Field(None, description="Error raised or returned by the step.")
    start_time: datetime | None = Field(None, description="When the step started (UTC).")
    end_time: datetime | None = Field(None, description="When the step ended (UTC).")
    usage: Usage | None = Field(None, description="Token usage of the model call behind this step.")
    model: str | None = Field(None, description="Model that produced the step.")
    attempts: int = Field(1, ge=1, description="Collapsed identical retries of the same call.")
    is_final: bool = Field(False, description="Whether this is the run's final answer.")
    unrecorded: list[Literal["input", "output", "arguments"]] = Field(
        default_factory=list,
        description="Fields the source did not record (content capture off, redacted): evidence a judge cannot see.",
    )
    metadata: dict[str, Any] = Field(default_factory=dict, description="Anything else from the source.")

    @field_validator("error", mode="before")
    @classmethod
    def _error_from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"message": value}
        return value

    @field_validator("type", mode="before")
    @classmethod
    def _type_upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def failed_in_trace(self) -> bool:
        """Whether the trace itself records this step as failed."""
        return self.status != "ok" or self.error is not None


class Trace(_Model):
    """One agent run."""

    version: str = Field(TRACE_FORMAT_VERSION, description="agenteval trace format version.")
    id: str = Field(description="Unique id of the run.")
    task: str = Field("", description="The task or goal given to the agent.")
    expected_outcome: str | None = Field(None, description="What a correct run should produce, if known.")
    tools: list[Tool] = Field(default_factory=list, description="The tool catalog available to the agent.")
    steps: list[Step] = Field(min_length=1, description="The steps of the run (at least one).")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Anything else about the run.")

    def tool(self, name: str | None) -> Tool | None:
        """The catalog entry for a tool name, or None."""
        return next((t for t in self.tools if t.name == name), None)


class Judgment(_Model):
    """What a judge said about one step."""

    step_id: str = Field(description="The judged step.")
    judge: str = Field(description="Judge that produced it, e.g. 'rules' or 'openai:gpt-4o'.")
    score: float | None = Field(None, ge=1, le=5, description="1-5 quality score; None on judge error.")
    assessed: bool = Field(True, description="False when no check applied and the score is a neutral placeholder.")
    metric_scores: dict[str, float] = Field(default_factory=dict, description="Score per rubric metric.")
    reason: str = Field("", description="Why the judge gave this score.")
    failure_code: str | None = Field(None, description="Taxonomy code of the failure, if any.")
    confidence: float | None = Field(None, ge=0, le=1, description="Judge's confidence, 0-1.")
    error: str | None = Field(None, description="Why the judge could not score the step (judge_error).")
    not_assessable: str | None = Field(
        None,
        description="Why the trace lacks the evidence this step is judged on (content not recorded, redacted, "
        "an unmapped span): the step is not_assessable, neither a failure nor a pass.",
    )
    flags: list[str] = Field(default_factory=list, description="Warnings about the step, e.g. judge_injection.")
    decisive: bool = Field(False, description="A proven hard failure that no other judge may overturn.")
    rubric_version: str | None = Field(None, description="Version of the rubric used.")
    model: str | None = Field(None, description="Judge model.")
    usage: Usage | None = Field(None, description="Tokens the judge spent on this step.")
    cost_usd: float | None = Field(None, ge=0, description="Cost of the judge calls for this step.")
    cached: bool = Field(False, description="Served from the judgment cache.")
    details: dict[str, Any] = Field(default_factory=dict, description="Judge-specific extras (checks, disagreement).")


Verdict = Literal["pass", "direct", "cascade", "not_assessable", "judge_error", "skipped"]


class StepVerdict(_Model):
    """The final verdict on one step after propagation."""

    step_id: str = Field(description="The step.")
    type: StepType = Field(description="Its type.")
    verdict: Verdict = Field(
        description="pass, direct failure, cascade failure, not_assessable (the trace lacks the evidence), "
        "judge_error (the judge could not score it) or skipped (not agent work, or not judged)."
    )
    score: float | None = Field(None, description="Judge score, if any.")
    threshold: float | None = Field(None, description="Failure threshold of the step type.")
    failure_code: str | None = Field(None, description="Taxonomy code when failing.")
    reason: str = Field("", description="Judge's reason.")
    upstream_failures: list[str] = Field(
        default_factory=list, description="Earlier failures whose bad output reached this step (for cascades)."
    )
    recovered: bool = Field(
        False,
        description="A failure the agent recovered from (retried, replaced or told the user; agenteval.recovery): "
        "does not fail the trace.",
    )
    flags: list[str] = Field(default_factory=list, description="Warnings about the step, e.g. judge_injection.")
    judgment: Judgment | None = Field(None, description="The judgment behind the verdict.")

    @property
    def failed(self) -> bool:
        """Whether the step is a direct or cascade failure."""
        return self.verdict in ("direct", "cascade")


class RootCause(_Model):
    """A step blamed for a trace's failure."""

    step_id: str = Field(description="The root-cause step.")
    algorithm: str = Field(description="Attribution algorithm that chose it.")
    chain: list[str] = Field(default_factory=list, description="Path from the root cause down to the failing sink.")
    failure_code: str | None = Field(None, description="Taxonomy code of the root-cause failure.")
    agent: str | None = Field(None, description="Agent that took the step.")
    score: float | None = Field(None, description="Its judge score.")


TraceStatus = Literal["passed", "failed", "incomplete"]


class TraceResult(_Model):
    """Evaluation of one trace."""

    version: str = Field(RESULT_FORMAT_VERSION, description="agenteval result format version.")
    trace: Trace = Field(description="The evaluated trace (secrets masked).")
    source: str | None = Field(None, description="File the trace came from.")
    format: str | None = Field(None, description="Trace format it was read as.")
    status: TraceStatus = Field(description="passed, failed, or incomplete (a step could not be judged).")
    verdicts: list[StepVerdict] = Field(description="One verdict per step, in trace order.")
    root_causes: list[RootCause] = Field(default_factory=list, description="Blamed steps when failed.")
    judge: str = Field(description="Judge that ran.")

    @property
    def passed(self) -> bool:
        """True only when every judged step passed."""
        return self.status == "passed"

    @property
    def trace_id(self) -> str:
        """Id of the evaluated trace."""
        return self.trace.id


class InputError(_Model):
    """An input that could not be read; recorded instead of aborting the run."""

    source: str = Field(description="The file or path.")
    message: str = Field(description="One-line description of the problem.")


class Run(_Model):
    """One evaluation run over a set of traces."""

    version: str = Field(RESULT_FORMAT_VERSION, description="agenteval result format version.")
    id: str = Field(description="Run id.")
    name: str = Field(description="Human-friendly run name.")
    created_at: datetime = Field(description="When the run started (UTC).")
    judge: str = Field(description="Judge that ran.")
    config: dict[str, Any] = Field(default_factory=dict, description="Settings the run used.")
    git_commit: str | None = Field(None, description="Git commit of the working directory, if any.")
    results: list[TraceResult] = Field(default_factory=list, description="Per-trace results.")
    input_errors: list[InputError] = Field(default_factory=list, description="Inputs that could not be read.")
