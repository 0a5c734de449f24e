"""How well does `agenteval gate` tell a real regression from a clean rerun? (offline, rules judge)

The AgentEval paper reports 88% precision and 94% recall at detecting regressions between model
versions. This benchmark measures the gate with its default policy the same way, on runs whose truth
is known because the faults were injected:

* A population of traces: the bundled examples (two clean, three with known failures) plus
  synthetic clean traces (copies of the clean examples under new ids, and generated stock-lookup
  traces).
* An agent version is a fault rate: each trace independently gets one random fault with that
  probability (a tool error or timeout, arguments that break the tool's schema, a tool that does
  not exist, an ungrounded number or an empty answer), so two runs of the same version differ by
  chance just as a real agent's reruns do.
* Each run is recorded as exporters record it: every trace gets a fresh trace id, and the case it ran
  is in ``metadata.case_id``, so the gate pairs the runs by case.
* Each trial draws a baseline run at the base rate and a candidate run: a clean rerun at the base
  rate, or a regressed version at a higher rate. The gate (default policy, rules judge) compares the
  two; "detected" means it blocked (and, separately, that it warned or blocked).

Usage: python bench/regression_detection.py [--candidates 40] [--traces 60] [--base-rate 0.10] [--seed 7]
       [--pair-by auto|trace-id|...] [-v]

``--pair-by trace-id`` shows what the gate can do when nothing pairs the runs (fresh ids, no case key):
Fisher's exact test on independent samples.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import random
import time
from datetime import datetime, timezone
from pathlib import Path

from agenteval.compare import compare_runs
from agenteval.config import Settings
from agenteval.evaluate import evaluate_trace
from agenteval.gate import apply_gate
from agenteval.judges.rules import RulesJudge
from agenteval.models import Run, Trace
from agenteval.taxonomy import load_taxonomy

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "traces"
PAPER = {"precision": 0.88, "recall": 0.94}
#: Added to the base fault rate for the regressed candidates (cycled).
EFFECTS = (0.10, 0.15, 0.20, 0.30)


def _stock_trace(i: int, rng: random.Random) -> dict:
    sku, units, city = f"SKU-{1000 + i}", rng.randint(12, 900), rng.choice(["Leeds", "Porto", "Lyon", "Graz"])
    args = {"sku": sku, "warehouse": city}
    tool = {"name": "get_stock", "description": "Units in stock of a SKU in a warehouse.",
            "parameters": {"type": "object", "properties": {"sku": {"type": "string"}, "warehouse": {"type": "string"}},
                           "required": ["sku", "warehouse"], "additionalProperties": False}}
    steps = [
        {"id": "u1", "type": "USER", "output": f"How many units of {sku} are in stock in {city}?"},
        {"id": "p1", "type": "PLAN", "parents": ["u1"], "output": f"1. Look up stock of {sku} in {city}. 2. Answer."},
        {"id": "ts1", "type": "TOOLSEL", "parents": ["p1"], "tool": "get_stock"},
        {"id": "pg1", "type": "PARAMGEN", "parents": ["ts1", "u1"], "tool": "get_stock", "arguments": args},
        {"id": "ex1", "type": "EXEC", "parents": ["pg1"], "tool": "get_stock", "arguments": args,
         "output": {"sku": sku, "warehouse": city, "units": units, "updated": "2024-06-01"}},
        {"id": "s1", "type": "SYNTH", "parents": ["ex1", "u1"], "is_final": True,
         "output": f"There are {units} units of {sku} in stock in {city} (as of 2024-06-01)."},
    ]
    return {"id": f"stock-{i:03d}", "task": f"Report the stock of {sku} in {city}.", "tools": [tool], "steps": steps}


def population(size: int, rng: random.Random) -> list[dict]:
    """The bundled examples, then clean copies of the clean examples and generated stock lookups."""
    examples = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES.glob("*.json"))]
    clean = [t for t in examples if t["id"] in ("refund-ORD-48213", "summary-checkout-postmortem")]
    traces = list(examples)
    i = 0
    while len(traces) < size:
        if i % 2 == 0:
            copy_ = copy.deepcopy(clean[(i // 2) % len(clean)])
            copy_["id"] = f"{copy_['id']}-v{i:03d}"
            traces.append(copy_)
        else:
            traces.append(_stock_trace(i, rng))
        i += 1
    return traces[:size]


def _first(trace: dict, kind: str) -> dict | None:
    return next((s for s in trace["steps"] if s["type"] == kind and s.get("status", "ok") == "ok"), None)


def _tool_error(t: dict) -> None:
    step = _first(t, "EXEC")
    step.update(status="error", error={"type": "UpstreamError", "message": "503 from upstream"}, output=None)


def _timeout(t: dict) -> None:
    step = _first(t, "EXEC")
    step.update(status="timeout", error={"type": "TimeoutError", "message": "timed out after 30s"}, output=None)


def _schema(t: dict) -> None:
    _first(t, "PARAMGEN")["arguments"] = {}


def _missing_tool(t: dict) -> None:
    _first(t, "TOOLSEL")["tool"] = "lookup_v2"


def _ungrounded(t: dict) -> None:
    step = _first(t, "SYNTH")
    step["output"] = f"{step.get('output') or ''} You also get a goodwill credit of $37.45."


def _empty(t: dict) -> None:
    _first(t, "SYNTH")["output"] = ""


FAULTS = (_tool_error, _timeout, _schema, _missing_tool, _ungrounded, _empty)


def draw(traces: list[dict], rate: float, rng: random.Random) -> tuple[list[Trace], int]:
    """One run of an agent version: each trace gets a random fault with probability ``rate``, and a fresh id."""
    out, faulted = [], 0
    for trace in traces:
        t = copy.deepcopy(trace)
        t["metadata"] = {**t.get("metadata", {}), "case_id": t["id"]}
        t["id"] = f"{rng.getrandbits(128):032x}"
        if rng.random() < rate:
            rng.choice(FAULTS)(t)
            faulted += 1
        out.append(Trace.model_validate(t))
    return out, faulted


async def _evaluate(name: str, traces: list[Trace], settings: Settings) -> Run:
    judge = RulesJudge()
    results = await asyncio.gather(*(evaluate_trace(t, judge, settings) for t in traces))
    return Run(id=name, name=name, created_at=datetime.now(timezone.utc), judge=judge.name, results=list(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=40, help="candidate runs, half regressed, half clean reruns")
    parser.add_argument("--traces", type=int, default=60, help="traces per run")
    parser.add_argument("--base-rate", type=float, default=0.10, help="fault rate of the baseline version")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pair-by", default="auto", help="how the gate pairs the runs (trace-id: nothing pairs)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per candidate")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    settings = Settings()
    taxonomy = load_taxonomy()
    traces = population(args.traces, rng)
    started = time.perf_counter()
    rows = []  # (regressed, effect, faulted, verdict, rules)
    for k in range(args.candidates):
        # Each trial has its own baseline draw, so the figures do not hinge on one lucky or unlucky baseline.
        base_traces, _ = draw(traces, args.base_rate, rng)
        baseline = asyncio.run(_evaluate(f"base-{k:02d}", base_traces, settings))
        regressed = k % 2 == 0
        effect = EFFECTS[(k // 2) % len(EFFECTS)] if regressed else 0.0
        cand_traces, faulted = draw(traces, args.base_rate + effect, rng)
        cand = asyncio.run(_evaluate(f"cand-{k:02d}", cand_traces, settings))
        comparison = compare_runs(baseline, cand, tolerance=settings.gate.tolerance, pair_by=args.pair_by, alpha=settings.gate.alpha)
        result = apply_gate(comparison, settings.gate, taxonomy=taxonomy)
        rows.append((regressed, effect, faulted, result.verdict, sorted({r.rule for r in result.reasons if r.level == result.verdict})))
        if args.verbose:
            print(f"cand-{k:02d} {'regressed +' + format(effect, '.2f') if regressed else 'clean rerun':<16} "
                  f"faults {faulted:>3}/{len(traces)}  {result.verdict:<5} {', '.join(rows[-1][4])}")
    elapsed = time.perf_counter() - started

    def scores(detected: set[str]) -> tuple[float, float, int, int, int]:
        tp = sum(r and v in detected for r, _, _, v, _ in rows)
        fp = sum(not r and v in detected for r, _, _, v, _ in rows)
        fn = sum(r and v not in detected for r, _, _, v, _ in rows)
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        return precision, recall, tp, fp, fn

    n_reg = sum(r for r, *_ in rows)
    print(f"regression detection: {len(rows)} candidates ({n_reg} regressed, {len(rows) - n_reg} clean reruns), "
          f"{len(traces)} traces each, base fault rate {args.base_rate:.2f}, seed {args.seed}, rules judge, default gate policy, "
          f"--pair-by {args.pair_by}")
    print(f"{'detected when':<22}{'precision':>10}{'recall':>8}   tp fp fn")
    for label, detected in (("gate blocks", {"block"}), ("gate warns or blocks", {"warn", "block"})):
        p, r, tp, fp, fn = scores(detected)
        print(f"{label:<22}{p:>10.2f}{r:>8.2f}   {tp:>2} {fp:>2} {fn:>2}")
    print(f"{'AgentEval paper':<22}{PAPER['precision']:>10.2f}{PAPER['recall']:>8.2f}")
    for effect in EFFECTS:
        hit = [v == "block" for r, e, _, v, _ in rows if r and e == effect]
        if hit:
            print(f"  recall at +{effect:.2f} fault rate: {sum(hit)}/{len(hit)}")
    fired = {}
    for r, _, _, v, rules in rows:
        if not r and v == "block":
            for rule in rules:
                fired[rule] = fired.get(rule, 0) + 1
    if fired:
        print("  rules behind false blocks: " + ", ".join(f"{k} {v}" for k, v in sorted(fired.items())))
    print(f"{2 * len(rows) * len(traces)} traces judged and {len(rows)} gates applied in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
