"""Does the offline rules judge cry wolf? Its three targets on the labeled data, per dataset.

* trace FPR: successful runs the rules judge fails (trace status "failed"), over successful runs
  (target <= 0.05; only AgentRx tau-retail holds successes);
* step precision: of the steps it fails (recovered failures left out: they do not fail the trace),
  those the humans labeled failing, over those labeled either way (target >= 0.8). A step is read at
  the labeled step it is part of (``LabeledTrace.units``: on AgentRx tau-bench a tool's answer is
  part of the call the annotators label); "strict ids" counts exact step ids only. Steps without a
  label (after Who&When's decisive step, or in runs with only an outcome) count for nothing and are
  shown apart;
* trace recall: failed runs it fails, over failed runs (reported; the rules see only what a trace
  proves, so most failures, which are judgment calls, stay out of reach).

Each figure comes with its count and a 95% Wilson interval; the last row pools the datasets.

    python bench/rules_precision.py --data ../shared/data
    python bench/rules_precision.py --data ../shared/data --json

The script uses only APIs that older versions have too, so the figures before a change come from
the same script run against an older checkout:

    git worktree add /tmp/agenteval-before <commit>
    PYTHONPATH=/tmp/agenteval-before python bench/rules_precision.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from agenteval.benchmark import judge_labeled
from agenteval.dag import StepDAG
from agenteval.datasets import load_dataset
from agenteval.judges.rules import RulesJudge
from agenteval.propagation import classify, trace_status

DATASETS = [
    ("agentrx-tau", "agentrx", "AgentRx tau-retail"),
    ("agentrx-magentic-one", "agentrx", "AgentRx Magentic-One"),
    ("who-and-when-algorithm-generated", "who_and_when", "Who&When Algorithm-Generated"),
    ("who-and-when-hand-crafted", "who_and_when", "Who&When Hand-Crafted"),
]
Z = 1.959963984540054  # two-sided 95%


def wilson(hits: int, n: int) -> tuple[float, float] | None:
    """95% Wilson score interval of a proportion, or None for n == 0."""
    if n == 0:
        return None
    p = hits / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Tally:
    """Counts behind the three targets for one dataset (or the pool)."""

    traces: int = 0
    successes: int = 0
    successes_failed: int = 0
    failures: int = 0
    failures_failed: int = 0
    true_steps: int = 0
    false_steps: int = 0
    unlabeled_steps: int = 0
    gold_steps: int = 0
    strict_true: int = 0
    false_codes: Counter = field(default_factory=Counter)
    true_codes: Counter = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        for name in ("traces", "successes", "successes_failed", "failures", "failures_failed",
                     "true_steps", "false_steps", "unlabeled_steps", "gold_steps", "strict_true"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.false_codes.update(other.false_codes)
        self.true_codes.update(other.true_codes)

    def figures(self) -> dict:
        flagged = self.true_steps + self.false_steps
        return {
            "n_traces": self.traces,
            "trace_fpr": _share(self.successes_failed, self.successes),
            "step_precision": _share(self.true_steps, flagged),
            "step_precision_strict_ids": _share(self.strict_true, flagged),
            "trace_recall": _share(self.failures_failed, self.failures),
            "step_recall": _share(self.true_steps, self.gold_steps),
            "unlabeled_flagged_steps": self.unlabeled_steps,
            "codes_true": dict(self.true_codes),
            "codes_false": dict(self.false_codes),
        }


def _share(hits: int, n: int) -> dict:
    interval = wilson(hits, n)
    return {"hits": hits, "n": n, "rate": hits / n if n else None, "ci95": interval}


def tally(dataset: str, folder: Path) -> Tally:
    labeled = load_dataset(dataset, folder)
    judgments = judge_labeled(labeled, RulesJudge())
    out = Tally()
    for gold in labeled:
        dag = StepDAG.from_trace(gold.trace)
        verdicts = classify(dag, judgments[gold.trace.id])
        failed = trace_status(verdicts) == "failed"
        out.traces += 1
        if gold.failed is False:
            out.successes += 1
            out.successes_failed += failed
        elif gold.failed:
            out.failures += 1
            out.failures_failed += failed
        out.gold_steps += len(gold.failing_steps)
        negatives = set(gold.negatives or [])
        unit = getattr(gold, "unit", lambda sid: sid)  # older versions read labels at step ids only
        for v in verdicts:
            if not v.failed or v.recovered:
                continue
            code = v.failure_code or "uncoded"
            out.strict_true += v.step_id in gold.failing_steps
            if unit(v.step_id) in gold.failing_steps:
                out.true_steps += 1
                out.true_codes[code] += 1
            elif v.step_id in negatives:
                out.false_steps += 1
                out.false_codes[code] += 1
            else:
                out.unlabeled_steps += 1
    return out


def _cell(share: dict) -> str:
    if not share["n"]:
        return "-"
    low, high = share["ci95"]
    return f"{share['rate']:.2f} ({share['hits']}/{share['n']}; {low:.2f}-{high:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    rows, pool = {}, Tally()
    for dataset, folder, label in DATASETS:
        counts = tally(dataset, args.data / folder)
        pool.add(counts)
        rows[label] = counts.figures()
    rows["all datasets"] = pool.figures()
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| dataset | traces | trace FPR on successes (<= 0.05) | step precision (>= 0.8) | precision, strict ids "
          "| trace recall | step recall | flagged steps without a label |")
    print("|---|---|---|---|---|---|---|---|")
    for label, row in rows.items():
        print(f"| {label} | {row['n_traces']} | {_cell(row['trace_fpr'])} | {_cell(row['step_precision'])} "
              f"| {_cell(row['step_precision_strict_ids'])} | {_cell(row['trace_recall'])} | {_cell(row['step_recall'])} "
              f"| {row['unlabeled_flagged_steps']} |")
    print()
    for label, row in rows.items():
        print(f"{label}: flagged and labeled failing {row['codes_true']}; flagged but labeled correct {row['codes_false']}")


if __name__ == "__main__":
    main()
