"""Settings, resolved in one order: flags > AGENTEVAL_* environment > agenteval.toml > [tool.agenteval]."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agenteval.errors import ConfigError
from agenteval.mapping import SpanMapping
from agenteval.policy import GatePolicy
from agenteval.models import JUDGED_TYPES, StepType

DEFAULT_DB = Path(".agenteval") / "agenteval.duckdb"  # the store opens it; defined here so settings need no store
CONFIG_FILE = "agenteval.toml"


class TierSettings(BaseModel):
    """One judge endpoint in the fallback chain."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="Model name the endpoint serves.")
    base_url: str | None = Field(None, description="OpenAI-compatible base URL; None means OpenAI.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the key.")


class Settings(BaseModel):
    """Everything a run can be configured with. Field names are the config-file keys."""

    model_config = ConfigDict(extra="forbid")

    db: Path = Field(DEFAULT_DB, description="DuckDB file.")
    format: str = Field("auto", description="Trace format, or auto to detect.")
    judge: Literal["auto", "rules", "openai"] = Field(
        "auto", description="auto: the LLM judge when a judge model is configured, else rules."
    )
    model: str | None = Field(None, description="Judge model.")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint of the judge.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable with the judge's key.")
    fallback: list[TierSettings] = Field(default_factory=list, description="Judges to try when the first fails.")
    judge_mode: Literal["holistic", "checklist"] = Field("holistic", description="One 1-5 call, or narrow checks.")
    judge_all: bool = Field(False, description="Call the LLM judge even where rules proved a hard failure.")
    samples: int = Field(1, ge=1, le=9, description="Judgments per step (multi-judge median).")
    concurrency: int = Field(8, ge=1, le=512, description="Judge calls in flight at once.")
    timeout: float = Field(60.0, gt=0, description="Seconds per judge request.")
    max_retries: int = Field(3, ge=0, le=10, description="Retries per judge request on 429/5xx/timeouts.")
    max_cost: float | None = Field(None, ge=0, description="Stop judge calls after this many USD.")
    cache: bool = Field(True, description="Reuse cached judgments.")
    rubrics: Path | None = Field(None, description="Folder of rubric YAML files overriding the bundled ones.")
    thresholds: dict[StepType, float] = Field(default_factory=dict, description="Failure threshold per step type.")
    root_cause: str = Field("dag", description="Root-cause attribution algorithm (dag, greedy, earliest).")
    prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="USD per million input/output tokens, by judge model."
    )
    secret_patterns: list[str] = Field(default_factory=list, description="Extra regexes of secrets to mask.")
    gate: GatePolicy = Field(default_factory=GatePolicy, description="When `agenteval gate` warns or blocks.")
    mapping: SpanMapping = Field(
        default_factory=SpanMapping, description="Span names and attributes mapped to step types ([mapping])."
    )

    @field_validator("thresholds")
    @classmethod
    def _judged_types_only(cls, value: dict[StepType, float]) -> dict[StepType, float]:
        for step_type, threshold in value.items():
            if step_type not in JUDGED_TYPES:
                raise ValueError(f"{step_type.value} steps are not judged")
            if not 1.0 <= threshold <= 5.0:
                raise ValueError(f"{step_type.value} threshold {threshold} is outside 1-5")
        return value

    @property
    def uses_llm(self) -> bool:
        """Whether the LLM judge runs (explicitly, or because a judge model is configured)."""
        if self.judge == "auto":
            return bool(self.model)
        return self.judge == "openai"


_ENV_PREFIX = "AGENTEVAL_"


def _file_settings(directory: Path) -> tuple[dict[str, Any], str | None]:
    path = directory / CONFIG_FILE
    if path.is_file():
        data = _read_toml(path)
        return dict(data.get("agenteval", data)), str(path)
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("agenteval")
        if isinstance(table, dict):
            return dict(table), str(pyproject)
    return {}, None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config: {exc}", source=str(path)) from None


def _env_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if environ.get("OPENAI_BASE_URL"):
        values["base_url"] = environ["OPENAI_BASE_URL"]
    for name in Settings.model_fields:
        raw = environ.get(_ENV_PREFIX + name.upper())
        if raw is not None and raw != "" and name not in ("fallback", "thresholds", "prices", "secret_patterns", "gate", "mapping"):
            values[name] = raw
    if environ.get(_ENV_PREFIX + "SECRET_PATTERNS"):
        values["secret_patterns"] = environ[_ENV_PREFIX + "SECRET_PATTERNS"].split(os.pathsep)
    return values


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    directory: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings for a run.

    Args:
        overrides: values given as flags (None values are ignored).
        directory: where to look for agenteval.toml / pyproject.toml (default: the working directory).
        environ: environment to read (default: os.environ).

    Raises:
        ConfigError: a config file does not parse or a value is invalid (names the key and source).
    """
    file_values, file_source = _file_settings(directory or Path.cwd())
    env_values = _env_settings(os.environ if environ is None else environ)
    flag_values = {k: v for k, v in (overrides or {}).items() if v is not None}
    merged = {**file_values, **env_values, **flag_values}
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        item = exc.errors()[0]
        key = ".".join(str(p) for p in item["loc"])
        origin = (
            "flag" if key.split(".")[0] in flag_values
            else "environment" if key.split(".")[0] in env_values
            else file_source or "config"
        )
        raise ConfigError(f"{key}: {item['msg']}", source=origin) from None


def write_thresholds(thresholds: Mapping[StepType, float], path: Path) -> None:
    """Write per-type thresholds into ``[thresholds]`` of an agenteval.toml, keeping other lines."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    kept: list[str] = []
    in_table = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            in_table = stripped in ("[thresholds]", "[agenteval.thresholds]")
        if not in_table:
            kept.append(line)
    table = "[agenteval.thresholds]" if any(l.strip() == "[agenteval]" for l in kept) else "[thresholds]"
    kept += ["", table] + [f"{t.value} = {v:.2f}" for t, v in sorted(thresholds.items(), key=lambda kv: kv[0].value)]
    path.write_text("\n".join(kept).lstrip("\n") + "\n", encoding="utf-8")
