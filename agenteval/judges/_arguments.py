"""Tool arguments: parse them as the agent wrote them and check them against the tool's JSON Schema.

jsonschema does the validation; this module only turns its errors into short, field-named phrases
("missing required 'order_id'") and adds one check JSON Schema leaves out by default: parameters the
schema does not declare.

The schema comes from the trace, so it is data, never an instruction to the machine: ``$ref``
resolves only inside the schema (a remote or ``file:`` reference is refused, never fetched or read),
and ``pattern``/``patternProperties`` run on RE2, in time linear in the text (see ``_regex``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, SchemaError, ValidationError, validators
from referencing import Registry
from referencing.exceptions import NoSuchResource, Unresolvable

from agenteval.judges import _regex

#: More violations than this are summarised as "(+N more)" to keep a reason on one line.
MAX_LISTED = 5


class InvalidSchemaError(ValueError):
    """The tool's own parameter schema is not valid JSON Schema, or cannot be checked safely."""

    @property
    def phrase(self) -> str:
        """What is wrong, worded to follow "<tool>'s parameter schema"."""
        return f"is invalid: {self}"


class SchemaNotCheckedError(InvalidSchemaError):
    """The schema is valid but asks for something a trace may not make us do: follow a reference out
    of the document, or run a pattern that needs a backtracking engine."""

    @property
    def phrase(self) -> str:
        """What was not checked and why, worded to follow "<tool>'s parameter schema"."""
        return f"was not checked: {self}"


def _refuse(uri: str) -> Any:
    raise NoSuchResource(ref=uri)


#: Resolves references inside the schema only (jsonschema adds the bundled meta-schemas); any other
#: URI (http:, file:, a relative file name) is refused, never fetched or read.
_INSIDE_ONLY: Registry = Registry(retrieve=_refuse)


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
    try:
        validator = _validator(json.dumps(schema, sort_keys=True))
        errors = sorted(validator.iter_errors(arguments), key=_error_order)
    except Unresolvable as exc:
        raise SchemaNotCheckedError(
            f"$ref {_regex.shown(str(getattr(exc, 'ref', '')))} points outside the schema "
            "(references resolve only inside it; nothing is fetched or read)"
        ) from None
    except RecursionError:
        raise SchemaNotCheckedError("nested or referenced too deeply to check") from None
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
    _check_patterns(schema)
    return _linear(cls)(schema, registry=_INSIDE_ONLY, format_checker=cls.FORMAT_CHECKER)


def _check_patterns(schema: Any) -> None:
    """Refuse a schema with a pattern RE2 cannot run, before any validation.

    The whole schema is then not checked: skipping one pattern would be wrong under ``not`` or
    ``anyOf``, where a skipped check turns into a wrong pass or failure.

    Raises:
        SchemaNotCheckedError: a ``pattern`` or ``patternProperties`` key RE2 cannot run, or
            ``unevaluatedProperties`` next to ``patternProperties`` (jsonschema matches those with ``re``).
    """
    uses_unevaluated = uses_pattern_properties = False
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                _not_checked_unless_linear(value)
            elif key == "patternProperties" and isinstance(value, dict):
                uses_pattern_properties = True
                for pattern in value:
                    _not_checked_unless_linear(pattern)
            elif key == "unevaluatedProperties":
                uses_unevaluated = True
            stack.append(value)
    if uses_unevaluated and uses_pattern_properties:
        raise SchemaNotCheckedError("unevaluatedProperties together with patternProperties is not supported")


def _not_checked_unless_linear(pattern: str) -> None:
    try:
        _regex.check(pattern)
    except _regex.UncheckablePattern as exc:
        raise SchemaNotCheckedError(str(exc)) from None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    if validator.is_type(instance, "string") and not _regex.search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, pattern_properties: dict, instance: Any, schema: Any) -> Any:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for name, value in instance.items():
            if _regex.search(pattern, name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional_properties(validator: Any, additional: Any, instance: Any, schema: Any) -> Any:
    if not validator.is_type(instance, "object"):
        return
    declared = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [
        name for name in instance
        if name not in declared and not any(_regex.search(p, name) for p in patterns)
    ]
    if validator.is_type(additional, "object"):
        for name in extras:
            yield from validator.descend(instance[name], additional, path=name)
    elif not additional and extras:
        # jsonschema's own wording, so phrases read the same whichever engine matched.
        names = ", ".join(repr(name) for name in sorted(extras, key=str))
        if patterns:
            verb = "does" if len(extras) == 1 else "do"
            yield ValidationError(f"{names} {verb} not match any of the regexes: {', '.join(map(repr, sorted(patterns)))}")
        else:
            verb = "was" if len(extras) == 1 else "were"
            yield ValidationError(f"Additional properties are not allowed ({names} {verb} unexpected)")


@lru_cache(maxsize=None)
def _linear(cls: Any) -> Any:
    """``cls`` with the keywords that match regular expressions running on RE2 instead of ``re``."""
    return validators.extend(
        cls,
        {"pattern": _pattern, "patternProperties": _pattern_properties, "additionalProperties": _additional_properties},
    )


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
        InvalidSchemaError: a ``patternProperties`` key is not a regular expression RE2 can run.
    """
    if not isinstance(arguments, dict) or "properties" not in schema:
        return []
    extra = schema.get("additionalProperties")
    if extra is not None and extra is not False:
        return []
    declared = schema.get("properties") or {}
    patterns = list(schema.get("patternProperties") or {})
    try:
        return [
            name
            for name in arguments
            if name not in declared and not any(_regex.search(p, name) for p in patterns)
        ]
    except _regex.UncheckablePattern as exc:
        raise InvalidSchemaError(f"bad patternProperties regex: {exc.why}") from None


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
