"""`agenteval bench` and `agenteval calibrate` on the shared labeled data, through the CLI."""

import json
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agenteval.cli import app

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KEYS = {"n_traces", "fd_recall", "fpr", "kappa", "rca_exact", "rca_1hop", "agent_accuracy", "trace_recall", "trace_fpr"}


@pytest.fixture(scope="module")
def data() -> Path:
    assert (DATA / "agentrx").is_dir(), f"the shared labeled data is missing at {DATA}"
    return DATA


def run(*args, cwd=None):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_bench_single_mode_prints_the_documented_keys(data):
    result = run("bench", data / "agentrx", "--dataset", "agentrx-magentic-one", "--oracle", "--mode", "dag",
                 "--algorithm", "dag", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert KEYS <= set(report)
    assert report["n_traces"] == 32 and report["rca_exact"] >= 0.70
    assert report["trace_fpr"] is None  # no successful runs in this subset: unsupported, not zero


def test_bench_compares_modes_and_algorithms_side_by_side(data):
    result = run("bench", data / "agentrx", "--dataset", "agentrx-magentic-one", "--oracle", "--json")
    results = json.loads(result.stdout)["results"]
    assert set(results) == {"end-to-end", "flat", "dag/greedy", "dag/earliest", "dag/dag"}
    assert results["dag/dag"]["rca_exact"] > results["dag/greedy"]["rca_exact"]
    assert results["dag/dag"]["rca_exact"] > results["dag/earliest"]["rca_exact"]
    offline = json.loads(run("bench", data / "who_and_when", "--dataset", "who-and-when-hand-crafted", "--json").stdout)
    assert offline["judge"] == "rules" and set(offline["results"]) == {"end-to-end", "flat", "rules"}


@pytest.mark.parametrize(
    "args, message",
    [
        (("bench", "nowhere", "--dataset", "agentrx"), "nowhere: dataset folder not found"),
        (("bench", "DATA/agentrx", "--dataset", "imaginary"), "unknown dataset 'imaginary'"),
        (("bench", "DATA/agentrx", "--dataset", "agentrx", "--mode", "vibes"), "unknown benchmark mode 'vibes'"),
        (("bench", "DATA/who_and_when", "--dataset", "agentrx"), "not a dataset folder"),
    ],
)
def test_bench_bad_input_is_one_line_exit_2(data, args, message):
    result = run(*[str(a).replace("DATA", str(data)) for a in args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_calibrate_writes_thresholds_to_the_config(data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "agenteval.toml"
    config.write_text('root_cause = "dag"\n')
    result = run("calibrate", data / "agentrx", "--dataset", "agentrx-tau", "--max-fpr", "0.05", "--config", config, "--json")
    assert result.exit_code == 0, result.output
    fitted = json.loads(result.stdout)
    assert fitted["fpr"] <= 0.05 and fitted["n_steps"] > 100
    assert fitted["kappa"] >= fitted["default_kappa"]
    written = tomllib.loads(config.read_text())
    assert written["root_cause"] == "dag"
    assert written["thresholds"] == {k: pytest.approx(v) for k, v in fitted["thresholds"].items()}
    dry = run("calibrate", data / "agentrx", "--dataset", "agentrx-tau", "--dry-run", "--config", tmp_path / "other.toml")
    assert dry.exit_code == 0 and "kappa" in dry.stdout and not (tmp_path / "other.toml").exists()


def test_bench_cascade_rule_is_checked_and_the_earlier_one_runs(tmp_path, data):
    result = run("bench", tmp_path, "--dataset", "agentrx-tau", "--cascade", "sideways")
    assert result.exit_code == 2
    assert "unknown cascade rule 'sideways' (choose from: reached, ancestor)" in result.output
    assert "Traceback" not in result.output
    result = run("bench", data / "agentrx", "--dataset", "agentrx-magentic-one", "--oracle", "--mode", "dag",
                 "--algorithm", "dag", "--cascade", "ancestor", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rca_exact"] >= 0.70
