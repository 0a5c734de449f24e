"""How well an LLM judge separates the planted failures of the bundled examples from the good steps.

Evaluates examples/traces with the model judge alone (no rules judge in front of it, no cache), in
the given judge mode, then compares the failing steps with the ones the examples were written to
contain. Prints step-level recall, false positive rate, and the mean
score of planted-bad vs good steps.

    python bench/judge_examples.py --model qwen --base-url http://127.0.0.1:8080/v1 --judge-mode checklist
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from statistics import mean

from agenteval.config import load_settings
from agenteval.evaluate import close_judge, evaluate_async, judge_options
from agenteval.judges.llm_factory import build
from agenteval.reports.json_report import run_json

ROOT = Path(__file__).resolve().parents[1]
#: The steps each example was written to get wrong (direct or cascade).
PLANTED = {
    "analysis-q3-revenue": {"ex2", "s1"},
    "booking-trattoria-lucia": {"ts2", "ex2", "s1"},
    "ticket-double-charge": {"pg2", "ex2"},
    "refund-ORD-48213": set(),
    "summary-checkout-postmortem": set(),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--base-url")
    parser.add_argument("--judge-mode", default="holistic", choices=("holistic", "checklist"))
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    settings = load_settings({
        "judge": "openai", "model": args.model, "base_url": args.base_url, "judge_mode": args.judge_mode,
        "cache": False, "concurrency": args.concurrency, "timeout": args.timeout,
    })

    async def judged():
        judge = build(**judge_options(settings))
        try:
            return await evaluate_async([ROOT / "examples" / "traces"], settings, judge=judge)
        finally:
            await close_judge(judge)

    run = run_json(asyncio.run(judged()))
    bad_scores, good_scores = [], []
    hits = planted = false_pos = good = errors = 0
    for trace in run["traces"]:
        wrong = PLANTED[trace["trace_id"]]
        for step in trace["steps"]:
            if step["verdict"] == "skipped" and step["score"] is None:
                continue
            if step["verdict"] == "judge_error":
                errors += 1
                continue
            failing = step["verdict"] in ("direct", "cascade")
            if step["id"] in wrong:
                planted += 1
                hits += failing
                bad_scores.append(step["score"])
            else:
                good += 1
                false_pos += failing
                good_scores.append(step["score"])
    report = {
        "model": args.model, "judge_mode": args.judge_mode,
        "recall": round(hits / planted, 3) if planted else None,
        "fpr": round(false_pos / good, 3) if good else None,
        "mean_score_planted_bad": round(mean(bad_scores), 2) if bad_scores else None,
        "mean_score_good": round(mean(good_scores), 2) if good_scores else None,
        "judge_errors": errors, "steps": planted + good,
    }
    print(f"{args.model} ({args.judge_mode}): recall {report['recall']} on {planted} planted-bad steps, "
          f"FPR {report['fpr']} on {good} good steps, mean score bad {report['mean_score_planted_bad']} "
          f"vs good {report['mean_score_good']}, {errors} judge errors")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
