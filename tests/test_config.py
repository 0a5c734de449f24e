from pathlib import Path

import pytest

from agenteval.config import Settings, load_settings, write_thresholds
from agenteval.errors import ConfigError
from agenteval.models import StepType


def test_defaults_are_offline(tmp_path):
    settings = load_settings(directory=tmp_path, environ={})
    assert settings.judge == "auto" and not settings.uses_llm
    assert settings.db == Path(".agenteval/agenteval.duckdb")


def test_precedence_flags_over_env_over_file(tmp_path):
    (tmp_path / "agenteval.toml").write_text('concurrency = 4\nmodel = "file-model"\nroot_cause = "greedy"\n')
    env = {"AGENTEVAL_CONCURRENCY": "6", "AGENTEVAL_MODEL": "env-model"}
    settings = load_settings({"concurrency": 9, "model": None}, directory=tmp_path, environ=env)
    assert settings.concurrency == 9
    assert settings.model == "env-model"
    assert settings.uses_llm


def test_pyproject_tool_table_and_thresholds(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname="x"\n[tool.agenteval]\nthresholds = {PLAN = 3.5}\n')
    settings = load_settings(directory=tmp_path, environ={})
    assert settings.thresholds == {StepType.PLAN: 3.5}


def test_llm_judge_needs_a_model_not_just_an_endpoint(tmp_path):
    settings = load_settings(directory=tmp_path, environ={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert settings.base_url == "http://127.0.0.1:9/v1" and not settings.uses_llm
    settings = load_settings(directory=tmp_path, environ={"OPENAI_BASE_URL": "http://x/v1", "AGENTEVAL_MODEL": "m"})
    assert settings.uses_llm


@pytest.mark.parametrize(
    "toml, message",
    [
        ("concurrency = 0\n", "concurrency: Input should be greater than or equal to 1"),
        ("judge = 'magic'\n", "judge: Input should be"),
        ("thresholds = {USER = 3.0}\n", "USER steps are not judged"),
        ("thresholds = {PLAN = 7.0}\n", "outside 1-5"),
        ("nonsense = 1\n", "nonsense: Extra inputs are not permitted"),
        ("concurrency = [\n", "cannot read config"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, toml, message):
    (tmp_path / "agenteval.toml").write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings(directory=tmp_path, environ={})
    assert str(info.value).startswith(str(tmp_path / "agenteval.toml"))
    assert message in str(info.value)


def test_bad_env_value_names_environment(tmp_path):
    with pytest.raises(ConfigError, match=r"^environment: concurrency"):
        load_settings(directory=tmp_path, environ={"AGENTEVAL_CONCURRENCY": "many"})


def test_write_thresholds_round_trip(tmp_path):
    path = tmp_path / "agenteval.toml"
    path.write_text('model = "m"\n[thresholds]\nPLAN = 2.0\n')
    write_thresholds({StepType.PLAN: 3.25, StepType.SYNTH: 2.75}, path)
    settings = load_settings(directory=tmp_path, environ={})
    assert settings.model == "m"
    assert settings.thresholds == {StepType.PLAN: 3.25, StepType.SYNTH: 2.75}
    assert isinstance(settings, Settings)
