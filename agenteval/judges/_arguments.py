"""Tool arguments: parse them as the agent wrote them and check them against the tool's JSON Schema.

jsonschema does the validation; this module only turns its errors into short, field-named phrases
("missing required 'order_id'") and adds one check JSON Schema leaves out by default: parameters the
schema does not declare.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, SchemaError, ValidationError, validators

#: More violations than this are summarised as "(+N more)" to keep a reason on one line.
MAX_LISTED = 5


class InvalidSchemaError(ValueError):
    """The tool's own parameter schema is not valid JSON Schema."""


def parse_arguments(raw: Any) -> tuple[Any, str | None]:
    """Arguments as a JSON value, or the reason they cannot be read.

    A JSON string is decoded; a blank string means "no arguments" (``{}``). Anything else is taken
    as already parsed.

    Returns:
        ``(value, None)`` on success, ``(None, problem)`` when the string is not valid JSON.
    """
    if not isinstance(raw, str):
        return raw, None
    if not raw.strip():
        return {}, None
    try:
        return json.loads(raw), None
    except json.JSONDecodeError as exc:
        return None, f"arguments are not valid JSON ({exc.msg} at position {exc.pos})"


def schema_violations(arguments: Any, schema: dict[str, Any]) -> list[str]:
    """Short descriptions of how ``arguments`` break ``schema``; empty when they validate.

    Raises:
        InvalidSchemaError: ``schema`` itself is not a valid JSON Schema.
    """
    validator = _validator(json.dumps(schema, sort_keys=True))
    errors = sorted(validator.iter_errors(arguments), key=_error_order)
    phrases: dict[str, None] = {}  # an ordered set: several errors can say the same thing
    for error in errors:
        if _is_root_additional(error, validator.schema):
            continue  # reported below, once per name
        for phrase in _phrases(error):
            phrases[phrase] = None
    for name in undeclared_parameters(arguments, schema):
        phrases[f"unknown parameter '{name}'"] = None
    return list(phrases)


@lru_cache(maxsize=256)
def _validator(schema_text: str) -> Any:
    """A validator for a schema (given as JSON text, the cache key), checked once: tools repeat."""
    schema = json.loads(schema_text)
    cls = validators.validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise InvalidSchemaError(exc.message) from None
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def summarise(violations: list[str]) -> str:
    """Join violations into one line, listing at most ``MAX_LISTED``."""
    shown = "; ".join(violations[:MAX_LISTED])
    hidden = len(violations) - MAX_LISTED
    return f"{shown} (+{hidden} more)" if hidden > 0 else shown


def undeclared_parameters(arguments: Any, schema: dict[str, Any]) -> list[str]:
    """Top-level argument names the schema does not declare.

    Agents often invent parameters; JSON Schema accepts them unless ``additionalProperties`` is
    false. We report them unless the schema explicitly allows extras (``additionalProperties`` true
    or a schema), matches them with ``patternProperties``, or declares no ``properties`` at all.

    Raises:
        InvalidSchemaError: a ``patternProperties`` key is not a valid regular expression.
    """
    if not isinstance(arguments, dict) or "properties" not in schema:
        return []
    extra = schema.get("additionalProperties")
    if extra is not None and extra is not False:
        return []
    declared = schema.get("properties") or {}
    try:
        patterns = [re.compile(p) for p in (schema.get("patternProperties") or {})]
    except re.error as exc:
        raise InvalidSchemaError(f"bad patternProperties regex: {exc}") from None
    return [
        name
        for name in arguments
        if name not in declared and not any(p.search(name) for p in patterns)
    ]


def _error_order(error: ValidationError) -> tuple[bool, str]:
    # Missing required fields first: they are the usual cause and the easiest to read.
    return (error.validator != "required", _where(error))


def _is_root_additional(error: ValidationError, schema: dict[str, Any]) -> bool:
    return error.validator == "additionalProperties" and not error.absolute_path and error.schema is schema


def _where(error: ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _phrases(error: ValidationError) -> list[str]:
    where = _where(error)
    field = f"'{where}'" if where else "arguments"
    prefix = f"{where}." if where else ""
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        return [f"missing required '{prefix}{name}'" for name in missing]
    if error.validator == "type":
        expected = error.validator_value
        types = " or ".join(f"'{t}'" for t in expected) if isinstance(expected, list) else f"'{expected}'"
        return [f"{field} is not of type {types}"]
    if error.validator == "enum":
        allowed = ", ".join(json.dumps(v) for v in error.validator_value)
        return [f"{field} must be one of {allowed} (got {_short(json.dumps(error.instance, default=str))})"]
    return [f"{field}: {_short(error.message)}"]


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
