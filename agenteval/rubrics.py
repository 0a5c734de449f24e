"""Rubrics: what an LLM judge scores for each step type, loaded from ``rubrics/*.yaml``.

A rubric is data, not code. Each judged step type (PLAN, TOOLSEL, PARAMGEN, EXEC, SYNTH) has one
YAML file with its metrics, the 1-5 level descriptions, five calibration anchors per metric and a
few narrow yes/no or choice checks that small judges answer one at a time. Every rubric carries
a ``version`` and a content ``fingerprint``, so a judgment made with an edited rubric is never
mistaken for the same judgment (nor for an agent regression).
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from agenteval._resources import data_dir
from agenteval.errors import RubricError
from agenteval.models import JUDGED_TYPES, StepType

SCORES = (1, 2, 3, 4, 5)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Anchor(_Strict):
    """A worked example that calibrates the judge at one score."""

    score: int = Field(ge=1, le=5, description="The score this example deserves, 1-5.")
    example: Text = Field(description="The step and its context, in a few lines.")
    rationale: Text = Field(description="One line on why it deserves that score.")


class Check(_Strict):
    """One narrow question a small judge answers in checklist mode.

    A ``yes_no`` check passes when the answer equals ``pass_answer``. A ``choice`` check offers
    the names listed by ``choices_from`` (``"tools"``: the trace's tool catalog) and passes when
    the chosen name equals the step's own decision (for TOOLSEL, the tool it chose).
    """

    id: Name = Field(description="Identifier, unique within the rubric (snake_case).")
    question: Text = Field(description="The question, answerable from the step and its context.")
    kind: Literal["yes_no", "choice"] = Field(description="yes_no or choice.")
    weight: float = Field(gt=0, description="Weight of the check within its metric.")
    pass_answer: Literal["yes", "no"] | None = Field(None, description="Passing answer of a yes_no check.")
    choices_from: Literal["tools"] | None = Field(None, description="Where a choice check's options come from.")

    @field_validator("pass_answer", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted yes/no as a boolean.
        if isinstance(value, bool):
            return "yes" if value else "no"
        return value

    @model_validator(mode="after")
    def _kind_fields(self) -> Check:
        if self.kind == "yes_no":
            if self.pass_answer is None:
                raise ValueError("a yes_no check needs pass_answer 'yes' or 'no'")
            if self.choices_from is not None:
                raise ValueError("a yes_no check takes no choices_from")
        else:
            if self.choices_from is None:
                raise ValueError("a choice check needs choices_from (e.g. 'tools')")
            if self.pass_answer is not None:
                raise ValueError("a choice check takes no pass_answer")
        return self


class Metric(_Strict):
    """One quality dimension of a step type, scored 1-5."""

    name: Name = Field(description="Metric name (snake_case), the key of its score.")
    description: Text = Field(description="What the metric measures.")
    levels: dict[int, Text] = Field(description="What each score 1..5 means.")
    anchors: list[Anchor] = Field(description="Exactly five calibration examples, scoring 1..5.")
    checks: list[Check] = Field(description="Atomic checks for checklist mode.")

    @field_validator("levels")
    @classmethod
    def _five_levels(cls, value: dict[int, str]) -> dict[int, str]:
        if sorted(value) != list(SCORES):
            got = ", ".join(str(k) for k in sorted(value)) or "none"
            raise ValueError(f"need levels 1, 2, 3, 4 and 5 (got {got})")
        return dict(sorted(value.items()))

    @field_validator("anchors")
    @classmethod
    def _five_anchors(cls, value: list[Anchor]) -> list[Anchor]:
        scores = sorted(a.score for a in value)
        if scores != list(SCORES):
            got = ", ".join(str(s) for s in scores) or "none"
            raise ValueError(f"need 5 anchors scoring 1..5 (got scores {got})")
        return sorted(value, key=lambda a: a.score)

    @field_validator("checks")
    @classmethod
    def _some_checks(cls, value: list[Check]) -> list[Check]:
        if not value:
            raise ValueError("need at least one check")
        return value


class Rubric(_Strict):
    """The rubric of one step type."""

    step_type: StepType = Field(description="The judged step type this rubric scores.")
    version: Text = Field(description="Rubric version, recorded on every judgment.")
    instructions: Text = Field(description="What to judge for this step type.")
    metrics: list[Metric] = Field(min_length=1, description="The metrics, each scored 1-5.")

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        # `version: 1.0` unquoted is a float in YAML; keep it as written.
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    @field_validator("step_type", mode="before")
    @classmethod
    def _type_upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("step_type")
    @classmethod
    def _judged(cls, value: StepType) -> StepType:
        if not value.judged:
            raise ValueError(f"{value.value} steps are not judged; use one of {_type_list()}")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Rubric:
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate metric name(s): {', '.join(sorted(_dupes(names)))}")
        ids = [c.id for m in self.metrics for c in m.checks]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate check id(s): {', '.join(sorted(_dupes(ids)))}")
        return self

    @property
    def metric_names(self) -> list[str]:
        """Names of the metrics, in rubric order."""
        return [m.name for m in self.metrics]

    @cached_property
    def fingerprint(self) -> str:
        """Short sha256 of the rubric's canonical content; changes with any edit, even unversioned."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    def metric(self, name: str) -> Metric:
        """The metric called ``name``.

        Raises:
            KeyError: no such metric.
        """
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(name)

    def check_metric(self, check_id: str) -> tuple[Metric, Check]:
        """The check with this id and the metric it belongs to.

        Raises:
            KeyError: no such check.
        """
        for metric in self.metrics:
            for check in metric.checks:
                if check.id == check_id:
                    return metric, check
        raise KeyError(check_id)


class RubricSet(_Strict):
    """One rubric per judged step type."""

    rubrics: dict[StepType, Rubric] = Field(description="Rubric of each judged step type.")
    sources: dict[StepType, str] = Field(default_factory=dict, description="File each rubric came from.")

    def for_type(self, step_type: StepType | str) -> Rubric:
        """The rubric for a step type.

        Raises:
            RubricError: the type is unknown or not judged.
        """
        try:
            key = StepType(step_type.upper() if isinstance(step_type, str) else step_type)
        except ValueError:
            raise RubricError(f"unknown step type {step_type!r}; use one of {_type_list()}") from None
        if key not in self.rubrics:
            raise RubricError(f"no rubric for {key.value} steps; rubrics exist for {_type_list()}")
        return self.rubrics[key]

    @property
    def fingerprint(self) -> str:
        """Short sha256 over every rubric's fingerprint: one value for a whole run's configuration."""
        joined = ",".join(f"{t.value}:{self.rubrics[t].fingerprint}" for t in JUDGED_TYPES if t in self.rubrics)
        return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


def load_rubrics(directory: Path | None = None) -> RubricSet:
    """Load the rubrics, from the bundled set or from a user folder.

    A user folder may hold only some step types (``plan.yaml``, ``toolsel.yaml``, ``paramgen.yaml``,
    ``exec.yaml``, ``synth.yaml``); types it lacks fall back to the bundled rubrics.

    Args:
        directory: Folder of rubric YAML files; None for the bundled rubrics.

    Returns:
        A RubricSet with a rubric for every judged step type.

    Raises:
        RubricError: the folder is missing, or a file is unreadable or invalid; the message names
            the file and the field.
    """
    bundled = data_dir("rubrics")
    rubrics: dict[StepType, Rubric] = {}
    sources: dict[StepType, str] = {}
    if directory is not None:
        for step_type, path in _rubric_files(Path(directory)).items():
            rubrics[step_type] = _load_file(path, step_type)
            sources[step_type] = str(path)
    missing = [t for t in JUDGED_TYPES if t not in rubrics]
    if missing:
        files = _rubric_files(bundled, source=f"bundled rubrics ({bundled})")
        for step_type in missing:
            if step_type not in files:
                raise RubricError(f"no rubric file for {step_type.value} steps", source=str(bundled))
            rubrics[step_type] = _load_file(files[step_type], step_type)
            sources[step_type] = str(files[step_type])
    return RubricSet(rubrics=rubrics, sources=sources)


def validate_rubric_dir(directory: Path) -> list[str]:
    """Every problem with the rubric files in a folder, one line each; empty when all are valid.

    Types the folder does not define are not problems (they fall back to the bundled rubrics).
    """
    directory = Path(directory)
    if not directory.is_dir():
        return [f"{directory}: no such rubric directory"]
    problems: list[str] = []
    seen: dict[StepType, Path] = {}
    if not _yaml_files(directory):
        return [f"{directory}: no rubric files (expected {_file_list()})"]
    for path in _yaml_files(directory):
        step_type = _type_of_file(path)
        if step_type is None:
            problems.append(f"{path}: not a rubric file name; use one of {_file_list()}")
        elif step_type in seen:
            problems.append(f"{path}: duplicates {seen[step_type].name}")
        else:
            seen[step_type] = path
            problems.extend(f"{path}: {problem}" for problem in _read_file(path, step_type)[1])
    return problems


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _rubric_files(directory: Path, *, source: str | None = None) -> dict[StepType, Path]:
    if not directory.is_dir():
        raise RubricError("no such rubric directory", source=source or str(directory))
    files: dict[StepType, Path] = {}
    for path in _yaml_files(directory):
        step_type = _type_of_file(path)
        if step_type is None:
            raise RubricError(f"not a rubric file name; use one of {_file_list()}", source=str(path))
        if step_type in files:
            raise RubricError(f"duplicates {files[step_type].name}", source=str(path))
        files[step_type] = path
    return files


def _load_file(path: Path, step_type: StepType) -> Rubric:
    rubric, problems = _read_file(path, step_type)
    if rubric is None:
        raise RubricError(problems[0], source=str(path))
    return rubric


def _read_file(path: Path, step_type: StepType) -> tuple[Rubric | None, list[str]]:
    """Read and validate one rubric file: the rubric, or None and every problem found."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as exc:
        return None, [f"cannot read: {exc.strerror or exc}"]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [f"{where}invalid YAML: {problem}"]
    if not isinstance(data, dict):
        return None, ["expected a mapping with step_type, version, instructions and metrics"]
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as exc:
        return None, [_describe(err) for err in exc.errors()]
    if rubric.step_type is not step_type:
        expected = step_type.value
        return None, [f"step_type: {rubric.step_type.value} does not match the file name (expected {expected})"]
    return rubric, []


def _describe(err: Any) -> str:
    loc = ".".join(str(part) for part in err["loc"])
    if err["type"] == "extra_forbidden":
        message = "unknown field"
    elif err["type"] == "missing":
        message = "required field missing"
    else:
        message = err["msg"].removeprefix("Value error, ")
    return f"{loc}: {message}" if loc else message


def _type_of_file(path: Path) -> StepType | None:
    return next((t for t in JUDGED_TYPES if path.stem.lower() == t.value.lower()), None)


def _type_list() -> str:
    return ", ".join(t.value for t in JUDGED_TYPES)


def _file_list() -> str:
    return ", ".join(f"{t.value.lower()}.yaml" for t in JUDGED_TYPES)


def _dupes(items: list[str]) -> set[str]:
    seen: set[str] = set()
    return {i for i in items if i in seen or seen.add(i)}
