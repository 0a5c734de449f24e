"""User mapping of trace spans to step types: the ``[mapping]`` table of agenteval.toml.

Readers type spans by the conventions of their format (OpenTelemetry GenAI, OpenInference, ...). A span
that no convention covers (a tool function traced with a plain tracer, a retriever of a framework
nobody instruments) is reported as not mapped; a mapping tells the readers what it is::

    [mapping.names]                  # span name (glob) -> step type
    "weather_lookup" = "EXEC"
    "healthcheck*" = "ignore"

    [[mapping.rules]]                # tried after the names, in order; the first match wins
    attribute = "openinference.span.kind"
    equals = "RETRIEVER"
    type = "EXEC"

A span can become an ``EXEC`` (a tool call), a ``PLAN`` or a ``SYNTH`` (one step with the span's input
and output), or be ignored (a container that makes no step and is not reported). ``TOOLSEL`` and
``PARAMGEN`` steps come from a model's tool call and cannot be mapped to.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

MappingTarget = Literal["EXEC", "PLAN", "SYNTH", "ignore"]
TARGETS: tuple[str, ...] = ("EXEC", "PLAN", "SYNTH", "ignore")
_FROM_CALLS = ("TOOLSEL", "PARAMGEN")


def _target(value: Any) -> Any:
    """A step type name in any case, checked against what a span can be mapped to."""
    if not isinstance(value, str):
        return value
    name = value.strip()
    if name.lower() == "ignore":
        return "ignore"
    if name.upper() in _FROM_CALLS:
        raise ValueError(f"{name.upper()} steps come from a model's tool call; map a span to {', '.join(TARGETS)}")
    if name.upper() in TARGETS:
        return name.upper()
    raise ValueError(f"unknown step type '{name}' (choose from: {', '.join(TARGETS)})")


Target = Annotated[MappingTarget, BeforeValidator(_target)]


class MappingRule(BaseModel):
    """One rule: spans whose name matches a glob and/or whose attribute has a value become a step type."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="Glob the span name must match (fnmatch, case-sensitive).")
    attribute: str | None = Field(None, description="Attribute the span must carry (dotted key).")
    equals: str | int | float | bool | None = Field(None, description="Value the attribute must have; any if unset.")
    type: Target = Field(description="EXEC, PLAN, SYNTH, or ignore.")

    @model_validator(mode="after")
    def _has_condition(self) -> MappingRule:
        if self.name is None and self.attribute is None:
            raise ValueError("a mapping rule needs a name glob or an attribute")
        if self.equals is not None and self.attribute is None:
            raise ValueError("'equals' needs an 'attribute'")
        return self

    def matches(self, name: str, attributes: Mapping[str, Any]) -> bool:
        """Whether a span with this name and these attributes falls under the rule."""
        if self.name is not None and not fnmatchcase(name, self.name):
            return False
        if self.attribute is None:
            return True
        found, value = lookup(attributes, self.attribute)
        return found and (self.equals is None or _same(value, self.equals))


class SpanMapping(BaseModel):
    """Span name globs and attribute rules that give spans a step type (``[mapping]``)."""

    model_config = ConfigDict(extra="forbid")

    names: dict[str, Target] = Field(
        default_factory=dict, description="Span name glob -> EXEC, PLAN, SYNTH or ignore; tried first, in order."
    )
    rules: list[MappingRule] = Field(default_factory=list, description="Attribute rules, tried after the names.")

    def __bool__(self) -> bool:
        return bool(self.names or self.rules)

    def target(self, name: str, attributes: Mapping[str, Any] | None = None) -> str | None:
        """The step type a span is mapped to (``EXEC``, ``PLAN``, ``SYNTH`` or ``ignore``), or None."""
        for glob, target in self.names.items():
            if fnmatchcase(name, glob):
                return target
        attrs = attributes or {}
        return next((rule.type for rule in self.rules if rule.matches(name, attrs)), None)


def lookup(attributes: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    """(found, value) of a dotted key, whether the source keeps it flat (``gen_ai.tool.name``), nested
    (``metadata: {tier: ...}``) or both (``metadata: {"gen_ai.tool.name": ...}``)."""
    return _walk(attributes, key.split("."))


def _walk(node: Any, parts: list[str]) -> tuple[bool, Any]:
    if not parts:
        return True, node
    if not isinstance(node, Mapping):
        return False, None
    for cut in range(len(parts), 0, -1):
        head = ".".join(parts[:cut])
        if head in node:
            found, value = _walk(node[head], parts[cut:])
            if found:
                return True, value
    return False, None


def _same(value: Any, expected: Any) -> bool:
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    return value == expected or (isinstance(value, (str, int, float)) and str(value) == str(expected))
