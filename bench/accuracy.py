"""Accuracy on the public labeled datasets: prints the README's Markdown table.

Runs `agenteval bench --json` for every dataset and every mode that needs no network (rules judge;
oracle attribution with the human labels), plus an LLM judge when --model/--base-url are given.
``--compare-cascade`` prints instead what the direct/cascade rule changes: kappa and root-cause
accuracy under the earlier rule (any failing ancestor makes a cascade) beside the current one (the
bad input must reach the step through failed or unassessed steps).

    python bench/accuracy.py --data ../shared/data
    python bench/accuracy.py --data ../shared/data --compare-cascade
    python bench/accuracy.py --data ../shared/data --model qwen --base-url http://127.0.0.1:8080/v1 --judge-mode checklist
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

DATASETS = [
    ("agentrx-tau", "agentrx", "AgentRx tau-retail"),
    ("agentrx-magentic-one", "agentrx", "AgentRx Magentic-One"),
    ("who-and-when-algorithm-generated", "who_and_when", "Who&When Algorithm-Generated"),
    ("who-and-when-hand-crafted", "who_and_when", "Who&When Hand-Crafted"),
]
KEYS = ("n_traces", "fd_recall", "fpr", "kappa", "rca_exact", "rca_1hop", "agent_accuracy", "trace_recall", "trace_fpr")


def bench(data: Path, dataset: str, folder: str, *extra: str) -> dict:
    command = [sys.executable, "-m", "agenteval", "bench", str(data / folder), "--dataset", dataset, "--json", *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["results"]


def cell(value) -> str:
    return "-" if value is None else (str(value) if isinstance(value, int) else f"{value:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model")
    parser.add_argument("--base-url")
    parser.add_argument("--judge-mode", default="holistic")
    parser.add_argument("--db", default=".agenteval/bench.duckdb")
    parser.add_argument("--compare-cascade", action="store_true", help="compare the earlier cascade rule with the current one")
    args = parser.parse_args()
    if args.compare_cascade:
        compare_cascade(args.data)
        return
    print("| dataset | method | " + " | ".join(KEYS) + " | rca exact, agent-caused only |")
    print("|---" * (len(KEYS) + 3) + "|")
    for dataset, folder, label in DATASETS:
        rows = {f"oracle + {k.split('/')[-1]}": v for k, v in bench(args.data, dataset, folder, "--oracle", "--mode", "dag").items()}
        rows.update({f"rules judge, {k}": v for k, v in bench(args.data, dataset, folder).items()})
        if args.model:
            llm = bench(args.data, dataset, folder, "--judge", "openai", "--model", args.model, "--db", args.db,
                        "--judge-mode", args.judge_mode, *(["--base-url", args.base_url] if args.base_url else []))
            rows.update({f"{args.model} ({args.judge_mode}), {k}": v for k, v in llm.items() if k != "rules"})
        for method, report in rows.items():
            print(f"| {label} | {method} | " + " | ".join(cell(report[k]) for k in KEYS)
                  + f" | {cell(report.get('rca_exact_agent_caused'))} |")


def compare_cascade(data: Path) -> None:
    """kappa and root-cause accuracy under the earlier cascade rule ("ancestor") and the current one."""
    keys = ("kappa", "rca_exact", "rca_1hop")
    print("| dataset | method | " + " | ".join(f"{k} (ancestor -> reached)" for k in keys) + " | n |")
    print("|---" * (len(keys) + 3) + "|")
    for dataset, folder, label in DATASETS:
        rows: dict[str, dict[str, dict]] = {}
        for rule in ("ancestor", "reached"):
            found = {f"oracle + {k.split('/')[-1]}": v
                     for k, v in bench(data, dataset, folder, "--oracle", "--mode", "dag", "--cascade", rule).items()}
            found["rules judge, dag"] = bench(data, dataset, folder, "--mode", "rules", "--mode", "dag",
                                              "--cascade", rule)["rules"]
            for method, report in found.items():
                rows.setdefault(method, {})[rule] = report
        for method, by_rule in rows.items():
            before, after = by_rule["ancestor"], by_rule["reached"]
            cells = [f"{cell(before[k])} -> {cell(after[k])}" for k in keys]
            print(f"| {label} | {method} | " + " | ".join(cells) + f" | {after['n_root_cause_traces']} |")


if __name__ == "__main__":
    main()
