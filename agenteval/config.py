"""Settings, resolved in one order: flags > AGENTEVAL_* environment > agenteval.toml > [tool.agenteval].

The config file is the first ``agenteval.toml`` (or ``pyproject.toml`` with a ``[tool.agenteval]``
table) found from the working directory up to the repository root. Nothing is ignored silently: a
table or key the schema does not know, and an ``AGENTEVAL_*`` variable that names no setting, are
errors, and every problem is reported at once, each naming its file or variable. ``resolve_settings``
also says where each effective value came from (``agenteval config`` prints it).

Every field of ``Settings`` is settable from the file, from ``AGENTEVAL_<FIELD>`` (nested tables with
``__``: ``AGENTEVAL_GATE__ALPHA``; lists and tables as JSON) and, for the CLI's options, from flags,
so a new field needs no code here. pydantic-settings was considered: it neither tracks which source
set a value nor rejects unknown variables, and its errors lose the file or variable, which is what
this module is for.
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    llama_slots: int | None = Field(
        None, ge=1, le=64, description="The judge is llama-server with this many slots (-np): pin each step type to one."
    )
    checklist_batch: bool = Field(True, description="Checklist mode: ask a step's questions in one request.")
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
    include: list[str] = Field(
        default_factory=list,
        description="Globs of trace files to read ('**' matches any depth); with no PATH given, globbed from the working directory.",
    )
    exclude: list[str] = Field(default_factory=list, description="Globs of files to leave out.")
    strict: bool = Field(False, description="A file that is not a trace is an error (exit 2) instead of being skipped with a warning.")
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
_TABLE = "agenteval"
#: Settings whose list value may also be given as a path-separator-separated string in the environment.
_PATH_LISTS = ("secret_patterns", "include", "exclude")


class ConfigProblems(ConfigError):
    """Several configuration problems, reported together; ``problems`` holds one line each."""

    def __init__(self, problems: list[str]) -> None:
        """Join the problems into the message, one per line."""
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass
class ResolvedSettings:
    """Settings and where each value came from."""

    settings: Settings
    origins: dict[str, str] = field(default_factory=dict)
    """Dotted setting name -> 'flag', 'AGENTEVAL_X' or a config file path; absent: the default."""
    config_file: str | None = None
    """The config file that was read, if any."""

    def origin(self, key: str) -> str:
        """Where the value of ``key`` (dotted) came from: its own origin or its table's; 'default' if none."""
        parts = key.split(".")
        for end in range(len(parts), 0, -1):
            found = self.origins.get(".".join(parts[:end]))
            if found:
                return found
        return "default"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config: {exc}", source=str(path)) from None


def _is_repo_root(directory: Path) -> bool:
    return (directory / ".git").exists()


def find_config(start: Path, *, walk: bool = True) -> Path | None:
    """The config file for ``start``: agenteval.toml, or a pyproject.toml with a [tool.agenteval] table.

    With ``walk`` the parents are searched too, up to the repository root (the first folder holding
    ``.git``) or the filesystem root; a folder's agenteval.toml wins over its pyproject.toml.
    """
    directory = start.resolve()
    while True:
        candidate = directory / CONFIG_FILE
        if candidate.is_file():
            return candidate
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and isinstance(_read_toml(pyproject).get("tool", {}).get(_TABLE), dict):
            return pyproject
        if not walk or _is_repo_root(directory) or directory.parent == directory:
            return None
        directory = directory.parent


def _file_values(path: Path | None, problems: list[str]) -> dict[str, Any]:
    if path is None:
        return {}
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get(_TABLE)
        return dict(table) if isinstance(table, dict) else {}
    if _TABLE not in data:
        return data
    for key in data:
        if key != _TABLE:
            where = f"[{key}]" if isinstance(data[key], dict) else f"'{key}'"
            problems.append(
                f"{path}: {where} is outside the [{_TABLE}] table, so it would be ignored: "
                f"move it to [{_TABLE}.{key}] (or drop the [{_TABLE}] header)"
            )
    table = data[_TABLE]
    if not isinstance(table, dict):
        problems.append(f"{path}: {_TABLE} must be a table")
        return {}
    return dict(table)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _is_complex(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, dict, tuple):
        return True
    if _model_of(annotation) is not None:
        return True
    return any(_is_complex(a) for a in typing.get_args(annotation) if a is not type(None))


def _env_name(path: list[str]) -> str:
    return _ENV_PREFIX + "__".join(p.upper() for p in path)


def _known_names(model: type[BaseModel], prefix: list[str]) -> list[str]:
    names = []
    for name, info in model.model_fields.items():
        names.append(_env_name([*prefix, name]))
        nested = _model_of(info.annotation)
        if nested is not None:
            names += _known_names(nested, [*prefix, name])
    return names


def _env_path(variable: str) -> list[str] | None:
    """The setting path an AGENTEVAL_* variable names, or None when it names none."""
    parts = [p.lower() for p in variable[len(_ENV_PREFIX):].split("__")]
    model: type[BaseModel] | None = Settings
    for index, part in enumerate(parts):
        if model is None or part not in model.model_fields:
            return None
        if index < len(parts) - 1:
            model = _model_of(model.model_fields[part].annotation)
    return parts


