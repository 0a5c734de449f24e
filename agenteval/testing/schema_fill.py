"""A stand-in for any schema-following model: replies that fill a request's JSON schema at random.

``schema_filler()`` is a responder for ``FakeOpenAIServer``. For a ``json_schema`` request it returns
a random instance of the schema: every required property, enums and consts, integer and number
ranges, nulls where allowed, array lengths, local ``$ref``s. It knows nothing about agenteval, so
a judge that errs on its replies has a reply contract that a faithful server can break. For a
``json_object`` or plain request it fills, as best it can, the last JSON template the messages show
(``{"a": <1-5>, "b": "yes"|"no", "c": "<text>" or null}``).
"""

from __future__ import annotations

import json
import random
import re
import string
import threading
from collections.abc import Callable
from typing import Any

_MAX_DEPTH = 12


def fill_schema(schema: dict[str, Any], rng: random.Random, *, root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A random value valid against ``schema`` (the subset of JSON Schema structured outputs use).

    Args:
        schema: The (sub)schema to fill.
        rng: The source of randomness.
        root: The document ``$ref``s point into (the schema itself at the top).
        depth: Nesting so far; optional properties are left out past a few levels.
    """
    root = root if root is not None else schema
    if depth > _MAX_DEPTH:
        raise ValueError("schema nests too deep to fill")
    if "$ref" in schema:
        return fill_schema(_resolve(root, schema["$ref"]), rng, root=root, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return fill_schema(rng.choice(schema[key]), rng, root=root, depth=depth + 1)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            part = _resolve(root, part["$ref"]) if "$ref" in part else part
            merged = {**merged, **part, "properties": {**merged.get("properties", {}), **part.get("properties", {})},
                      "required": [*merged.get("required", []), *part.get("required", [])]}
        return fill_schema(merged, rng, root=root, depth=depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = rng.choice(kind)
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    return _FILLERS[kind](schema, rng, root, depth)


def fill_template(text: str, rng: random.Random) -> Any:
    """A random filling of the last JSON template in ``text``, or None when there is none.

    Understands ``<a-b>`` (a number in that range), ``"<anything>"`` (some text), ``"x"|"y"`` (one
    of them) and ``X or null`` (either). Templates are the ``{...}`` spans the text shows.
    """
    spans = _braced_spans(text)
    # A template shows placeholders; data in the messages (tool outputs) is JSON too, so try those last.
    marked = [s for s in spans if _RANGE.search(s) or _PLACEHOLDER.search(s) or _ALTERNATIVES.search(s)]
    for candidate in [*reversed(marked), *reversed([s for s in spans if s not in marked])]:
        filled = _ALTERNATIVES.sub(lambda m: rng.choice(_split_alternatives(m.group(0))), candidate)
        filled = _RANGE.sub(lambda m: _number_in(m, rng), filled)
        filled = _PLACEHOLDER.sub(lambda m: json.dumps(_words(rng)), filled)
        try:
            value = json.loads(filled)
        except ValueError:
            continue
        if isinstance(value, dict) and value:
            return value
    return None


def schema_filler(seed: int = 0) -> Callable[[dict[str, Any]], Any]:
    """A ``FakeOpenAIServer`` responder that answers every request with a random valid reply.

    Args:
        seed: Seeds the randomness, so a test sees the same replies in the same order.
    """
    rng = random.Random(seed)
    lock = threading.Lock()  # the server answers on several threads

    def respond(request: dict[str, Any]) -> Any:
        response_format = request.get("response_format") or {}
        with lock:
            if response_format.get("type") == "json_schema":
                return fill_schema(response_format["json_schema"]["schema"], rng)
            text = "\n".join(str(m.get("content", "")) for m in request.get("messages", []))
            value = fill_template(text, rng)
            return value if value is not None else {"answer": _words(rng)}

    return respond


# ---- filling by type -----------------------------------------------------------------------


def _object(schema: dict[str, Any], rng: random.Random, root: dict[str, Any], depth: int) -> dict[str, Any]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    out = {}
    for name, sub in properties.items():
        if name in required or (depth < 3 and rng.random() < 0.5):
            out[name] = fill_schema(sub, rng, root=root, depth=depth + 1)
    return out


def _array(schema: dict[str, Any], rng: random.Random, root: dict[str, Any], depth: int) -> list[Any]:
    low = schema.get("minItems", 0)
    high = max(low, min(schema.get("maxItems", low + 3), low + 3))
    items = schema.get("items", {})
    return [fill_schema(items, rng, root=root, depth=depth + 1) for _ in range(rng.randint(low, high))]


def _integer(schema: dict[str, Any], rng: random.Random, root: dict[str, Any], depth: int) -> int:
    low = schema.get("minimum", schema.get("exclusiveMinimum", -1001) + 1)
    high = schema.get("maximum", schema.get("exclusiveMaximum", 1001) - 1)
    return rng.randint(int(low), int(high))


def _number(schema: dict[str, Any], rng: random.Random, root: dict[str, Any], depth: int) -> float:
    low = float(schema.get("minimum", schema.get("exclusiveMinimum", -1000.0)))
    high = float(schema.get("maximum", schema.get("exclusiveMaximum", 1000.0)))
    value = round(rng.uniform(low, high), 3)
    if "exclusiveMinimum" in schema and value <= low or "exclusiveMaximum" in schema and value >= high:
        value = (low + high) / 2
    return value


def _string(schema: dict[str, Any], rng: random.Random, root: dict[str, Any], depth: int) -> str:
    text = _words(rng)
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    text = text.ljust(low, "x")
    return text[:high] if high is not None else text


_FILLERS: dict[str, Callable[[dict[str, Any], random.Random, dict[str, Any], int], Any]] = {
    "object": _object,
    "array": _array,
    "integer": _integer,
    "number": _number,
    "string": _string,
    "boolean": lambda schema, rng, root, depth: rng.random() < 0.5,
    "null": lambda schema, rng, root, depth: None,
}


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#"):
        raise ValueError(f"only local $ref can be filled, not {ref!r}")
    node: Any = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if part:
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _words(rng: random.Random) -> str:
    return " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 8))) for _ in range(rng.randint(1, 6)))


# ---- templates -----------------------------------------------------------------------------

_RANGE = re.compile(r"<\s*(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)\s*>")
_PLACEHOLDER = re.compile(r'"<[^"<>]*>"')
_ALTERNATIVE = r'(?:"[^"]*"|null|true|false|-?\d+(?:\.\d+)?)'
_ALTERNATIVES = re.compile(rf"{_ALTERNATIVE}(?:\s*(?:\||\bor\b)\s*{_ALTERNATIVE})+")


def _split_alternatives(text: str) -> list[str]:
    return [part.strip() for part in re.findall(_ALTERNATIVE, text)]


def _number_in(match: re.Match[str], rng: random.Random) -> str:
    low, high = match.group(1), match.group(2)
    if "." in low or "." in high:
        return str(round(rng.uniform(float(low), float(high)), 2))
    return str(rng.randint(int(low), int(high)))


def _braced_spans(text: str) -> list[str]:
    """Every balanced ``{...}`` span of the text, outermost ones, in order."""
    spans, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append(text[start : index + 1])
    return spans
