"""bench/llm_accuracy.py: its fixed sample, its statistics, and one small run end to end against the
local schema-filling server (the bench itself is not a CI test; this checks the script works)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agenteval.testing import FakeOpenAIServer, schema_filler

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "bench"))

import llm_accuracy  # noqa: E402


def test_wilson_interval_matches_known_values():
    p, low, high = llm_accuracy.wilson(8, 10)
    assert p == 0.8 and low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    assert llm_accuracy.wilson(0, 4)[1:] == (0.0, pytest.approx(0.4899, abs=1e-3))
    assert llm_accuracy.wilson(0, 0) == (None, None, None)


def test_bootstrap_is_seeded_and_brackets_the_value():
    groups = [1, 2, 3, 4, 5, 6, 7, 8]
    first = llm_accuracy.bootstrap(groups, lambda xs: sum(xs) / len(xs))
    assert first == llm_accuracy.bootstrap(groups, lambda xs: sum(xs) / len(xs))
    value, low, high = first
    assert low < value < high and value == 4.5


def test_the_sample_is_fixed_and_mixes_failing_and_passing_steps():
    data = {name: llm_accuracy.load_dataset(name, DATA / "agentrx") for name in llm_accuracy.DATASETS}
    steps = llm_accuracy.sample_steps(data, 12, 12)
    again = llm_accuracy.sample_steps(data, 12, 12)
    assert [(g.trace.id, s) for g, s, _ in steps] == [(g.trace.id, s) for g, s, _ in again]
    assert sum(gold for *_, gold in steps) == 24 and len(steps) == 48
    assert {g.subset for g, *_ in steps} == {"tau-retail", "magentic-one"}
    traces = llm_accuracy.sample_traces(data, 2, 1, 3, 22, 11)
    assert [g.failed for g in traces] == [True, True, False, True, True, True]
    assert all(llm_accuracy.judged_steps(g) <= 22 for g in traces)


def test_a_small_run_end_to_end_against_a_schema_filling_server(tmp_path):
    with FakeOpenAIServer(responder=schema_filler(4)) as server:
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "llm_accuracy.py"), "--data", str(DATA), "--model", "m",
             "--base-url", server.base_url, "--llama-slots", "5", "--pilot", "6", "--failed-traces", "1",
             "--ok-traces", "1", "--magentic-traces", "1", "--json", "--quiet"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
        )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["judge_errors"] == 0 and len(result["sample"]["whole_traces"]) == 3
    metrics = result["metrics"]
    for name in ("step recall", "step FPR", "RCA exact", "RCA within one hop", "seconds per model-judged step",
                 "prompt tokens per trace"):
        assert metrics[name]["n"] > 0 and metrics[name]["value"] is not None, name
    assert 0 <= metrics["step recall"]["low"] <= metrics["step recall"]["value"] <= metrics["step recall"]["high"] <= 1
    assert metrics["prompt tokens per trace"]["value"] > 1000
    assert all("id_slot" in r and r["cache_prompt"] for r in server.requests)


def test_plan_estimates_without_a_model():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "llm_accuracy.py"), "--data", str(DATA), "--plan"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)["plan"]
    assert plan["steps"] > 100 and plan["requests"] >= plan["steps"] // 2 and plan["minutes"] < 30