def _env_value(path: list[str], raw: str, variable: str, problems: list[str]) -> Any:
    model: type[BaseModel] = Settings
    for part in path[:-1]:
        model = _model_of(model.model_fields[part].annotation)  # type: ignore[assignment]
    annotation = model.model_fields[path[-1]].annotation
    if not _is_complex(annotation):
        return raw
    if path == [path[-1]] and path[-1] in _PATH_LISTS and not raw.lstrip().startswith("["):
        return [p for p in raw.split(os.pathsep) if p]
    try:
        return json.loads(raw)
    except ValueError:
        problems.append(f"{variable}: expected JSON for this list or table setting, got {raw[:40]!r}")
        return None


def _set(tree: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        node = tree.get(part)
        if not isinstance(node, dict):
            node = tree[part] = {}
        tree = node
    tree[path[-1]] = value


def _deep_merge(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def _leaves(tree: Mapping[str, Any], model: type[BaseModel] | None = Settings, prefix: str = "") -> list[str]:
    """Dotted names of the values set in ``tree``; a table of a nested settings model is descended into."""
    out = []
    for key, value in tree.items():
        info = model.model_fields.get(key) if model is not None else None
        nested = _model_of(info.annotation) if info is not None else None
        if isinstance(value, Mapping) and nested is not None:
            out += _leaves(value, nested, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out


def _key_holders(merged: Mapping[str, Any]) -> set[str]:
    """Variables named as holders of API keys: they may start with AGENTEVAL_ without being settings."""
    holders = {str(merged.get("api_key_env") or "OPENAI_API_KEY")}
    for tier in merged.get("fallback") or []:
        if isinstance(tier, Mapping) and tier.get("api_key_env"):
            holders.add(str(tier["api_key_env"]))
    return holders


def _env_values(environ: Mapping[str, str], holders: set[str], problems: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if environ.get("OPENAI_BASE_URL"):
        values["base_url"], origins["base_url"] = environ["OPENAI_BASE_URL"], "OPENAI_BASE_URL"
    known = _known_names(Settings, [])
    for variable in sorted(environ):
        if not variable.startswith(_ENV_PREFIX) or variable in holders:
            continue
        raw = environ[variable]
        path = _env_path(variable)
        if path is None:
            # Compared without the shared prefix, which would make every name look alike.
            suffixes = {name[len(_ENV_PREFIX):]: name for name in known}
            close = difflib.get_close_matches(variable[len(_ENV_PREFIX):], list(suffixes), n=1, cutoff=0.75)
            hint = f" (did you mean {suffixes[close[0]]}?)" if close else " (see `agenteval config` for the settings)"
            problems.append(f"{variable}: no such setting{hint}")
            continue
        if raw == "":
            continue
        value = _env_value(path, raw, variable, problems)
        if value is not None:
            _set(values, path, value)
            origins[".".join(path)] = variable
    return values, origins


def _flag_values(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if value is not None:
            _set(values, key.split("."), value)
    return values


def resolve_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    directory: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedSettings:
    """Resolve settings for a run, and where each value came from.

    Args:
        overrides: values given as flags (None values are ignored); a dotted key sets a nested
            value (``gate.pair_by``).
        directory: read the config file of this folder only (``--config``); default: search from the
            working directory up to the repository root.
        environ: environment to read (default: os.environ).

    Raises:
        ConfigError: a config file does not parse, a table, key or AGENTEVAL_* variable is unknown,
            or a value is invalid; one line per problem, each naming its file, variable or flag.
    """
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    path = find_config(directory or Path.cwd(), walk=directory is None)
    file_values = _file_values(path, problems)
    flag_values = _flag_values(overrides)
    holders = _key_holders({**file_values, **flag_values})
    env_values, env_origins = _env_values(environ, holders, problems)
    origins = {leaf: str(path) for leaf in _leaves(file_values)}
    origins.update(env_origins)
    origins.update({leaf: "flag" for leaf in _leaves(flag_values)})
    merged: dict[str, Any] = {}
    for layer in (file_values, env_values, flag_values):
        _deep_merge(merged, layer)
    settings = None
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        resolved = ResolvedSettings(Settings.model_construct(), origins, str(path) if path else None)
        for item in exc.errors():
            key = ".".join(str(p) for p in item["loc"])
            origin = resolved.origin(key)
            problems.append(f"{origin if origin != 'default' else 'config'}: {key}: {item['msg']}")
    if problems:
        raise ConfigProblems(problems)
    assert settings is not None
    return ResolvedSettings(settings, origins, str(path) if path else None)


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    directory: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings for a run (see ``resolve_settings``, which also says where each value came from).

    Raises:
        ConfigError: a config file does not parse, a name is unknown or a value is invalid.
    """
    return resolve_settings(overrides, directory=directory, environ=environ).settings


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
