import json
import os
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
    with pytest.raises(ConfigError, match=r"^AGENTEVAL_CONCURRENCY: concurrency: Input should be a valid integer"):
        load_settings(directory=tmp_path, environ={"AGENTEVAL_CONCURRENCY": "many"})


def test_write_thresholds_round_trip(tmp_path):
    path = tmp_path / "agenteval.toml"
    path.write_text('model = "m"\n[thresholds]\nPLAN = 2.0\n')
    write_thresholds({StepType.PLAN: 3.25, StepType.SYNTH: 2.75}, path)
    settings = load_settings(directory=tmp_path, environ={})
    assert settings.model == "m"
    assert settings.thresholds == {StepType.PLAN: 3.25, StepType.SYNTH: 2.75}
    assert isinstance(settings, Settings)


# --- strict configuration: nothing ignored, every problem at once, origins -----------------------

from typer.testing import CliRunner  # noqa: E402

from agenteval.cli import app  # noqa: E402
from agenteval.config import find_config, resolve_settings  # noqa: E402


def test_the_config_is_found_up_to_the_repository_root(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "services" / "agent").mkdir(parents=True)
    (repo / "agenteval.toml").write_text("concurrency = 3\n")
    (tmp_path / "agenteval.toml").write_text("concurrency = 99\n")  # above the repository: never read
    monkeypatch.chdir(repo / "services" / "agent")
    resolved = resolve_settings(environ={})
    assert resolved.settings.concurrency == 3 and resolved.config_file == str(repo / "agenteval.toml")
    (repo / "agenteval.toml").unlink()
    assert find_config(repo / "services" / "agent") is None
    (repo / "services" / "pyproject.toml").write_text("[tool.agenteval]\nconcurrency = 5\n")
    assert load_settings(environ={}).concurrency == 5


def test_a_table_outside_the_agenteval_table_is_an_error(tmp_path):
    (tmp_path / "agenteval.toml").write_text("[agenteval]\nmodel = 'm'\n[thresholds]\nPLAN = 2.0\n")
    with pytest.raises(ConfigError) as info:
        load_settings(directory=tmp_path, environ={})
    assert str(info.value) == (
        f"{tmp_path / 'agenteval.toml'}: [thresholds] is outside the [agenteval] table, so it would be ignored: "
        "move it to [agenteval.thresholds] (or drop the [agenteval] header)"
    )


@pytest.mark.parametrize(
    "variable, hint",
    [
        ("AGENTEVAL_CONCURENCY", "did you mean AGENTEVAL_CONCURRENCY?"),
        ("AGENTEVAL_GATE__ALPA", "did you mean AGENTEVAL_GATE__ALPHA?"),
        ("AGENTEVAL_HOME", "see `agenteval config` for the settings"),
    ],
)
def test_an_unknown_agenteval_variable_is_an_error_with_a_hint(tmp_path, variable, hint):
    with pytest.raises(ConfigError, match=f"^{variable}: no such setting \\({hint.replace('?', '[?]').replace('`', '.')}\\)$"):
        load_settings(directory=tmp_path, environ={variable: "1"})


def test_a_key_variable_named_like_a_setting_is_not_a_setting(tmp_path):
    settings = load_settings({"api_key_env": "AGENTEVAL_JUDGE_KEY"}, directory=tmp_path, environ={"AGENTEVAL_JUDGE_KEY": "sk-x"})
    assert settings.api_key_env == "AGENTEVAL_JUDGE_KEY"


def test_every_problem_is_reported_at_once_naming_its_file_or_variable(tmp_path):
    (tmp_path / "agenteval.toml").write_text("concurrency = 0\nnonsense = 1\n[gate]\nalpha = 2\n")
    with pytest.raises(ConfigError) as info:
        load_settings(directory=tmp_path, environ={"AGENTEVAL_TIMOUT": "5", "AGENTEVAL_SAMPLES": "many"})
    path = str(tmp_path / "agenteval.toml")
    assert str(info.value).splitlines() == [
        "AGENTEVAL_TIMOUT: no such setting (did you mean AGENTEVAL_TIMEOUT?)",
        "AGENTEVAL_SAMPLES: samples: Input should be a valid integer, unable to parse string as an integer",
        f"{path}: concurrency: Input should be greater than or equal to 1",
        f"{path}: gate.alpha: Input should be less than 1",
        f"{path}: nonsense: Extra inputs are not permitted",
    ]


def test_nested_and_list_settings_from_the_environment_with_their_origins(tmp_path):
    (tmp_path / "agenteval.toml").write_text("[gate]\npair_by = 'task'\n[gate.failure_rate]\nblock = 0.2\n")
    environ = {"AGENTEVAL_GATE__ALPHA": "0.01", "AGENTEVAL_INCLUDE": '["traces/**/*.json"]',
               "AGENTEVAL_EXCLUDE": os.pathsep.join(["**/fixtures/**", "*.tmp.json"])}
    resolved = resolve_settings({"gate.pair_by": "metadata:case_id"}, directory=tmp_path, environ=environ)
    s = resolved.settings
    assert (s.gate.alpha, s.include, s.exclude) == (0.01, ["traces/**/*.json"], ["**/fixtures/**", "*.tmp.json"])
    assert (s.gate.pair_by, s.gate.failure_rate.block, s.gate.failure_rate.warn) == ("metadata:case_id", 0.2, 0.0)
    assert resolved.origin("gate.alpha") == "AGENTEVAL_GATE__ALPHA"
    assert resolved.origin("gate.pair_by") == "flag"
    assert resolved.origin("gate.failure_rate.block") == str(tmp_path / "agenteval.toml")
    assert resolved.origin("gate.failure_rate.warn") == "default"
    with pytest.raises(ConfigError, match="AGENTEVAL_FALLBACK: expected JSON"):
        load_settings(directory=tmp_path, environ={"AGENTEVAL_FALLBACK": "gpt-4o"})


def test_config_command_prints_values_and_where_they_came_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("AGENTEVAL_") or name == "OPENAI_BASE_URL":
            monkeypatch.delenv(name)
    (tmp_path / "agenteval.toml").write_text("root_cause = 'greedy'\n[gate]\nalpha = 0.01\n")
    monkeypatch.setenv("AGENTEVAL_CONCURRENCY", "4")
    runner = CliRunner()
    result = runner.invoke(app, ["config"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"config file: {tmp_path / 'agenteval.toml'}" in lines[0]
    row = lambda key: next(line for line in lines if f" {key} " in line)  # noqa: E731
    assert "greedy" in row("root_cause") and str(tmp_path / "agenteval.toml") in row("root_cause")
    assert "AGENTEVAL_CONCURRENCY" in row("concurrency") and "default" in row("judge")
    data = json.loads(runner.invoke(app, ["config", "--json"]).stdout)
    assert data["settings"]["gate"]["alpha"] == 0.01 and data["sources"]["gate.alpha"] == str(tmp_path / "agenteval.toml")
    monkeypatch.setenv("AGENTEVAL_CONCURRENCY", "lots")
    monkeypatch.setenv("AGENTEVAL_TIMOUT", "5")
    bad = runner.invoke(app, ["config"])
    assert bad.exit_code == 2
    assert [line.split(":")[:2] for line in bad.stderr.splitlines()] == [
        ["Error", " AGENTEVAL_TIMOUT"], ["Error", " AGENTEVAL_CONCURRENCY"],
    ]
