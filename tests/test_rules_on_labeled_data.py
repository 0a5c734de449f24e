"""The rules judge's targets on the shared labeled data (bench/rules_precision.py, run as a test).

Targets (issue 9): trace-level false positive rate on successful runs <= 0.05; precision of the steps
it fails >= 0.8 against the human step labels. Measured on the development split in ../shared/data.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BENCH = Path(__file__).resolve().parents[1] / "bench" / "rules_precision.py"

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def bench():
    assert (DATA / "agentrx").is_dir() and (DATA / "who_and_when").is_dir(), f"the shared labeled data is missing at {DATA}"
    spec = importlib.util.spec_from_file_location("rules_precision", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tau(bench):
    return bench.tally("agentrx-tau", DATA / "agentrx")


def test_successful_runs_pass(tau):
    assert tau.successes == 53
    assert tau.successes_failed / tau.successes <= 0.05


def test_what_it_fails_on_tau_retail_the_annotators_marked(tau):
    # AgentRx lists every failing step of a tau-retail run: a complete reference for precision
    flagged = tau.true_steps + tau.false_steps
    assert flagged >= 4 and tau.true_steps / flagged >= 0.8
    assert tau.unlabeled_steps == 0


def test_precision_over_all_labeled_datasets_does_not_fall_back(bench):
    """Pooled precision is 0.72 (23/32) today, under the 0.8 target: the false positives left are
    tool failures the trace proves but the labels leave unmarked (runtime crashes and a server
    disconnect on Magentic-One, two of them the same content-filter crash the annotators marked
    elsewhere; code runs that failed before Who&When's decisive step). This guards the measured
    level; see the README's rules-judge section."""
    pool = bench.Tally()
    for dataset, folder, _ in bench.DATASETS:
        pool.add(bench.tally(dataset, DATA / folder))
    flagged = pool.true_steps + pool.false_steps
    assert pool.true_steps / flagged >= 0.7
    assert pool.failures_failed / pool.failures >= 0.25  # trace recall on failed runs
