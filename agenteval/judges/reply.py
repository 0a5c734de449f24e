"""The judge's reply contracts: per step type, a model whose JSON schema leaves nothing to guess.

A server that follows the JSON schema we send, and knows nothing else about agenteval, must only be
able to produce usable judgments. So every rubric metric is its own required property (an integer
enum 1-5), ``failure_code`` is an enum of the step type's taxonomy codes or null, and checklist
replies have one required property per question, whose value is an enum of its answers. The same
models validate json_object and plain-text replies; their validators only tolerate spelling
(``"4"``, ``"Yes."``, ``"E2.1 tool_error"``, a list of ``{metric, score}``), never a missing answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from agenteval.models import StepType

REPLY_CONTRACT_VERSION = "2"
"""Bump when the shape of the reply models changes; it is part of every contract fingerprint."""

SCORES = (1, 2, 3, 4, 5)
_CODE = re.compile(r"\b([A-Za-z]\d+\.\d+)\b")


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _ScoresBase(_Tolerant):
    @model_validator(mode="before")
    @classmethod
    def _spelling(cls, value: Any) -> Any:
        # Without a schema, models write a list of {metric, score}, "Covers goal" or "4/5"; the names
        # must still be the rubric's, and every one must be there.
        if isinstance(value, list):
            value = {item.get("metric"): item.get("score") for item in value if isinstance(item, dict)}
        if not isinstance(value, dict):
            return value
        return {_key(k): _score(v) for k, v in value.items() if isinstance(k, str)}


class _JudgmentBase(_Tolerant):
    @model_validator(mode="before")
    @classmethod
    def _omitted_code(cls, value: Any) -> Any:
        # A reply without a schema that leaves out failure_code names none: the same as null.
        if isinstance(value, dict) and "failure_code" not in value:
            return {**value, "failure_code": None}
        return value

    @field_validator("failure_code", mode="before", check_fields=False)
    @classmethod
    def _code_spelling(cls, value: Any) -> Any:
        # "E2.1 tool_error" or "e2.1" name a code; text naming none ("null", "n/a: it passed") is null.
        if isinstance(value, str):
            match = _CODE.search(value)
            return match.group(1).upper() if match else None
        return value

    @field_validator("confidence", mode="before", check_fields=False)
    @classmethod
    def _confidence_spelling(cls, value: Any) -> Any:
        return _number(value)

    @field_validator("reasoning", mode="before", check_fields=False)
    @classmethod
    def _reasoning_spelling(cls, value: Any) -> Any:
        if isinstance(value, list):
            return " ".join(str(v) for v in value)
        return value

    def scores(self) -> dict[str, int]:
        """Metric name -> score, in rubric order."""
        return self.metric_scores.model_dump(by_alias=True)  # type: ignore[attr-defined]


class _AnswersBase(_Tolerant):
    @model_validator(mode="before")
    @classmethod
    def _spelling(cls, value: Any) -> Any:
        # "Yes." or "`get_weather`" for an enum option; keys as the schema names them.
        if not isinstance(value, dict):
            return value
        out = {}
        for key, answer in value.items():
            key = _key(key) if isinstance(key, str) else key
            field = next((f for name, f in cls.model_fields.items() if (f.alias or name) == key), None)
            if field is not None and isinstance(answer, str):
                text = answer.strip().strip("\"'`.").strip()
                answer = next((o for o in get_args(field.annotation) if str(o).lower() == text.lower()), answer)
            out[key] = answer
        return out

    def answers(self) -> dict[str, str]:
        """Question key -> answer."""
        return self.model_dump(by_alias=True)


def judgment_model(step_type: StepType, metrics: Sequence[str], codes: Sequence[str] | None) -> type[_JudgmentBase]:
    """The holistic reply model of one step type: reasoning, a score per metric, a code, a confidence.

    Args:
        step_type: The judged step type (names the model, e.g. ``PlanJudgment``).
        metrics: The rubric's metric names, in order; each becomes a required 1-5 property.
        codes: The failure codes the type may show (``failure_code`` is one of them or null); None
            allows any code-shaped string.
    """
    return _judgment_model(step_type, tuple(metrics), tuple(codes) if codes is not None else None)


@lru_cache(maxsize=64)
def _judgment_model(step_type: StepType, metrics: tuple[str, ...], codes: tuple[str, ...] | None) -> type[_JudgmentBase]:
    name = step_type.value.capitalize()
    score_type = Literal[SCORES]  # type: ignore[valid-type]
    # Aliases carry the metric names, so a metric called "json" or "copy" cannot shadow a model method.
    scores = create_model(  # type: ignore[call-overload]
        f"{name}Scores",
        __base__=_ScoresBase,
        __doc__="A whole-number score from 1 (fails the metric) to 5 (fully meets it) for every metric.",
        **{f"m{i}": (score_type, Field(alias=metric)) for i, metric in enumerate(metrics)},
    )
    if codes is None:
        code_type: Any = str | None
        code_field = Field(pattern=r"^[A-Z]\d+\.\d+$", description="A failure code (e.g. E2.1) when the step fails, else null.")
    elif codes:
        code_type = Literal[codes] | None  # type: ignore[valid-type]
        code_field = Field(description="The failure code that fits when any metric scores 1 or 2, else null.")
    else:
        code_type = None
        code_field = Field(description="Always null: no failure code applies to this step type.")
    return create_model(  # type: ignore[call-overload]
        f"{name}Judgment",
        __base__=_JudgmentBase,
        __doc__=f"The judgment of one {step_type.value} step; the reasoning comes first so the scores follow from it.",
        reasoning=(str, Field(description="Step-by-step reasoning about the step, written before any score.")),
        metric_scores=(scores, Field(description="One score per rubric metric.")),
        failure_code=(code_type, code_field),
        confidence=(float, Field(ge=0, le=1, description="Confidence in this judgment, from 0 to 1.")),
    )


def answers_model(questions: Sequence[tuple[str, Sequence[str], str]]) -> type[_AnswersBase]:
    """The reply model of a batch of checklist questions: one required enum property per question.

    Args:
        questions: (key, allowed answers, question text) for each question, in the order asked.
    """
    return _answers_model(tuple((key, tuple(options), text) for key, options, text in questions))


@lru_cache(maxsize=256)
def _answers_model(questions: tuple[tuple[str, tuple[str, ...], str], ...]) -> type[_AnswersBase]:
    fields: dict[str, Any] = {}
    for i, (key, options, text) in enumerate(questions):
        fields[f"a{i}"] = (Literal[options], Field(alias=key, description=text))  # type: ignore[valid-type]
    return create_model(  # type: ignore[call-overload]
        "ChecklistAnswers",
        __base__=_AnswersBase,
        __doc__="One answer per question, each exactly one of its allowed options.",
        **fields,
    )


def schema_fingerprint(model: type[BaseModel]) -> str:
    """Short sha256 of a reply model's JSON schema: changes whenever what a reply may hold changes."""
    text = json.dumps(model.model_json_schema(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"{REPLY_CONTRACT_VERSION}:{text}".encode()).hexdigest()[:16]


def contract_version(rubric_version: str, rubric_fingerprint: str, schema_fingerprints: Sequence[str]) -> str:
    """The rubric version a judgment records: ``1.0+<8 hex>``, over the rubric and its reply schema.

    An edited rubric, or a reply schema that changed with the code or the taxonomy, gives another
    value, so compare and the cache never take judgments made under different contracts for equal.
    """
    digest = hashlib.sha256(":".join([rubric_fingerprint, *schema_fingerprints]).encode()).hexdigest()[:8]
    return f"{rubric_version}+{digest}"


def _key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().strip("`\"'")).lower()


def _score(value: Any) -> Any:
    number = _number(value.split("/", 1)[0] if isinstance(value, str) else value)
    if isinstance(number, float) and number.is_integer():
        return int(number)
    return number


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value
