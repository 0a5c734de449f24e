"""The [mapping] table: span name globs and attribute rules to step types (agenteval.mapping)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agenteval.config import load_settings
from agenteval.errors import ConfigError
from agenteval.mapping import SpanMapping, lookup


def mapping(**data) -> SpanMapping:
    return SpanMapping.model_validate(data)


def test_names_first_in_order_then_rules():
    m = mapping(names={"weather_lookup": "exec", "weather_*": "Ignore"},
                rules=[{"attribute": "openinference.span.kind", "equals": "RETRIEVER", "type": "EXEC"},
                       {"name": "final_*", "type": "synth"}, {"attribute": "plan.step", "type": "PLAN"}])
    assert m.names == {"weather_lookup": "EXEC", "weather_*": "ignore"}
    assert m.target("weather_lookup") == "EXEC" and m.target("weather_cache") == "ignore"
    assert m.target("kb", {"openinference.span.kind": "RETRIEVER"}) == "EXEC"
    assert m.target("kb", {"openinference.span.kind": "LLM"}) is None
    assert m.target("final_answer") == "SYNTH"
    assert m.target("x", {"plan": {"step": 0}}) == "PLAN"  # present, any value (also 0)
    assert m.target("Weather_lookup") is None  # globs are case-sensitive
    assert not SpanMapping() and m


@pytest.mark.parametrize(
    ("attrs", "key", "found"),
    [
        ({"a.b": 1}, "a.b", (True, 1)),
        ({"a": {"b": {"c": 2}}}, "a.b.c", (True, 2)),
        ({"metadata": {"gen_ai.tool.name": "x"}}, "metadata.gen_ai.tool.name", (True, "x")),
        ({"a": 1}, "a.b", (False, None)),
        ({}, "a", (False, None)),
    ],
)
def test_lookup_flat_nested_and_mixed_keys(attrs, key, found):
    assert lookup(attrs, key) == found


@pytest.mark.parametrize(
    ("attrs", "equals", "matches"),
    [({"n": 3}, 3, True), ({"n": "3"}, 3, True), ({"n": 3}, "3", True), ({"b": True}, True, True),
     ({"b": "True"}, True, False), ({"b": 1}, True, False), ({"n": 4}, 3, False)],
)
def test_equals_compares_numbers_and_text_but_not_booleans_with_numbers(attrs, equals, matches):
    key = next(iter(attrs))
    m = mapping(rules=[{"attribute": key, "equals": equals, "type": "EXEC"}])
    assert (m.target("s", attrs) == "EXEC") is matches


@pytest.mark.parametrize(
    ("data", "where", "message"),
    [
        ({"names": {"x": "FOO"}}, ("names", "x"), "unknown step type 'FOO'"),
        ({"names": {"x": "toolsel"}}, ("names", "x"), "TOOLSEL steps come from a model's tool call"),
        ({"rules": [{"type": "EXEC"}]}, ("rules", 0), "needs a name glob or an attribute"),
        ({"rules": [{"name": "x", "equals": 1, "type": "EXEC"}]}, ("rules", 0), "'equals' needs an 'attribute'"),
        ({"rules": [{"name": "x", "type": "USER"}]}, ("rules", 0, "type"), "unknown step type 'USER'"),
        ({"spans": {}}, ("spans",), "Extra inputs"),
    ],
)
def test_invalid_mappings_name_the_key(data, where, message):
    with pytest.raises(ValidationError) as info:
        SpanMapping.model_validate(data)
    error = info.value.errors()[0]
    assert error["loc"] == where and message in error["msg"]


def test_settings_read_the_mapping_table(tmp_path):
    (tmp_path / "agenteval.toml").write_text(
        '[mapping.names]\n"weather_lookup" = "EXEC"\n\n[[mapping.rules]]\nattribute = "db.system"\ntype = "EXEC"\n',
        encoding="utf-8")
    settings = load_settings(directory=tmp_path, environ={})
    assert settings.mapping.target("weather_lookup") == "EXEC"
    assert settings.mapping.target("SELECT", {"db.system": "postgresql"}) == "EXEC"
    assert not load_settings(directory=tmp_path / "missing", environ={}).mapping


def test_a_bad_mapping_in_the_config_file_is_a_config_error(tmp_path):
    (tmp_path / "agenteval.toml").write_text('[mapping.names]\n"x" = "EXECUTE"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(directory=tmp_path, environ={})
    assert "mapping.names.x" in str(info.value) and str(tmp_path / "agenteval.toml") in str(info.value)
